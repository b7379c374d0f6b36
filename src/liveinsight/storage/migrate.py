"""Applying the ClickHouse schema migrations (``liveinsight migrate`` and app start)."""

from __future__ import annotations

from liveinsight.storage import schema
from liveinsight.storage.protocol import Store


def applied_versions(store: Store) -> set[int]:
    store.command(schema.MIGRATIONS_TABLE_DDL.format(db=store.database))
    rows = store.query(f"SELECT version FROM `{store.database}`.schema_migrations").rows
    return {int(row[0]) for row in rows}


def migrate(store: Store) -> list[int]:
    """Apply every migration not applied yet, in order; return the versions applied.

    Statements are idempotent (``IF NOT EXISTS``), so a migration interrupted half-way is
    safely re-run.
    """
    done = applied_versions(store)
    applied = []
    for migration in schema.MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements(store.database):
            store.command(statement)
        store.command(
            f"INSERT INTO `{store.database}`.schema_migrations (version, description) "
            "VALUES ({v:UInt32}, {d:String})",
            {"v": migration.version, "d": migration.description},
        )
        applied.append(migration.version)
    return applied
