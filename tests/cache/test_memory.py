"""The in-process cache (L1) drops what can no longer be served without waiting for its cap.

Answers over ranges including now get new keys with every ingested batch; the ones left
behind used to stay until least-recently-used eviction, so a busy server's L1 grew toward
its cap for hours (issue 17's soak: ~0.5 KB answers, 64 MB cap).
"""

from __future__ import annotations

from liveinsight.cache.memory import SWEEP_SECONDS, MemoryResultCache
from tests.cache.test_contract import Clock


def test_expired_entries_nobody_asks_for_again_are_dropped() -> None:
    clock = Clock()
    cache = MemoryResultCache(1 << 20, clock)
    for n in range(1000):
        cache.get_or_compute(f"live:{n}", lambda: b"x" * 500, ttl=60, timeout=1)
    assert cache.stats().keys == 1000
    clock.now += 60 + SWEEP_SECONDS
    cache.get_or_compute("live:new", lambda: b"y" * 500, ttl=60, timeout=1)
    stats = cache.stats()
    assert (stats.keys, stats.bytes, stats.evictions) == (1, 500, 0)


def test_under_steady_churn_the_cache_holds_one_lifetime_of_answers() -> None:
    clock = Clock()
    cache = MemoryResultCache(1 << 30, clock)
    for second in range(3600):  # an hour, 10 new keys a second, each kept 60 s
        clock.now += 1
        for n in range(10):
            cache.get_or_compute(f"{second}:{n}", lambda: b"v" * 500, ttl=60, timeout=1)
    assert cache.stats().keys <= 10 * (60 + SWEEP_SECONDS + 1)


def test_entries_still_servable_stale_are_kept() -> None:
    clock = Clock()
    cache = MemoryResultCache(1 << 20, clock)
    cache.get_or_compute("past", lambda: b"old", ttl=10, timeout=1, stale=3600)
    clock.now += 10 + SWEEP_SECONDS
    cache.get_or_compute("other", lambda: b"new", ttl=10, timeout=1)
    assert cache.stats().keys == 2
    assert cache.get_or_compute("past", lambda: b"recomputed", ttl=10, timeout=1,
                                stale=3600) == b"old"
