"""A site as Plausible's CSV export: the files and their columns, exact numbers from known
rows (on chDB and over the HTTP transport), the site's time zone and range, and memory that
stays bounded however big the export."""

from __future__ import annotations

import csv
import io
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from liveinsight.errors import Invalid
from liveinsight.query import site_export
from liveinsight.query.site_archive import export_range, stream_zip
from liveinsight.storage import Store
from tests.support import STORE_KINDS, open_test_store


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_test_store(request, tmp_path / "chdb") as opened:
        yield opened


def _event(store: Store, at: str, name: str, visitor: int, session: int, path: str,
           site: int = 1, **extra: Any) -> None:
    cols = {"timestamp": at, "site_id": site, "name": name, "visitor_id": visitor,
            "session_id": session, "hostname": "a.example", "pathname": path, **extra}
    names = ", ".join(cols)
    values = ", ".join("map('url', {props:String})" if k == "props" else f"{{{k}:String}}"
                       for k in cols)
    store.command(f"INSERT INTO `{store.database}`.events ({names}) SELECT {values}",
                  {k: str(v) for k, v in cols.items()})


def _session(store: Store, start: str, session: int, visitor: int, *, pageviews: int,
             duration: int, entry: str, exit_: str, site: int = 1, sign: int = 1,
             version: int = 1, **visit: str) -> None:
    cols: dict[str, Any] = {
        "site_id": site, "session_id": session, "visitor_id": visitor, "sign": sign,
        "version": version, "start": start, "timestamp": start, "hostname": "a.example",
        "entry_page": entry, "exit_page": exit_, "pageviews": pageviews, "events": pageviews,
        "duration": duration, "is_bounce": int(pageviews == 1), **visit}
    names = ", ".join(cols)
    values = ", ".join(f"{{{k}:String}}" for k in cols)
    store.command(f"INSERT INTO `{store.database}`.sessions ({names}) SELECT {values}",
                  {k: str(v) for k, v in cols.items()})


def _unzip(data: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {n: list(csv.DictReader(io.StringIO(zf.read(n).decode())))
                for n in zf.namelist()}


def _headers(data: bytes) -> dict[str, list[str]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n).decode().split("\n", 1)[0].split(",") for n in zf.namelist()}


VISIT = {"referrer_source": "Google", "referrer": "https://www.google.com/",
         "country_code": "DE", "region": "DE-BE", "city": "Berlin", "device": "Desktop",
         "browser": "Firefox", "browser_version": "133", "os": "Linux", "os_version": ""}


def _world(store: Store) -> None:
    """Site 1 in Europe/Berlin: on 2026-03-01 (local) visitor 1 makes a two-page visit from
    Google and a signup; visitor 2 bounces (direct, a phone); an engagement event on /;
    late on 2026-03-01 UTC but 2026-03-02 local, visitor 3 bounces. Site 2 has a visit that
    must not show."""
    _event(store, "2026-03-01 09:00:00", "pageview", 1, 11, "/", utm_source="news")
    _event(store, "2026-03-01 09:01:00", "pageview", 1, 11, "/pricing")
    _event(store, "2026-03-01 09:02:00", "Signup", 1, 11, "/pricing")
    _event(store, "2026-03-01 09:02:30", "Outbound Link: Click", 1, 11, "/pricing",
           props="https://elsewhere.example/")
    _event(store, "2026-03-01 09:03:00", "engagement", 1, 11, "/", scroll_depth=80,
           engagement_ms=12_400)
    _event(store, "2026-03-01 10:00:00", "pageview", 2, 22, "/")
    _event(store, "2026-03-01 23:30:00", "pageview", 3, 33, "/blog")  # 00:30 in Berlin
    _event(store, "2026-03-01 10:00:00", "pageview", 9, 99, "/", site=2)
    _session(store, "2026-03-01 09:00:00", 11, 1, pageviews=1, duration=0, entry="/",
             exit_="/", **VISIT)  # a first version, then its cancel and the visit as it ended
    _session(store, "2026-03-01 09:00:00", 11, 1, pageviews=1, duration=0, entry="/",
             exit_="/", sign=-1, **VISIT)
    _session(store, "2026-03-01 09:00:00", 11, 1, pageviews=2, duration=150, entry="/",
             exit_="/pricing", version=2, **VISIT)
    _session(store, "2026-03-01 10:00:00", 22, 2, pageviews=1, duration=0, entry="/",
             exit_="/", device="Mobile", country_code="FR")
    _session(store, "2026-03-01 23:30:00", 33, 3, pageviews=1, duration=0, entry="/blog",
             exit_="/blog", country_code="")
    _session(store, "2026-03-01 10:00:00", 99, 9, pageviews=1, duration=0, entry="/",
             exit_="/", site=2)


def test_plausibles_files_and_columns_with_exact_numbers(store: Store) -> None:
    _world(store)
    first, last = export_range(store, 1, "Europe/Berlin", None, None, date(2026, 12, 5))
    assert (first, last) == (date(2026, 3, 1), date(2026, 3, 2))
    data = b"".join(stream_zip(store, 1, "Europe/Berlin", first, last))
    files = _unzip(data)
    suffix = "_20260301_20260302.csv"
    assert sorted(files) == sorted(t + suffix for t in site_export.TABLES)
    assert _headers(data) == {t + suffix: site_export.COLUMNS[t] for t in site_export.TABLES}
    f = {name.removesuffix(suffix): rows for name, rows in files.items()}

    assert f["imported_visitors"] == [
        {"date": "2026-03-01", "visitors": "2", "pageviews": "3", "bounces": "1",
         "visits": "2", "visit_duration": "150"},
        {"date": "2026-03-02", "visitors": "1", "pageviews": "1", "bounces": "1",
         "visits": "1", "visit_duration": "0"}]
    google = [r for r in f["imported_sources"] if r["source"] == "Google"]
    assert google == [{"date": "2026-03-01", "source": "Google",
                       "referrer": "https://www.google.com/", "utm_source": "",
                       "utm_medium": "", "utm_campaign": "", "utm_content": "",
                       "utm_term": "", "pageviews": "2", "visitors": "1", "visits": "1",
                       "visit_duration": "150", "bounces": "0"}]
    pages = {(r["date"], r["page"]): r for r in f["imported_pages"]}
    assert pages[("2026-03-01", "/")] == {
        "date": "2026-03-01", "hostname": "a.example", "page": "/", "visits": "2",
        "visitors": "2", "pageviews": "2", "total_scroll_depth": "80",
        "total_scroll_depth_visits": "1", "total_time_on_page": "12",
        "total_time_on_page_visits": "1"}
    assert pages[("2026-03-02", "/blog")]["pageviews"] == "1"
    assert len(pages) == 3
    entry = {(r["date"], r["entry_page"]): r for r in f["imported_entry_pages"]}
    assert entry[("2026-03-01", "/")] == {
        "date": "2026-03-01", "entry_page": "/", "visitors": "2", "entrances": "2",
        "visit_duration": "150", "bounces": "1", "pageviews": "3"}
    exits = {(r["date"], r["exit_page"]): r["exits"] for r in f["imported_exit_pages"]}
    assert exits == {("2026-03-01", "/"): "1", ("2026-03-01", "/pricing"): "1",
                     ("2026-03-02", "/blog"): "1"}
    assert f["imported_custom_events"] == [
        {"date": "2026-03-01", "name": "Outbound Link: Click",
         "link_url": "https://elsewhere.example/", "path": "", "visitors": "1",
         "events": "1"},
        {"date": "2026-03-01", "name": "Signup", "link_url": "", "path": "",
         "visitors": "1", "events": "1"}]
    assert [(r["country"], r["region"], r["city"], r["visits"])
            for r in f["imported_locations"]] == [("DE", "DE-BE", "0", "1"),
                                                  ("FR", "", "0", "1")]
    assert {(r["date"], r["device"]): r["visitors"] for r in f["imported_devices"]} == {
        ("2026-03-01", "Desktop"): "1", ("2026-03-01", "Mobile"): "1",
        ("2026-03-02", ""): "1"}
    firefox = [r for r in f["imported_browsers"] if r["browser"] == "Firefox"]
    assert [(r["browser_version"], r["pageviews"]) for r in firefox] == [("133", "2")]
    linux = [r for r in f["imported_operating_systems"] if r["operating_system"] == "Linux"]
    assert [(r["operating_system_version"], r["visits"]) for r in linux] == [("", "1")]

    # a range: only its days, in the file names too; a site without events: headers only
    one = _unzip(b"".join(stream_zip(store, 1, "Europe/Berlin", date(2026, 3, 2),
                                     date(2026, 3, 2))))
    assert [r["visitors"] for r in one["imported_visitors_20260302_20260302.csv"]] == ["1"]
    empty = _unzip(b"".join(stream_zip(store, 3, "UTC", date(2026, 3, 1), date(2026, 3, 1))))
    assert all(rows == [] for rows in empty.values()) and len(empty) == 10


def test_the_range_defaults_to_the_days_with_events_and_has_limits(store: Store) -> None:
    today = date(2026, 12, 5)
    assert export_range(store, 1, "UTC", None, None, today) == (today, today)
    _world(store)
    assert export_range(store, 1, "UTC", date(2026, 2, 1), None, today) == (
        date(2026, 2, 1), date(2026, 3, 1))
    assert export_range(store, 1, "UTC", None, date(2026, 1, 1), today) == (
        date(2026, 1, 1), date(2026, 1, 1))
    with pytest.raises(Invalid) as reversed_range:
        export_range(store, 1, "UTC", date(2026, 3, 2), date(2026, 3, 1), today)
    assert reversed_range.value.field == "from"
    with pytest.raises(Invalid) as too_long:
        export_range(store, 1, "UTC", date(2010, 1, 1), date(2026, 3, 1), today)
    assert too_long.value.field == "from"


def test_months_are_cut_at_the_sites_midnights() -> None:
    parts = list(site_export.chunks(date(2026, 1, 30), date(2026, 3, 2), "America/New_York"))
    assert [(c.first, c.last) for c in parts] == [
        (date(2026, 1, 30), date(2026, 1, 31)), (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 2))]
    assert parts[0].params(1, "America/New_York")["start"] == "2026-01-30 05:00:00.000"
    assert parts[-1].end.isoformat() == "2026-03-03T05:00:00+00:00"
    assert site_export.archive_name("www.a-b.example", date(2026, 12, 5)) == (
        "www_a-b_example_20261205.zip")


def test_memory_stays_bounded_however_big_the_export(tmp_path: Path) -> None:
    from liveinsight.storage.embedded import EmbeddedStore
    from liveinsight.storage.migrate import migrate

    store = EmbeddedStore(tmp_path / "chdb", "big")
    try:
        migrate(store)
        # 400 days by 1,500 pages: 600,000 rows of imported_pages (~40 MB of CSV)
        store.command(
            f"INSERT INTO `{store.database}`.events (timestamp, site_id, name, visitor_id,"
            " session_id, hostname, pathname) SELECT toDateTime64('2025-01-01 12:00:00', 3,"
            " 'UTC') + toIntervalDay(intDiv(number, 1500)), 1, 'pageview', number % 977,"
            " number, 'a.example', concat('/a/fairly/long/path/to/page-', toString(number %"
            " 1500)) FROM numbers(600000)")
        first, last = date(2025, 1, 1), date(2026, 2, 4)
        tracemalloc.start()
        size = biggest = 0
        sink = io.BytesIO()
        for chunk in stream_zip(store, 1, "UTC", first, last):
            size += len(chunk)
            biggest = max(biggest, len(chunk))
            sink.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sink.seek(0)
        with zipfile.ZipFile(sink) as zf:
            pages = zf.getinfo("imported_pages_20250101_20260204.csv")
        assert pages.file_size > 40_000_000  # uncompressed CSV
        assert peak < 12_000_000, peak  # Python's share: blocks, never the export
        assert biggest < 4_000_000, biggest
        print(f"pages CSV {pages.file_size / 1e6:.1f} MB, zip {size / 1e6:.1f} MB, "
              f"Python peak {peak / 1e6:.1f} MB, largest chunk {biggest / 1e6:.2f} MB")
    finally:
        store.close()
