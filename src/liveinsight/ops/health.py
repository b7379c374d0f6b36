"""What a node's health is made of: pure functions of its parts' state (``api/ops.py`` serves
them as ``/health`` and ``/health/detailed``)."""

from __future__ import annotations

from typing import Any

from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.ingest.writer import BatchWriter


def status(writer: BatchWriter, wal: WriteAheadLog) -> tuple[str, dict[str, Any]]:
    """``("ok" | "degraded", checks)``: degraded while inserts into the store fail (events
    wait in the log meanwhile); the checks name the store's state and error and the log's
    size and quota."""
    checks: dict[str, Any] = {
        "store": "ok" if writer.healthy else "failing",
        "write_ahead_log_bytes": wal.total_bytes,
        "write_ahead_log_quota_bytes": wal.max_bytes,
    }
    if writer.last_error and not writer.healthy:
        checks["store_error"] = writer.last_error
    return ("ok" if writer.healthy else "degraded"), checks
