"""How long this node's queries take: latency percentiles per kind, and per query shape
(its normalised text) the executions over a threshold.

The runner records every query it runs (``QueryRunner.raw``). Our SQL never holds a value
(values are typed parameters), so a query's text *is* its normalised form: two questions of
the same shape have the same text whatever their site, dates or filter values. This is what
``GET /admin/db/slow-queries`` reads when ClickHouse keeps no ``system.query_log`` (the
embedded engine keeps none); a server's query log is preferred when it has one.

Memory is bounded: the last :data:`SAMPLES` durations per kind, and at most :data:`SHAPES`
shapes (the least recently run dropped first), each with its last :data:`SAMPLES` durations
(the counts of slow executions are of those).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SAMPLES = 512
SHAPES = 500


@dataclass(slots=True)
class _Shape:
    text: str
    kind: str
    count: int = 0
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    last_seen: float = 0.0


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest-rank method (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))
    return ordered[rank]


class QueryTimings:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._kinds: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}
        self._slow: OrderedDict[str, _Shape] = OrderedDict()

    def record(self, kind: str, sql: str, seconds: float) -> None:
        with self._lock:
            self._kinds.setdefault(kind, deque(maxlen=SAMPLES)).append(seconds)
            self._counts[kind] = self._counts.get(kind, 0) + 1
            key = hashlib.sha1(sql.encode()).hexdigest()[:16]
            shape = self._slow.pop(key, None) or _Shape(sql[:2000], kind)
            shape.count += 1
            shape.durations.append(seconds)
            shape.last_seen = self._clock()
            self._slow[key] = shape
            while len(self._slow) > SHAPES:
                self._slow.popitem(last=False)

    def latency(self) -> dict[str, dict[str, Any]]:
        """Per kind: queries run, and p50/p95/p99/max milliseconds of the last ones."""
        with self._lock:
            kinds = {k: list(v) for k, v in self._kinds.items()}
            counts = dict(self._counts)
        return {kind: {"count": counts[kind], **_ms(values)} for kind, values in kinds.items()}

    def slow(self, threshold_s: float, limit: int) -> list[dict[str, Any]]:
        """The shapes with executions of at least ``threshold_s`` (of their last ones):
        how many, their p95, max and total ms, the most time spent first."""
        with self._lock:
            shapes = [(key, s.text, s.kind, [d for d in s.durations if d >= threshold_s],
                       s.count, s.last_seen) for key, s in self._slow.items()]
        rows: list[dict[str, Any]] = [
            {"id": key, "query": text, "kind": kind, "count": len(slow), "runs": runs,
             "p95_ms": round(percentile(slow, 0.95) * 1000, 1),
             "max_ms": round(max(slow) * 1000, 1), "total_ms": round(sum(slow) * 1000, 1),
             "last_seen": datetime.fromtimestamp(last, UTC).isoformat()}
            for key, text, kind, slow, runs, last in shapes if slow]
        rows.sort(key=lambda r: -r["total_ms"])
        return rows[:limit]


def _ms(values: list[float]) -> dict[str, float]:
    return {f"p{int(q * 100)}_ms": round(percentile(values, q) * 1000, 2)
            for q in (0.5, 0.95, 0.99)} | {"max_ms": round(max(values, default=0) * 1000, 2)}
