"""The evaluator's lease as a row of the metadata database (SQLite or PostgreSQL).

One row per lease name holds the holder and the expiry. Taking it is one conditional
``UPDATE ... WHERE name = ? AND (holder = me OR expires_at < now)``: PostgreSQL re-checks the
condition after waiting for a concurrent update's row lock (READ COMMITTED), SQLite
serialises writers, so of two nodes racing for an expired lease exactly one sees its row
updated. Expiry is judged by the caller's clock (keep nodes' clocks synchronised, as with
any lease; the time to live is several evaluator ticks).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Engine, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from liveinsight.meta.models import AlertLease
from liveinsight.meta.repo import aware

_TABLE = cast(Table, AlertLease.__table__)


class SqlLease:
    def __init__(self, engine: Engine, clock: Callable[[], datetime],
                 name: str = "alert-evaluator") -> None:
        self._engine = engine
        self._clock = clock
        self._name = name

    def _acquire(self, holder: str, ttl_s: float) -> bool:
        now = self._clock()
        until = now + timedelta(seconds=ttl_s)
        table = _TABLE
        with self._engine.begin() as conn:
            taken = conn.execute(
                update(table).where(table.c.name == self._name)
                .where((table.c.holder == holder) | (table.c.expires_at < now))
                .values(holder=holder, expires_at=until)).rowcount
            if taken:
                return True
            exists = conn.execute(select(table.c.name).where(table.c.name == self._name)
                                  ).first()
        if exists:
            return False
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(table).values(name=self._name, holder=holder,
                                                  expires_at=until))
        except IntegrityError:  # another node inserted it first
            return False
        return True

    async def acquire(self, holder: str, ttl_s: float) -> bool:
        return await run_in_threadpool(self._acquire, holder, ttl_s)

    def _release(self, holder: str) -> None:
        table = _TABLE
        with self._engine.begin() as conn:
            conn.execute(delete(table).where(table.c.name == self._name)
                         .where(table.c.holder == holder))

    async def release(self, holder: str) -> None:
        await run_in_threadpool(self._release, holder)

    def _holder(self) -> str | None:
        table = _TABLE
        with self._engine.connect() as conn:
            row = conn.execute(select(table.c.holder, table.c.expires_at)
                               .where(table.c.name == self._name)).first()
        if row is None:
            return None
        return str(row[0]) if aware(row[1]) > self._clock() else None

    async def holder(self) -> str | None:
        return await run_in_threadpool(self._holder)

    async def close(self) -> None:
        return None
