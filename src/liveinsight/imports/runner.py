"""An import from file to rows: check every file (nothing stored yet), choose the days kept,
then insert in batches.

Checking reads the whole upload once: a bad header, type, date or a limit fails the import
before a row is stored (``Invalid``/``TooLarge`` naming the file, line and column). Inserting
reads it again and writes batches of :data:`BATCH_ROWS` rows as JSON lines that ClickHouse
reads itself (the write-ahead log's path, ``Store.ingest_segment``), each with its own
deduplication token.

Overlapping dates (Plausible's rule): an import keeps only days (1) before the site's first
day of native events (native data wins) and (2) in the longest run of days, within its own
range, that no import already kept covers (earlier imports win). Rows of other days are
skipped and counted.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson

from liveinsight.errors import Conflict, Invalid, TooLarge
from liveinsight.imports import ga4, plausible
from liveinsight.imports.layout import Where
from liveinsight.imports.reader import Member, Upload
from liveinsight.storage import schema
from liveinsight.storage.protocol import Store

Source = Literal["plausible", "ga4"]
SOURCES: tuple[Source, ...] = ("plausible", "ga4")
BATCH_ROWS = 50_000
Progress = Callable[[str, int, int], None]
"""``progress(step, done, total)``: ``check`` and ``insert`` in rows."""
_KINDS = {t: f"i{i}" for i, t in enumerate(schema.IMPORTED_TABLES)}


@dataclass(slots=True)
class Checked:
    """What checking found: rows per file and table, the dates seen."""

    rows: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    first: date | None = None
    last: date | None = None


def _rows(upload: Upload, source: Source, member: Member, where: Where
          ) -> Iterator[tuple[str, dict[str, Any]]]:
    if source == "ga4":
        return ga4.rows(upload, member, where)
    return plausible.rows(upload, member, where)


def check(upload: Upload, source: Source, progress: Progress | None = None) -> Checked:
    """Read every row of every file; raise on the first fault."""
    out = Checked()
    limit = upload.limits.rows
    for member in upload.members:
        where = Where(member.name)
        if source == "plausible":
            plausible.table_of(member, where)
        for table, row in _rows(upload, source, member, where):
            out.rows += 1
            if out.rows > limit:
                raise TooLarge(f"{member.name}, line {where.line}: more than {limit} rows in "
                               "the upload", field="file")
            out.tables[table] = out.tables.get(table, 0) + 1
            day = date.fromisoformat(row["date"])
            out.first = day if out.first is None or day < out.first else out.first
            out.last = day if out.last is None or day > out.last else out.last
            if progress is not None and out.rows % 10_000 == 0:
                progress("check", out.rows, 0)
    if out.rows == 0:
        raise _empty(upload)
    if progress is not None:
        progress("check", out.rows, out.rows)
    return out


def _empty(upload: Upload) -> Exception:
    return Invalid(f"{upload.filename}: no rows to import", field="file")


def kept_range(first: date, last: date, native_first: date | None,
               taken: list[tuple[date, date]]) -> tuple[date, date]:
    """The days an import of ``first..last`` keeps (see the module's docstring); Conflict
    when none is left."""
    end = last if native_first is None else min(last, native_first - timedelta(days=1))
    if end < first:
        raise Conflict(f"every day of the import ({first} to {last}) is on or after the "
                       f"site's first native day ({native_first}): native data is kept",
                       field="file")
    free: list[tuple[date, date]] = []
    start = first
    for a, b in sorted(taken):
        if b < start or a > end:
            continue
        if a > start:
            free.append((start, a - timedelta(days=1)))
        start = max(start, b + timedelta(days=1))
    if start <= end:
        free.append((start, end))
    if not free:
        raise Conflict(f"every day of the import ({first} to {end}) is covered by an "
                       "earlier import; delete it first to import these days again",
                       field="file")
    return max(free, key=lambda r: ((r[1] - r[0]).days, -r[0].toordinal()))


def native_first_day(store: Store, site_id: int, timezone: str) -> date | None:
    """The site's first day (in its time zone) with a native event, or None."""
    db = store.database
    found = store.query(
        f"SELECT count() AS n, toDate(min(timestamp), {{tz:String}}) AS d FROM `{db}`.events"
        " WHERE site_id = {site:UInt32}", {"site": site_id, "tz": timezone}).rows
    if not found or not found[0][0]:
        return None
    value = found[0][1]
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass(slots=True)
class Inserted:
    rows: int = 0
    skipped: int = 0


def insert(store: Store, upload: Upload, source: Source, site_id: int, import_id: int,
           keep: tuple[date, date], total: int, progress: Progress | None = None,
           batch_rows: int = BATCH_ROWS, scratch: Path | None = None) -> Inserted:
    """Store the rows of days in ``keep`` (the upload was checked), batch by batch."""
    out = Inserted()
    run = secrets.token_hex(6)  # this run's batches: a retry is a new import anyway
    first, last = keep[0].isoformat(), keep[1].isoformat()
    batch: list[bytes] = []
    tables: set[str] = set()
    number = 0

    def flush() -> None:
        nonlocal number
        if not batch:
            return
        number += 1
        targets = [(t, _KINDS[t], schema.imported_columns(t)) for t in sorted(tables)]
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", dir=scratch,
                                         delete=False) as fh:
            fh.write(b"".join(batch))
            path = Path(fh.name)
        try:
            store.ingest_segment(path, f"import-{import_id}-{run}-{number}", targets)
        finally:
            path.unlink(missing_ok=True)
        batch.clear()
        tables.clear()

    seen = 0
    for member in upload.members:
        for table, row in _rows(upload, source, member, Where(member.name)):
            seen += 1
            if not first <= row["date"] <= last:
                out.skipped += 1
                continue
            row.update(_k=_KINDS[table], site_id=site_id, import_id=import_id)
            batch.append(orjson.dumps(row) + b"\n")
            tables.add(table)
            out.rows += 1
            if len(batch) >= batch_rows:
                flush()
                if progress is not None:
                    progress("insert", seen, total)
    flush()
    if progress is not None:
        progress("insert", total, total)
    return out


def delete_rows(store: Store, site_id: int, import_id: int,
                cluster: schema.Cluster | None = None) -> None:
    """Remove an import's rows from every imported table."""
    where = "site_id = {site:UInt32} AND import_id = {id:UInt64}"
    for table in schema.IMPORTED_TABLES:
        store.command(schema.delete_rows_sql(store.database, table, where, cluster),
                      {"site": site_id, "id": import_id})
