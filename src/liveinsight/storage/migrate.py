"""Applying the ClickHouse schema migrations (``liveinsight migrate`` and app start)."""

from __future__ import annotations

from liveinsight.settings import Settings
from liveinsight.storage import schema
from liveinsight.storage.protocol import Store


def cluster_of(settings: Settings) -> schema.Cluster | None:
    """The cluster the schema is created on, or None for a single server."""
    if not settings.clickhouse_cluster:
        return None
    return schema.Cluster(settings.clickhouse_cluster, settings.clickhouse_replica_path,
                          settings.clickhouse_replica_name)


def applied_versions(store: Store, cluster: schema.Cluster | None = None) -> set[int]:
    for statement in schema.migrations_table_ddl(store.database, cluster):
        store.command(statement)
    rows = store.query(f"SELECT version FROM `{store.database}`.schema_migrations").rows
    return {int(row[0]) for row in rows}


def migrate(store: Store, cluster: schema.Cluster | None = None) -> list[int]:
    """Apply every migration not applied yet, in order; return the versions applied.
    ``cluster``: the cluster form of each (``ON CLUSTER``, replicated local tables and
    Distributed tables, see ``schema.Cluster``).

    Statements are idempotent (``IF NOT EXISTS``), so a migration interrupted half-way is
    safely re-run.
    """
    done = applied_versions(store, cluster)
    applied = []
    for migration in schema.MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.sql(store.database, cluster):
            store.command(statement)
        store.command(schema.record_migration_sql(store.database, cluster),
                      {"v": migration.version, "d": migration.description})
        applied.append(migration.version)
    return applied
