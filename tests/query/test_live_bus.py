"""The live bus contract (query/live.py: LiveBus), against every implementation: in process
(LiveFeed) and Redis pub/sub (RedisLiveBus, real Redis, a key prefix of the test's own); and
what Redis adds: a subscriber on one node gets the events published on another."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from liveinsight.query.live import LiveBus, LiveFeed
from liveinsight.query.redis_bus import RedisLiveBus
from liveinsight.types import EventRow
from tests.conftest import REDIS_URL, require_service
from tests.support import free_port, private_redis, redis_prefix

Make = Callable[[], LiveBus]


def _row(site: int, path: str, name: str = "pageview") -> EventRow:
    return EventRow(timestamp="2026-11-20 12:00:00.000", site_id=site, name=name,
                    visitor_id=1, session_id=1, hostname="example.com", pathname=path)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def bus(request: pytest.FixtureRequest) -> Iterator[LiveBus]:
    if request.param == "memory":
        yield LiveFeed(queue_size=3)
        return
    require_service("Redis", REDIS_URL, 6379)
    with redis_prefix(REDIS_URL) as prefix:
        yield RedisLiveBus(REDIS_URL, node_id="a", prefix=prefix, queue_size=3)


def test_a_subscriber_gets_its_sites_later_events_from_any_thread(bus: LiveBus) -> None:
    async def main() -> list[list[str]]:
        bus.publish([_row(1, "/before")])  # nobody subscribed yet: nobody gets it
        mine, other = bus.subscribe(1), bus.subscribe(2)
        thread = threading.Thread(target=bus.publish, args=([
            _row(1, "/a"), _row(2, "/x"), _row(1, "/ping", "engagement")],))
        thread.start()
        thread.join()
        got = [await asyncio.wait_for(mine.get(), 5)]
        assert [i["pathname"] for i in await asyncio.wait_for(other.get(), 5)] == ["/x"]
        bus.unsubscribe(1, mine)
        bus.publish([_row(1, "/after")])
        await asyncio.sleep(0.2)
        assert mine.empty() and bus.subscribers(1) == 0 and bus.subscribers(2) == 1
        assert other.empty()  # nothing twice (Redis echoes a node's own messages to it)
        await bus.close()
        return [[i["pathname"] for i in batch] for batch in got]

    assert asyncio.run(main()) == [["/a"]]  # engagement pings are left out


def test_a_slow_subscriber_loses_its_oldest_batches(bus: LiveBus) -> None:
    async def main() -> list[str]:
        queue = bus.subscribe(1)
        for i in range(5):
            bus.publish([_row(1, f"/{i}")])
        await asyncio.sleep(0.05)
        out = []
        while not queue.empty():
            out.extend(i["pathname"] for i in queue.get_nowait())
        await bus.close()
        return out

    assert asyncio.run(main()) == ["/2", "/3", "/4"]


def _subscribed(url: str, channel: str) -> bool:
    client = redis.Redis.from_url(url)
    try:
        return bool(dict(client.pubsub_numsub(channel)).get(channel.encode()))
    finally:
        client.close()


async def _until(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(predicate):
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_a_subscriber_on_one_node_gets_another_nodes_events(redis_url: str) -> None:
    with redis_prefix(redis_url) as prefix:
        here = RedisLiveBus(redis_url, node_id="a", prefix=prefix)
        there = RedisLiveBus(redis_url, node_id="b", prefix=prefix)

        async def main() -> list[str]:
            queue = here.subscribe(7)
            await _until(lambda: _subscribed(redis_url, f"{prefix}live:7"), "the subscription")
            threading.Thread(target=there.publish, args=([_row(7, "/there"),
                                                          _row(8, "/elsewhere")],)).start()
            batch = await asyncio.wait_for(queue.get(), 1.0)  # within a second
            await here.close()
            await there.close()
            return [item["pathname"] for item in batch]

        assert asyncio.run(main()) == ["/there"]


def test_without_redis_a_node_still_feeds_its_own_subscribers(tmp_path: Path) -> None:
    drops: list[int] = []
    bus = RedisLiveBus(f"redis://127.0.0.1:{free_port()}/0", node_id="a", retry_s=0.1,
                       socket_timeout=0.2, on_drop=drops.append)

    async def main() -> list[str]:
        queue = bus.subscribe(1)
        bus.publish([_row(1, "/local")])
        batch = await asyncio.wait_for(queue.get(), 5)
        await _until(lambda: bus.degraded is not None, "the bus to say it is degraded")
        await bus.close()
        return [item["pathname"] for item in batch]

    assert asyncio.run(main()) == ["/local"]
    assert bus.degraded is not None and "Redis unreachable" in bus.degraded
    assert sum(drops) >= 1  # what other nodes could not get is counted


def test_the_bus_recovers_when_redis_comes_back(tmp_path: Path) -> None:
    with private_redis(tmp_path / "redis") as server:
        prefix = f"li:{uuid.uuid4().hex[:6]}:"
        here = RedisLiveBus(server.url, node_id="a", prefix=prefix, retry_s=0.2)
        there = RedisLiveBus(server.url, node_id="b", prefix=prefix, retry_s=0.2)

        async def main() -> list[str]:
            queue = here.subscribe(1)
            channel = f"{prefix}live:1"
            await _until(lambda: _subscribed(server.url, channel), "the subscription")
            await asyncio.to_thread(server.stop)
            there.publish([_row(1, "/lost")])
            await _until(lambda: here.degraded is not None and there.degraded is not None,
                         "both nodes to notice")
            await asyncio.to_thread(server.start)
            await _until(lambda: _subscribed(server.url, channel), "the listener to return")
            got: list[str] = []
            while not got:  # the publisher retries after retry_s; until then it drops
                there.publish([_row(1, "/back")])
                with contextlib.suppress(TimeoutError):
                    got = [i["pathname"] for i in await asyncio.wait_for(queue.get(), 0.5)]
            await _until(lambda: here.degraded is None and there.degraded is None, "recovery")
            await here.close()
            await there.close()
            return got

        assert asyncio.run(main()) == ["/back"]


def test_a_quiet_node_stops_saying_degraded_once_redis_answers(tmp_path: Path) -> None:
    """No event after Redis comes back: the publisher checks Redis itself (a PING every
    retry_s), so health does not report an outage that is over."""
    with private_redis(tmp_path / "redis") as server:
        bus = RedisLiveBus(server.url, node_id="a", retry_s=0.2, socket_timeout=0.2)

        async def main() -> None:
            server.stop()
            bus.publish([_row(1, "/lost")])
            await _until(lambda: bus.degraded is not None, "the bus to notice")
            await asyncio.to_thread(server.start)
            await _until(lambda: bus.degraded is None, "the bus to see Redis back")
            await bus.close()

        asyncio.run(main())
