"""Live event fan-out inside one process: the ingestor publishes the rows it appended to the
log, realtime streams subscribe per site.

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
from typing import Any

from liveinsight.types import EventRow

FEED_FIELDS = ("timestamp", "name", "hostname", "pathname", "referrer_source", "channel",
               "country_code", "region", "city", "device", "browser", "os")


def feed_item(row: EventRow) -> dict[str, Any]:
    """What a live feed shows of an event: no visitor or session ids, no props."""
    return {name: getattr(row, name) for name in FEED_FIELDS}


class LiveFeed:
    def __init__(self, loop: asyncio.AbstractEventLoop, queue_size: int = 100) -> None:
        self._loop = loop
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
            with contextlib.suppress(RuntimeError):  # a closed loop: the app is stopping
                self._loop.call_soon_threadsafe(self._deliver, dict(by_site))

    def _deliver(self, by_site: dict[int, list[dict[str, Any]]]) -> None:
        with self._lock:
            targets = [(q, items) for site, items in by_site.items()
                       for q in self._subscribers.get(site, ())]
        for queue, items in targets:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(items)

    def subscribe(self, site_id: int) -> asyncio.Queue[list[dict[str, Any]]]:
        queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(self._size)
        with self._lock:
            self._subscribers[site_id].add(queue)
        return queue

    def unsubscribe(self, site_id: int, queue: asyncio.Queue[list[dict[str, Any]]]) -> None:
        with self._lock:
            self._subscribers[site_id].discard(queue)

    def subscribers(self, site_id: int) -> int:
        with self._lock:
            return len(self._subscribers.get(site_id, ()))
