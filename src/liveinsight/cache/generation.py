"""Data generations: what a cached answer's key says about the data it was computed from.

Every site has two counters and the instance one epoch:

- ``live`` — bumped each time the writer moves a log segment holding that site's events into
  the store. Answers over ranges that reach into the last :data:`LIVE_WINDOW` are keyed
  with it, so none is ever older than the newest ingested data.
- ``past`` — bumped only when older data of the site changes (an import, a reset, a
  deletion, an explicit invalidation). Answers over ranges that ended before
  ``now - LIVE_WINDOW`` are keyed with it: the collector cannot add events that old (the
  native API takes timestamps back to 24 hours), so those answers stay cached until their
  data really changes.
- ``epoch`` — bumped when what changed is not known per site (a segment replayed from an
  earlier run, which may hold events of any age and site; "invalidate everything").

:class:`MemoryGenerations` keeps them in this process (one node). :class:`RedisGenerations`
keeps them in Redis, shared by every node (each node's writer bumps them there), with this
node's own counters as the fallback while Redis cannot be reached: then tokens say so
(``degraded``), and callers keep such answers only briefly (another node's ingest cannot be
seen meanwhile).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from liveinsight.cache.redis import Guard

log = logging.getLogger("liveinsight.cache")

LIVE_WINDOW = timedelta(hours=25)
"""Ranges ending later than ``now`` minus this are "live". The collector accepts native
timestamps back to 24 hours (``ingest/parse.py: MAX_PAST``); one more hour of margin."""


@dataclass(frozen=True, slots=True)
class Token:
    """The generation part of a cache key, and whether it may be trusted for long."""

    text: str
    degraded: bool = False


class Generations(Protocol):
    """Contract: ``token(site, live)`` changes whenever data that an answer over such a range
    could read has changed (see the module docstring); ``bump`` is called by the writer's
    thread after each ingested segment, ``invalidate`` by whoever changes older data.
    Neither raises: a backend failure degrades to this node's counters and says so."""

    def token(self, site_id: int, live: bool) -> Token: ...

    def bump(self, site_ids: Iterable[int] | None) -> None:
        """New data ingested for ``site_ids`` (their ``live`` counters); None: of unknown
        sites and age (the ``epoch``)."""

    def invalidate(self, site_id: int | None) -> None:
        """Older data changed: a site's ``live`` and ``past`` counters; None: the epoch."""

    def close(self) -> None: ...


class MemoryGenerations:
    """Counters in this process. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._epoch = 0
        self._live: dict[int, int] = {}
        self._past: dict[int, int] = {}

    def token(self, site_id: int, live: bool) -> Token:
        with self._lock:
            counter = (self._live if live else self._past).get(site_id, 0)
            return Token(f"{self._epoch}.{'l' if live else 'p'}{counter}")

    def bump(self, site_ids: Iterable[int] | None) -> None:
        with self._lock:
            if site_ids is None:
                self._epoch += 1
                return
            for site in site_ids:
                self._live[site] = self._live.get(site, 0) + 1

    def invalidate(self, site_id: int | None) -> None:
        with self._lock:
            if site_id is None:
                self._epoch += 1
                return
            self._live[site_id] = self._live.get(site_id, 0) + 1
            self._past[site_id] = self._past.get(site_id, 0) + 1

    def close(self) -> None:
        return None


class RedisGenerations:
    """Counters in one Redis hash (``li:gen``: fields ``e``, ``l:<site>``, ``p:<site>``), read with
    one HMGET per answer. This node's :class:`MemoryGenerations` is bumped too and answers
    while Redis fails (``degraded`` tokens, prefixed ``x`` so they never equal a Redis one)."""

    def __init__(self, client: Any, breaker: Guard, key: str = "li:gen") -> None:
        """``client``: a redis-py client (socket timeouts set); ``breaker``: guards every
        call; ``key``: the hash holding the counters."""
        self._hash = key
        self._redis = client
        self._breaker = breaker
        self.local = MemoryGenerations()
        self._missed = False  # a bump that did not reach Redis: bump the epoch once it does

    def token(self, site_id: int, live: bool) -> Token:
        field = f"{'l' if live else 'p'}:{site_id}"
        def read() -> Any:
            self._catch_up()
            return self._redis.hmget(self._hash, "e", field)

        try:
            values = self._breaker.call(read)
        except Exception:  # Redis down: this node's counters, briefly trusted
            values = None
        if values is None:
            local = self.local.token(site_id, live)
            return Token("x" + local.text, degraded=True)
        epoch, counter = (int(v or 0) for v in values)
        return Token(f"{epoch}.{field[0]}{counter}")

    def bump(self, site_ids: Iterable[int] | None) -> None:
        sites = None if site_ids is None else list(site_ids)
        self.local.bump(sites)

        def send() -> None:
            pipe = self._redis.pipeline(transaction=False)
            if sites is None:
                pipe.hincrby(self._hash, "e", 1)
            for site in sites or ():
                pipe.hincrby(self._hash, f"l:{site}", 1)
            pipe.execute()

        self._send(send)

    def invalidate(self, site_id: int | None) -> None:
        self.local.invalidate(site_id)

        def send() -> None:
            pipe = self._redis.pipeline(transaction=False)
            if site_id is None:
                pipe.hincrby(self._hash, "e", 1)
            else:
                pipe.hincrby(self._hash, f"l:{site_id}", 1)
                pipe.hincrby(self._hash, f"p:{site_id}", 1)
            pipe.execute()

        self._send(send)

    def _send(self, send: Callable[[], None]) -> None:
        def guarded() -> None:
            self._catch_up()
            send()

        try:
            self._breaker.call(guarded)
        except Exception as exc:
            log.warning("cache: could not bump a data generation in Redis: %s", exc)
            self._missed = True

    def _catch_up(self) -> None:
        """After bumps that could not reach Redis (which other nodes' keys never saw), the
        epoch moves once, so no answer cached before the outage outlives it."""
        if self._missed:
            self._redis.hincrby(self._hash, "e", 1)
            self._missed = False

    def close(self) -> None:
        return None
