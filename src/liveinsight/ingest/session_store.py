"""The live-session seam: which session each event belongs to, kept while visits go on.

In process: :class:`~liveinsight.ingest.sessions.SessionTracker`; across nodes (the
scale-out issue): Redis, so a visitor's session is found and extended by whichever node
gets the event.

Contract of :meth:`SessionStore.record`: for an event ``row`` at ``when``, atomically find
the visitor's live session (last event within ``timeout``; under yesterday's visitor id too,
for a visit across midnight), extend it or start one, set ``row.session_id`` (and
``row.visitor_id`` to the session's), and return the session rows to write (a new session
one row, a continued one the cancelled previous state and the new one); None for an
engagement event with no live session. Two events of one session never both write the same
next version. Sessions idle past ``timeout`` are forgotten (memory is bounded). A store that
cannot reach its backend degrades to this node's own memory and says so in health; it never
fails the event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from liveinsight.types import EventRow, SessionRow

if TYPE_CHECKING:
    from liveinsight.ingest.sessions import Session


class SessionStore(Protocol):
    timeout: timedelta

    def record(self, row: EventRow, when: datetime, *,
               previous_visitor_id: int | Callable[[], int] | None = None,
               interactive: bool = True, now: datetime | None = None,
               ) -> list[SessionRow] | None: ...

    def warm(self, sessions: list[Session]) -> None:
        """Adopt sessions loaded at start (from the store and the log)."""

    def __len__(self) -> int: ...
