"""ClickHouse storage: one protocol, two transports (embedded chDB, ClickHouse over HTTP)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveinsight.storage.protocol import QueryResult, Store, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from liveinsight.settings import Settings

__all__ = ["QueryResult", "Store", "StoreError", "StoreUnavailable", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store the settings ask for: chDB by default, ClickHouse over HTTP with a URL."""
    if settings.clickhouse_url:
        from liveinsight.storage.http import HttpStore

        return HttpStore(settings.clickhouse_url, settings.clickhouse_database)
    from liveinsight.storage.embedded import EmbeddedStore

    return EmbeddedStore(settings.chdb_path, settings.clickhouse_database)
