"""The lease contract, run on each implementation: in-process, the metadata database
(SQLite and PostgreSQL) and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from liveinsight.meta.db import make_engine, upgrade
from liveinsight.ops.lease import InProcessLease, Lease
from liveinsight.ops.lease_redis import RedisLease
from liveinsight.ops.lease_sql import SqlLease
from tests.conftest import REDIS_URL, require_service
from tests.ops.alerts.helpers import postgres_database


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


Make = Callable[[], Lease]


def _run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())  # type: ignore[arg-type]


@contextmanager
def _sql(url: str, clock: FakeClock) -> Iterator[Make]:
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield lambda: SqlLease(engine, clock)
    finally:
        engine.dispose()


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
def lease_kind(request: pytest.FixtureRequest, tmp_path: Path
               ) -> Iterator[tuple[Make, FakeClock | None]]:
    """A factory of leases sharing one backend (two nodes), and the fake clock it judges
    expiry by (None for Redis, whose own clock does)."""
    clock = FakeClock()
    if request.param == "memory":
        shared = InProcessLease(clock)
        yield (lambda: shared), clock
    elif request.param == "sqlite":
        with _sql(f"sqlite:///{tmp_path / 'meta.db'}", clock) as make:
            yield make, clock
    elif request.param == "postgres":
        with postgres_database() as url, _sql(url, clock) as make:
            yield make, clock
    else:
        require_service("Redis", REDIS_URL, 6379)
        key = f"test:lease:{uuid.uuid4().hex}"
        made: list[RedisLease] = []

        def make_redis() -> Lease:
            made.append(RedisLease(REDIS_URL, key))
            return made[-1]

        yield make_redis, None


async def _expire(clock: FakeClock | None, seconds: float) -> None:
    if clock is not None:
        clock.advance(seconds)
    else:
        await asyncio.sleep(seconds)


def test_one_holder_at_a_time(lease_kind: tuple[Make, FakeClock | None]) -> None:
    async def body() -> None:
        make, _ = lease_kind
        a, b = make(), make()
        assert await a.acquire("node-a", 30)
        assert not await b.acquire("node-b", 30)
        assert await a.acquire("node-a", 30), "the holder renews it"
        assert await b.holder() == "node-a"

    _run(body)


def test_released_lease_goes_to_the_next(lease_kind: tuple[Make, FakeClock | None]
                                               ) -> None:
    async def body() -> None:
        make, _ = lease_kind
        a, b = make(), make()
        assert await a.acquire("node-a", 30)
        await b.release("node-b")  # not the holder: nothing happens
        assert not await b.acquire("node-b", 30)
        await a.release("node-a")
        assert await b.acquire("node-b", 30)
        assert await a.holder() == "node-b"

    _run(body)


def test_an_expired_lease_can_be_taken(lease_kind: tuple[Make, FakeClock | None]
                                             ) -> None:
    async def body() -> None:
        make, clock = lease_kind
        a, b = make(), make()
        ttl = 0.3 if clock is None else 30
        assert await a.acquire("node-a", ttl)
        await _expire(clock, ttl * 2)
        assert await a.holder() is None
        assert await b.acquire("node-b", 30)
        assert not await a.acquire("node-a", 30), "the old holder does not get it back"

    _run(body)


def test_racing_nodes_get_it_once(lease_kind: tuple[Make, FakeClock | None]) -> None:
    async def body() -> None:
        make, _ = lease_kind
        leases = [make() for _ in range(6)]
        won = await asyncio.gather(*(lease.acquire(f"node-{i}", 30)
                                     for i, lease in enumerate(leases)))
        assert sum(won) == 1

    _run(body)
