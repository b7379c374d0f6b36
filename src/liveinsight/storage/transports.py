"""Choosing the transport: chDB by default, ClickHouse over HTTP when a URL is set."""

from __future__ import annotations

from liveinsight.settings import Settings
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.http import HttpStore
from liveinsight.storage.protocol import Store


def open_store(settings: Settings) -> Store:
    """The store the settings ask for: chDB by default, ClickHouse over HTTP with a URL."""
    if settings.clickhouse_url:
        return HttpStore(settings.clickhouse_url, settings.clickhouse_database)
    return EmbeddedStore(settings.chdb_path, settings.clickhouse_database,
                         backup_root=settings.backup_path)
