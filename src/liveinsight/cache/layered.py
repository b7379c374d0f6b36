"""L1 in front of L2: this node's memory, then Redis, then the computation.

Follows :mod:`liveinsight.cache.protocol`'s contract. A miss in L1 asks L2 (one thread per
key per node: L1's single-flight), which computes on a miss (one node per key: L2's lock).
So concurrent misses compute once across all nodes, and a value computed by any node is a
hit for every other.

Keys carry the data generation (:mod:`liveinsight.cache.generation`), so new data makes new
keys on every node at once; prefix invalidations (``invalidate``) also reach the other nodes'
L1 through a Redis pub/sub channel (best effort: a node that misses the message still drops
the entries when their L1 TTL runs out).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from liveinsight.cache.memory import MemoryResultCache
from liveinsight.cache.protocol import CacheStats
from liveinsight.cache.redis import Guard, RedisResultCache

log = logging.getLogger("liveinsight.cache")


class LayeredCache:
    def __init__(self, l1: MemoryResultCache, l2: RedisResultCache, *,
                 client: Any = None, breaker: Guard | None = None,
                 channel: str = "li:rc:invalidate") -> None:
        """``client`` and ``breaker``: for the invalidation channel (none: this node's L1
        only); ``close`` closes the client."""
        self.l1, self.l2 = l1, l2
        self._client = client
        self._breaker = breaker
        self._channel = channel
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        if client is not None:
            self._listener = threading.Thread(target=self._listen, name="cache-invalidations",
                                              daemon=True)
            self._listener.start()

    def get_or_compute(self, key: str, compute: Callable[[], bytes], *, ttl: float,
                       timeout: float, stale: float = 0.0) -> bytes:
        return self.l1.get_or_compute(
            key, lambda: self.l2.get_or_compute(key, compute, ttl=ttl, timeout=timeout,
                                                stale=stale, serve_stale=False),
            ttl=ttl, timeout=timeout, stale=stale)

    def invalidate(self, prefix: str = "") -> int:
        """Drop ``prefix`` in this node's L1, in Redis and (by message) in the other nodes'
        L1; how many keys Redis held (this node's L1 count when Redis is unreachable)."""
        local = self.l1.invalidate(prefix)
        shared = self.l2.invalidate(prefix)
        if self._client is not None and self._breaker is not None:
            try:
                self._breaker.call(lambda: self._client.publish(self._channel, prefix))
            except Exception as exc:
                log.warning("cache: could not tell other nodes to invalidate %r: %s",
                            prefix, exc)
        return shared or local

    def stats(self) -> CacheStats:
        one, two = self.l1.stats(), self.l2.stats()
        return CacheStats(one.hits + two.hits, two.misses, one.evictions, one.bytes, one.keys)

    def layers(self) -> dict[str, CacheStats]:
        return {"l1": self.l1.stats(), "l2": self.l2.stats()}

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=3)
        self.l1.close()
        if self._client is not None:
            self._client.close()

    def _listen(self) -> None:
        """Drop the prefixes other nodes invalidate, until closed; reconnects after Redis
        errors (every second while it is down)."""
        while not self._stop.is_set():
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                # Through the breaker: while Redis is down this is refused at once, and the
                # first subscription after it returns is a trial that closes the breaker
                # (recovery without waiting for a request).
                subscribe = partial(pubsub.subscribe, self._channel)
                if self._breaker is not None:
                    self._breaker.call(subscribe)
                else:
                    subscribe()
                try:
                    while not self._stop.is_set():
                        message = pubsub.get_message(timeout=0.5)
                        if message and message.get("type") == "message":
                            self.l1.invalidate(message["data"].decode("utf-8", "replace"))
                finally:
                    pubsub.close()
            except Exception as exc:
                log.debug("cache: invalidation channel: %s", exc)
                self._stop.wait(1.0)
