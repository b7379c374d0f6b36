"""What a file of an import holds: Plausible's CSV layout (its export's ``imported_*`` files)
and the checks every value passes before it is stored.

A Plausible export is a zip of CSV files named ``imported_<table>_<first>_<last>.csv``
(``imported_visitors_20240101_20240131.csv``; the ``imported_`` prefix and the date suffix may
be left out), each with a header row naming its columns (any order). A file's columns must be
known for its table (:data:`PLAUSIBLE`); the required ones (:attr:`Layout.required`) must be
there; a known column left out reads as 0 (or ``''``). Columns that older or newer Plausible
versions write and that nothing here reads (scroll depth, time on page of the newer format)
are accepted and ignored (:attr:`Layout.ignored`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from liveinsight.errors import Invalid
from liveinsight.storage.schema import IMPORTED_DIMENSIONS, IMPORTED_METRICS, IMPORTED_TABLES

MAX_FIELD = 2048
"""Longest text value of a cell (a page path, a referrer), in characters."""
MAX_COUNT = 10**15
"""Largest count a cell may hold (a day's visitors of one value)."""
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2149, 6, 6)  # ClickHouse's Date ends here


@dataclass(frozen=True, slots=True)
class Layout:
    """The CSV columns of one ``imported_*`` table: ``renames`` (a CSV name → the stored
    column), ``required`` (CSV names), ``ignored`` (CSV names accepted and not stored)."""

    table: str
    required: tuple[str, ...]
    renames: dict[str, str] = field(default_factory=dict)
    ignored: frozenset[str] = frozenset()

    @property
    def columns(self) -> dict[str, str]:
        """Every stored column (name → ClickHouse type) but site_id and import_id."""
        return {"date": "Date", **dict(IMPORTED_DIMENSIONS[self.table]),
                **dict(IMPORTED_METRICS[self.table])}

    def stored(self, name: str) -> str | None:
        """The stored column a CSV column fills (None: ignored); Invalid for an unknown one."""
        if name in self.ignored:
            return None
        target = self.renames.get(name, name)
        if target not in self.columns:
            raise KeyError(name)
        return target


_PAGE_EXTRAS = frozenset({"scroll_depth", "pageleave_visitors", "active_visitors",
                          "total_scroll_depth", "total_scroll_depth_visits",
                          "total_time_on_page_visits"})
PLAUSIBLE: dict[str, Layout] = {
    "imported_visitors": Layout("imported_visitors", ("date", "visitors")),
    "imported_sources": Layout("imported_sources", ("date", "source", "visitors")),
    "imported_pages": Layout("imported_pages", ("date", "page", "visitors"),
                             {"total_time_on_page": "time_on_page"}, _PAGE_EXTRAS),
    "imported_entry_pages": Layout("imported_entry_pages", ("date", "entry_page", "visitors")),
    "imported_exit_pages": Layout("imported_exit_pages", ("date", "exit_page", "visitors")),
    "imported_custom_events": Layout("imported_custom_events", ("date", "name", "visitors")),
    "imported_locations": Layout("imported_locations", ("date", "country", "visitors")),
    "imported_devices": Layout("imported_devices", ("date", "device", "visitors")),
    "imported_browsers": Layout("imported_browsers", ("date", "browser", "visitors")),
    "imported_operating_systems": Layout("imported_operating_systems",
                                         ("date", "operating_system", "visitors")),
}
assert set(PLAUSIBLE) == set(IMPORTED_TABLES)

_NAME = re.compile(r"^(?:imported_)?([a-z_]+?)(?:_(\d{8})_(\d{8}))?\.csv$")


def plausible_table(filename: str) -> str | None:
    """The table a file of Plausible's export fills, by its name (the last path part), or
    None when the name is not one of them."""
    found = _NAME.match(filename.rsplit("/", 1)[-1])
    if found is None:
        return None
    table = "imported_" + found.group(1)
    return table if table in PLAUSIBLE else None


class Where:
    """A cell's place, for error messages: file, line, column."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.line = 0

    def fail(self, column: str | None, problem: str) -> Invalid:
        place = self.filename + (f", line {self.line}" if self.line else "") + \
            (f", column {column!r}" if column else "")
        return Invalid(f"{place}: {problem}", field="file")


def day(raw: str, where: Where, column: str = "date") -> date:
    """``YYYY-MM-DD`` (or ``YYYYMMDD``, as Google Analytics writes it)."""
    text = raw.strip()
    if len(text) == 8 and text.isascii() and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        if len(text) != 10 or not text.isascii():
            raise ValueError
        value = date.fromisoformat(text)
    except ValueError:
        raise where.fail(column, f"{raw[:40]!r} is not a date (YYYY-MM-DD)") from None
    if not FIRST_DAY <= value <= LAST_DAY:
        raise where.fail(column, f"{value} is outside {FIRST_DAY} to {LAST_DAY}")
    return value


def count(raw: str, where: Where, column: str) -> int:
    """A whole number from 0 to :data:`MAX_COUNT` (ASCII digits only)."""
    text = raw.strip()
    if text.endswith(".0"):  # some spreadsheet tools write counts as floats
        text = text[:-2]
    if not text or len(text) > 16 or not text.isascii() or not text.isdigit():
        raise where.fail(column, f"{raw[:40]!r} is not a whole number from 0 to {MAX_COUNT}")
    value = int(text)
    if value > MAX_COUNT:
        raise where.fail(column, f"{value} is larger than {MAX_COUNT}")
    return value


def text(raw: str, where: Where, column: str) -> str:
    if len(raw) > MAX_FIELD:
        raise where.fail(column, f"longer than {MAX_FIELD} characters")
    if "\x00" in raw:
        raise where.fail(column, "holds a NUL character")
    return raw


def value(type_: str, raw: str, where: Where, column: str) -> Any:
    """A cell as the stored column's type wants it."""
    if type_ == "Date":
        return day(raw, where, column).isoformat()
    if type_.startswith("UInt"):
        return count(raw, where, column)
    return text(raw, where, column)


def defaults(layout: Layout) -> dict[str, Any]:
    """A row of the table with every column at its zero value."""
    return {name: (0 if type_.startswith("UInt") else "")
            for name, type_ in layout.columns.items() if name != "date"}
