"""The in-process result cache (L1): LRU bounded by bytes, single-flight misses, TTLs,
stale-while-revalidate.

Follows :mod:`liveinsight.cache.protocol`'s contract. Thread-safe (queries run on worker
threads). Memory: at most ``max_bytes`` of values plus a per-key overhead (the key, the
entry: about 0.35 KB a key); a value larger than ``max_bytes`` is returned but not kept.
Entries past their last servable moment are dropped at most ``SWEEP_SECONDS`` after it, not
only when the bytes run out: answers over ranges including now get new keys with every
ingested batch, and the ones left behind would otherwise fill the cache to its cap (at
~0.5 KB an answer, hours of a busy server) before least-recently-used eviction set in.
``clock`` dates entries (TTLs); waiting for another caller's computation is measured in
real time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from liveinsight.cache.protocol import CacheStats

log = logging.getLogger("liveinsight.cache")

SWEEP_SECONDS = 10.0
"""How often (by the cache's clock, when something is stored) expired entries are dropped."""


class _Flight:
    """One computation of a key in progress; others wait on ``done``."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class MemoryResultCache:
    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        # key → (fresh until, stale until, value)
        self._entries: OrderedDict[str, tuple[float, float, bytes]] = OrderedDict()
        self._flights: dict[str, _Flight] = {}
        self._bytes = 0
        self._hits = self._misses = self._evictions = 0
        self._swept = clock()

    def get_or_compute(self, key: str, compute: Callable[[], bytes], *, ttl: float,
                       timeout: float, stale: float = 0.0) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                entry = self._live(key)
                if entry is not None:
                    self._hits += 1
                    if entry[0] <= self._clock() and key not in self._flights:
                        self._refresh_in_background(key, compute, ttl, stale)
                    return entry[2]
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._flights[key] = _Flight()
                    self._misses += 1
                    break  # this caller computes
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not flight.done.wait(remaining):
                with self._lock:
                    self._misses += 1
                value = compute()  # waited long enough for someone else
                self._store(key, value, ttl, stale)
                return value
        try:
            value = compute()
            self._store(key, value, ttl, stale)
            return value
        finally:
            self._land(key, flight)

    def _refresh_in_background(self, key: str, compute: Callable[[], bytes], ttl: float,
                               stale: float) -> None:
        """(Lock held.) Replace a stale entry off the caller's thread, once."""
        flight = self._flights[key] = _Flight()

        def refresh() -> None:
            try:
                self._store(key, compute(), ttl, stale)
            except Exception as exc:  # the stale value stays until it runs out
                log.warning("cache: background refresh of %s failed: %s", key[:80], exc)
            finally:
                self._land(key, flight)

        threading.Thread(target=refresh, name="cache-refresh", daemon=True).start()

    def _land(self, key: str, flight: _Flight) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.done.set()

    def _live(self, key: str) -> tuple[float, float, bytes] | None:
        """(Lock held.) The entry while fresh or stale-but-servable, else None (dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: str, value: bytes, ttl: float, stale: float) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            now = self._clock()
            if now - self._swept >= SWEEP_SECONDS:
                self._sweep(now)
            self._entries[key] = (now + ttl, now + ttl + max(stale, 0.0), value)
            self._bytes += len(value)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))
                self._evictions += 1

    def _sweep(self, now: float) -> None:
        """(Lock held.) Drop every entry that can no longer be served."""
        self._swept = now
        for key in [k for k, entry in self._entries.items() if entry[1] <= now]:
            self._drop(key)

    def _drop(self, key: str) -> None:
        value = self._entries.pop(key)[2]
        self._bytes -= len(value)

    def invalidate(self, prefix: str = "") -> int:
        with self._lock:
            doomed = [k for k in self._entries if k.startswith(prefix)]
            for key in doomed:
                self._drop(key)
            return len(doomed)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, self._bytes,
                              len(self._entries))

    def layers(self) -> dict[str, CacheStats]:
        return {"l1": self.stats()}

    def close(self) -> None:
        self.invalidate()
