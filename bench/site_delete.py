"""Deleting one site's rows: a mutation (``ALTER TABLE … DELETE``, waited for) against a
lightweight ``DELETE FROM``, on chDB with the product's schema.

    .venv/bin/python bench/site_delete.py [--rows 2000000] [--sites 5]

Prints each way's seconds per site deleted and the ratio to a floor measured in the same
run (a hash of two columns over the whole events table: one full read), the rows
left on disk afterwards, and a query's time over the remaining sites after each.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate
from liveinsight.storage.sitedata import count_rows, delete_site_rows

TABLES = ("events", "sessions", "events_rollup", "sessions_rollup")


def _fill(store: EmbeddedStore, rows: int, sites: int) -> None:
    db = store.database
    store.command(
        f"INSERT INTO `{db}`.events (timestamp, site_id, name, visitor_id, session_id, pathname)"
        " SELECT toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number % "
        f"(86400 * 300)), 1 + number % {sites}, if(number % 7 = 0, 'signup', 'pageview'),"
        " cityHash64(number % 100000), cityHash64(number % 400000), concat('/p/',"
        f" toString(number % 500)) FROM numbers({rows})")
    store.command(
        f"INSERT INTO `{db}`.sessions (site_id, session_id, visitor_id, sign, version, start,"
        " timestamp, entry_page, exit_page, pageviews, events, duration, is_bounce)"
        f" SELECT 1 + number % {sites}, cityHash64(number), cityHash64(number % 100000), 1, 1,"
        " toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number % "
        "(86400 * 300)), toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalSecond("
        "number % (86400 * 300)), '/', '/', 2, 2, 30, 0"
        f" FROM numbers({rows // 4})")


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--sites", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "ch", "bench")
        migrate(store)
        _fill(store, args.rows, args.sites)
        db = store.database
        floor = min(_timed(lambda: store.query(
            f"SELECT sum(cityHash64(pathname, visitor_id)) FROM `{db}`.events"))
            for _ in range(3))
        probe = (f"SELECT site_id, uniq(visitor_id), count() FROM `{db}`.events"
                 " GROUP BY site_id")
        before = min(_timed(lambda: store.query(probe)) for _ in range(3))
        mutation = _timed(lambda: delete_site_rows(store, 1))
        after_mutation = min(_timed(lambda: store.query(probe)) for _ in range(3))

        def lightweight() -> None:
            for table in TABLES:
                store.command(f"DELETE FROM `{db}`.{table} WHERE site_id = 2")

        light = _timed(lightweight)
        after_light = min(_timed(lambda: store.query(probe)) for _ in range(3))
        on_disk = store.query(
            f"SELECT sum(rows) FROM system.parts WHERE database = '{db}' AND table = 'events'"
            " AND active").scalar()
        left = {t: count_rows(store, t, 2) for t in TABLES}
        store.close()
    print(f"rows={args.rows:,} sites={args.sites} floor (one full read of events) {floor:.3f} s")
    print(f"mutation (ALTER … DELETE, mutations_sync=2), 4 tables: {mutation:.2f} s"
          f" = {mutation / floor:.1f}x floor")
    print(f"lightweight DELETE FROM, 4 tables:            {light:.2f} s"
          f" = {light / floor:.1f}x floor; rows visible after: {left}")
    print(f"events rows still in active parts after both: {on_disk:,}"
          f" (sites left: {args.sites - 2} of {args.sites}, their rows:"
          f" {args.rows * (args.sites - 2) // args.sites:,})")
    print(f"per-site query: before {before / floor:.1f}x, after mutation"
          f" {after_mutation / floor:.1f}x, after lightweight {after_light / floor:.1f}x floor")


if __name__ == "__main__":
    main()
