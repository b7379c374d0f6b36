"""The audit log in the metadata database: the chained store and its writer thread.

:class:`AuditStore` appends entries to the chain (``security/audit.py``) one transaction
per batch: it first updates the one ``audit_head`` row, which locks it (a row lock in
PostgreSQL, the write lock in SQLite), so processes and nodes sharing the database append
one after another and the chain stays a line. :class:`AuditLog` is what the request path
calls: :meth:`AuditLog.record` only queues the entry (never blocks the event loop); a
thread writes the queue in batches. At most ``max_queue`` entries wait; past it an entry is
dropped, logged and counted (``liveinsight_audit_dropped_total``) rather than slowing
requests. A process killed with SIGKILL loses the entries still queued (written within
about ``interval`` seconds otherwise); a clean stop writes them all.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Engine, Select, delete, func, or_, select, update
from sqlalchemy.orm import Session

from liveinsight.meta import models
from liveinsight.meta.db import session_factory
from liveinsight.meta.repo import aware
from liveinsight.security.audit import (
    DENIED,
    SECURITY_ACTIONS,
    AuditEntry,
    AuditRecord,
    Verdict,
    link,
    verify,
)

log = logging.getLogger("liveinsight.audit")
MAX_PAGE = 500
_SIZES = {"actor": 400, "action": 200, "target": 1000, "request_id": 64, "client": 32}


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of a page of the log, newest first; ``before``: records with a lower seq."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None  # a part of the actor, any case
    action: str | None = None  # the action, or its beginning (``login.``)
    site_id: int | None = None
    before: int | None = None
    limit: int = 100
    flagged: bool = False  # security events only (``AuditEntry.flagged``)


def fit(entry: AuditEntry) -> AuditEntry:
    """The entry as it will be stored (so hashed): strings cut to their columns, UTC."""
    cut = {name: getattr(entry, name)[:size] for name, size in _SIZES.items()}
    return replace(entry, at=entry.at.astimezone(UTC), **cut)


def _entry(row: models.AuditRecord) -> AuditEntry:
    return AuditEntry(at=aware(row.at), actor=row.actor, action=row.action, target=row.target,
                      outcome=row.outcome, status=row.status, site_id=row.site_id,
                      client=row.client, request_id=row.request_id,
                      details=dict(row.details or {}))


def _record(row: models.AuditRecord) -> AuditRecord:
    return AuditRecord(row.seq, _entry(row), row.prev_hash, row.hash)


def _flagged() -> ColumnElement[bool]:
    """SQL of ``AuditEntry.flagged``."""
    t = models.AuditRecord
    return or_(t.action.in_(SECURITY_ACTIONS), t.status == DENIED)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AuditStore:
    """Reads and writes of the chained log; thread-safe, every method blocking."""

    def __init__(self, engine: Engine, key: bytes,
                 on_written: Callable[[list[AuditRecord]], None] | None = None) -> None:
        """``on_written``: given each batch of records once committed (the ClickHouse
        copies, ``ops/auditship.py``); it must not block, and its failure is logged only."""
        self._sessions = session_factory(engine)
        self._key = key
        self.on_written = on_written

    def _written(self, records: list[AuditRecord]) -> None:
        if self.on_written is not None and records:
            try:
                self.on_written(records)
            except Exception as exc:  # the chain is written; a copy is not worth a failure
                log.warning("audit log: the written records' copy failed: %s", exc)

    def _locked_head(self, s: Session) -> models.AuditHead:
        s.execute(update(models.AuditHead).where(models.AuditHead.id == 1)
                  .values(seq=models.AuditHead.seq))
        head = s.get(models.AuditHead, 1, populate_existing=True)
        assert head is not None  # made by the migration
        return head

    def _append(self, s: Session, head: models.AuditHead, entries: list[AuditEntry]
                ) -> list[AuditRecord]:
        seq, prev = head.seq, head.hash
        out: list[AuditRecord] = []
        for entry in entries:
            entry = fit(entry)
            seq += 1
            digest = link(self._key, prev, seq, entry)
            s.add(models.AuditRecord(
                seq=seq, at=entry.at, actor=entry.actor, action=entry.action,
                target=entry.target, outcome=entry.outcome, status=entry.status,
                site_id=entry.site_id, client=entry.client, request_id=entry.request_id,
                details=entry.details or None, prev_hash=prev, hash=digest))
            out.append(AuditRecord(seq, entry, prev, digest))
            prev = digest
        head.seq, head.hash = seq, prev
        return out

    def append(self, entries: list[AuditEntry]) -> None:
        """Add ``entries`` to the chain, in order, in one transaction."""
        with self._sessions() as s:
            records = self._append(s, self._locked_head(s), entries)
            s.commit()
        self._written(records)

    def scan(self, q: AuditQuery, after: int = 0) -> list[AuditRecord]:
        """At most ``q.limit`` (≤ MAX_PAGE) records matching ``q`` with a ``seq`` above
        ``after``, oldest first (an export's pages)."""
        t = models.AuditRecord
        stmt = select(t).where(t.seq > after).order_by(t.seq).limit(
            max(1, min(q.limit, MAX_PAGE)))
        with self._sessions() as s:
            return [_record(r) for r in s.scalars(self._filtered(stmt, q))]

    def batches(self, after: int, size: int = MAX_PAGE) -> Iterator[list[AuditRecord]]:
        """Every record after ``after``, oldest first, ``size`` at a time."""
        while batch := self.scan(AuditQuery(limit=size), after):
            yield batch
            after = batch[-1].seq

    def page(self, q: AuditQuery) -> list[AuditRecord]:
        """At most ``q.limit`` (≤ MAX_PAGE) records matching ``q``, newest first."""
        t = models.AuditRecord
        stmt = select(t).order_by(t.seq.desc()).limit(max(1, min(q.limit, MAX_PAGE)))
        if q.before is not None:
            stmt = stmt.where(t.seq < q.before)
        with self._sessions() as s:
            return [_record(r) for r in s.scalars(self._filtered(stmt, q))]

    @staticmethod
    def _filtered(stmt: Select[models.AuditRecord], q: AuditQuery
                  ) -> Select[models.AuditRecord]:
        t = models.AuditRecord
        if q.since is not None:
            stmt = stmt.where(t.at >= q.since)
        if q.until is not None:
            stmt = stmt.where(t.at < q.until)
        if q.actor:
            stmt = stmt.where(func.lower(t.actor).like(f"%{_like(q.actor.lower())}%",
                                                       escape="\\"))
        if q.action:
            stmt = stmt.where(t.action.like(f"{_like(q.action)}%", escape="\\"))
        if q.site_id is not None:
            stmt = stmt.where(t.site_id == q.site_id)
        if q.flagged:
            stmt = stmt.where(_flagged())
        return stmt

    def count_flagged(self, since: datetime, until: datetime, action: str = "") -> int:
        """How many security events were recorded in ``[since, until)`` (only those whose
        action begins with ``action`` when given: ``login.``, ``GET /admin``)."""
        t = models.AuditRecord
        stmt = select(func.count()).where(t.at >= since, t.at < until, _flagged())
        if action:
            stmt = stmt.where(t.action.like(f"{_like(action)}%", escape="\\"))
        with self._sessions() as s:
            return int(s.scalar(stmt) or 0)

    def _records(self, s: Session) -> Iterator[AuditRecord]:
        t = models.AuditRecord
        last = 0
        while True:
            rows = list(s.scalars(select(t).where(t.seq > last).order_by(t.seq).limit(1000)))
            if not rows:
                return
            for row in rows:
                yield _record(row)
            last = rows[-1].seq

    def verify(self) -> Verdict:
        """Walk the whole chain (``security/audit.py: verify``), the head row included: a
        head that does not name the last record means records were removed at the end."""
        with self._sessions() as s:
            head = s.get(models.AuditHead, 1)
            assert head is not None
            verdict = verify(self._key, self._records(s), head.pruned_through,
                             head.pruned_hash)
        if (head.seq, head.hash) != (verdict.last, verdict.head):
            return replace(verdict, problems=(
                *verdict.problems, f"the chain's head names record {head.seq}, the last "
                f"record is {verdict.last}: records were removed at the end"))
        return verdict

    def prune(self, before: datetime, now: datetime) -> int:
        """Delete the records older than ``before`` and note it in the chain (an
        ``audit.pruned`` record); the number deleted."""
        t = models.AuditRecord
        with self._sessions() as s:
            head = self._locked_head(s)
            last = s.scalar(select(func.max(t.seq)).where(t.at < before))
            if last is None or last <= head.pruned_through:
                s.rollback()
                return 0
            cut = s.scalar(select(t.hash).where(t.seq == last))
            deleted = s.scalar(select(func.count()).where(t.seq <= last)) or 0
            s.execute(delete(t).where(t.seq <= last))
            head.pruned_through, head.pruned_hash = last, cut or head.pruned_hash
            records = self._append(s, head, [AuditEntry(
                at=now, actor="system", action="audit.pruned", target=f"records ..{last}",
                details={"through": last, "deleted": deleted,
                         "before": before.isoformat()})])
            s.commit()
        self._written(records)
        return deleted


class AuditLog:
    """The request path's side: entries queued here, written by one thread in batches."""

    def __init__(self, store: AuditStore, on_drop: Callable[[], None] = lambda: None,
                 max_queue: int = 10_000, interval: float = 0.2) -> None:
        self.store = store
        self._queue: queue.Queue[AuditEntry | threading.Event] = queue.Queue(max_queue)
        self._on_drop = on_drop
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, entry: AuditEntry) -> None:
        """Queue ``entry`` (never blocks)."""
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._on_drop()
            log.error("audit log: the queue is full, an entry was dropped: %s %s",
                      entry.action, entry.target)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until what was queued before this call is written (True) or ``timeout``."""
        if self._thread is None or not self._thread.is_alive():
            self._drain()
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
        while not self._queue.empty():  # every batch of what is left, not just the first
            self._drain()

    def _wake(self) -> None:
        """End the writer's wait for entries now rather than at the end of its interval."""
        with contextlib.suppress(queue.Full):  # a full queue wakes it anyway
            self._queue.put_nowait(threading.Event())

    def _run(self) -> None:
        while not self._stop.is_set():
            self._drain(wait=self._interval)

    def _drain(self, wait: float = 0.0) -> None:
        batch: list[AuditEntry] = []
        marks: list[threading.Event] = []
        try:
            first = self._queue.get(timeout=wait) if wait else self._queue.get_nowait()
        except queue.Empty:
            return
        item: AuditEntry | threading.Event | None = first
        while item is not None and len(batch) < 500:
            if isinstance(item, threading.Event):
                marks.append(item)
            else:
                batch.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                item = None
        if item is not None:  # the batch is full: the rest waits for the next round
            self._requeue(item)
        self._write(batch)
        for mark in marks:
            mark.set()

    def _requeue(self, item: AuditEntry | threading.Event) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            if isinstance(item, threading.Event):
                item.set()
            else:
                self._on_drop()

    def _write(self, batch: list[AuditEntry]) -> None:
        if not batch:
            return
        for attempt in range(3):
            try:
                self.store.append(batch)
                return
            except Exception as exc:  # the database may be away for a moment
                log.warning("audit log: writing %d entries failed (attempt %d): %s",
                            len(batch), attempt + 1, exc)
                self._stop.wait(0.5 * (attempt + 1))
        for _ in batch:
            self._on_drop()
        log.error("audit log: %d entries dropped, the metadata database refused them",
                  len(batch))
