"""``storage/admin.py``: what ClickHouse says about our tables, partitions, merges, disks and
queries, and OPTIMIZE, on chDB and over the HTTP transport; the query log of a server (chDB
started with a ``query_log`` configuration behind the engine owner: the embedded engine and
the test emulator keep none)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liveinsight.storage import Store, admin, schema
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.http import HttpStore
from liveinsight.storage.protocol import StoreUnavailable
from tests.conftest import CLICKHOUSE_URL
from tests.storage.inprocess import serving_owner
from tests.support import STORE_KINDS, open_test_store

QUERY_LOG = ("<clickhouse><query_log><database>system</database><table>query_log</table>"
             "<flush_interval_milliseconds>100</flush_interval_milliseconds></query_log>"
             "</clickhouse>\n")


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_test_store(request, tmp_path / "chdb") as opened:
        yield opened


def _events(store: Store, month: str, count: int) -> None:
    """One insert (one part) of ``count`` events on the 10th of ``month`` (YYYY-MM)."""
    store.command(
        f"INSERT INTO `{store.database}`.events (timestamp, site_id, name, visitor_id,"
        " session_id, pathname) SELECT toDateTime64({day:String}, 3, 'UTC') + number, 1,"
        " 'pageview', number, number, '/' FROM numbers({n:UInt32})",
        {"day": f"{month}-10 10:00:00", "n": count})


def _event_parts(store: Store) -> dict[str, int]:
    return {p["partition"]: p["parts"] for p in admin.partitions(store)
            if p["table"] == "events"}


def test_tables_and_partitions_report_what_is_stored(store: Store) -> None:
    _events(store, "2026-10", 10)
    _events(store, "2026-11", 20)
    tables = {t["table"]: t for t in admin.tables(store)}
    events = tables["events"]
    assert (events["rows"], events["parts"], events["partitions"]) == (30, 2, 2)
    assert events["bytes_on_disk"] > 0 and events["compressed_bytes"] > 0
    assert events["compression_ratio"] == round(
        events["uncompressed_bytes"] / events["compressed_bytes"], 2)
    assert tables["schema_migrations"]["rows"] == len(schema.MIGRATIONS)
    assert "sessions" not in tables  # no parts: nothing stored
    parts = admin.partitions(store)
    assert [(p["table"], p["partition"], p["rows"]) for p in parts if p["table"] == "events"
            ] == [("events", "202611", 20), ("events", "202610", 10)]  # the newest first
    assert all(isinstance(p[k], int) for p in parts for k in ("parts", "rows", "bytes_on_disk"))
    assert len(admin.partitions(store, limit=1)) == 1


def test_table_names_are_the_tables_that_hold_data(store: Store) -> None:
    names = admin.table_names(store)
    assert names == sorted(names)
    assert {"events", "sessions", "events_rollup", "logs", "schema_migrations"} <= set(names)
    assert not [n for n in names if n.endswith("_mv")]  # views hold nothing of their own


def test_merges_and_disks(store: Store) -> None:
    for merge in admin.merges(store):  # none, unless a background merge runs right now
        assert isinstance(merge["parts"], int) and 0 <= merge["progress"] <= 1
    disks = admin.disks(store)
    assert disks and all(0 <= d["free_space"] <= d["total_space"] for d in disks)
    assert all(isinstance(d["path"], str) for d in disks)


def test_optimize_merges_a_partitions_parts(store: Store) -> None:
    events = f"`{store.database}`.events"
    store.command(f"SYSTEM STOP MERGES {events}")  # the parts stay apart until counted
    for _ in range(3):
        _events(store, "2026-11", 5)
    _events(store, "2026-10", 5)
    _events(store, "2026-10", 5)
    assert _event_parts(store) == {"202611": 3, "202610": 2}
    store.command(f"SYSTEM START MERGES {events}")
    admin.optimize(store, "events", "202611", final=True)
    assert _event_parts(store)["202611"] == 1
    admin.optimize(store, "events", None, final=True)
    assert _event_parts(store) == {"202611": 1, "202610": 1}
    assert store.query(f"SELECT count() FROM {events}").scalar() == 25


@pytest.mark.parametrize("partition", ["2026-11", "20261", "202611' OR 1", "2026110"])
def test_optimize_refuses_a_partition_that_is_not_a_month(partition: str) -> None:
    class Unused:
        database = "db"

        def command(self, sql: str, params: Any = None) -> None:
            raise AssertionError("nothing may run")

    with pytest.raises(ValueError, match="bad partition"):
        admin.optimize(Unused(), "events", partition, final=False)  # type: ignore[arg-type]


def test_optimize_on_a_cluster_runs_on_every_servers_local_table(tmp_path: Path) -> None:
    sent: list[str] = []

    class Recorder:
        database = "db"

        def command(self, sql: str, params: Any = None) -> None:
            sent.append(sql)

    cluster = schema.Cluster("prod")
    admin.optimize(Recorder(), "events_local", "202611", True, cluster)  # type: ignore[arg-type]
    admin.optimize(Recorder(), "events_local", None, False, cluster)  # type: ignore[arg-type]
    assert sent == ["OPTIMIZE TABLE `db`.`events_local` ON CLUSTER `prod` PARTITION ID '202611'"
                    " FINAL", "OPTIMIZE TABLE `db`.`events_local` ON CLUSTER `prod`"]
    parser = EmbeddedStore(tmp_path / "chdb", "db")
    try:
        for sql in sent:
            assert parser.query("SELECT formatQuery({q:String})", {"q": sql}).scalar()
    finally:
        parser.close()


def test_no_query_log_on_the_embedded_engine_and_an_outage_is_not_taken_for_one(
        tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "chdb", "db")
    assert admin.query_log_available(store) is False
    store.close()
    with pytest.raises(StoreUnavailable):
        admin.query_log_available(store)


@pytest.mark.skipif(bool(CLICKHOUSE_URL), reason="chDB in this process: none may be open")
def test_latency_and_slow_query_shapes_from_a_servers_query_log(tmp_path: Path) -> None:
    config = tmp_path / "query-log.xml"
    config.write_text(QUERY_LOG)
    with serving_owner(tmp_path, connections=2, config=config) as owner:
        store = HttpStore(owner.store_url, "db")
        store.command("CREATE TABLE db.t (a UInt64) ENGINE = MergeTree ORDER BY a")
        store.command("INSERT INTO db.t SELECT number FROM numbers(1000)")
        for n in (1, 2, 3):  # one shape, three times, each at least 300 ms
            assert store.query("SELECT sum(a) + {n:UInt8}, sleep(0.3) FROM db.t",
                               {"n": n}).rows[0][0] == 499500 + n
        store.query("SELECT count() FROM db.t")
        store.command("SYSTEM FLUSH LOGS")  # a server creates its query_log at its first flush
        assert admin.query_log_available(store)
        latency = admin.latency_from_log(store, hours=1)
        assert latency["count"] >= 5 and latency["max_ms"] >= 300
        assert latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"] <= latency["max_ms"]
        assert latency["read_rows"] >= 4000
        slow = admin.slow_from_log(store, threshold_ms=300, hours=1, limit=5)
        assert slow[0]["count"] == 3 and "sleep" in slow[0]["query"]
        assert slow[0]["total_ms"] >= 900 and slow[0]["p95_ms"] >= 300
        assert slow[0]["read_rows"] == 3000 and slow[0]["last_seen"]
        store.close()
