"""Writing a site's export (``query/site_export.py``) as a zip, while its rows arrive.

The zip is written by the standard library's ``zipfile`` into a sink that is emptied after
every write: ``zipfile`` streams to an output it cannot seek (each entry's sizes and CRC go
in a data descriptor after its data, ZIP64 so an entry may pass 4 GiB), so no library is
needed. (Plausible streams with Zstream, entries stored uncompressed; here the entries are
deflated: CSV shrinks about tenfold for the price of some CPU on the export's own thread.)
Each file is read a month at a time through :meth:`Store.stream`, which yields the engine's
CSV a block at a time; no Python touches a row. Memory is bounded by one block of the
engine's answer plus the compressor's window, whatever the site's size.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import date

from liveinsight.errors import Invalid
from liveinsight.query import site_export
from liveinsight.storage.protocol import Store

Progress = Callable[[str, int, int], None]
"""``(file, steps done, steps in all)``: a step is a month of one file."""
FLUSH_BYTES = 1 << 16


class _Sink(io.RawIOBase):
    """What the zip writes to: kept until taken (unseekable: ``zipfile`` streams)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        self.size = 0
        return out


def stream_zip(store: Store, site_id: int, tz: str, first: date, last: date,
               progress: Progress | None = None) -> Iterator[bytes]:
    """The zip's bytes, in order, as they are made. Blocking (iterate it off the event loop);
    raises ``StoreError`` as the store does — after the first bytes, the zip is cut short."""
    sink = _Sink()
    sql = site_export.file_sql(store.database)
    names = site_export.filenames(first, last)
    months = list(site_export.chunks(first, last, tz))
    total, done = len(site_export.TABLES) * len(months), 0
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for table in site_export.TABLES:
            with zf.open(names[table], "w", force_zip64=True) as out:
                out.write((",".join(site_export.COLUMNS[table]) + "\n").encode())
                for month in months:
                    for data in store.stream(sql[table], month.params(site_id, tz), "CSV"):
                        out.write(data)
                        if sink.size >= FLUSH_BYTES:
                            yield sink.take()
                    done += 1
                    if progress is not None:
                        progress(names[table], done, total)
            if sink.size:
                yield sink.take()
    if sink.size:
        yield sink.take()


def export_range(store: Store, site_id: int, tz: str, first: date | None, last: date | None,
                 today: date) -> tuple[date, date]:
    """The days to export: ``first``/``last`` as given, else the first/last day holding
    events (today for a site without any). 400 naming ``from`` for a reversed range or one
    over :data:`site_export.MAX_DAYS` days."""
    if first is None or last is None:
        found = store.query(site_export.data_range_sql(store.database),
                            {"site": site_id, "tz": tz}).dicts()[0]
        has = int(found["n"]) > 0
        low = date.fromisoformat(found["first"]) if has else today
        high = date.fromisoformat(found["last"]) if has else today
        if first is None:
            first = low if last is None else min(low, last)
        if last is None:
            last = max(high, first)
    if first > last:
        raise Invalid("from must not be after to", field="from")
    if (last - first).days >= site_export.MAX_DAYS:
        raise Invalid(f"the range is over {site_export.MAX_DAYS} days: give from and to "
                      "to export it in parts", field="from")
    return first, last
