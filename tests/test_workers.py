"""``workers.ingest_unclaimed``: the slot of a worker no longer run is emptied into the
store — its events' log and its log records' and spans' own logs — before it is removed."""

from __future__ import annotations

from pathlib import Path

import orjson

from liveinsight.ingest.wal import WriteAheadLog, segment_paths
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate
from liveinsight.workers import ingest_unclaimed

LOG_ROW = {"_k": "l", "timestamp": "2026-12-05 10:00:00.000", "level": "error",
           "logger": "liveinsight.test", "message": "left in a slot", "fields": {},
           "retention_days": 14}
SPAN_ROW = {"_k": "t", "timestamp": "2026-12-05 10:00:00.000000",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
            "parent_id": "", "name": "GET /health", "kind": "server", "route": "/health",
            "method": "GET", "status": 200, "error": 0, "duration_ms": 1.5, "node": "n",
            "sample_ratio": 0.01, "attributes": {}, "retention_days": 7}


def _logged(directory: Path, row: dict[str, object]) -> None:
    wal = WriteAheadLog(directory, fsync="never")
    wal.append(orjson.dumps(row) + b"\n", 1)
    wal.close()


def test_a_removed_slots_log_records_and_spans_reach_their_tables(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "chdb", "liveinsight")
    try:
        migrate(store)
        slot = tmp_path / "workers" / "1"
        slot.mkdir(parents=True)
        (slot / "node_id").write_text("abc123")
        _logged(slot / "logs-wal", LOG_ROW)
        _logged(slot / "spans-wal", SPAN_ROW)
        assert ingest_unclaimed(tmp_path / "workers", 1, store) >= 2
        assert store.query("SELECT message FROM liveinsight.logs").rows == [["left in a slot"]]
        assert store.query("SELECT trace_id, name FROM liveinsight.spans").rows == [
            [SPAN_ROW["trace_id"], "GET /health"]]
        assert not slot.exists()
        # a slot a run still uses (below ``workers``) is left alone
        kept = tmp_path / "workers" / "0"
        kept.mkdir()
        _logged(kept / "spans-wal", SPAN_ROW)
        ingest_unclaimed(tmp_path / "workers", 1, store)
        assert segment_paths(kept / "spans-wal")
    finally:
        store.close()
