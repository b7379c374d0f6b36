"""Copying a node's events and sessions from its embedded engine to a ClickHouse server or
cluster: the data half of moving from one machine to many (``liveinsight move``).

The copy goes in chunks (a day, or an hour of a day that holds more than ``CHUNK_ROWS``
rows). The embedded engine writes each chunk to a file in the write-ahead log's line format
(``INSERT INTO FUNCTION file(...)``: no row passes through Python) and the target ingests it
exactly as it ingests a log segment (``Store.ingest_segment``), with a deduplication token
naming the table, the chunk and its row count: a copy stopped half-way (or run twice) is
resumed by running it again, and a chunk already stored is skipped by ClickHouse itself.
The target's materialized views fill its rollups from those inserts, as from live ones.

Each chunk is then checked on the target against the source: for ``events`` the row count
and a checksum of every column (``sum(cityHash64(*))``), for ``sessions`` the collapsing
sums (``sum(sign)``, ``sum(sign * pageviews)``, ``sum(sign * duration)``), which background
merges of ``VersionedCollapsingMergeTree`` keep unchanged while they drop row pairs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from liveinsight.errors import Invalid
from liveinsight.storage import schema
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.protocol import Store

CHUNK_ROWS = 1_000_000
"""A day holding more rows than this is copied hour by hour."""

_TIMESTAMP = "timestamp"
_CHECKS = {
    "events": "count(), sum(cityHash64(*))",
    "sessions": "sum(sign), sum(sign * pageviews), sum(sign * duration)",
}


@dataclass(frozen=True, slots=True)
class Chunk:
    table: str
    start: datetime
    end: datetime
    rows: int

    @property
    def token(self) -> str:
        return f"move:{self.table}:{self.start:%Y%m%dT%H%M}:{self.end:%Y%m%dT%H%M}:{self.rows}"


@dataclass(slots=True)
class Outcome:
    """What a copy did: rows and chunks per table, and the chunks whose check failed."""

    rows: dict[str, int] = field(default_factory=dict)
    chunks: dict[str, int] = field(default_factory=dict)
    mismatched: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "chunks": self.chunks, "verified": not self.mismatched,
                "mismatched": self.mismatched}


def chunks(store: Store, table: str) -> Iterator[Chunk]:
    """The chunks of ``table`` in ``store``, oldest first."""
    db = store.database
    days = store.query(
        f"SELECT toDate({_TIMESTAMP}) AS d, count() FROM `{db}`.{table} GROUP BY d ORDER BY d"
    ).rows
    for day, count in days:
        start = datetime.fromisoformat(str(day))
        if int(count) <= CHUNK_ROWS:
            yield Chunk(table, start, start + timedelta(days=1), int(count))
            continue
        hours = store.query(
            f"SELECT toStartOfHour({_TIMESTAMP}) AS h, count() FROM `{db}`.{table} "
            f"WHERE {_within()} GROUP BY h ORDER BY h", _bounds(start, start + timedelta(days=1))
        ).rows
        for hour, rows in hours:
            at = datetime.fromisoformat(str(hour)).replace(tzinfo=None)
            yield Chunk(table, at, at + timedelta(hours=1), int(rows))


def _within() -> str:
    return (f"{_TIMESTAMP} >= toDateTime64({{start:String}}, 3, 'UTC') AND "
            f"{_TIMESTAMP} < toDateTime64({{end:String}}, 3, 'UTC')")


def _bounds(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": f"{start:%Y-%m-%d %H:%M:%S}", "end": f"{end:%Y-%m-%d %H:%M:%S}"}


def _check(store: Store, chunk: Chunk) -> list[str]:
    row = store.query(
        f"SELECT {_CHECKS[chunk.table]} FROM `{store.database}`.{chunk.table} WHERE {_within()}",
        _bounds(chunk.start, chunk.end)).rows
    return [str(value) for value in row[0]] if row else []


def copy(source: Store, target: Store, *, cluster: schema.Cluster | None = None,
         progress: Callable[[str], None] = lambda _: None, scratch: Path | None = None
         ) -> Outcome:
    """Copy every event and session row of ``source`` (an embedded store: it writes the
    chunk files itself) into ``target`` (its schema already migrated), then check each
    chunk. On a cluster the inserts go through the Distributed tables, flushed before the
    checks."""
    if not isinstance(source, EmbeddedStore):
        raise Invalid("the source must be the embedded engine (a node's own data); copy "
                      "between ClickHouse servers with ClickHouse's remote() or BACKUP")
    outcome = Outcome()
    with tempfile.TemporaryDirectory(dir=scratch, prefix="liveinsight-move-") as tmp:
        for table, kind, columns in schema.SEGMENT_TARGETS:
            done = 0
            todo = list(chunks(source, table))
            outcome.chunks[table] = len(todo)
            for number, chunk in enumerate(todo, 1):
                path = Path(tmp) / f"{table}-{number}.jsonl"
                _write_chunk(source, chunk, kind, path)
                target.ingest_segment(path, chunk.token, [(table, kind, columns)])
                path.unlink()
                done += chunk.rows
                progress(f"{table}: {chunk.start:%Y-%m-%d %H:%M} ({number}/{len(todo)} chunks, "
                         f"{done:,} rows)")
            outcome.rows[table] = done
        if cluster is not None:
            for table, _, _ in schema.SEGMENT_TARGETS:
                target.command(f"SYSTEM FLUSH DISTRIBUTED `{target.database}`.{table}")
        for table, _, _ in schema.SEGMENT_TARGETS:
            for chunk in chunks(source, table):
                if _check(source, chunk) != _check(target, chunk):
                    outcome.mismatched.append(
                        f"{table} {chunk.start:%Y-%m-%d %H:%M}–{chunk.end:%H:%M}")
        progress("checked every chunk on the target"
                 + (f": {len(outcome.mismatched)} differ" if outcome.mismatched else ""))
    return outcome


def _write_chunk(source: Store, chunk: Chunk, kind: str, path: Path) -> None:
    """The chunk's rows as log lines (``{"_k": kind, ...columns}``) in ``path``, written by
    the engine, in a fixed order so a retried chunk forms the same insert blocks."""
    quoted = str(path).replace("\\", "\\\\").replace("'", "\\'")
    source.command(
        f"INSERT INTO FUNCTION file('{quoted}', 'JSONEachRow') "
        f"SELECT '{kind}' AS _k, * FROM `{source.database}`.{chunk.table} "
        f"WHERE {_within()} ORDER BY ALL",
        _bounds(chunk.start, chunk.end))
