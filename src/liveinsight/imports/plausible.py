"""Plausible's CSV export → rows of the ``imported_*`` tables (see ``layout``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from liveinsight.imports import layout
from liveinsight.imports.layout import PLAUSIBLE, Layout, Where
from liveinsight.imports.reader import Member, Upload

Row = tuple[str, dict[str, Any]]


def table_of(member: Member, where: Where) -> str:
    table = layout.plausible_table(member.name)
    if table is None:
        raise where.fail(None, "not a file of Plausible's export (expected a name such as "
                         "imported_visitors_20240101_20240131.csv; tables: "
                         + ", ".join(t.removeprefix("imported_") for t in PLAUSIBLE) + ")")
    return table


def rows(upload: Upload, member: Member, where: Where) -> Iterator[Row]:
    """Every row of one file, checked: ``(table, {column: value})``."""
    table = table_of(member, where)
    spec = PLAUSIBLE[table]
    records = upload.rows(member, where)
    header = next(records, None)
    if header is None:
        raise where.fail(None, "no header row")
    targets = _header(spec, header, where)
    types = spec.columns
    for record in records:
        if len(record) != len(header):
            raise where.fail(None, f"{len(record)} values for {len(header)} columns")
        out = layout.defaults(spec)
        for name, target, cell in zip(header, targets, record, strict=True):
            if target is not None:
                out[target] = layout.value(types[target], cell, where, name)
        yield table, out


def _header(spec: Layout, header: list[str], where: Where) -> list[str | None]:
    where.line = 1 if where.line == 0 else where.line
    targets: list[str | None] = []
    for name in header:
        try:
            targets.append(spec.stored(name))
        except KeyError:
            known = sorted({*spec.columns, *spec.renames, *spec.ignored})
            raise where.fail(name[:60], f"unknown column for {spec.table} (known: "
                             f"{', '.join(known)})") from None
    if len(set(header)) != len(header):
        raise where.fail(None, "a column is named twice in the header")
    missing = [c for c in spec.required if c not in header]
    if missing:
        raise where.fail(None, f"the header lacks {', '.join(missing)}")
    return targets
