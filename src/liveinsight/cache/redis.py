"""The Redis result cache (L2): answers shared by every node.

Follows :mod:`liveinsight.cache.protocol`'s contract with redis-py directly (not cashews:
the contract is a blocking call made from the query worker threads, with our own
single-flight, stale-while-revalidate and failure semantics, on byte values; a thin layer of
our own over a sync client keeps each of those explicit and testable).

- A value is stored as a 16-byte header (the instants, in ``clock`` milliseconds, until
  which it is fresh and until which it may be served stale) and the answer's bytes, with a
  Redis expiry of ``ttl + stale`` seconds.
- Single-flight across nodes: the first caller to miss takes a lock key (``SET NX PX``,
  expiring after ``timeout``) and computes; the others poll for the value every
  ``poll_s`` until their ``timeout``, taking the lock themselves if it is released without a
  value (a failed computation), and compute themselves once the timeout has passed.
- Every Redis call goes through a circuit breaker (:class:`Guard`, in the app the
  ``ops.breaker.Breaker`` of the Redis dependency): while Redis fails, the cache computes
  without it (counted as ``errors``), and tries Redis again once the breaker lets a trial
  through.
- Memory is bounded by Redis itself (``maxmemory`` with an ``allkeys-lru`` or
  ``volatile-lru`` policy; every key carries an expiry). ``stats()`` counts this node's hits
  and misses and scans the keys under the prefix for their number and size (at most
  :data:`STATS_SCAN_LIMIT` keys).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from liveinsight.cache.protocol import CacheStats

log = logging.getLogger("liveinsight.cache")
T = TypeVar("T")


class Guard(Protocol):
    """A circuit breaker: ``call(fn)`` runs ``fn`` or raises at once while the dependency is
    known to be down; ``fn``'s own exception otherwise."""

    def call(self, fn: Callable[[], T], /) -> T: ...


_HEADER = struct.Struct(">qq")  # fresh until, servable until (clock milliseconds)
STATS_SCAN_LIMIT = 200_000


class RedisResultCache:
    def __init__(self, client: Any, breaker: Guard, *, prefix: str = "li:rc:",
                 clock: Callable[[], float] = time.time, poll_s: float = 0.02) -> None:
        """``client``: a redis-py client with socket timeouts set; ``clock``: wall seconds
        shared by the nodes (freshness is compared across them)."""
        self._redis = client
        self._breaker = breaker
        self.prefix = prefix
        self._clock = clock
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._hits = self._misses = self._errors = 0

    # --- reading and writing ------------------------------------------------------------

    def get_or_compute(self, key: str, compute: Callable[[], bytes], *, ttl: float,
                       timeout: float, stale: float = 0.0, serve_stale: bool = True) -> bytes:
        """See the protocol; ``serve_stale=False`` treats a stale value as missing (an L1 in
        front refreshing its own stale copy needs a fresh one), though values are still
        kept ``ttl + stale`` for the callers that take them."""
        name, lock = self.prefix + key, self.prefix + "lock:" + key
        deadline = time.monotonic() + timeout
        lock_ms = max(1, int(timeout * 1000))
        while True:
            found = self._usable(name, stale if serve_stale else 0.0)
            if found is _FAILED:
                self._count(errors=1, misses=1)
                return compute()
            if found is not None:
                value: bytes = found[0]
                fresh: bool = found[1]
                self._count(hits=1)
                if not fresh:
                    self._refresh(name, lock, lock_ms, compute, ttl, stale)
                return value
            taken = self._call(lambda: self._redis.set(lock, b"1", nx=True, px=lock_ms))
            if taken is _FAILED:
                self._count(errors=1, misses=1)
                return compute()
            if taken:
                try:
                    found = self._usable(name, 0.0)  # computed while we looked for the lock?
                    if isinstance(found, tuple):
                        self._count(hits=1)
                        value = found[0]
                        return value
                    self._count(misses=1)
                    value = compute()
                    self._put(name, value, ttl, stale)
                    return value
                finally:
                    self._call(lambda: self._redis.delete(lock))
            if time.monotonic() >= deadline:
                self._count(misses=1)
                value = compute()  # waited long enough for another node
                self._put(name, value, ttl, stale)
                return value
            time.sleep(self._poll_s)

    def _usable(self, name: str, stale: float) -> Any:
        """``(value, fresh)`` when Redis holds a value fresh (or, with ``stale``, stale but
        servable), None when not, :data:`_FAILED` when Redis failed."""
        found = self._call(lambda: self._redis.get(name))
        if found is _FAILED or found is None:
            return found
        fresh_until, stale_until, value = self._unpack(found)
        now = self._clock()
        if value is None or now >= stale_until:
            return None
        fresh = now < fresh_until
        return (value, fresh) if fresh or stale > 0 else None

    def _refresh(self, name: str, lock: str, lock_ms: int, compute: Callable[[], bytes],
                 ttl: float, stale: float) -> None:
        """A stale value was served: one caller across the nodes recomputes it, off the
        caller's thread."""
        if self._call(lambda: self._redis.set(lock, b"1", nx=True, px=lock_ms)) is not True:
            return

        def refresh() -> None:
            try:
                self._put(name, compute(), ttl, stale)
            except Exception as exc:  # the stale value stays until it runs out
                log.warning("cache: background refresh failed: %s", exc)
            finally:
                self._call(lambda: self._redis.delete(lock))

        threading.Thread(target=refresh, name="cache-refresh", daemon=True).start()

    def _put(self, name: str, value: bytes, ttl: float, stale: float) -> None:
        now, stale = self._clock(), max(stale, 0.0)
        header = _HEADER.pack(int((now + ttl) * 1000), int((now + ttl + stale) * 1000))
        expire_ms = max(1, int((ttl + stale) * 1000))
        self._call(lambda: self._redis.set(name, header + value, px=expire_ms))

    def _unpack(self, raw: bytes) -> tuple[float, float, bytes | None]:
        if len(raw) < _HEADER.size:
            return 0.0, 0.0, None
        fresh, servable = _HEADER.unpack_from(raw)
        return fresh / 1000, servable / 1000, raw[_HEADER.size:]

    def _call(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` through the breaker; :data:`_FAILED` when Redis failed or is skipped."""
        try:
            return self._breaker.call(fn)
        except Exception as exc:  # Redis down or refused by the breaker: compute without it
            log.debug("cache: Redis call failed: %s", exc)
            return _FAILED

    def _count(self, *, hits: int = 0, misses: int = 0, errors: int = 0) -> None:
        with self._lock:
            self._hits += hits
            self._misses += misses
            self._errors += errors

    # --- administration -----------------------------------------------------------------

    def invalidate(self, prefix: str = "") -> int:
        """Delete every key under ``prefix`` (SCAN + UNLINK in batches); 0 when Redis
        cannot be reached."""
        pattern = _glob_escape(self.prefix + prefix) + "*"

        def scan_and_unlink() -> int:
            dropped = 0
            batch: list[bytes] = []
            for name in self._redis.scan_iter(match=pattern, count=1000):
                batch.append(name)
                if len(batch) >= 1000:
                    dropped += self._redis.unlink(*batch)
                    batch = []
            if batch:
                dropped += self._redis.unlink(*batch)
            return dropped

        dropped = self._call(scan_and_unlink)
        return 0 if dropped is _FAILED else int(dropped)

    def stats(self) -> CacheStats:
        pattern = _glob_escape(self.prefix) + "*"
        lock_prefix = (self.prefix + "lock:").encode()

        def scan() -> tuple[int, int]:
            keys = size = 0
            names = []
            for name in self._redis.scan_iter(match=pattern, count=1000):
                if name.startswith(lock_prefix):
                    continue
                names.append(name)
                if len(names) >= 1000:
                    size += self._sizes(names)
                    keys += len(names)
                    names = []
                if keys >= STATS_SCAN_LIMIT:
                    break
            size += self._sizes(names)
            return keys + len(names), size

        scanned = self._call(scan)
        keys, size = (0, 0) if scanned is _FAILED else scanned
        with self._lock:
            return CacheStats(self._hits, self._misses, 0, size, keys)

    def _sizes(self, names: list[bytes]) -> int:
        if not names:
            return 0
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.strlen(name)
        return sum(max(0, int(n) - _HEADER.size) for n in pipe.execute())

    @property
    def errors(self) -> int:
        """Calls answered without Redis because it failed or its breaker was open."""
        return self._errors

    def layers(self) -> dict[str, CacheStats]:
        return {"l2": self.stats()}

    def close(self) -> None:
        return None


_FAILED = object()


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis glob pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
