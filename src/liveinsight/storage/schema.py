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


def _events_ddl(db: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS `{db}`.events (\n    {_columns_ddl(EVENT_COLUMNS)}\n)"
        " ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp)"
        " ORDER BY (site_id, toDate(timestamp), name, visitor_id, timestamp) "
        + _TTL.format(col="timestamp")
        + f" SETTINGS {_DEDUP}"
    )


def _sessions_ddl(db: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS `{db}`.sessions (\n    {_columns_ddl(SESSION_COLUMNS)}\n)"
        " ENGINE = VersionedCollapsingMergeTree(sign, version) PARTITION BY toYYYYMM(start)"
        " ORDER BY (site_id, toDate(start), session_id) "
        + _TTL.format(col="start")
        + f" SETTINGS {_DEDUP}"
    )


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: Callable[[str], list[str]]


# The writer deletes a log segment once its insert is confirmed, so an inserted part must be on
# disk by then: ClickHouse does not fsync inserted parts by default (a power cut could lose
# what the deleted segment held). One fsync per insert, a few per second.
_FSYNC_PARTS = "fsync_after_insert = 1, fsync_part_directory = 1"

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


def _rollup_ddl(db: str, table: str, values: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS `{db}`.{table} ({_ROLLUP_KEY}, {values})"
        " ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(bucket)"
        " ORDER BY (site_id, dim, level, bucket, value, retention_days) "
        + _TTL.format(col="bucket") + f" SETTINGS {_DEDUP}, {_FSYNC_PARTS}"
    )


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


def _events_rollup_select(db: str) -> str:
    return _rollup_select(
        db, "events", "timestamp", EVENT_ROLLUP_DIMS,
        "uniqCombinedState(visitor_id) AS visitors, countIf(name = 'pageview') AS pageviews,"
        " count() AS events", " WHERE name != 'engagement'")


def _sessions_rollup_select(db: str) -> str:
    return _rollup_select(
        db, "sessions", "start", SESSION_ROLLUP_DIMS,
        "sum(sign) AS visits, sum(sign * is_bounce) AS bounces, sum(sign * duration) AS seconds,"
        " sum(sign * pageviews) AS views")


def _rollups(db: str) -> list[str]:
    """Tables, views, then a backfill from the rows already stored. Re-runnable: the
    backfill starts from empty tables. Runs before the writer starts (app start,
    ``liveinsight migrate``): a row inserted between a view's creation and its table's
    backfill would be counted twice."""
    out = [_rollup_ddl(db, "events_rollup", _EVENTS_ROLLUP),
           _rollup_ddl(db, "sessions_rollup", _SESSIONS_ROLLUP)]
    for name, select in (("events_rollup", _events_rollup_select(db)),
                         ("sessions_rollup", _sessions_rollup_select(db))):
        out += [f"CREATE MATERIALIZED VIEW IF NOT EXISTS `{db}`.{name}_mv TO `{db}`.{name}"
                f" AS {select}",
                f"TRUNCATE TABLE `{db}`.{name}",
                f"INSERT INTO `{db}`.{name} {select}"]
    return out


def rollup_rebuild(db: str) -> list[str]:
    """Empty the rollups and fill them again from the raw tables. The caller holds the
    writer (no segment may be ingested meanwhile: its rows would be counted twice or not at
    all)."""
    out = []
    for name, select in (("events_rollup", _events_rollup_select(db)),
                         ("sessions_rollup", _sessions_rollup_select(db))):
        out += [f"TRUNCATE TABLE `{db}`.{name}", f"INSERT INTO `{db}`.{name} {select}"]
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


def _logs_ddl(db: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS `{db}`.logs (\n    {_columns_ddl(LOG_COLUMNS)}\n)"
        " ENGINE = MergeTree PARTITION BY toYYYYMMDD(timestamp)"
        " ORDER BY (timestamp, level)"
        " TTL toDateTime(timestamp) + toIntervalDay(retention_days)"
        f" SETTINGS {_DEDUP}"
    )


MIGRATIONS: list[Migration] = [
    Migration(1, "events and sessions tables", lambda db: [_events_ddl(db), _sessions_ddl(db)]),
    Migration(2, "fsync inserted parts (the log deletes a segment after its insert)",
              lambda db: [f"ALTER TABLE `{db}`.{t} MODIFY SETTING {_FSYNC_PARTS}"
                          for t in ("events", "sessions")]),
    Migration(3, "hourly/daily/weekly rollups of events and sessions (backfilled)", _rollups),
    Migration(4, "pages as LowCardinality(String) (grouping by page: no string hashing)",
              lambda db: [
                  f"ALTER TABLE `{db}`.events MODIFY COLUMN pathname {_LC}"
                  " SETTINGS mutations_sync = 2",
                  f"ALTER TABLE `{db}`.sessions MODIFY COLUMN entry_page {_LC},"
                  f" MODIFY COLUMN exit_page {_LC} SETTINGS mutations_sync = 2",
              ]),
    Migration(5, "events sampled by visitor (SAMPLE BY visitor_id: whole visitors in a "
              "sample; metadata only, no rewrite)",
              lambda db: [f"ALTER TABLE `{db}`.events MODIFY SAMPLE BY visitor_id"]),
    Migration(6, "logs: the service's own log records (searched by /admin/logs)",
              lambda db: [_logs_ddl(db)]),
]

SITE_DATA_TABLES = ("events", "sessions", "events_rollup", "sessions_rollup")
"""Every table holding a site's data: deleting a site's rows must delete them from each
(the rollups are fed by inserts only; an ``ALTER TABLE events DELETE`` does not reach them)."""

# --- reading write-ahead-log segments --------------------------------------------------------

SEGMENT_TARGETS: list[tuple[str, str, Columns]] = [
    ("events", "e", EVENT_COLUMNS),
    ("sessions", "s", SESSION_COLUMNS),
]
LOG_TARGETS: list[tuple[str, str, Columns]] = [("logs", "l", LOG_COLUMNS)]
"""What a segment of the log records' own write-ahead log feeds (``ops/logship.py``)."""

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
