"""A short-lived in-memory cache of API key verifications, for the collector's hot path.

Verifying a key costs a metadata query; an ingesting server may send thousands of requests a
second with the same key. Answers (the key's info, or "no such key") are kept for
``ttl_seconds`` (setting ``api_key_cache_seconds``, default 1 s), so a revoked key stops
working on every node within that long, and a key costs one query per node per that long.
Concurrent misses for one key make one query (the others wait for its answer), so an expiry
under load is one query, not one per request in flight. Entries are keyed by the SHA-256 of
the key, never the key itself.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from liveinsight.meta.repo import ApiKeyInfo

Verify = Callable[[str], ApiKeyInfo | None]


class ApiKeyCache:
    def __init__(self, verify: Verify, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000) -> None:
        self._verify = verify
        self._ttl = ttl_seconds
        self._clock = clock
        self._max = max_entries
        self._entries: dict[bytes, tuple[float, ApiKeyInfo | None]] = {}
        self._lock = threading.Lock()
        self._flights: dict[bytes, threading.Lock] = {}  # one per key being verified

    def cached(self, plaintext: str) -> tuple[bool, ApiKeyInfo | None]:
        """``(hit, info)`` without touching the database."""
        entry = self._entries.get(_digest(plaintext))
        if entry is None or entry[0] <= self._clock():
            return False, None
        return True, entry[1]

    def verify(self, plaintext: str) -> ApiKeyInfo | None:
        """The key's info, or None for an unknown or revoked key (blocking on a miss; one
        query for concurrent misses of one key)."""
        digest = _digest(plaintext)
        with self._lock:
            flight = self._flights.setdefault(digest, threading.Lock())
        with flight:
            hit, info = self.cached(plaintext)
            if hit:
                return info
            info = self._verify(plaintext)
            with self._lock:
                if len(self._entries) >= self._max:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[digest] = (self._clock() + self._ttl, info)
                self._flights.pop(digest, None)
        return info

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _digest(plaintext: str) -> bytes:
    return hashlib.sha256(plaintext.encode("utf-8", "replace")).digest()
