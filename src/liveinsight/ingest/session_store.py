"""The live-session seam: which session each event belongs to, kept while visits go on.

In process: :class:`~liveinsight.ingest.sessions.SessionTracker`; across processes and
nodes: :class:`~liveinsight.ingest.redis_sessions.RedisSessionStore`, so a visitor's session
is found and extended by whichever node gets the event. ``services.open_services`` picks
Redis when ``redis_url`` is set.

Contract of :meth:`SessionStore.record`: for an event ``row`` at ``when``, atomically find
the visitor's live session (last event within ``timeout``; under yesterday's visitor id too,
for a visit across midnight), extend it or start one, set ``row.session_id`` (and
``row.visitor_id`` to the session's), and return the session rows to write (a new session
one row, a continued one the cancelled previous state and the new one); None for an
engagement event with no live session. Two events of one session never both write the same
next version. Sessions idle past ``timeout`` are forgotten (memory is bounded). A store that
cannot reach its backend degrades to this node's own memory and says so in health
(:attr:`SessionStore.degraded`); it never fails the event.

:meth:`SessionStore.record_many` is the same for a batch of events, in order, each atomic on
its own: the result equals calling ``record`` for each in turn. A remote store answers a batch
in one round trip (the collector enriches a group of requests together, ``ingest/group.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple, Protocol

from liveinsight.types import EventRow, SessionRow

if TYPE_CHECKING:
    from liveinsight.ingest.sessions import Session


class SessionEvent(NamedTuple):
    """One event for :meth:`SessionStore.record_many` (the arguments of ``record``)."""

    row: EventRow
    when: datetime
    previous_visitor_id: int | Callable[[], int] | None
    interactive: bool
    now: datetime


class SessionStore(Protocol):
    timeout: timedelta

    def record(self, row: EventRow, when: datetime, *,
               previous_visitor_id: int | Callable[[], int] | None = None,
               interactive: bool = True, now: datetime | None = None,
               ) -> list[SessionRow] | None: ...

    def record_many(self, events: Sequence[SessionEvent]) -> list[list[SessionRow] | None]:
        """``record`` for each event, in order (see the module docstring)."""

    def warm(self, sessions: list[Session]) -> None:
        """Adopt sessions loaded at start (from the store and the log). A shared store keeps
        what it holds when it is newer (another node may have moved on)."""

    @property
    def degraded(self) -> str | None:
        """Why sessions are kept in this node's memory only instead of the shared backend
        (for health), or None when all is well (always None in process)."""

    def __len__(self) -> int: ...

    def close(self) -> None:
        """Release connections (at shutdown)."""
