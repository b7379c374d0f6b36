"""Deleting one site's rows from every site table, on chDB and over the HTTP transport."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liveinsight.storage import Store
from liveinsight.storage.schema import SITE_DATA_TABLES, Cluster
from liveinsight.storage.sitedata import count_rows, delete_site_rows, delete_statement, site_tables
from tests.support import STORE_KINDS, open_test_store


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_test_store(request, tmp_path / "chdb") as opened:
        yield opened


def _fill(store: Store, sites: list[int]) -> None:
    db = store.database
    for site in sites:
        store.command(
            f"INSERT INTO `{db}`.events (timestamp, site_id, name, visitor_id, session_id,"
            " pathname) SELECT toDateTime64('2026-11-20 10:00:00', 3, 'UTC') + number,"
            " {site:UInt32}, 'pageview', number, number, '/' FROM numbers(50)", {"site": site})
        store.command(
            f"INSERT INTO `{db}`.sessions (site_id, session_id, visitor_id, sign, version,"
            " start, timestamp, entry_page, exit_page, pageviews, events, duration, is_bounce)"
            " SELECT {site:UInt32}, number, number, 1, 1, toDateTime64('2026-11-20 10:00:00',"
            " 3, 'UTC'), toDateTime64('2026-11-20 10:00:00', 3, 'UTC'), '/', '/', 1, 1, 0, 1"
            " FROM numbers(20)", {"site": site})


def test_deletes_one_sites_rows_from_every_table_and_only_its(store: Store) -> None:
    db = store.database
    # a table of imported data the schema does not declare (an older or newer layout)
    store.command(f"CREATE TABLE `{db}`.imported_legacy (site_id UInt32, date Date,"
                  " visitors UInt64) ENGINE = MergeTree ORDER BY (site_id, date)")
    store.command(f"INSERT INTO `{db}`.imported_legacy VALUES (7, '2026-01-01', 3),"
                  " (8, '2026-01-01', 4)")
    for site in (7, 8):
        store.command(f"INSERT INTO `{db}`.imported_visitors (site_id, date, visitors)"
                      " VALUES ({s:UInt32}, '2026-01-01', 3)", {"s": site})
    _fill(store, [7, 8])
    tables = site_tables(store)
    assert tables == [*SITE_DATA_TABLES, "imported_legacy"]
    assert "imported_visitors" in tables
    tables = [t for t in tables if t.startswith(("events", "sessions"))] + [
        "imported_visitors", "imported_legacy"]
    before = {t: count_rows(store, t, 7) for t in tables}
    assert all(before.values()), before  # the rollups were fed by the inserts

    rows = delete_site_rows(store, 7)

    assert {t: rows[t] for t in tables} == before
    assert {t: count_rows(store, t, 7) for t in tables} == dict.fromkeys(tables, 0)
    assert all(count_rows(store, t, 8) for t in tables)  # the other site is untouched
    assert not any(delete_site_rows(store, 7).values())  # again: nothing to do


def test_on_a_cluster_the_local_tables_are_deleted_from_on_every_server() -> None:
    sql = delete_statement("db", "events", Cluster("c1"))
    assert sql == "DELETE FROM `db`.events_local ON CLUSTER `c1` WHERE site_id = {site:UInt32}"
    assert delete_statement("db", "events", None) == (
        "DELETE FROM `db`.events WHERE site_id = {site:UInt32}")
