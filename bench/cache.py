"""Answer-cache hit latency per layer (issue 13, P5: L1 hit ≤ 1 ms, L2 hit ≤ 5 ms at p95).

    .venv/bin/python bench/cache.py [--redis redis://127.0.0.1:6379/15] [--n 5000]

Through the product's own classes with the app's breaker: L1 (``MemoryResultCache``), L2
(``RedisResultCache`` on a real Redis; L1 bypassed) and the whole answer path
(``Answers.get``: generation token from Redis, key, L1), each with a 20 KB answer (a
breakdown's JSON). Floors measured in the same run: a dict lookup for L1, a Redis ``GET`` of
the same 20 KB value (one round trip) for L2 and the answer path. Prints p50/p95/p99 in ms
and each p95 as a ratio of its floor's p95.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import redis

from liveinsight.cache.answers import Answers, Policy
from liveinsight.cache.generation import RedisGenerations
from liveinsight.cache.layered import LayeredCache
from liveinsight.cache.memory import MemoryResultCache
from liveinsight.cache.redis import RedisResultCache
from liveinsight.ops.breaker import Breaker

VALUE = (b'{"results": [' + b",".join(
    b'{"page": "/blog/post-%d", "visitors": %d, "pageviews": %d}' % (i, 9000 - i, 12000 - i)
    for i in range(330)) + b"]}")[:20_000]


def _times(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


def _row(name: str, ms: list[float], floor: list[float] | None) -> str:
    ms.sort()
    p = [ms[int(q * (len(ms) - 1))] for q in (0.5, 0.95, 0.99)]
    ratio = ""
    if floor:
        floor.sort()
        ratio = f"{p[1] / floor[int(0.95 * (len(floor) - 1))]:8.1f}"
    return f"{name:38s} {p[0]:8.3f} {p[1]:8.3f} {p[2]:8.3f} {ratio}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    client = redis.Redis.from_url(args.redis, socket_timeout=1, socket_connect_timeout=1)
    prefix = f"li:bench:{uuid.uuid4().hex[:8]}:"
    breaker = Breaker("redis")
    try:
        plain = {"k": VALUE}
        floor_l1 = _times(lambda: plain.get("k"), args.n)
        client.set(prefix + "floor", VALUE)
        floor_l2 = _times(lambda: client.get(prefix + "floor"), args.n)

        l1 = MemoryResultCache(64 << 20)
        l1.get_or_compute("k", lambda: VALUE, ttl=600, timeout=5)
        hits_l1 = _times(lambda: l1.get_or_compute("k", lambda: VALUE, ttl=600, timeout=5),
                         args.n)

        l2 = RedisResultCache(client, breaker, prefix=prefix + "rc:")
        l2.get_or_compute("k", lambda: VALUE, ttl=600, timeout=5)
        hits_l2 = _times(lambda: l2.get_or_compute("k", lambda: VALUE, ttl=600, timeout=5),
                         args.n)

        layered = LayeredCache(MemoryResultCache(64 << 20), l2)
        answers = Answers(layered, RedisGenerations(client, breaker, key=prefix + "gen"),
                          Policy(), lambda: datetime.now(UTC))
        end = datetime.now(UTC)
        answers.get(1, end, ("bench", "breakdown"), lambda: VALUE)
        hits_answer = _times(lambda: answers.get(1, end, ("bench", "breakdown"), lambda: VALUE),
                             args.n)
        print(f"answer-cache hits, {len(VALUE):,}-byte answer, {args.n:,} calls each; ms")
        print(f"{'':38s} {'p50':>8s} {'p95':>8s} {'p99':>8s} {'p95/floor':>9s}")
        print(_row("floor: dict lookup", floor_l1, None))
        print(_row("L1 hit (memory)", hits_l1, floor_l1[:]))
        print(_row("floor: Redis GET of the answer", floor_l2, None))
        print(_row("L2 hit (Redis, L1 bypassed)", hits_l2, floor_l2[:]))
        print(_row("answer path hit (token + L1)", hits_answer, floor_l2[:]))
        print(f"median L1 hit {statistics.median(hits_l1) * 1000:.1f} µs, "
              f"L2 hit {statistics.median(hits_l2):.3f} ms")
        layered.l1.close()
    finally:
        keys = list(client.scan_iter(prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


if __name__ == "__main__":
    main()
