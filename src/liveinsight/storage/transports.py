"""Choosing the transport: chDB by default, ClickHouse over HTTP when a URL is set."""

from __future__ import annotations

from liveinsight.ops.breaker import Breaker
from liveinsight.settings import Settings
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.http import HttpStore
from liveinsight.storage.protocol import Store


def open_store(settings: Settings, breaker: Breaker | None = None) -> Store:
    """The store the settings ask for: chDB by default, ClickHouse over HTTP with a URL
    (its calls through ``breaker``, if given; the embedded engine has none: it is in this
    process, with no connection to wait for or to refuse)."""
    if settings.clickhouse_url:
        return HttpStore(settings.clickhouse_url, settings.clickhouse_database,
                         breaker=breaker)
    return EmbeddedStore(settings.chdb_path, settings.clickhouse_database,
                         backup_root=settings.backup_path)
