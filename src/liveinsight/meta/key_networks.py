"""Which networks each API key was used from (keyed hashes, ``security/networks.py``), in
the metadata database, so every node agrees on what is new.

:meth:`KeyNetworks.known` answers from this process's memory (the hot path asks it on
every request with a key); :meth:`KeyNetworks.note` (blocking) records a network and says
whether it was new. Two nodes noting the same new network at once: the primary key lets one
insert, the other sees it as known, so the event is recorded once. At most
``MAX_NETWORKS`` networks are kept per key; past it a new network is still reported, not
stored.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from liveinsight.meta import models
from liveinsight.meta.db import session_factory

MAX_NETWORKS = 1000


class KeyNetworks:
    def __init__(self, engine: Engine, max_cached: int = 100_000) -> None:
        self._sessions = session_factory(engine)
        self._known: set[tuple[int, str]] = set()
        self._max_cached = max_cached
        self._lock = threading.Lock()

    def known(self, key_id: int, network: str) -> bool:
        """Whether this process already knows the key was used from ``network``."""
        return (key_id, network) in self._known

    def _remember(self, key_id: int, network: str) -> None:
        with self._lock:
            if len(self._known) >= self._max_cached:
                self._known.clear()
            self._known.add((key_id, network))

    def note(self, key_id: int, network: str, now: datetime) -> int | None:
        """Record that the key was used from ``network``: None when that was known, else
        how many networks the key had been used from before (0: its first use)."""
        t = models.ApiKeyNetwork
        with self._sessions() as s:
            if s.get(t, (key_id, network)) is not None:
                self._remember(key_id, network)
                return None
            before = int(s.scalar(select(func.count()).where(t.key_id == key_id)) or 0)
            if before >= MAX_NETWORKS:
                self._remember(key_id, network)
                return before
            s.add(t(key_id=key_id, network=network, first_seen=now))
            try:
                s.commit()
            except IntegrityError:  # another node noted it first (or the key is gone)
                s.rollback()
                self._remember(key_id, network)
                return None
        self._remember(key_id, network)
        return before
