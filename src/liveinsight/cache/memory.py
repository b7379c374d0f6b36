"""The in-process result cache: LRU bounded by bytes, single-flight misses, TTLs.

Follows :mod:`liveinsight.cache.protocol`'s contract. Thread-safe (queries run on worker
threads). Memory: at most ``max_bytes`` of values plus a small per-key overhead; a value
larger than ``max_bytes`` is returned but not kept.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from liveinsight.cache.protocol import CacheStats


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
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # key → expiry
        self._flights: dict[str, _Flight] = {}
        self._bytes = 0
        self._hits = self._misses = self._evictions = 0

    def get_or_compute(self, key: str, compute: Callable[[], bytes], *, ttl: float,
                       timeout: float) -> bytes:
        deadline = self._clock() + timeout
        while True:
            with self._lock:
                value = self._fresh(key)
                if value is not None:
                    self._hits += 1
                    return value
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._flights[key] = _Flight()
                    self._misses += 1
                    break  # this caller computes
            remaining = deadline - self._clock()
            if remaining <= 0 or not flight.done.wait(remaining):
                with self._lock:
                    self._misses += 1
                value = compute()  # waited long enough for someone else
                self._store(key, value, ttl)
                return value
        try:
            value = compute()
            self._store(key, value, ttl)
            return value
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def _fresh(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def _store(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (self._clock() + ttl, value)
            self._bytes += len(value)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))
                self._evictions += 1

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
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
