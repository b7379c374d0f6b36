"""ClickHouse storage: one protocol, two transports (embedded chDB, ClickHouse over HTTP)."""

from __future__ import annotations

from liveinsight.storage.protocol import QueryResult, Store, StoreError, StoreUnavailable

__all__ = ["QueryResult", "Store", "StoreError", "StoreUnavailable"]
