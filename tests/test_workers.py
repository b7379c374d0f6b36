"""``liveinsight.workers``: the logs of slots no worker claims (a run with fewer workers than
the last, or one process after workers) are ingested — events and the log records', audit
copies' and spans' own logs — and the slot removed; a slot another process holds, or one
below the run's worker count, is left."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from liveinsight.ingest.wal import WriteAheadLog, segment_paths
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate
from liveinsight.workers import ingest_unclaimed

EVENT = b'{"_k":"e","timestamp":"2026-12-05 04:00:00.000","site_id":1,"name":"pageview",' \
        b'"pathname":"/%d","visitor_id":7,"session_id":9}\n'
LOG = b'{"_k":"l","timestamp":"2026-12-05 04:00:00.000","level":"info","message":"m%d",' \
      b'"retention_days":3650}\n'


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    value = EmbeddedStore(tmp_path / "chdb", "liveinsight")
    migrate(value)
    yield value
    value.close()


def _slot(root: Path, number: int, events: int, logs: int) -> Path:
    slot = root / str(number)
    slot.mkdir(parents=True)
    (slot / "node_id").write_text(f"node{number}")
    for name, line, count in (("wal", EVENT, events), ("logs-wal", LOG, logs)):
        wal = WriteAheadLog(slot / name, fsync="always")
        for i in range(count):
            wal.append(line % i, 1)
        wal.close()
    return slot


def _count(store: EmbeddedStore, table: str) -> int:
    return int(store.query(f"SELECT count() FROM liveinsight.{table}").scalar())


def test_unclaimed_slots_are_ingested_and_removed(tmp_path: Path, store: EmbeddedStore) -> None:
    root = tmp_path / "workers"
    kept = _slot(root, 0, events=2, logs=1)
    gone = [_slot(root, 1, events=3, logs=2), _slot(root, 2, events=0, logs=1)]
    assert ingest_unclaimed(root, 1, store) == 3  # slot 1: 2 segments, slot 2: 1
    assert _count(store, "events") == 3 and _count(store, "logs") == 3
    assert not any(slot.exists() for slot in gone)
    assert kept.exists()  # claimed by this run's worker 0: its own to ingest
    # nothing is stored twice when it runs again, and one process takes slot 0 too
    assert ingest_unclaimed(root, 1, store) == 0
    ingest_unclaimed(root, 0, store)
    assert _count(store, "events") == 5 and _count(store, "logs") == 4
    assert not kept.exists()


def test_a_slot_another_process_holds_is_left_alone(tmp_path: Path,
                                                    store: EmbeddedStore) -> None:
    root = tmp_path / "workers"
    slot = _slot(root, 3, events=1, logs=0)
    with (slot / "worker.lock").open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert ingest_unclaimed(root, 0, store) == 0
    assert slot.exists() and _count(store, "events") == 0


LOG_ROW = {"_k": "l", "timestamp": "2026-12-05 10:00:00.000", "level": "error",
           "logger": "liveinsight.test", "message": "left in a slot", "fields": {},
           "retention_days": 3650}
SPAN_ROW = {"_k": "t", "timestamp": "2026-12-05 10:00:00.000000",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
            "parent_id": "", "name": "GET /health", "kind": "server", "route": "/health",
            "method": "GET", "status": 200, "error": 0, "duration_ms": 1.5, "node": "n",
            "sample_ratio": 0.01, "attributes": {}, "retention_days": 3650}


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
