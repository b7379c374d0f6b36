"""The result cache seam: answers of analytics queries, kept by key.

Contract of :meth:`ResultCache.get_or_compute` (every implementation: in process here,
Redis-backed next, layered L1 → L2):

- **hit**: a value stored under ``key`` less than its ``ttl`` ago is returned; ``compute``
  is not called.
- **miss**: ``compute()`` is called and its value stored for ``ttl`` seconds and returned.
  Concurrent misses of one key compute once (single-flight): the others wait for that
  answer.
- **timeout**: a waiter that has waited ``timeout`` seconds for another caller's computation
  stops waiting and computes itself (its value is stored too); a cache never makes a caller
  wait longer than that for someone else.
- **failure**: when ``compute`` raises, nothing is stored and the exception reaches its
  caller; callers waiting for it compute themselves, one at a time.
- **stale-while-revalidate**: with ``stale > 0``, a value less than ``ttl + stale`` old
  but more than ``ttl`` is returned at once while one background computation (single-flight)
  replaces it; a failing refresh leaves the stale value until ``ttl + stale``.
- A cache that cannot reach its backend answers by computing (it is never the reason a
  query fails), and counts it.

Keys are strings (a query key plus the site's data generation: :mod:`liveinsight.cache.answers`
builds them); values are the bytes of an answer, so a cache can bound its memory exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    evictions: int
    bytes: int
    keys: int


class ResultCache(Protocol):
    def get_or_compute(self, key: str, compute: Callable[[], bytes], *, ttl: float,
                       timeout: float, stale: float = 0.0) -> bytes:
        """The value of ``key``, computed when missing (see the module's contract).
        Blocking and thread-safe."""

    def invalidate(self, prefix: str = "") -> int:
        """Drop every key starting with ``prefix`` (all with ``""``); how many."""

    def stats(self) -> CacheStats: ...

    def layers(self) -> dict[str, CacheStats]:
        """Each layer's own numbers, by name (``l1``, ``l2``)."""

    def close(self) -> None: ...
