"""The ingest service: raw events in, enriched rows durably in the write-ahead log out.

Three calls, made in order by ``ingest/group.py`` for the collector endpoints: ``enrich`` the
events into log lines, ``append`` them (an event is kept once this returns: the promise
behind a 2xx), then ``record`` what became of them. Dropped events are counted by reason and
otherwise treated as accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import msgspec
from prometheus_client import Counter

from liveinsight.ingest.wal import WalFull, WalUnavailable, WriteAheadLog
from liveinsight.ops import tracing
from liveinsight.ops.metrics import Metrics
from liveinsight.types import DropReason, EventRow, RawEvent, SessionRow

Enriched = tuple[EventRow, list[SessionRow]] | DropReason


class Enricher(Protocol):
    """The enrichment pipeline (``ingest/pipeline.py``)."""

    def run_many(self, events: Sequence[tuple[RawEvent, datetime | None]]) -> list[Enriched]:
        """Enrich each event (taken in at its ``now``, the clock's reading when None), in
        order: its row and the session rows it changes, or why it is dropped."""


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    rows: list[EventRow] = field(default_factory=list)


class FrameLog(Protocol):
    """Where the collector's frames go: the write-ahead log, or in direct mode
    (``ingest/direct.py``) ClickHouse itself. ``append`` returns once the frame is kept,
    or raises :class:`WalUnavailable` (nothing of it kept)."""

    def append(self, payload: bytes, rows: int,
               sites: frozenset[int] | set[int] = frozenset()) -> None: ...


class Ingestor:
    def __init__(self, pipeline: Enricher, wal: WriteAheadLog | FrameLog,
                 metrics: Metrics) -> None:
        self.pipeline = pipeline
        self.wal = wal
        self.metrics = metrics
        self._encoder = msgspec.json.Encoder()
        self._listeners: list[Callable[[list[EventRow]], None]] = []
        # Label children bound once per label value: `.labels()` costs a lock and a dict
        # lookup per call, about as much as a cheap enrichment step.
        self._accepted: dict[str, Counter] = {}
        self._dropped: dict[str, Counter] = {}

    def enrich(self, raws: Sequence[RawEvent],
               now: datetime | None = None) -> tuple[bytes, IngestResult]:
        """The log lines for ``raws`` (b"" when every event was dropped) and what became of
        each, without touching the log. Append the lines, then :meth:`record` the result.
        ``now``: the clock's reading for the request (read once per event when None)."""
        return self.enrich_many([(raws, now)])[0]

    def enrich_many(self, requests: Sequence[tuple[Sequence[RawEvent], datetime | None]]
                    ) -> list[tuple[bytes, IngestResult]]:
        """:meth:`enrich` for each ``(raws, now)`` of several requests, as one batch of the
        pipeline (a shared session store is asked once)."""
        outs = self.pipeline.run_many([(raw, now) for raws, now in requests for raw in raws])
        answers = []
        start = 0
        for raws, _ in requests:
            result = IngestResult()
            lines: list[EventRow | SessionRow] = []
            for out in outs[start:start + len(raws)]:
                if isinstance(out, DropReason):
                    result.dropped[out.value] = result.dropped.get(out.value, 0) + 1
                    continue
                row, sessions = out
                lines.append(row)
                lines.extend(sessions)
                result.rows.append(row)
            start += len(raws)
            result.accepted = len(result.rows)
            answers.append(((self._encoder.encode_lines(lines) if lines else b""), result))
        return answers

    def record(self, results: Sequence[tuple[IngestResult, str]]) -> None:
        """Count and announce the results of requests appended together, each with its
        endpoint (call once their lines are in the log): one counter increment per endpoint
        and drop reason, one announcement."""
        accepted: dict[str, int] = {}
        dropped: dict[str, int] = {}
        rows: list[EventRow] = []
        for result, endpoint in results:
            if result.accepted:
                accepted[endpoint] = accepted.get(endpoint, 0) + result.accepted
                rows.extend(result.rows)
            for reason, count in result.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + count
        for endpoint, count in accepted.items():
            _child(self._accepted, self.metrics.events_accepted, endpoint).inc(count)
        for reason, count in dropped.items():
            _child(self._dropped, self.metrics.events_dropped, reason).inc(count)
        if rows:
            for listener in self._listeners:
                listener(rows)

    def subscribe(self, listener: Callable[[list[EventRow]], None]) -> None:
        """Call ``listener(rows)`` with the rows of each append once they are in the log (on
        the event loop, so it must be quick and must not raise)."""
        self._listeners.append(listener)

    def append(self, payload: bytes, rows: int, *, requests: int = 1,
               sites: frozenset[int] | set[int] = frozenset()) -> None:
        """Append ``payload`` (the lines of ``requests`` requests, ``rows`` event rows of
        ``sites``) to the log as one frame; failures are counted per request and re-raised
        (:class:`WalUnavailable`, or :class:`WalFull`: nothing of the frame was kept)."""
        try:
            with tracing.span("wal.append", {"wal.rows": rows, "wal.bytes": len(payload),
                                             "wal.requests": requests}):
                self.wal.append(payload, rows, sites)
        except WalFull:
            self.metrics.wal_append_failures.labels("quota").inc(requests)
            raise
        except WalUnavailable:
            self.metrics.wal_append_failures.labels("io").inc(requests)
            raise


def _child(children: dict[str, Counter], metric: Counter, label: str) -> Counter:
    child = children.get(label)
    if child is None:
        child = children[label] = metric.labels(label)
    return child
