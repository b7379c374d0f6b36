"""Token buckets per API key: the in-process limiter and the Redis one (real Redis) obey the
same contract."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from liveinsight.security.ratelimit import (
    MemoryRateLimiter,
    RedisRateLimiter,
    open_rate_limiter,
    retry_after,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_memory_bucket_spends_refills_and_caps() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(rate=10.0, burst=20, clock=clock)
    assert limiter.take_now("k", 15) == 0.0
    assert limiter.take_now("k", 10) == pytest.approx(0.5)  # 5 left, 5 missing at 10/s
    assert limiter.take_now("k", 5) == 0.0  # the refused request took nothing
    clock.now += 1.0
    assert limiter.take_now("k", 10) == 0.0
    clock.now += 60.0
    assert limiter.take_now("k", 20) == 0.0  # refilled to the burst, not beyond
    assert limiter.take_now("k", 1) == pytest.approx(0.1)
    assert limiter.take_now("other", 20) == 0.0  # keys are independent


def test_a_batch_larger_than_the_bucket_costs_a_full_bucket() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(rate=1.0, burst=5, clock=clock)
    assert limiter.take_now("k", 50) == 0.0
    assert limiter.take_now("k", 1) == pytest.approx(1.0)


def test_memory_limiter_bounds_its_keys() -> None:
    limiter = MemoryRateLimiter(rate=1.0, burst=1, clock=FakeClock(), max_keys=3)
    for key in "abcd":
        assert limiter.take_now(key) == 0.0
    assert limiter.take_now("a") == 0.0  # "a" was evicted, so it has a full bucket again


def test_retry_after_is_whole_seconds() -> None:
    assert [retry_after(x) for x in (0.01, 1.0, 1.2)] == ["1", "1", "2"]


def test_open_rate_limiter_picks_the_backend() -> None:
    assert isinstance(open_rate_limiter(None, 1.0, 1), MemoryRateLimiter)



def test_redis_buckets_are_shared_between_nodes(redis_url: str) -> None:
    async def run() -> list[float]:
        prefix = f"li:test:{secrets.token_hex(4)}:"
        node_a = RedisRateLimiter(redis_url, rate=2.0, burst=10, prefix=prefix)
        node_b = RedisRateLimiter(redis_url, rate=2.0, burst=10, prefix=prefix)
        try:
            return [await node_a.take("key1", 6), await node_b.take("key1", 4),
                    await node_b.take("key1", 3), await node_a.take("key2", 10)]
        finally:
            await node_a.close()
            await node_b.close()

    first, second, third, other = asyncio.run(run())
    assert (first, second, other) == (0.0, 0.0, 0.0)
    assert 1.0 < third <= 1.5  # about 0 tokens left, 3 missing at 2/s



def test_redis_limiter_is_atomic_under_concurrency(redis_url: str) -> None:
    async def run() -> list[float]:
        limiter = RedisRateLimiter(redis_url, rate=0.001, burst=50,
                                   prefix=f"li:test:{secrets.token_hex(4)}:")
        try:
            return list(await asyncio.gather(*(limiter.take("k") for _ in range(80))))
        finally:
            await limiter.close()

    waits = asyncio.run(run())
    assert sum(1 for w in waits if w == 0.0) == 50


def test_redis_limiter_fails_open_when_redis_is_down() -> None:
    async def run() -> float:
        limiter = RedisRateLimiter("redis://127.0.0.1:1/0", rate=1.0, burst=1)
        try:
            return await limiter.take("k", 1)
        finally:
            await limiter.close()

    assert asyncio.run(run()) == 0.0


def test_acquire_takes_the_plan_of_each_call_and_tells_what_is_left() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(rate=1.0, burst=1, clock=clock)
    first = limiter.acquire_now("k", 2.0, 5)
    assert (first.wait, first.remaining) == (0.0, 4.0)
    for left in (3.0, 2.0, 1.0, 0.0):
        assert limiter.acquire_now("k", 2.0, 5).remaining == left
    refused = limiter.acquire_now("k", 2.0, 5)
    assert refused.wait == pytest.approx(0.5) and refused.remaining == 0.0
    clock.now += 1.0
    assert limiter.acquire_now("k", 2.0, 5).remaining == pytest.approx(1.0)


def test_redis_acquire_shares_the_plan_between_nodes(redis_url: str) -> None:
    async def run() -> list[tuple[float, float]]:
        prefix = f"li:test:{secrets.token_hex(4)}:"
        node_a = RedisRateLimiter(redis_url, rate=1.0, burst=1, prefix=prefix)
        node_b = RedisRateLimiter(redis_url, rate=1.0, burst=1, prefix=prefix)
        try:
            out = []
            for node in (node_a, node_b, node_a, node_b):
                got = await node.acquire("ip:x", 0.01, 3)
                out.append((got.wait, got.remaining))
            return out
        finally:
            await node_a.close()
            await node_b.close()

    results = asyncio.run(run())
    assert [r[0] for r in results[:3]] == [0.0, 0.0, 0.0]
    assert [round(r[1]) for r in results[:3]] == [2, 1, 0]
    assert results[3][0] > 50  # a token every 100 s


def test_redis_acquire_fails_open_with_a_full_bucket() -> None:
    async def run() -> tuple[float, float]:
        limiter = RedisRateLimiter("redis://127.0.0.1:1/0", rate=1.0, burst=1)
        try:
            got = await limiter.acquire("k", 1.0, 7)
            return got.wait, got.remaining
        finally:
            await limiter.close()

    assert asyncio.run(run()) == (0.0, 7.0)


def test_behind_an_open_breaker_redis_is_not_called_and_requests_pass() -> None:
    from liveinsight.ops.breaker import Breaker

    breaker = Breaker("redis", failures=1, reset_after=60)

    async def run() -> list[tuple[float, float]]:
        limiter = RedisRateLimiter("redis://127.0.0.1:1/0", rate=1.0, burst=1,
                                   breaker=breaker)
        try:
            return [((a := await limiter.acquire("k", 1.0, 5)).wait, a.remaining)
                    for _ in range(3)]
        finally:
            await limiter.close()

    assert asyncio.run(run()) == [(0.0, 5.0)] * 3
    state = breaker.state()
    assert state.state == "open" and state.consecutive_failures == 1  # one real try only


MIDNIGHT = 20_000 * 86_400.0  # a UTC midnight, as a Unix time


class Wall(FakeClock):
    def __init__(self, now: float) -> None:
        self.now = now


def test_a_daily_quota_refuses_until_the_next_utc_midnight() -> None:
    clock, wall = FakeClock(), Wall(MIDNIGHT + 86_400 - 100)  # 100 s before midnight
    limiter = MemoryRateLimiter(rate=1.0, burst=1, clock=clock, wall=wall)
    got = [limiter.acquire_now("k", 100.0, 100, quota=3) for _ in range(3)]
    assert [g.quota_left for g in got] == [2, 1, 0] and not any(g.wait for g in got)
    over = limiter.acquire_now("k", 100.0, 100, quota=3)
    assert over.over_quota and over.wait == 100.0 and over.quota_left == 0
    assert over.remaining == pytest.approx(97.0)  # the refused call took no token
    assert limiter.acquire_now("other", 100.0, 100, quota=3).quota_left == 2
    wall.now = MIDNIGHT + 86_400  # the next UTC day
    again = limiter.acquire_now("k", 100.0, 100, quota=3)
    assert (again.wait, again.quota_left, again.over_quota) == (0.0, 2, False)


def test_a_call_the_bucket_refuses_does_not_count_against_the_quota() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(rate=1.0, burst=1, clock=clock, wall=Wall(MIDNIGHT))
    assert limiter.acquire_now("k", 1.0, 1, quota=5).quota_left == 4
    refused = limiter.acquire_now("k", 1.0, 1, quota=5)
    assert refused.wait > 0 and not refused.over_quota and refused.quota_left == 4
    # a batch larger than the quota counts as the whole quota, once
    big = MemoryRateLimiter(rate=1.0, burst=100, clock=clock, wall=Wall(MIDNIGHT))
    assert big.acquire_now("k", 1.0, 100, cost=50, quota=10).quota_left == 0
    assert big.acquire_now("k", 1.0, 100, quota=10).over_quota
    assert limiter.acquire_now("plain", 1.0, 1).quota_left is None


def test_redis_daily_quota_is_shared_between_nodes_and_atomic(redis_url: str) -> None:
    async def run() -> tuple[list[Any], Any, Any]:
        prefix = f"li:test:{secrets.token_hex(4)}:"
        node_a = RedisRateLimiter(redis_url, rate=1.0, burst=1, prefix=prefix)
        node_b = RedisRateLimiter(redis_url, rate=1.0, burst=1, prefix=prefix)
        try:
            both = await asyncio.gather(*(node.acquire("key:1", 1000.0, 1000, quota=25)
                                          for _ in range(20) for node in (node_a, node_b)))
            last = await node_b.acquire("key:1", 1000.0, 1000, quota=25)
            unmetered = await node_a.acquire("key:2", 1000.0, 1000)
            return list(both), last, unmetered
        finally:
            await node_a.close()
            await node_b.close()

    both, last, unmetered = asyncio.run(run())
    assert sum(1 for a in both if not a.over_quota and a.wait == 0.0) == 25
    refused = [a for a in both if a.over_quota]
    assert len(refused) == 15 and all(0 < a.wait <= 86_400 for a in refused)
    assert last.over_quota and last.quota_left == 0
    assert unmetered.quota_left is None and unmetered.wait == 0.0


def test_redis_quota_fails_open_like_the_bucket() -> None:
    async def run() -> Any:
        limiter = RedisRateLimiter("redis://127.0.0.1:1/0", rate=1.0, burst=1)
        try:
            return await limiter.acquire("k", 1.0, 7, quota=3)
        finally:
            await limiter.close()

    got = asyncio.run(run())
    assert (got.wait, got.quota_left, got.over_quota) == (0.0, 3, False)
