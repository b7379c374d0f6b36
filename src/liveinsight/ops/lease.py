"""One holder at a time across a cluster: the alert evaluator's lease.

A :class:`Lease` is held by one ``holder`` (a node's id plus its process) until it expires;
the holder renews it well before then (the evaluator renews every tick, with a time to live
of several ticks). Another node's :meth:`Lease.acquire` succeeds only once the lease has
expired or been released, so two nodes never both act as the evaluator for longer than the
clock skew between them (keep nodes' clocks synchronised; the database and Redis leases
judge expiry by the holder's clock and by Redis's own clock respectively).

Three implementations, one contract (``tests/ops/test_lease.py`` runs it on each):
:class:`InProcessLease` (this process only: one node with one worker), ``lease_sql.SqlLease``
(a row with an expiry in the metadata database, SQLite or PostgreSQL: every worker and node
sharing that database) and ``lease_redis.RedisLease`` (``SET NX PX``: every node sharing the
Redis).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol


class Lease(Protocol):
    async def acquire(self, holder: str, ttl_s: float) -> bool:
        """Take the lease for ``holder`` or renew it when ``holder`` already has it, for
        ``ttl_s`` seconds from now; False when someone else holds it. Raises ``OSError`` or
        the backend's error when the backend cannot be reached (the caller then acts as
        not holding it)."""
        ...

    async def release(self, holder: str) -> None:
        """Give the lease up if ``holder`` has it (else nothing)."""
        ...

    async def holder(self) -> str | None:
        """Who holds the lease now (None: nobody, or expired)."""
        ...

    async def close(self) -> None: ...


class InProcessLease:
    """The lease within one process: the evaluator of one node with one worker."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._holder: str | None = None
        self._until = datetime.min
        self._lock = asyncio.Lock()

    async def acquire(self, holder: str, ttl_s: float) -> bool:
        async with self._lock:
            now = self._clock()
            if self._holder not in (None, holder) and self._until > now:
                return False
            self._holder, self._until = holder, now + timedelta(seconds=ttl_s)
            return True

    async def release(self, holder: str) -> None:
        async with self._lock:
            if self._holder == holder:
                self._holder = None

    async def holder(self) -> str | None:
        if self._holder is not None and self._until > self._clock():
            return self._holder
        return None

    async def close(self) -> None:
        return None
