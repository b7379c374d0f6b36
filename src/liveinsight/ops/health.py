"""What a node's health is made of: pure functions of its parts' state (``api/ops.py`` serves
them as ``/health`` and ``/health/detailed``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.ingest.writer import BatchWriter


def status(writer: BatchWriter, wal: WriteAheadLog,
           shared: Mapping[str, str | None] | None = None) -> tuple[str, dict[str, Any]]:
    """``("ok" | "degraded", checks)``: degraded while inserts into the store fail (events
    wait in the log meanwhile), or while a state meant to be shared through Redis is kept in
    this node only (``shared``: state name → why it is node-local, or None when shared);
    the checks name the store's state and error, the log's size and quota, and each shared
    state as ``"shared"`` or ``"node-local: <why>"``."""
    checks: dict[str, Any] = {
        "store": "ok" if writer.healthy else "failing",
        "write_ahead_log_bytes": wal.total_bytes,
        "write_ahead_log_quota_bytes": wal.max_bytes,
    }
    if writer.last_error and not writer.healthy:
        checks["store_error"] = writer.last_error
    local = False
    for name, why in (shared or {}).items():
        checks[name] = "shared" if why is None else f"node-local: {why}"
        local = local or why is not None
    return ("ok" if writer.healthy and not local else "degraded"), checks
