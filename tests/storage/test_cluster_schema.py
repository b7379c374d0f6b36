"""The cluster form of the ClickHouse schema (``LIVEINSIGHT_CLICKHOUSE_CLUSTER``): every
statement parsed by the engine's own parser (chDB's ``formatQuery``), and what matters in it
asserted. No ClickHouse cluster (Keeper, shards) runs here: nothing is executed on one. The
single-server schema stays byte-identical to what it was before the cluster form existed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from liveinsight.cli import app
from liveinsight.storage import admin, schema
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate

DB = "liveinsight"
# A name and a path that need quoting and escaping (a quote inside the Keeper path).
CLUSTER = schema.Cluster("prod-eu", "/ch/{shard}/it's/{database}/{table}", "{replica}")
PATH_SQL = r"'/ch/{shard}/it\'s/{database}/{table}', '{replica}'"
GOLDEN = Path(__file__).parent / "data" / "single_server_schema.sql"


def _cluster_statements() -> list[str]:
    out = list(schema.migrations_table_ddl(DB, CLUSTER))
    for m in schema.MIGRATIONS:
        out += m.sql(DB, CLUSTER)
    return [*out, *schema.rollup_rebuild(DB, CLUSTER), schema.record_migration_sql(DB, CLUSTER)]


def _create(statements: list[str], table: str) -> str:
    found = [s for s in statements if re.match(rf"CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS"
                                               rf" `{DB}`\.{table} ", s)]
    assert len(found) == 1, table
    return found[0]


def test_single_server_schema_is_unchanged() -> None:
    """Versions 1-5 and the migrations table, byte for byte as before (tests/storage/data)."""
    out = schema.migrations_table_ddl(DB)
    assert out == [schema.MIGRATIONS_TABLE_DDL.format(db=DB)]
    for m in schema.MIGRATIONS[:5]:
        out.append(f"-- {m.version}: {m.description}")
        out += [s + ";" for s in m.sql(DB)]
        assert m.sql(DB) == m.statements(DB) == m.sql(DB, None)
    assert "\n".join(out) + "\n" == GOLDEN.read_text()
    assert schema.rollup_rebuild(DB) == [s for s in schema.MIGRATIONS[2].sql(DB)
                                         if s.startswith(("TRUNCATE", "INSERT"))]


def test_every_cluster_statement_parses(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "chdb", DB)
    try:
        for sql in _cluster_statements():
            formatted = store.query("SELECT formatQuery({q:String})", {"q": sql}).scalar()
            assert formatted
            if not sql.startswith("INSERT"):  # an INSERT cannot run ON CLUSTER
                assert "ON CLUSTER `prod-eu`" in formatted, sql[:80]
        # the admin optimize job on a cluster: the local tables (what table_names lists there)
        recorder = _Recorder()
        admin.optimize(recorder, "events_local", "202612", True, CLUSTER)  # type: ignore[arg-type]
        (optimize, _), = recorder.sent
        assert optimize == (f"OPTIMIZE TABLE `{DB}`.`events_local` ON CLUSTER `prod-eu`"
                            " PARTITION ID '202612' FINAL")
        assert store.query("SELECT formatQuery({q:String})", {"q": optimize}).scalar()
        # the escaped Keeper path reads back as the configured one
        path = store.query("SELECT formatQuery({q:String})",
                           {"q": _create(_cluster_statements(), "events_local")}).scalar()
        assert PATH_SQL in path
    finally:
        store.close()


def test_local_tables_are_replicated_with_the_single_server_columns_and_keys() -> None:
    statements = _cluster_statements()
    single = {t: _create([*schema.MIGRATIONS[0].sql(DB), *schema.MIGRATIONS[2].sql(DB)], t)
              for t in ("events", "sessions", "events_rollup", "sessions_rollup")}
    engines = {"events": "ReplicatedMergeTree",
               "sessions": "ReplicatedVersionedCollapsingMergeTree",
               "events_rollup": "ReplicatedAggregatingMergeTree",
               "sessions_rollup": "ReplicatedAggregatingMergeTree"}
    for table, engine in engines.items():
        local = _create(statements, f"{table}_local")
        assert local.startswith(f"CREATE TABLE IF NOT EXISTS `{DB}`.{table}_local ON CLUSTER"
                                " `prod-eu` (")
        # the same column list (one declaration) and the same partitioning, order and TTL
        columns = single[table][single[table].index(" ("):single[table].index(") ENGINE")]
        assert columns in local
        tail = single[table].split(") ENGINE = ", 1)[1].split(" ", 1)[1]
        keys, settings = tail.split(" TTL ")
        assert keys in local and "TTL " + settings.split(" SETTINGS ")[0] in local
        assert "replicated_deduplication_window = 10000" in local
        assert "fsync_after_insert = 1, fsync_part_directory = 1" in local
        args = PATH_SQL + (", sign, version" if table == "sessions" else "")
        assert f"ENGINE = {engine}({args}) " in local
    assert " SAMPLE BY visitor_id " in _create(statements, "events_local")
    assert "ReplicatedMergeTree(" + PATH_SQL + ") ORDER BY version" in _create(
        statements, "schema_migrations_local")


def test_distributed_tables_shard_by_visitor() -> None:
    statements = _cluster_statements()
    keys = {"events": "cityHash64(visitor_id)", "sessions": "cityHash64(visitor_id)",
            "events_rollup": "cityHash64(site_id, bucket)",
            "sessions_rollup": "cityHash64(site_id, bucket)", "schema_migrations": "version"}
    for table, key in keys.items():
        assert _create(statements, table) == (
            f"CREATE TABLE IF NOT EXISTS `{DB}`.{table} ON CLUSTER `prod-eu`"
            f" AS `{DB}`.{table}_local"
            f" ENGINE = Distributed('prod-eu', '{DB}', '{table}_local', {key})")


def test_views_feed_local_rollups_from_local_tables() -> None:
    statements = _cluster_statements()
    for rollup, source in (("events_rollup", "events"), ("sessions_rollup", "sessions")):
        view = _create(statements, f"{rollup}_mv")
        assert f" ON CLUSTER `prod-eu` TO `{DB}`.{rollup}_local AS SELECT " in view
        assert f" FROM `{DB}`.{source}_local " in view
    # a backfill/rebuild empties every shard's rollup, then reads and writes the Distributed ones
    rebuild = schema.rollup_rebuild(DB, CLUSTER)
    assert rebuild[0] == f"TRUNCATE TABLE `{DB}`.events_rollup_local ON CLUSTER `prod-eu`"
    assert rebuild[1].startswith(f"INSERT INTO `{DB}`.events_rollup SETTINGS"
                                 " distributed_foreground_insert = 1 SELECT ")
    assert f" FROM `{DB}`.events " in rebuild[1]


class _Recorder:
    """A store that records what the migration runner sends (no cluster here to send it to)."""

    database = DB

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def command(self, sql: str, parameters: Any = None) -> None:
        self.sent.append((sql, parameters))

    def query(self, sql: str, parameters: Any = None) -> Any:
        self.sent.append((sql, parameters))
        return type("R", (), {"rows": [(2,)]})()


def test_migrate_on_a_cluster_sends_the_cluster_form() -> None:
    store = _Recorder()
    applied = migrate(store, CLUSTER)  # type: ignore[arg-type]
    assert applied == [m.version for m in schema.MIGRATIONS if m.version != 2]
    sent = [sql for sql, _ in store.sent]
    assert sent[:3] == [*schema.migrations_table_ddl(DB, CLUSTER),
                        f"SELECT version FROM `{DB}`.schema_migrations"]
    assert sent[3:3 + len(schema.MIGRATIONS[0].sql(DB, CLUSTER))] == schema.MIGRATIONS[0].sql(
        DB, CLUSTER)
    records = [p for sql, p in store.sent if sql == schema.record_migration_sql(DB, CLUSTER)]
    assert [r["v"] for r in records] == applied
    assert not any(" ON CLUSTER " not in s for s in sent if s.startswith(("CREATE", "TRUNCATE")))


runner = CliRunner()


def test_print_sql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEINSIGHT_DATA_DIR", str(tmp_path / "data"))
    single = runner.invoke(app, ["migrate", "--print-sql"])
    assert single.exit_code == 0, single.output
    assert single.stdout == schema.script(DB) and "ON CLUSTER" not in single.stdout
    assert not (tmp_path / "data" / "chdb").exists()  # nothing opened
    monkeypatch.setenv("LIVEINSIGHT_CLICKHOUSE_CLUSTER", "prod-eu")
    no_server = runner.invoke(app, ["migrate", "--print-sql"])
    assert no_server.exit_code == 2 and "LIVEINSIGHT_CLICKHOUSE_URL" in no_server.output
    monkeypatch.setenv("LIVEINSIGHT_CLICKHOUSE_URL", "http://127.0.0.1:1")  # never connected
    cluster = runner.invoke(app, ["migrate", "--print-sql"])
    assert cluster.exit_code == 0, cluster.output
    assert cluster.stdout == schema.script(DB, schema.Cluster("prod-eu"))
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')" \
        in cluster.stdout
    monkeypatch.setenv("LIVEINSIGHT_CLICKHOUSE_CLUSTER", "a`b")
    bad = runner.invoke(app, ["migrate", "--print-sql"])
    assert bad.exit_code == 2 and "clickhouse_cluster" in bad.output.lower()
