"""Copying the metadata database (sites, users, keys, salts, goals, teams, alerting, audit…)
from one database to another, e.g. a node's SQLite file to PostgreSQL: the metadata half
of moving from one machine to many (``liveinsight move``).

Both databases are brought to the newest schema first (Alembic), so their tables match;
the target must hold no rows yet (a copy never merges into, or overwrites, a database in
use). Tables are copied in foreign-key order in one transaction on the target, then
PostgreSQL's sequences are moved past the copied ids so new rows do not collide.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable

from sqlalchemy import Connection, Engine, MetaData, Table, delete, func, insert, select, text

from liveinsight.errors import Invalid
from liveinsight.meta.db import make_engine, upgrade

_BATCH = 1000
_SKIP = {"alembic_version"}


def copy(source: Engine, target: Engine, progress: Callable[[str], None] = lambda _: None
         ) -> dict[str, int]:
    """Copy every row of every table from ``source`` to ``target``; returns rows per table.
    Raises ``Invalid`` when the target already holds rows (naming the first such table)."""
    if source.url == target.url:
        raise Invalid("the target metadata database is the source")
    upgrade(source)
    upgrade(target)
    src, dst = MetaData(), MetaData()
    src.reflect(source)
    dst.reflect(target)
    tables = [t for t in dst.sorted_tables if t.name not in _SKIP]
    missing = [t.name for t in tables if t.name not in src.tables]
    if missing:
        raise Invalid(f"the source has no table {missing[0]!r}: its schema differs")
    seeded = _seeded()
    with target.connect() as conn:
        for table in sorted(tables, key=lambda t: t.name in seeded):  # named: a table of yours
            if table.name in seeded:  # only the migrations' rows (small) may be there
                used = sorted(repr(tuple(r)) for r in conn.execute(select(table))) != seeded[
                    table.name]
            else:
                used = bool(conn.execute(select(func.count()).select_from(table)).scalar())
            if used:
                raise Invalid(f"the target metadata database is not empty (table "
                              f"{table.name!r} has rows): copy into a new, empty database")
    copied: dict[str, int] = {}
    with source.connect() as read, target.begin() as write:
        if target.dialect.name == "postgresql":
            write.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        for table in tables:
            if table.name in seeded:  # the migration's row, replaced by the source's
                write.execute(delete(table))
            origin = src.tables[table.name]
            names = [c.name for c in table.columns if c.name in origin.columns]
            result = read.execute(select(*(origin.columns[n] for n in names))).mappings()
            count = 0
            while batch := result.fetchmany(_BATCH):
                write.execute(insert(table), [dict(row) for row in batch])
                count += len(batch)
            copied[table.name] = count
            if count:
                progress(f"metadata: {table.name} ({count:,} rows)")
        if target.dialect.name == "postgresql":
            _advance_sequences(write, tables)
    return copied


def _seeded() -> dict[str, list[str]]:
    """The rows the migrations themselves insert (e.g. the audit chain's head), per table:
    a new database holds these, and the copy replaces them with the source's."""
    with tempfile.TemporaryDirectory(prefix="liveinsight-schema-") as tmp:
        scratch = make_engine(f"sqlite:///{tmp}/fresh.db")
        try:
            upgrade(scratch)
            schema = MetaData()
            schema.reflect(scratch)
            with scratch.connect() as conn:
                found = {t.name: sorted(repr(tuple(row)) for row in conn.execute(select(t)))
                         for t in schema.sorted_tables if t.name not in _SKIP}
        finally:
            scratch.dispose()
    return {name: rows for name, rows in found.items() if rows}


def _advance_sequences(conn: Connection, tables: list[Table]) -> None:
    """Move each table's id sequence past the largest copied id (rows were inserted with
    their ids, which does not advance a PostgreSQL sequence)."""
    for table in tables:
        for column in table.primary_key.columns:
            sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                    {"t": table.name, "c": column.name}).scalar()
            if sequence:
                conn.execute(text(
                    f'SELECT setval(:s, COALESCE((SELECT max("{column.name}") FROM '
                    f'"{table.name}"), 0) + 1, false)'), {"s": sequence})
