"""Copies of the audit log's records into the ClickHouse ``audit`` table.

Why a copy and not a move: the hash chain needs one writer order and a locked head row
(``meta/audit.py``), which the metadata database gives and ClickHouse (no transactions, no
row locks, merges that may reorder and TTLs that delete silently) does not; ``liveinsight
audit verify`` walks the chain there. The copy is what grows: searched and exported at
volume (``GET /admin/audit/export?source=clickhouse``), kept by its own TTL
(``audit_store_retention_days``), independent of the chain's retention. Each copied row
carries its ``seq``, ``prev_hash`` and ``hash``, so an export can be checked against the
chain (or against itself: the links must follow each other).

The path is the log records' (``ops/logship.py: RowShipper``): the audit writer thread
hands each batch it committed to :meth:`AuditShipper.put` (rendering and queueing only), a
thread appends the queue to a write-ahead log of its own (``<data_dir>/audit-wal``) and a
writer moves its segments into the table. Records committed but not yet in that log when
the process dies (SIGKILL: about the last 0.2 s) or dropped by a full queue are copied again
at the next start (:meth:`AuditShipper.catch_up`: everything after the table's newest
record, and the last ``RESHIP`` before it); the table is a ReplacingMergeTree, so a record
copied twice is one row once merged and one row read with ``FINAL``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from liveinsight.meta.audit import AuditQuery
from liveinsight.ops.logship import RowShipper
from liveinsight.security.audit import AuditEntry, AuditRecord
from liveinsight.storage import schema
from liveinsight.storage.protocol import Store

log = logging.getLogger("liveinsight.audit")
RESHIP = 10_000
"""Records before the table's newest copied again at start (gaps left by a crash)."""


def to_row(record: AuditRecord, retention_days: int) -> str:
    """The ``audit`` row of ``record``, as one JSON line of the copies' log."""
    e = record.entry
    return orjson.dumps({
        "_k": "a", "timestamp": e.at.strftime("%Y-%m-%d %H:%M:%S.%f"), "seq": record.seq,
        "actor": e.actor, "action": e.action, "target": e.target, "outcome": e.outcome,
        "status": e.status or 0, "site_id": e.site_id or 0, "client": e.client,
        "request_id": e.request_id,
        "details": orjson.dumps(e.details, option=orjson.OPT_SORT_KEYS).decode(),
        "flagged": int(e.flagged), "prev_hash": record.prev_hash, "hash": record.hash,
        "retention_days": retention_days}).decode()


class AuditShipper(RowShipper):
    """See the module doc."""

    def __init__(self, store: Store, directory: Path, *, node_id: str, retention_days: int,
                 max_records: int, max_bytes: int, on_drop: Callable[[str, int], None],
                 on_shipped: Callable[[int], None]) -> None:
        super().__init__(store, directory, node_id=f"{node_id}-audit",
                         targets=schema.AUDIT_TARGETS, max_records=max_records,
                         max_bytes=max_bytes, on_drop=on_drop, on_shipped=on_shipped,
                         name="audit-shipper")
        self._store = store
        self._retention_days = retention_days

    def start(self, chain: Callable[[int], Iterator[list[AuditRecord]]] | None = None
              ) -> None:
        """Start shipping; with ``chain``, first copy what the table may lack
        (:meth:`catch_up`, in a thread of its own)."""
        super().start()
        if chain is not None:
            threading.Thread(target=self.catch_up, args=(chain,), name="audit-catch-up",
                             daemon=True).start()

    def put(self, records: Iterable[AuditRecord]) -> None:
        """Queue copies of committed records (never blocks; a full queue drops them,
        counted, and :meth:`catch_up` copies them at the next start)."""
        for record in records:
            self.queue.put(to_row(record, self._retention_days))

    def catch_up(self, chain: Callable[[int], Iterator[list[AuditRecord]]]) -> int:
        """Copy what the table may lack: ``chain(after)`` yields the chain's records after
        ``seq`` in batches. Blocking; how many records were queued."""
        try:
            newest = int(self._store.query(
                f"SELECT max(seq) FROM `{self._store.database}`.audit").scalar() or 0)
        except Exception as exc:  # ClickHouse away: the next start tries again
            log.warning("audit copies: could not read the table's newest record: %s", exc)
            return 0
        count = 0
        try:
            for batch in chain(max(0, newest - RESHIP)):
                self.put(batch)
                self.ship()
                count += len(batch)
        except Exception as exc:  # the metadata database away: the next start tries again
            log.warning("audit copies: could not read the audit chain: %s",
                        str(exc).splitlines()[0][:300])
        return count


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def copies_sql(db: str, q: AuditQuery, after: int, limit: int
               ) -> tuple[str, dict[str, Any]]:
    """The copies matching ``q`` with a ``seq`` above ``after``, oldest first, at most
    ``limit``, one row per record (``FINAL``): the columns of :data:`COPY_COLUMNS`."""
    where = ["seq > {after:UInt64}"]
    params: dict[str, Any] = {"after": after, "limit": limit}
    if q.since is not None:
        where.append("timestamp >= {since:DateTime64(6, 'UTC')}")
        params["since"] = _ts(q.since)
    if q.until is not None:
        where.append("timestamp < {until:DateTime64(6, 'UTC')}")
        params["until"] = _ts(q.until)
    if q.actor:
        where.append("positionCaseInsensitiveUTF8(actor, {actor:String}) > 0")
        params["actor"] = q.actor
    if q.action:
        where.append("startsWith(action, {action:String})")
        params["action"] = q.action
    if q.site_id is not None:
        where.append("site_id = {site:UInt32}")
        params["site"] = q.site_id
    if q.flagged:
        where.append("flagged = 1")
    columns = ", ".join(f"`{c}`" for c in COPY_COLUMNS)
    sql = (f"SELECT {columns} FROM `{db}`.audit FINAL WHERE {' AND '.join(where)} "
           "ORDER BY seq LIMIT {limit:UInt32}")
    return sql, params


COPY_COLUMNS = ("seq", "timestamp", "actor", "action", "target", "outcome", "status",
                "site_id", "client", "request_id", "details", "flagged", "prev_hash", "hash")


def from_copy(row: list[Any]) -> AuditRecord:
    """The record a row of :func:`copies_sql` holds."""
    (seq, at, actor, action, target, outcome, status, site_id, client, request_id, details,
     _flagged, prev_hash, digest) = row
    moment = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    entry = AuditEntry(at=moment if moment.tzinfo else moment.replace(tzinfo=UTC),
                       actor=actor, action=action, target=target, outcome=outcome,
                       status=int(status) or None, site_id=int(site_id) or None,
                       client=client, request_id=request_id,
                       details=orjson.loads(details) if details else {})
    return AuditRecord(int(seq), entry, prev_hash, digest)
