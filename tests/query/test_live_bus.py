"""The live bus contract (query/live.py: LiveBus), against every implementation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from liveinsight.query.live import LiveBus, LiveFeed
from liveinsight.types import EventRow

IMPLEMENTATIONS: dict[str, Callable[[], LiveBus]] = {"memory": lambda: LiveFeed(queue_size=3)}


def _row(site: int, path: str, name: str = "pageview") -> EventRow:
    return EventRow(timestamp="2026-11-20 12:00:00.000", site_id=site, name=name,
                    visitor_id=1, session_id=1, hostname="example.com", pathname=path)


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def bus(request: pytest.FixtureRequest) -> LiveBus:
    return IMPLEMENTATIONS[request.param]()


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
        await asyncio.sleep(0.05)
        assert mine.empty() and bus.subscribers(1) == 0 and bus.subscribers(2) == 1
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
        return out

    assert asyncio.run(main()) == ["/2", "/3", "/4"]
