"""Data generations (cache/generation.py), in process and in Redis (a real server): what
changes a token and what does not."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis

from liveinsight.cache.generation import Generations, MemoryGenerations, RedisGenerations
from tests.conftest import REDIS_URL, require_service

T = TypeVar("T")


class Direct:
    def call(self, fn: Callable[[], T], /) -> T:
        return fn()


class Switch:
    """A breaker whose dependency can be taken down: then every call is refused."""

    down = False

    def call(self, fn: Callable[[], T], /) -> T:
        if self.down:
            raise ConnectionError("redis is down")
        return fn()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest) -> Iterator[Callable[[], Generations]]:
    if request.param == "memory":
        yield MemoryGenerations
        return
    require_service("Redis", REDIS_URL, 6379)
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    key = f"li:test:gen:{uuid.uuid4().hex}"
    yield lambda: RedisGenerations(client, Direct(), key)
    client.delete(key)
    client.close()


def test_new_data_changes_live_tokens_of_its_sites_only(make: Callable[[], Generations]) -> None:
    gen = make()
    live1, live2, past1 = gen.token(1, True), gen.token(2, True), gen.token(1, False)
    gen.bump([1])
    assert gen.token(1, True) != live1
    assert gen.token(2, True) == live2  # another site's answers stay
    assert gen.token(1, False) == past1  # past ranges cannot have changed


def test_invalidating_a_site_changes_its_past_and_live_tokens(
        make: Callable[[], Generations]) -> None:
    gen = make()
    before = [gen.token(1, True), gen.token(1, False), gen.token(2, False)]
    gen.invalidate(1)
    assert [gen.token(1, True) != before[0], gen.token(1, False) != before[1],
            gen.token(2, False) == before[2]] == [True, True, True]


def test_unknown_data_and_invalidating_everything_change_every_token(
        make: Callable[[], Generations]) -> None:
    gen = make()
    for change in (lambda: gen.bump(None), lambda: gen.invalidate(None)):
        before = [gen.token(s, live) for s in (1, 2) for live in (True, False)]
        change()
        after = [gen.token(s, live) for s in (1, 2) for live in (True, False)]
        assert all(a != b for a, b in zip(before, after, strict=True))


def test_two_nodes_share_generations_through_redis(redis_url: str) -> None:
    client: Any = redis.Redis.from_url(redis_url, socket_timeout=2)
    key = f"li:test:gen:{uuid.uuid4().hex}"
    try:
        node_a, node_b = RedisGenerations(client, Direct(), key), RedisGenerations(
            client, Direct(), key)
        seen_by_b = node_b.token(7, True)
        node_a.bump([7])  # node A's writer ingested a segment of site 7
        assert node_b.token(7, True) != seen_by_b and not node_b.token(7, True).degraded
    finally:
        client.delete(key)
        client.close()


def test_without_redis_tokens_are_this_nodes_own_and_say_so(redis_url: str) -> None:
    client: Any = redis.Redis.from_url(redis_url, socket_timeout=2)
    key = f"li:test:gen:{uuid.uuid4().hex}"
    breaker = Switch()
    node = RedisGenerations(client, breaker, key)
    healthy = node.token(3, True)
    breaker.down = True
    degraded = node.token(3, True)
    assert degraded.degraded and degraded.text != healthy.text
    node.bump([3])  # cannot reach Redis: this node still sees its own new data
    assert node.token(3, True) != degraded
    breaker.down = False
    try:
        recovered = node.token(3, True)
        assert not recovered.degraded
        # the bump Redis missed moved the epoch: no answer from before the outage survives
        assert recovered != healthy
    finally:
        client.delete(key)
        client.close()
