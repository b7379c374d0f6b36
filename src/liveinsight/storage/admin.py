"""What ClickHouse says about its tables, merges, disks and queries, and the maintenance it
can be asked for: the SQL of ``/admin/db/...``, on both transports (``system.*`` tables).

A ClickHouse server keeps ``system.query_log``; the embedded engine keeps none: callers fall
back to the node's own query timings when it is missing (:func:`query_log_available`).
"""

from __future__ import annotations

import re
from typing import Any

from liveinsight.storage.protocol import Code, Store, StoreError
from liveinsight.storage.schema import Cluster

PARTITION = re.compile(r"^\d{6}$")  # toYYYYMM partitions


def tables(store: Store) -> list[dict[str, Any]]:
    """Per table of our database: active parts, partitions, rows, bytes on disk, compressed
    and uncompressed bytes and their ratio."""
    rows = store.query(
        "SELECT table, count() AS parts, uniqExact(partition_id) AS partitions,"
        " sum(rows) AS rows, sum(bytes_on_disk) AS bytes_on_disk,"
        " sum(data_compressed_bytes) AS compressed_bytes,"
        " sum(data_uncompressed_bytes) AS uncompressed_bytes"
        " FROM system.parts WHERE database = {db:String} AND active"
        " GROUP BY table ORDER BY table", {"db": store.database}).dicts()
    for row in rows:
        for name in ("parts", "partitions", "rows", "bytes_on_disk", "compressed_bytes",
                     "uncompressed_bytes"):
            row[name] = int(row[name])
        compressed = row["compressed_bytes"]
        row["compression_ratio"] = (round(row["uncompressed_bytes"] / compressed, 2)
                                    if compressed else None)
    return rows


def partitions(store: Store, limit: int = 500) -> list[dict[str, Any]]:
    """Per table and partition: active parts, rows and bytes on disk (the newest first)."""
    rows = store.query(
        "SELECT table, partition_id AS partition, count() AS parts, sum(rows) AS rows,"
        " sum(bytes_on_disk) AS bytes_on_disk FROM system.parts"
        " WHERE database = {db:String} AND active GROUP BY table, partition_id"
        " ORDER BY partition_id DESC, table LIMIT {limit:UInt32}",
        {"db": store.database, "limit": limit}).dicts()
    for row in rows:
        for name in ("parts", "rows", "bytes_on_disk"):
            row[name] = int(row[name])
    return rows


def merges(store: Store) -> list[dict[str, Any]]:
    """Merges running now in our database."""
    rows = store.query(
        "SELECT table, round(elapsed, 3) AS elapsed_s, round(progress, 4) AS progress,"
        " num_parts AS parts, total_size_bytes_compressed AS bytes"
        " FROM system.merges WHERE database = {db:String} ORDER BY elapsed DESC",
        {"db": store.database}).dicts()
    for row in rows:
        row["parts"], row["bytes"] = int(row["parts"]), int(row["bytes"])
        row["elapsed_s"], row["progress"] = float(row["elapsed_s"]), float(row["progress"])
    return rows


def disks(store: Store) -> list[dict[str, Any]]:
    rows = store.query("SELECT name, path, free_space, total_space FROM system.disks").dicts()
    for row in rows:
        row["free_space"], row["total_space"] = int(row["free_space"]), int(row["total_space"])
    return rows


def query_log_available(store: Store) -> bool:
    try:
        store.query("SELECT 1 FROM system.query_log LIMIT 0")
    except StoreError as exc:
        if exc.code == Code.UNKNOWN_TABLE:
            return False
        raise
    return True


def latency_from_log(store: Store, hours: int) -> dict[str, Any]:
    """Latency percentiles (ms), queries, rows and bytes read of finished queries on our
    database over the last ``hours`` (a server's ``system.query_log``)."""
    row = store.query(
        "SELECT count() AS count, quantile(0.5)(query_duration_ms) AS p50_ms,"
        " quantile(0.95)(query_duration_ms) AS p95_ms,"
        " quantile(0.99)(query_duration_ms) AS p99_ms, max(query_duration_ms) AS max_ms,"
        " sum(read_rows) AS read_rows, sum(read_bytes) AS read_bytes"
        " FROM system.query_log WHERE type = 'QueryFinish'"
        " AND event_time >= now() - toIntervalHour({hours:UInt32})"
        " AND has(databases, {db:String})", {"hours": hours, "db": store.database}).dicts()[0]
    return {k: (float(v) if k.endswith("_ms") else int(v)) for k, v in row.items()}


def slow_from_log(store: Store, threshold_ms: int, hours: int, limit: int
                  ) -> list[dict[str, Any]]:
    """Slow query shapes from a server's ``system.query_log``: normalised text, count, p95,
    max and total ms, rows and bytes read, last seen; the most time spent first."""
    rows = store.query(
        "SELECT toString(normalized_query_hash) AS id, any(normalizeQuery(query)) AS query,"
        " count() AS count, round(quantile(0.95)(query_duration_ms), 1) AS p95_ms,"
        " max(query_duration_ms) AS max_ms, sum(query_duration_ms) AS total_ms,"
        " sum(read_rows) AS read_rows, sum(read_bytes) AS read_bytes,"
        " toString(max(event_time)) AS last_seen FROM system.query_log"
        " WHERE type = 'QueryFinish' AND event_time >= now() - toIntervalHour({hours:UInt32})"
        " AND query_duration_ms >= {threshold:UInt64} AND has(databases, {db:String})"
        " GROUP BY normalized_query_hash ORDER BY total_ms DESC LIMIT {limit:UInt32}",
        {"hours": hours, "threshold": threshold_ms, "db": store.database,
         "limit": limit}).dicts()
    for row in rows:
        for name in ("count", "max_ms", "total_ms", "read_rows", "read_bytes"):
            row[name] = int(row[name])
        row["p95_ms"] = float(row["p95_ms"])
    return rows


def table_names(store: Store) -> list[str]:
    """The tables of our database that hold data (no views)."""
    rows = store.query("SELECT name FROM system.tables WHERE database = {db:String}"
                       " AND engine LIKE '%MergeTree' ORDER BY name",
                       {"db": store.database}).rows
    return [str(r[0]) for r in rows]


def optimize(store: Store, table: str, partition: str | None, final: bool,
             cluster: Cluster | None = None) -> None:
    """Merge ``table``'s parts (of one ``YYYYMM`` partition when given; ``final``: into one
    part per partition, collapsing sessions' cancelled rows). ``table`` must be one of
    :func:`table_names` and ``partition`` match :data:`PARTITION` (the caller checks). On a
    ``cluster`` those are the ``*_local`` tables, optimized on every server (``ON CLUSTER``)."""
    if not PARTITION.match(partition or "000000"):
        raise ValueError(f"bad partition {partition!r}")
    sql = f"OPTIMIZE TABLE `{store.database}`.`{table}`"
    if cluster is not None:
        sql += f" {cluster.on()}"
    if partition:
        sql += f" PARTITION ID '{partition}'"
    if final:
        sql += " FINAL"
    store.command(sql)
