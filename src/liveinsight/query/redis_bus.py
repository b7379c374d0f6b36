"""The live bus across processes and nodes: Redis pub/sub (the ``LiveBus`` seam of
``query/live.py``).

Each node delivers what it appends to its own subscribers at once (a :class:`LiveFeed`
inside), and publishes it on ``<prefix>live:<site id>`` for the others: ``publish`` only
queues the rows, and a thread of the bus turns them into feed items and publishes one message
per site per batch (``{"n": <node id>, "i": [items]}``). A node listens, on the event loop of
its subscribers, to the channels of the sites someone watches there, and hands the messages
of other nodes to its subscribers (its own it has delivered already). A dashboard on one node
sees the events another node takes within the time of a publish and a delivery (tens of
milliseconds on a LAN).

Best effort, as the contract says: while Redis cannot be reached, batches for other nodes are
dropped (counted by ``on_drop``), this node's subscribers still see this node's events, and
``degraded`` says so; publishing is retried every ``retry_s`` (with a ``PING`` when there is
nothing to publish, so a quiet node does not stay degraded) and the listener reconnects,
each by itself. Events published while a node was not listening are not replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import redis
from redis.exceptions import RedisError

from liveinsight.query.live import LiveFeed, feed_item
from liveinsight.types import EventRow

log = logging.getLogger("liveinsight.query.redis_bus")

OUTBOX_BATCHES = 1000  # batches waiting for the publisher; past it the oldest are dropped
_POLL_S = 0.1  # the listener looks at its subscriptions at least this often


class RedisLiveBus:
    """Live fan-out over Redis at ``url`` (see the module docstring). ``node_id`` tells this
    node's messages from the others'."""

    def __init__(self, url: str, *, node_id: str, prefix: str = "li:", queue_size: int = 100,
                 socket_timeout: float = 0.5, retry_s: float = 1.0,
                 on_drop: Callable[[int], None] | None = None) -> None:
        self._url = url
        self._node = node_id
        self._channel = f"{prefix}live:"
        self._local = LiveFeed(queue_size)
        self._socket_timeout = socket_timeout
        self._retry_s = retry_s
        self._on_drop = on_drop or (lambda _count: None)
        self._outbox: deque[Sequence[EventRow]] = deque()
        self._outbox_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._publisher: threading.Thread | None = None
        self._publish_error: str | None = None
        self._listen_error: str | None = None
        self._listener: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None

    # --- the LiveBus contract ----------------------------------------------------------------

    def publish(self, rows: Sequence[EventRow]) -> None:
        self._local.publish(rows)
        dropped = 0
        with self._outbox_lock:
            if self._closed.is_set():
                return
            if self._publisher is None:
                self._publisher = threading.Thread(target=self._publish_loop, daemon=True,
                                                   name="live-bus-publisher")
                self._publisher.start()
            if len(self._outbox) >= OUTBOX_BATCHES:
                dropped = len(self._outbox.popleft())
            self._outbox.append(rows)
        self._wake.set()
        if dropped:
            self._on_drop(dropped)

    def subscribe(self, site_id: int) -> asyncio.Queue[list[dict[str, Any]]]:
        queue = self._local.subscribe(site_id)
        if self._listener is None or self._listener.done():
            self._changed = asyncio.Event()
            self._listener = asyncio.get_running_loop().create_task(self._listen())
        assert self._changed is not None
        self._changed.set()
        return queue

    def unsubscribe(self, site_id: int, queue: asyncio.Queue[list[dict[str, Any]]]) -> None:
        self._local.unsubscribe(site_id, queue)
        if self._changed is not None:
            self._changed.set()

    def subscribers(self, site_id: int) -> int:
        return self._local.subscribers(site_id)

    @property
    def degraded(self) -> str | None:
        error = self._publish_error or self._listen_error
        return None if error is None else f"Redis unreachable: {error}"

    async def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._publisher is not None:
            await asyncio.to_thread(self._publisher.join, 5)

    # --- publishing (a thread) ---------------------------------------------------------------

    def _publish_loop(self) -> None:
        client: Any = redis.Redis.from_url(self._url, socket_timeout=self._socket_timeout,
                                           socket_connect_timeout=self._socket_timeout)
        retry_at = 0.0
        try:
            while not self._closed.is_set():
                self._wake.wait(1.0)
                self._wake.clear()
                with self._outbox_lock:
                    batches, self._outbox = list(self._outbox), deque()
                if not batches:
                    if self._publish_error is not None and time.monotonic() >= retry_at:
                        retry_at = self._probe(client)
                    continue
                by_site: dict[int, list[dict[str, Any]]] = defaultdict(list)
                for rows in batches:
                    for row in rows:
                        if row.name != "engagement":
                            by_site[row.site_id].append(feed_item(row))
                if not by_site:
                    continue
                if time.monotonic() < retry_at:
                    self._on_drop(sum(len(items) for items in by_site.values()))
                    continue
                try:
                    pipe = client.pipeline(transaction=False)
                    for site, items in by_site.items():
                        pipe.publish(f"{self._channel}{site}",
                                     orjson.dumps({"n": self._node, "i": items}))
                    pipe.execute()
                    self._publish_error = None
                except RedisError as exc:
                    if self._publish_error is None:
                        log.warning("live bus: cannot publish to Redis (%s); other nodes miss "
                                    "this node's live events until it answers", exc)
                    self._publish_error = str(exc)[:200]
                    retry_at = time.monotonic() + self._retry_s
                    self._on_drop(sum(len(items) for items in by_site.values()))
        finally:
            client.close()

    def _probe(self, client: Any) -> float:
        """Nothing to publish while degraded: clear the error once Redis answers a ``PING``;
        the time of the next try."""
        try:
            client.ping()
        except RedisError as exc:
            self._publish_error = str(exc)[:200]
            return time.monotonic() + self._retry_s
        self._publish_error = None
        return 0.0

    # --- listening (a task on the subscribers' loop) -----------------------------------------

    async def _listen(self) -> None:
        from redis.asyncio import Redis

        while not self._closed.is_set():
            client = Redis.from_url(self._url, socket_connect_timeout=self._socket_timeout)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                if self._listen_error is not None:  # back: say so even before a message
                    await client.ping()
                    self._listen_error = None
                await self._relay(pubsub)
            except (RedisError, OSError) as exc:
                if self._listen_error is None:
                    log.warning("live bus: lost Redis (%s); live events of other nodes do not "
                                "reach this node until it answers", exc)
                self._listen_error = str(exc)[:200]
                await asyncio.sleep(self._retry_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()

    async def _relay(self, pubsub: Any) -> None:
        """Follow the watched sites' channels and relay other nodes' messages, until an error
        or close."""
        changed = self._changed
        assert changed is not None
        subscribed: set[int] = set()
        while not self._closed.is_set():
            wanted = self._local.watched()
            if wanted - subscribed:
                await pubsub.subscribe(*(f"{self._channel}{s}" for s in wanted - subscribed))
            if subscribed - wanted:
                await pubsub.unsubscribe(*(f"{self._channel}{s}" for s in subscribed - wanted))
            subscribed = wanted
            changed.clear()
            if not subscribed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), 1.0)
                continue
            message = await pubsub.get_message(timeout=_POLL_S)
            self._listen_error = None
            if message is not None and message.get("type") == "message":
                self._relay_one(message)

    def _relay_one(self, message: dict[str, Any]) -> None:
        try:
            doc = orjson.loads(message["data"])
            channel = message["channel"]
            site = int((channel.decode() if isinstance(channel, bytes) else channel)
                       .rpartition(":")[2])
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError):
            log.warning("live bus: a message it cannot read on %r", message.get("channel"))
            return
        if doc.get("n") != self._node and isinstance(doc.get("i"), list):
            self._local.deliver({site: doc["i"]})
