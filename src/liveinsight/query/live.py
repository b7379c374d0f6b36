"""Live event fan-out: the ingestor publishes the rows it appended to the log, realtime
streams subscribe per site. :class:`LiveFeed` inside one process; across processes and nodes
``query/redis_bus.py`` (Redis pub/sub), chosen by ``services.open_services``.

``publish`` may be called from any thread (the collector appends from worker threads); it
hands the rows to the event loop and returns at once. Each subscriber has a bounded queue:
a consumer that falls behind loses the oldest batches, never slows ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from liveinsight.types import EventRow

FEED_FIELDS = ("timestamp", "name", "hostname", "pathname", "referrer_source", "channel",
               "country_code", "region", "city", "device", "browser", "os")


class LiveBus(Protocol):
    """The realtime fan-out seam (in process: :class:`LiveFeed`; across nodes: Redis pub/sub).

    Contract: ``publish(rows)`` may be called from any thread, returns at once and never
    raises (a bus that cannot reach its backend drops the batch and counts it: live feeds
    are best effort, the stored events are not). A queue from ``subscribe(site_id)`` (made
    on the event loop) receives each later batch of that site's events, engagement pings
    left out, as :func:`feed_item` dicts; a subscriber that falls behind loses its oldest
    batches, never slows the publisher. ``unsubscribe`` stops delivery to that queue.
    """

    def publish(self, rows: Sequence[EventRow]) -> None: ...

    def subscribe(self, site_id: int) -> asyncio.Queue[list[dict[str, Any]]]: ...

    def unsubscribe(self, site_id: int, queue: asyncio.Queue[list[dict[str, Any]]]) -> None: ...

    def subscribers(self, site_id: int) -> int: ...

    @property
    def degraded(self) -> str | None:
        """Why events published on other nodes may not arrive here (for health), or None
        (always None in process)."""

    async def close(self) -> None:
        """Stop delivering; called on the subscribers' event loop at shutdown."""


def feed_item(row: EventRow) -> dict[str, Any]:
    """What a live feed shows of an event: no visitor or session ids, no props."""
    return {name: getattr(row, name) for name in FEED_FIELDS}


class LiveFeed:
    """Fan-out of appended rows to the subscribers of each site, on the event loop the
    subscribers run on (bound at the first ``subscribe``; rows published before that have
    no one to reach)."""

    def __init__(self, queue_size: int = 100) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._size = queue_size
        self._lock = threading.Lock()
        self._subscribers: dict[int, set[asyncio.Queue[list[dict[str, Any]]]]] = (
            defaultdict(set))

    def publish(self, rows: Sequence[EventRow]) -> None:
        """Called by the ingestor after an append; thread-safe, never blocks."""
        by_site: dict[int, list[dict[str, Any]]] = defaultdict(list)
        with self._lock:
            wanted = {site for site, queues in self._subscribers.items() if queues}
        for row in rows:
            if row.site_id in wanted and row.name != "engagement":
                by_site[row.site_id].append(feed_item(row))
        if by_site:
            self.deliver(dict(by_site))

    def deliver(self, by_site: dict[int, list[dict[str, Any]]]) -> None:
        """Hand ready-made feed items to the subscribers of their sites (from any thread;
        a bus bringing them from other nodes calls this)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the app is stopping
                loop.call_soon_threadsafe(self._deliver, by_site)

    def _deliver(self, by_site: dict[int, list[dict[str, Any]]]) -> None:
        with self._lock:
            targets = [(q, items) for site, items in by_site.items()
                       for q in self._subscribers.get(site, ())]
        for queue, items in targets:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(items)

    def subscribe(self, site_id: int) -> asyncio.Queue[list[dict[str, Any]]]:
        """A queue of the site's new events (call on the event loop)."""
        queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(self._size)
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._subscribers[site_id].add(queue)
        return queue

    def unsubscribe(self, site_id: int, queue: asyncio.Queue[list[dict[str, Any]]]) -> None:
        with self._lock:
            self._subscribers[site_id].discard(queue)

    def subscribers(self, site_id: int) -> int:
        with self._lock:
            return len(self._subscribers.get(site_id, ()))

    def watched(self) -> set[int]:
        """The sites with at least one subscriber here."""
        with self._lock:
            return {site for site, queues in self._subscribers.items() if queues}

    @property
    def degraded(self) -> str | None:
        return None

    async def close(self) -> None:
        return None


class Ingested:
    """How many log segments the writer has moved into the store: bumped by the writer's
    thread after each one, read by whoever waits for new data to become queryable (the
    realtime stream re-reads its numbers once this moves past what it saw)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def bump(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        return self._count
