"""The ClickHouse schema, declared once, and its versioned migrations.

Columns are declared here as ``(name, type)`` pairs; the DDL, the structure ClickHouse uses
to read write-ahead-log segments, and the segment insert statements are all derived from
them, so adding a column is one line plus a migration. This is also the one declaration of
the column vocabulary: ``ingest/sessions.py`` and ``demo/rows.py`` derive their column lists
from it, and the row Structs of ``types.py`` (explicit classes, for speed and typing) are
checked field for field against it by ``tests/storage/test_schema_columns.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

_LC = "LowCardinality(String)"
_TS = "DateTime64(3, 'UTC')"

Columns = list[tuple[str, str]]


def names(columns: Columns) -> tuple[str, ...]:
    """The names of ``columns``, in order."""
    return tuple(name for name, _ in columns)


# What a visit is: the columns a session takes from its first event, in both tables.
VISIT_COLUMNS: Columns = [
    ("referrer", "String"),
    ("referrer_source", _LC),
    ("channel", _LC),
    ("utm_source", _LC),
    ("utm_medium", _LC),
    ("utm_campaign", _LC),
    ("utm_content", "String"),
    ("utm_term", "String"),
    ("country_code", _LC),
    ("region", _LC),
    ("city", _LC),
    ("device", _LC),
    ("browser", _LC),
    ("browser_version", _LC),
    ("os", _LC),
    ("os_version", _LC),
    ("screen", _LC),
]

EVENT_COLUMNS: Columns = [
    ("timestamp", _TS),
    ("site_id", "UInt32"),
    ("name", _LC),
    ("visitor_id", "UInt64"),
    ("session_id", "UInt64"),
    ("hostname", _LC),
    ("pathname", _LC),
    *VISIT_COLUMNS,
    ("props", "Map(String, String)"),
    ("revenue", "Decimal64(4)"),
    ("revenue_currency", _LC),
    ("engagement_ms", "UInt32"),
    ("scroll_depth", "UInt8"),
    ("retention_days", "UInt16"),
]

SESSION_COLUMNS: Columns = [
    ("site_id", "UInt32"),
    ("session_id", "UInt64"),
    ("visitor_id", "UInt64"),
    ("sign", "Int8"),
    ("version", "UInt32"),
    ("start", _TS),
    ("timestamp", _TS),
    ("hostname", _LC),
    ("entry_page", _LC),
    ("exit_page", _LC),
    ("pageviews", "UInt32"),
    ("events", "UInt32"),
    ("duration", "UInt32"),
    ("is_bounce", "UInt8"),
    *VISIT_COLUMNS,
    ("retention_days", "UInt16"),
]

VISIT_NAMES = names(VISIT_COLUMNS)
EVENT_NAMES = names(EVENT_COLUMNS)
SESSION_NAMES = names(SESSION_COLUMNS)

# Rows whose retention_days is 0 are kept 50 years (a DateTime cannot pass 2106).
_TTL = "TTL toDateTime({col}) + toIntervalDay(if(retention_days = 0, 18250, retention_days))"
_DEDUP = "non_replicated_deduplication_window = 10000"


def _columns_ddl(columns: Columns) -> str:
    return ",\n    ".join(f"`{name}` {type_}" for name, type_ in columns)


# --- single server or cluster -------------------------------------------------------------------
# On a cluster (``LIVEINSIGHT_CLICKHOUSE_CLUSTER``) every table ``t`` becomes a replicated local
# table ``t_local`` on each server plus a Distributed table ``t`` that reads all shards and
# routes inserts by a visitor hash, so a visitor's events and sessions sit on one shard (uniques,
# sessions and funnels are shard-local). The same table declarations produce both forms.


@dataclass(frozen=True, slots=True)
class Cluster:
    """Where the cluster form of the schema is created: the cluster name of the servers'
    ``remote_servers``, the Keeper path and replica name of the replicated tables (macros such
    as ``{shard}``, ``{replica}``, ``{database}``, ``{table}`` are expanded by each server)."""

    name: str
    replica_path: str = "/clickhouse/tables/{shard}/{database}/{table}"
    replica_name: str = "{replica}"

    def on(self) -> str:
        return f"ON CLUSTER `{self.name}`"

    def replicated_args(self) -> str:
        return f"{_literal(self.replica_path)}, {_literal(self.replica_name)}"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


VISITOR_SHARD_KEY = "cityHash64(visitor_id)"
"""Events and sessions are sharded by visitor: a session belongs to one visitor, so every row
of a session (its versions and cancel rows) is on one shard too."""

_REPLICATED_DEDUP = "replicated_deduplication_window = 10000"


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    body: str  # "(columns)", as the single-server DDL has always written it
    engine: str  # a MergeTree family engine, without "Replicated"
    args: str  # the engine's own arguments ("" or "sign, version")
    keys: str  # PARTITION BY ... ORDER BY ...
    ttl_col: str
    settings: str  # after the deduplication window
    shard_key: str
    sample: str = ""  # SAMPLE BY, cluster form only (single server: migration 5 adds it)
    cluster_settings: str = ""  # what later single-server migrations add

    def single(self, db: str) -> str:
        engine = f"{self.engine}({self.args})" if self.args else self.engine
        return (f"CREATE TABLE IF NOT EXISTS `{db}`.{self.name} {self.body} ENGINE = {engine}"
                f" {self.keys} " + _TTL.format(col=self.ttl_col)
                + f" SETTINGS {_DEDUP}{self.settings}")

    def cluster(self, db: str, c: Cluster) -> list[str]:
        args = ", ".join(a for a in (c.replicated_args(), self.args) if a)
        sample = f" SAMPLE BY {self.sample}" if self.sample else ""
        local = (f"CREATE TABLE IF NOT EXISTS `{db}`.{self.name}_local {c.on()} {self.body}"
                 f" ENGINE = Replicated{self.engine}({args}) {self.keys}{sample} "
                 + _TTL.format(col=self.ttl_col)
                 + f" SETTINGS {_REPLICATED_DEDUP}{self.settings}{self.cluster_settings}")
        return [local, _distributed(db, self.name, self.shard_key, c)]


def _distributed(db: str, table: str, shard_key: str, c: Cluster) -> str:
    """``table`` over every shard's ``table_local``: reads all shards, routes inserts by
    ``shard_key``."""
    return (f"CREATE TABLE IF NOT EXISTS `{db}`.{table} {c.on()} AS `{db}`.{table}_local"
            f" ENGINE = Distributed({_literal(c.name)}, {_literal(db)},"
            f" {_literal(table + '_local')}, {shard_key})")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: Callable[[str], list[str]]
    cluster: Callable[[str, Cluster], list[str]]
    """The same step on a cluster; ``[]`` where the cluster tables are created with it
    already (a cluster schema starts at version 5's state, see docs/deployment.md)."""

    def sql(self, db: str, cluster: Cluster | None = None) -> list[str]:
        return self.statements(db) if cluster is None else self.cluster(db, cluster)


# The writer deletes a log segment once its insert is confirmed, so an inserted part must be on
# disk by then: ClickHouse does not fsync inserted parts by default (a power cut could lose
# what the deleted segment held). One fsync per insert, a few per second.
_FSYNC_PARTS = "fsync_after_insert = 1, fsync_part_directory = 1"

EVENTS = _Table(
    "events", f"(\n    {_columns_ddl(EVENT_COLUMNS)}\n)", "MergeTree", "",
    "PARTITION BY toYYYYMM(timestamp)"
    " ORDER BY (site_id, toDate(timestamp), name, visitor_id, timestamp)", "timestamp", "",
    VISITOR_SHARD_KEY, sample="visitor_id", cluster_settings=f", {_FSYNC_PARTS}")
SESSIONS = _Table(
    "sessions", f"(\n    {_columns_ddl(SESSION_COLUMNS)}\n)", "VersionedCollapsingMergeTree",
    "sign, version", "PARTITION BY toYYYYMM(start) ORDER BY (site_id, toDate(start), session_id)",
    "start", "", VISITOR_SHARD_KEY, cluster_settings=f", {_FSYNC_PARTS}")

# --- rollups ----------------------------------------------------------------------------------
# Materialized views keep per-(site, bucket, dimension value) aggregates of every inserted
# block: ``events_rollup`` (non-engagement events: a uniqCombined state of visitors,
# pageviews, events) and ``sessions_rollup`` (session rows summed with their sign: visits,
# bounces, seconds, pageviews), both bucketed in UTC at three levels (0 hour, 1 day, 2 week
# starting Monday) so a long range merges few states. The query builder reads them when a
# query can be answered exactly the same from them (``liveinsight.query.rollup``).
# ``dim`` is the query dimension (``''`` for the site total), ``value`` its raw column value.
# Only site totals for now: per page, source, country, ... merging a range's states cost as
# much as scanning the raw rows over 10 M events (see docs/performance.md, "Queries").

EVENT_ROLLUP_DIMS: dict[str, str] = {"": "''"}
SESSION_ROLLUP_DIMS: dict[str, str] = {"": "''"}
ROLLUP_LEVELS = ("hour", "day", "week")
_ROLLUP_KEY = ("site_id UInt32, level UInt8, bucket DateTime('UTC'), dim LowCardinality(String),"
               " value String, retention_days UInt16")


# Rollup rows are written by the views on each shard, next to the rows they count; this key only
# places rows inserted through the Distributed rollup (a backfill or a rebuild).
_ROLLUP_SHARD_KEY = "cityHash64(site_id, bucket)"


def _rollup_table(table: str, values: str) -> _Table:
    return _Table(table, f"({_ROLLUP_KEY}, {values})", "AggregatingMergeTree", "",
                  "PARTITION BY toYYYYMM(bucket) ORDER BY (site_id, dim, level, bucket, value,"
                  " retention_days)", "bucket", f", {_FSYNC_PARTS}", _ROLLUP_SHARD_KEY)


def _rollup_select(db: str, source: str, time_col: str, dims: dict[str, str],
                   values: str, where: str = "") -> str:
    t = f"toDateTime({time_col}, 'UTC')"
    levels = (f"[(0, toStartOfHour({t})), (1, toStartOfDay({t})),"
              f" (2, toDateTime(toMonday({t}), 'UTC'))]")
    pairs = ", ".join(f"('{dim}', toString({col}))" for dim, col in dims.items())
    return (f"SELECT site_id, _l.1 AS level, _l.2 AS bucket, _d.1 AS dim, _d.2 AS value,"
            f" retention_days, {values} FROM `{db}`.{source}"
            f" ARRAY JOIN [{pairs}] AS _d ARRAY JOIN {levels} AS _l{where}"
            " GROUP BY site_id, level, bucket, dim, value, retention_days")


_EVENTS_ROLLUP = ("visitors AggregateFunction(uniqCombined, UInt64),"
                  " pageviews SimpleAggregateFunction(sum, UInt64),"
                  " events SimpleAggregateFunction(sum, UInt64)")
_SESSIONS_ROLLUP = ("visits SimpleAggregateFunction(sum, Int64),"
                    " bounces SimpleAggregateFunction(sum, Int64),"
                    " seconds SimpleAggregateFunction(sum, Int64),"
                    " views SimpleAggregateFunction(sum, Int64)")


EVENTS_ROLLUP = _rollup_table("events_rollup", _EVENTS_ROLLUP)
SESSIONS_ROLLUP = _rollup_table("sessions_rollup", _SESSIONS_ROLLUP)


def _events_rollup_select(db: str, source: str = "events") -> str:
    return _rollup_select(
        db, source, "timestamp", EVENT_ROLLUP_DIMS,
        "uniqCombinedState(visitor_id) AS visitors, countIf(name = 'pageview') AS pageviews,"
        " count() AS events", " WHERE name != 'engagement'")


def _sessions_rollup_select(db: str, source: str = "sessions") -> str:
    return _rollup_select(
        db, source, "start", SESSION_ROLLUP_DIMS,
        "sum(sign) AS visits, sum(sign * is_bounce) AS bounces, sum(sign * duration) AS seconds,"
        " sum(sign * pageviews) AS views")


_ROLLUP_SELECTS = (("events_rollup", "events", _events_rollup_select),
                   ("sessions_rollup", "sessions", _sessions_rollup_select))


def _rollups(db: str) -> list[str]:
    """Tables, views, then a backfill from the rows already stored. Re-runnable: the
    backfill starts from empty tables. Runs before the writer starts (app start,
    ``liveinsight migrate``): a row inserted between a view's creation and its table's
    backfill would be counted twice."""
    out = [EVENTS_ROLLUP.single(db), SESSIONS_ROLLUP.single(db)]
    for name, _, select in _ROLLUP_SELECTS:
        out += [f"CREATE MATERIALIZED VIEW IF NOT EXISTS `{db}`.{name}_mv TO `{db}`.{name}"
                f" AS {select(db)}",
                f"TRUNCATE TABLE `{db}`.{name}",
                f"INSERT INTO `{db}`.{name} {select(db)}"]
    return out


def _cluster_rollups(db: str, c: Cluster) -> list[str]:
    """On every server a view reads the local raw table and writes the local rollup (an insert
    reaches one replica of one shard; the rollup part is replicated like the raw part). The
    backfill reads the Distributed raw table and inserts through the Distributed rollup."""
    out = [*EVENTS_ROLLUP.cluster(db, c), *SESSIONS_ROLLUP.cluster(db, c)]
    for name, source, select in _ROLLUP_SELECTS:
        out.append(f"CREATE MATERIALIZED VIEW IF NOT EXISTS `{db}`.{name}_mv {c.on()}"
                   f" TO `{db}`.{name}_local AS {select(db, source + '_local')}")
    return out + rollup_rebuild(db, c)


def rollup_rebuild(db: str, cluster: Cluster | None = None) -> list[str]:
    """Empty the rollups and fill them again from the raw tables. The caller holds the
    writer (no segment may be ingested meanwhile: its rows would be counted twice or not at
    all; on a cluster, every node's writer)."""
    out = []
    for name, _, select in _ROLLUP_SELECTS:
        if cluster is None:
            out += [f"TRUNCATE TABLE `{db}`.{name}", f"INSERT INTO `{db}`.{name} {select(db)}"]
        else:
            out += [f"TRUNCATE TABLE `{db}`.{name}_local {cluster.on()}",
                    f"INSERT INTO `{db}`.{name} SETTINGS distributed_foreground_insert = 1"
                    f" {select(db)}"]
    return out


LOG_COLUMNS: Columns = [
    ("timestamp", "DateTime64(3, 'UTC')"),
    ("level", "LowCardinality(String)"),
    ("logger", "LowCardinality(String)"),
    ("message", "String"),
    ("request_id", "String"),
    ("route", "LowCardinality(String)"),
    ("method", "LowCardinality(String)"),
    ("status", "UInt16"),
    ("duration_ms", "Float32"),
    ("site_id", "UInt32"),
    ("node", "LowCardinality(String)"),
    ("trace_id", "String"),
    ("fingerprint", "String"),
    ("exception", "String"),
    ("fields", "Map(String, String)"),
    ("retention_days", "UInt16"),
]
"""A log record (``ops/logship.py`` writes them): who logged what, the request it belongs
to, a fingerprint grouping records of one kind (``ops/logship.fingerprint``), the other
structured fields as strings."""

LOG_NAMES = names(LOG_COLUMNS)


_LOG_KEYS = ("PARTITION BY toYYYYMMDD(timestamp) ORDER BY (timestamp, level)"
             " TTL toDateTime(timestamp) + toIntervalDay(retention_days)")


def _logs_ddl(db: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS `{db}`.logs (\n    {_columns_ddl(LOG_COLUMNS)}\n)"
            f" ENGINE = MergeTree {_LOG_KEYS} SETTINGS {_DEDUP}")


def _logs_cluster(db: str, c: Cluster) -> list[str]:
    """On a cluster: ``logs_local`` replicated on each shard, ``logs`` over all of them
    (records spread at random: a search reads every shard anyway)."""
    local = (f"CREATE TABLE IF NOT EXISTS `{db}`.logs_local {c.on()}"
             f" (\n    {_columns_ddl(LOG_COLUMNS)}\n)"
             f" ENGINE = ReplicatedMergeTree({c.replicated_args()}) {_LOG_KEYS}"
             f" SETTINGS {_REPLICATED_DEDUP}")
    return [local, _distributed(db, "logs", "rand()", c)]

SPAN_COLUMNS: Columns = [
    ("timestamp", "DateTime64(6, 'UTC')"),
    ("trace_id", "String"),
    ("span_id", "String"),
    ("parent_id", "String"),
    ("name", "LowCardinality(String)"),
    ("kind", "LowCardinality(String)"),
    ("route", "LowCardinality(String)"),
    ("method", "LowCardinality(String)"),
    ("status", "UInt16"),
    ("error", "UInt8"),
    ("duration_ms", "Float64"),
    ("node", "LowCardinality(String)"),
    ("sample_ratio", "Float32"),
    ("attributes", "Map(String, String)"),
    ("retention_days", "UInt16"),
]
"""A finished trace span (``ops/spans.py`` writes them): when it started, its trace, its
parent (``''``: the request's own span), what it timed (``name``: ``GET /api/stats/{kind}``,
``store.query``, ``cache.get``, ``ingest.step bots``...), the request's route template,
method and HTTP status on a request's span, whether it failed, its duration, the node, the
sampling ratio it was recorded under, and its other attributes as strings."""

SPAN_NAMES = names(SPAN_COLUMNS)

_SPAN_KEYS = ("PARTITION BY toYYYYMMDD(timestamp) ORDER BY (timestamp, trace_id)"
              " TTL toDateTime(timestamp) + toIntervalDay(retention_days)")
_SPAN_INDEX = "INDEX trace_idx trace_id TYPE bloom_filter(0.01) GRANULARITY 4"


def _spans_ddl(db: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS `{db}`.spans (\n    {_columns_ddl(SPAN_COLUMNS)},"
            f"\n    {_SPAN_INDEX}\n) ENGINE = MergeTree {_SPAN_KEYS} SETTINGS {_DEDUP}")


def _spans_cluster(db: str, c: Cluster) -> list[str]:
    """On a cluster, as ``logs``: ``spans_local`` replicated on each shard, ``spans`` over
    all of them (spread at random: a trace is looked up on every shard by its index)."""
    local = (f"CREATE TABLE IF NOT EXISTS `{db}`.spans_local {c.on()}"
             f" (\n    {_columns_ddl(SPAN_COLUMNS)},\n    {_SPAN_INDEX}\n)"
             f" ENGINE = ReplicatedMergeTree({c.replicated_args()}) {_SPAN_KEYS}"
             f" SETTINGS {_REPLICATED_DEDUP}")
    return [local, _distributed(db, "spans", "rand()", c)]


AUDIT_COLUMNS: Columns = [
    ("timestamp", "DateTime64(6, 'UTC')"),
    ("seq", "UInt64"),
    ("actor", "String"),
    ("action", "LowCardinality(String)"),
    ("target", "String"),
    ("outcome", "LowCardinality(String)"),
    ("status", "UInt16"),
    ("site_id", "UInt32"),
    ("client", "String"),
    ("request_id", "String"),
    ("details", "String"),
    ("flagged", "UInt8"),
    ("prev_hash", "String"),
    ("hash", "String"),
    ("retention_days", "UInt16"),
]
"""A copy of an audit record of the metadata database's hash chain (``ops/auditship.py``
ships them): the chain stays the tamper-evident source (``liveinsight audit verify``); this
table is for searching and exporting at volume, kept by its own TTL. ``details`` is the
record's JSON; ``status`` and ``site_id`` are 0 where the record has none."""

AUDIT_NAMES = names(AUDIT_COLUMNS)

# ReplacingMergeTree: a record shipped twice (re-shipped at start) is one row after merges,
# and FINAL reads one.
_AUDIT_KEYS = ("PARTITION BY toYYYYMM(timestamp) ORDER BY (timestamp, seq) "
               + _TTL.format(col="timestamp"))


def _audit_ddl(db: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS `{db}`.audit (\n    {_columns_ddl(AUDIT_COLUMNS)}\n)"
            f" ENGINE = ReplacingMergeTree {_AUDIT_KEYS} SETTINGS {_DEDUP}")


def _audit_cluster(db: str, c: Cluster) -> list[str]:
    """On a cluster, as ``logs``: ``audit_local`` replicated on each shard, ``audit`` over
    all of them (sharded by ``seq``, so a re-shipped record meets its first copy)."""
    local = (f"CREATE TABLE IF NOT EXISTS `{db}`.audit_local {c.on()}"
             f" (\n    {_columns_ddl(AUDIT_COLUMNS)}\n)"
             f" ENGINE = ReplicatedReplacingMergeTree({c.replicated_args()}) {_AUDIT_KEYS}"
             f" SETTINGS {_REPLICATED_DEDUP}")
    return [local, _distributed(db, "audit", "seq", c)]


def _in_cluster_create(db: str, cluster: Cluster) -> list[str]:
    return []


# --- imported data -----------------------------------------------------------------------------
# Aggregates imported from another analytics tool (Plausible's CSV export, a Google Analytics 4
# export: ``liveinsight.imports``), kept apart from the native events: one table per kind of
# aggregate, as Plausible's ``imported_*`` tables, each row a day's counts for one value of its
# dimensions, tagged with the site and the import it came from (deleting an import deletes its
# rows). Every metric is a sum over rows, so a table's rows may sit on any shard of a cluster.

IMPORTED_DIMENSIONS: dict[str, Columns] = {
    "imported_visitors": [],
    "imported_sources": [("source", "String"), ("referrer", "String"),
                         ("utm_source", "String"), ("utm_medium", "String"),
                         ("utm_campaign", "String"), ("utm_content", "String"),
                         ("utm_term", "String")],
    "imported_pages": [("hostname", "String"), ("page", "String")],
    "imported_entry_pages": [("entry_page", "String")],
    "imported_exit_pages": [("exit_page", "String")],
    "imported_custom_events": [("name", "String"), ("link_url", "String"), ("path", "String")],
    "imported_locations": [("country", "String"), ("region", "String"), ("city", "UInt64")],
    "imported_devices": [("device", "String")],
    "imported_browsers": [("browser", "String"), ("browser_version", "String")],
    "imported_operating_systems": [("operating_system", "String"),
                                   ("operating_system_version", "String")],
}
_VISIT_METRICS: Columns = [("visitors", "UInt64"), ("visits", "UInt64"),
                           ("pageviews", "UInt64"), ("bounces", "UInt64"),
                           ("visit_duration", "UInt64")]
IMPORTED_METRICS: dict[str, Columns] = {
    "imported_visitors": _VISIT_METRICS,
    "imported_sources": _VISIT_METRICS,
    "imported_pages": [("visitors", "UInt64"), ("visits", "UInt64"), ("pageviews", "UInt64"),
                       ("exits", "UInt64"), ("time_on_page", "UInt64")],
    "imported_entry_pages": [("visitors", "UInt64"), ("entrances", "UInt64"),
                             ("pageviews", "UInt64"), ("bounces", "UInt64"),
                             ("visit_duration", "UInt64")],
    "imported_exit_pages": [("visitors", "UInt64"), ("exits", "UInt64"),
                            ("pageviews", "UInt64"), ("bounces", "UInt64"),
                            ("visit_duration", "UInt64")],
    "imported_custom_events": [("visitors", "UInt64"), ("events", "UInt64")],
    "imported_locations": _VISIT_METRICS,
    "imported_devices": _VISIT_METRICS,
    "imported_browsers": _VISIT_METRICS,
    "imported_operating_systems": _VISIT_METRICS,
}
IMPORTED_TABLES: tuple[str, ...] = tuple(IMPORTED_DIMENSIONS)
"""Every table of imported data (deleting or resetting a site deletes its rows there too)."""


def imported_columns(table: str) -> Columns:
    """Every column of an imported table, in order: site, import, date, dimensions, metrics."""
    return [("site_id", "UInt32"), ("import_id", "UInt64"), ("date", "Date"),
            *IMPORTED_DIMENSIONS[table], *IMPORTED_METRICS[table]]


def _imported_keys(table: str) -> str:
    dims = ", ".join(name for name, _ in IMPORTED_DIMENSIONS[table])
    return (f"PARTITION BY toYYYYMM(date) ORDER BY (site_id, date, import_id"
            f"{', ' + dims if dims else ''})")


def _imported_ddl(db: str) -> list[str]:
    return [f"CREATE TABLE IF NOT EXISTS `{db}`.{t} (\n    {_columns_ddl(imported_columns(t))}"
            f"\n) ENGINE = MergeTree {_imported_keys(t)} SETTINGS {_DEDUP}"
            for t in IMPORTED_TABLES]


def _imported_cluster(db: str, c: Cluster) -> list[str]:
    """On a cluster: ``<table>_local`` replicated on each shard, ``<table>`` over all of
    them, rows spread by import and day (every metric is a sum: any shard will do)."""
    out = []
    for t in IMPORTED_TABLES:
        out += [f"CREATE TABLE IF NOT EXISTS `{db}`.{t}_local {c.on()}"
                f" (\n    {_columns_ddl(imported_columns(t))}\n)"
                f" ENGINE = ReplicatedMergeTree({c.replicated_args()}) {_imported_keys(t)}"
                f" SETTINGS {_REPLICATED_DEDUP}",
                _distributed(db, t, "cityHash64(import_id, date)", c)]
    return out


def delete_rows_sql(db: str, table: str, where: str, cluster: Cluster | None = None) -> str:
    """``ALTER TABLE ... DELETE WHERE where``, synchronous; on a cluster on every shard's
    local table."""
    if cluster is None:
        return f"ALTER TABLE `{db}`.{table} DELETE WHERE {where} SETTINGS mutations_sync = 2"
    return (f"ALTER TABLE `{db}`.{table}_local {cluster.on()} DELETE WHERE {where}"
            " SETTINGS mutations_sync = 2")


MIGRATIONS: list[Migration] = [
    Migration(1, "events and sessions tables",
              lambda db: [EVENTS.single(db), SESSIONS.single(db)],
              lambda db, c: [*EVENTS.cluster(db, c), *SESSIONS.cluster(db, c)]),
    Migration(2, "fsync inserted parts (the log deletes a segment after its insert)",
              lambda db: [f"ALTER TABLE `{db}`.{t} MODIFY SETTING {_FSYNC_PARTS}"
                          for t in ("events", "sessions")],
              _in_cluster_create),  # the cluster tables are created with these settings (1)
    Migration(3, "hourly/daily/weekly rollups of events and sessions (backfilled)", _rollups,
              _cluster_rollups),
    Migration(4, "pages as LowCardinality(String) (grouping by page: no string hashing)",
              lambda db: [
                  f"ALTER TABLE `{db}`.events MODIFY COLUMN pathname {_LC}"
                  " SETTINGS mutations_sync = 2",
                  f"ALTER TABLE `{db}`.sessions MODIFY COLUMN entry_page {_LC},"
                  f" MODIFY COLUMN exit_page {_LC} SETTINGS mutations_sync = 2",
              ],
              _in_cluster_create),  # the cluster tables are created with these types (1)
    Migration(5, "events sampled by visitor (SAMPLE BY visitor_id: whole visitors in a "
              "sample; metadata only, no rewrite)",
              lambda db: [f"ALTER TABLE `{db}`.events MODIFY SAMPLE BY visitor_id"],
              _in_cluster_create),  # events_local is created with SAMPLE BY visitor_id (1)
    Migration(6, "logs: the service's own log records (searched by /admin/logs)",
              lambda db: [_logs_ddl(db)], lambda db, c: _logs_cluster(db, c)),
    Migration(7, "spans: the service's own trace spans (searched by /admin/performance)",
              lambda db: [_spans_ddl(db)], lambda db, c: _spans_cluster(db, c)),
    Migration(8, "audit: a searchable copy of the audit log's hash chain, with a TTL",
              lambda db: [_audit_ddl(db)], lambda db, c: _audit_cluster(db, c)),
    Migration(9, "imported_*: aggregates imported from Plausible or Google Analytics exports",
              _imported_ddl, _imported_cluster),
]

SITE_DATA_TABLES = ("events", "sessions", "events_rollup", "sessions_rollup", *IMPORTED_TABLES)
"""Every table holding a site's data: deleting a site's rows must delete them from each
(the rollups are fed by inserts only; an ``ALTER TABLE events DELETE`` does not reach them)."""

# --- reading write-ahead-log segments --------------------------------------------------------

SEGMENT_TARGETS: list[tuple[str, str, Columns]] = [
    ("events", "e", EVENT_COLUMNS),
    ("sessions", "s", SESSION_COLUMNS),
]
LOG_TARGETS: list[tuple[str, str, Columns]] = [("logs", "l", LOG_COLUMNS)]
"""What a segment of the log records' own write-ahead log feeds (``ops/logship.py``)."""
SPAN_TARGETS: list[tuple[str, str, Columns]] = [("spans", "t", SPAN_COLUMNS)]
"""What a segment of the spans' own write-ahead log feeds (``ops/spans.py``)."""
AUDIT_TARGETS: list[tuple[str, str, Columns]] = [("audit", "a", AUDIT_COLUMNS)]
"""What a segment of the audit copies' own write-ahead log feeds (``ops/auditship.py``)."""

# Settings that make an INSERT ... SELECT from a segment form the same blocks every time, so a
# replay's deduplication token matches the first attempt's blocks.
SEGMENT_INSERT_SETTINGS: dict[str, int] = {
    "max_threads": 1,
    "max_insert_threads": 1,
    "input_format_parallel_parsing": 0,
    "min_insert_block_size_rows": 10_000_000,
    "min_insert_block_size_bytes": 1 << 30,
    "max_insert_block_size": 10_000_000,
    "input_format_skip_unknown_fields": 1,
    "input_format_defaults_for_omitted_fields": 1,
    "insert_deduplicate": 1,
    # A replayed block is skipped in the rollups fed by materialized views too.
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}


# Log lines leave out default-valued fields (``types.EventRow``); ClickHouse fills an omitted
# column with its type's zero ("", 0, {}), or with this where the struct's default differs.
# Such a column is read as Nullable (omitted: NULL) and the SELECT puts the default in: a
# DEFAULT in the structure is applied by file() but not by a server's input() (ClickHouse
# issue #84691), which would store '' where the line meant 'Direct'.
SEGMENT_DEFAULTS: dict[str, str] = {"channel": "'Direct'"}


def _read_as(name: str, type_: str) -> str:
    if name not in SEGMENT_DEFAULTS:
        return f"{name} {type_}"
    lc = type_.startswith("LowCardinality(")  # Nullable goes inside LowCardinality
    return f"{name} Nullable({type_[15:-1] if lc else type_})"


def _selected(name: str) -> str:
    default = SEGMENT_DEFAULTS.get(name)
    return f"ifNull(`{name}`, {default})" if default else f"`{name}`"


def segment_structure(columns: Columns) -> str:
    """The structure string ClickHouse reads a segment with, for one target table, escaped to
    sit inside a single-quoted SQL string literal."""
    text = ", ".join(["_k String", *(_read_as(name, type_) for name, type_ in columns)])
    return text.replace("\\", "\\\\").replace("'", "\\'")


def segment_inserts(db: str, source: Callable[[str], str],
                    targets: list[tuple[str, str, Columns]] | None = None
                    ) -> list[tuple[str, str]]:
    """``(table, sql)`` for each table a segment feeds (``targets``: the events' by
    default). ``source(structure)`` returns the table function that reads the segment
    (``file(...)`` embedded, ``input(...)`` over HTTP).
    """
    out = []
    for table, kind, columns in SEGMENT_TARGETS if targets is None else targets:
        names = ", ".join(f"`{name}`" for name, _ in columns)
        values = ", ".join(_selected(name) for name, _ in columns)
        sql = (
            f"INSERT INTO `{db}`.{table} ({names}) SELECT {values} "
            f"FROM {source(segment_structure(columns))} WHERE _k = '{kind}'"
        )
        out.append((table, sql))
    return out


MIGRATIONS_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS `{db}`.schema_migrations (version UInt32, description String,"
    " applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version"
)


def migrations_table_ddl(db: str, cluster: Cluster | None = None) -> list[str]:
    """The table recording applied versions. On a cluster it is replicated and Distributed
    like the others, so every node, whichever server it talks to, reads one history."""
    if cluster is None:
        return [MIGRATIONS_TABLE_DDL.format(db=db)]
    return [f"CREATE TABLE IF NOT EXISTS `{db}`.schema_migrations_local {cluster.on()}"
            " (version UInt32, description String, applied_at DateTime DEFAULT now())"
            f" ENGINE = ReplicatedMergeTree({cluster.replicated_args()}) ORDER BY version",
            _distributed(db, "schema_migrations", "version", cluster)]


def record_migration_sql(db: str, cluster: Cluster | None = None) -> str:
    """The insert recording an applied version (parameters ``v`` and ``d``); on a cluster
    through the Distributed table, synchronously, so the next read sees it."""
    sync = " SETTINGS distributed_foreground_insert = 1" if cluster else ""
    return (f"INSERT INTO `{db}`.schema_migrations (version, description){sync} "
            "VALUES ({v:UInt32}, {d:String})")


def script(db: str, cluster: Cluster | None = None) -> str:
    """Every statement of the schema in order, for review (``liveinsight migrate
    --print-sql``). Run by hand, it leaves ``schema_migrations`` empty."""
    out = ["-- schema_migrations: the versions applied",
           *(f"{s};" for s in migrations_table_ddl(db, cluster))]
    for m in MIGRATIONS:
        out.append(f"-- {m.version}: {m.description}")
        out += [f"{s};" for s in m.sql(db, cluster)] or ["-- (created so by an earlier step)"]
    return "\n".join(out) + "\n"
