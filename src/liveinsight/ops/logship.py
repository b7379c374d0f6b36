"""Log records into the ClickHouse ``logs`` table, without ever making a caller wait.

The path: a sink of the terminal handler's structlog chain (:class:`LogSink`, added while
the app runs: ``ops/logging.add_sink``) takes each record once it is processed (request
fields, scrubbing), so a record is processed once for both, turns it into one JSON line and
puts it in a bounded in-memory queue — no I/O, no lock held for longer than an append; a
full queue drops the record (counted).
One thread (:class:`LogShipper`) takes the queue every 0.2 s and appends it as one frame to
the records' own write-ahead log (``<data_dir>/logs-wal``, its own quota: a flood of
records can never fill the events' log); a :class:`~liveinsight.ingest.writer.BatchWriter`
moves its closed segments into ``logs`` as the events' writer does (ClickHouse reads the
file; a deduplication token per segment; a segment is deleted once confirmed, kept while
ClickHouse is away and replayed at the next start).

A logging failure never blocks and never recurses: the sink and the thread catch every
error and only count it (``liveinsight_log_records_dropped_total{reason}``), the thread
logs nothing, and a record logged while the sink itself runs (in the same thread) is
ignored.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from liveinsight.ingest.wal import WalFull, WalUnavailable, WriteAheadLog
from liveinsight.ingest.writer import BatchWriter
from liveinsight.ops.logging import MAX_TEXT, add_sink, remove_sink
from liveinsight.storage import schema
from liveinsight.storage.protocol import QueryResult, Store

SHIP_EVERY_S = 0.2
"""How often the shipping thread moves the queue into the records' log."""
FLUSH_S = 0.5
"""The records' writer closes a segment once its first record is this old: with
:data:`SHIP_EVERY_S`, a record reaches the ``logs`` table within about a second."""
MAX_FIELDS = 30
"""Structured fields kept per record beyond the columns (the rest are dropped)."""
_COLUMNS = frozenset(schema.LOG_NAMES) | {"event", "timestamp", "exception", "_record",
                                          "_from_structlog"}
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\b[0-9a-fA-F]{8,}\b|\d+")
_QUOTED = re.compile(r"'[^']{0,200}'|\"[^\"]{0,200}\"")


def fingerprint(logger: str, level: str, message: str, exception: str) -> str:
    """Records of one kind share it: the logger, the level, and the message with its
    numbers, hex ids and quoted values taken out — or, with an exception, the exception's
    last line's type and the message's first 100 characters so normalized. 16 hex digits."""
    text = _QUOTED.sub("'?'", _NUMBERS.sub("?", message[:300]))
    if exception:
        last = exception.rstrip().rsplit("\n", 1)[-1]
        text = text[:100] + "|" + last.split(":", 1)[0][:200]
    return hashlib.blake2b(f"{logger}|{level}|{text}".encode(), digest_size=8).hexdigest()


def _to_row(retention_days: int) -> Callable[[Mapping[str, Any]], str]:
    def to_row(event: Mapping[str, Any]) -> str:
        record: logging.LogRecord | None = event.get("_record")
        created = record.created if record is not None else datetime.now(UTC).timestamp()
        moment = datetime.fromtimestamp(created, UTC)
        level = str(event.get("level", "info")).lower()
        logger = str(event.get("logger", record.name if record else ""))[:200]
        message = str(event.get("event", ""))[:MAX_TEXT]
        exception = str(event.get("exception", ""))[:MAX_TEXT]
        extra = {k: str(v)[:1000] for k, v in event.items()
                 if k not in _COLUMNS and not k.startswith("_")}
        row = {
            "_k": "l",
            "timestamp": (moment.strftime("%Y-%m-%d %H:%M:%S.")
                          + f"{moment.microsecond // 1000:03d}"),
            "level": level, "logger": logger, "message": message,
            "request_id": str(event.get("request_id", ""))[:64],
            "route": str(event.get("route", ""))[:200],
            "method": str(event.get("method", ""))[:10],
            "status": _int(event.get("status"), 0, 999),
            "duration_ms": _float(event.get("duration_ms")),
            "site_id": _int(event.get("site_id"), 0, 2**32 - 1),
            "node": str(event.get("node", ""))[:64],
            "trace_id": str(event.get("trace_id", ""))[:64],
            "fingerprint": fingerprint(logger, level, message, exception),
            "exception": exception,
            "fields": dict(list(extra.items())[:MAX_FIELDS]),
            "retention_days": retention_days,
        }
        return orjson.dumps(row).decode()

    return to_row


def _int(value: Any, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


class LogSink:
    """Turns each processed record (``ops/logging.add_sink``) of at least ``level`` into a
    ``logs`` row and queues it (see the module doc)."""

    def __init__(self, queue: LogQueue, level: str, retention_days: int) -> None:
        self._queue = queue
        self._level = logging.getLevelName(level.upper())
        self._to_row = _to_row(retention_days)
        self._inside = threading.local()

    def __call__(self, event: Mapping[str, Any]) -> None:
        record = event.get("_record")
        if record is not None and record.levelno < self._level:
            return
        if getattr(self._inside, "active", False):
            return  # logged while turning a record into a row: never recurse
        self._inside.active = True
        try:
            self._queue.put(self._to_row(event))
        except Exception:
            self._queue.dropped("error")
        finally:
            self._inside.active = False


class LogQueue:
    """A bounded queue of rows (rendered, or the things a :class:`RowShipper`'s ``render``
    turns into rows); :meth:`put` never waits."""

    def __init__(self, max_records: int, on_drop: Callable[[str, int], None]) -> None:
        self.max_records = max_records
        self._rows: collections.deque[Any] = collections.deque()
        self._on_drop = on_drop
        self.wake = threading.Event()

    def put(self, row: Any) -> None:
        if len(self._rows) >= self.max_records:
            self.dropped("queue_full")
            return
        self._rows.append(row)

    def take(self) -> list[Any]:
        out = []
        rows = self._rows
        while rows:
            out.append(rows.popleft())
        return out

    def dropped(self, reason: str, count: int = 1) -> None:
        try:
            self._on_drop(reason, count)
        except Exception:  # a counter must not fail a caller
            return

    def __len__(self) -> int:
        return len(self._rows)


class LogTable:
    """The store as the records' writer sees it: its segments go to ``targets`` only
    (``logs``; ``spans`` for the spans' shipper, ``ops/spans.py``)."""

    def __init__(self, store: Store,
                 targets: list[tuple[str, str, schema.Columns]] | None = None) -> None:
        self.store = store
        self.database = store.database
        self.targets = schema.LOG_TARGETS if targets is None else targets

    def query(self, sql: str, params: Any = None, *, timeout: float | None = None
              ) -> QueryResult:
        return self.store.query(sql, params, timeout=timeout)

    def command(self, sql: str, params: Any = None) -> None:
        self.store.command(sql, params)

    def stream(self, sql: str, params: Any = None, fmt: str = "CSVWithNames"
               ) -> Iterator[bytes]:
        return self.store.stream(sql, params, fmt)

    def ingest_segment(self, path: Path, token: str, targets: Any = None) -> None:
        self.store.ingest_segment(path, token, self.targets)

    def ping(self) -> bool:
        return self.store.ping()

    def close(self) -> None:
        return None  # the store is the app's


class RowShipper:
    """A queue of rendered rows, the thread moving it into a write-ahead log of its own
    every :data:`SHIP_EVERY_S`, and the writer moving that log into ``targets`` (see the
    module doc). Shared by the log records (:class:`LogShipper`) and the trace spans
    (``ops/spans.py``). With ``render``, the queue holds what it turns into a row, and the
    thread renders them (a thing it fails on is dropped, counted as ``error``)."""

    def __init__(self, store: Store, directory: Path, *, node_id: str,
                 targets: list[tuple[str, str, schema.Columns]], max_records: int,
                 max_bytes: int, on_drop: Callable[[str, int], None],
                 on_shipped: Callable[[int], None], name: str = "log-shipper",
                 render: Callable[[Any], str] | None = None) -> None:
        self.queue = LogQueue(max_records, on_drop)
        self._render = render
        self.wal = WriteAheadLog(directory, fsync="never", max_bytes=max_bytes)
        self.writer = BatchWriter(self.wal, LogTable(store, targets), node_id=node_id,
                                  batch_rows=50_000, flush_s=FLUSH_S, retry_max_s=30.0,
                                  on_ingested=lambda _s, _t: None)
        self._name = name
        self._on_shipped = on_shipped
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One ship at a time: what the thread has taken from the queue is in the log before
        # another ship (a flush's) returns, so that a flush waits for it
        self._shipping = threading.Lock()

    def start(self) -> None:
        self.writer.start()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SHIP_EVERY_S):
            self.ship()
        self.ship()

    def ship(self) -> int:
        """Move the queued rows into the log now (after the rows another ship took, if one
        is under way); how many this call appended."""
        with self._shipping:
            return self._ship()

    def _ship(self) -> int:
        rows = self.queue.take()
        if self._render is not None:
            rows = self._rendered(rows)
        if not rows:
            return 0
        payload = ("\n".join(rows) + "\n").encode()
        try:
            self.wal.append(payload, len(rows))
        except WalFull:
            self.queue.dropped("wal_full", len(rows))
            return 0
        except (WalUnavailable, OSError):
            self.queue.dropped("io", len(rows))
            return 0
        with contextlib.suppress(Exception):  # a counter must not stop the shipping
            self._on_shipped(len(rows))
        if self.writer.rotation_due:
            self.writer.nudge()
        return len(rows)

    def _rendered(self, things: list[Any]) -> list[str]:
        assert self._render is not None
        rows, failed = [], 0
        for thing in things:
            try:
                rows.append(self._render(thing))
            except Exception:
                failed += 1
        if failed:
            self.queue.dropped("error", failed)
        return rows

    def flush(self, timeout: float = 10.0) -> bool:
        """Ship the queue and ingest everything: True once the rows queued before the call
        (the ones the shipping thread was moving too) are in their table."""
        self.ship()
        return self.writer.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self.wal.close()
        self.writer.stop(flush=True, timeout=timeout)


class LogShipper(RowShipper):
    """The records' :class:`RowShipper` and its sink. :meth:`start` adds the sink to the
    logging chain; :meth:`close` removes it and drains what it can (the rest waits in the
    log for the next start)."""

    def __init__(self, store: Store, directory: Path, *, node_id: str, level: str,
                 retention_days: int, max_records: int, max_bytes: int,
                 on_drop: Callable[[str, int], None],
                 on_shipped: Callable[[int], None]) -> None:
        super().__init__(store, directory, node_id=f"{node_id}-logs",
                         targets=schema.LOG_TARGETS, max_records=max_records,
                         max_bytes=max_bytes, on_drop=on_drop, on_shipped=on_shipped)
        self.sink = LogSink(self.queue, level, retention_days)

    def start(self) -> None:
        super().start()
        add_sink(self.sink)

    def close(self, timeout: float = 5.0) -> None:
        remove_sink(self.sink)
        super().close(timeout)
