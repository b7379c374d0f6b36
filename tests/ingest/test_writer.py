"""The batch writer against the real embedded ClickHouse (chDB in a temp dir): ingest, dedup
on replay after a crash, an outage under load, back-off, health, graceful stop."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from liveinsight.api import ops
from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.ingest.writer import BatchWriter
from liveinsight.ops.metrics import Metrics
from liveinsight.storage import QueryResult, Store, StoreUnavailable, schema
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate
from liveinsight.types import EventRow, SessionRow
from tests.conftest import make_client, make_site, stored_events, svc_of

_ENC = msgspec.json.Encoder()
NODE = "node-a"


def _lines(*markers: str) -> bytes:
    """One event row and one session row per marker, as the ingest service writes them."""
    out = []
    for m in markers:
        vid = abs(hash(m)) % (1 << 63)
        out.append(_ENC.encode(EventRow(
            timestamp="2026-11-20 10:00:00.000", site_id=1, name="pageview", visitor_id=vid,
            session_id=vid, hostname="example.com", pathname=m)))
        out.append(_ENC.encode(SessionRow(
            site_id=1, session_id=vid, visitor_id=vid, sign=1, version=1,
            start="2026-11-20 10:00:00.000", timestamp="2026-11-20 10:00:00.000",
            hostname="example.com", entry_page=m, exit_page=m, pageviews=1, events=1,
            duration=0, is_bounce=1)))
    return b"\n".join(out) + b"\n"


def _stored(store: Any, table: str = "events", column: str = "pathname") -> list[str]:
    rows = store.query(f"SELECT {column} FROM `{store.database}`.{table}").rows
    return sorted(r[0] for r in rows)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "chdb", "liveinsight")
    migrate(s)
    yield s
    s.close()


@contextmanager
def _wal(tmp_path: Path, **kw: Any) -> Iterator[WriteAheadLog]:
    wal = WriteAheadLog(tmp_path / "wal", fsync="never", **kw)
    try:
        yield wal
    finally:
        wal.close()


def _wait(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


class OutageStore:
    """The real store behind an outage: ``ingest_segment`` raises ``StoreUnavailable`` until
    ``down_s`` seconds after creation (or until :meth:`restore`), then delegates."""

    def __init__(self, inner: Store, down_s: float) -> None:
        self.inner = inner
        self.database = inner.database
        self.up_at = time.monotonic() + down_s
        self.attempts: list[float] = []

    def restore(self) -> None:
        self.up_at = time.monotonic()

    def ingest_segment(self, path: Path, token: str) -> None:
        now = time.monotonic()
        self.attempts.append(now)
        if now < self.up_at:
            raise StoreUnavailable("ClickHouse is down (test outage)")
        self.inner.ingest_segment(path, token)

    def query(self, sql: str, params: Mapping[str, Any] | None = None, *,
              timeout: float | None = None) -> QueryResult:
        return self.inner.query(sql, params, timeout=timeout)

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.inner.command(sql, params)

    def ping(self) -> bool:
        return time.monotonic() >= self.up_at and self.inner.ping()

    def close(self) -> None:
        """The inner store belongs to the fixture."""


def _health_client(writer: BatchWriter, wal: WriteAheadLog, store: Any) -> TestClient:
    """The real ops router over this writer and log (the rest of the app is not needed)."""
    app = FastAPI()
    app.include_router(ops.router)
    app.state.services = SimpleNamespace(
        writer=writer, wal=wal, store=store, metrics=Metrics(), node_id=NODE,
        started_at=datetime.now(UTC), settings=SimpleNamespace(metrics_token="t"))
    return TestClient(app, headers={"authorization": "Bearer t"})


# --- ingest --------------------------------------------------------------------------------


def test_rows_appended_reach_the_store_and_segments_are_deleted(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    ingested: list[float] = []
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, store, node_id=NODE, flush_s=0.05,
                             on_ingested=lambda _seg, seconds: ingested.append(seconds))
        writer.start()
        try:
            markers = [f"/p/{i}" for i in range(50)]
            for i in range(0, 50, 5):
                wal.append(_lines(*markers[i:i + 5]), 5)
            # A segment is deleted only after both tables took it.
            assert _wait(lambda: wal.pending_rows == 0 and wal.closed_segments() == []
                         and len(_stored(store)) == 50), writer.last_error
            assert _stored(store) == sorted(markers)
            assert _stored(store, "sessions", "entry_page") == sorted(markers)
            assert wal.total_bytes == 0
            assert writer.healthy and ingested and writer.ingested_segments == len(ingested)
        finally:
            writer.stop()


def test_a_full_batch_is_ingested_before_the_flush_interval(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, store, node_id=NODE, batch_rows=10, flush_s=60)
        writer.start()
        try:
            wal.append(_lines(*(f"/b/{i}" for i in range(10))), 10)
            writer.nudge()
            assert _wait(lambda: len(_stored(store)) == 10, timeout=5)
        finally:
            writer.stop()


def test_inserted_parts_reach_the_disk_before_their_segment_is_deleted(
    store: EmbeddedStore,
) -> None:
    for table in ("events", "sessions"):
        ddl = store.query(f"SHOW CREATE TABLE `{store.database}`.{table}").scalar()
        assert "fsync_after_insert = 1" in ddl and "fsync_part_directory = 1" in ddl, table


# --- dedup on replay -----------------------------------------------------------------------


def test_a_segment_inserted_before_a_crash_is_stored_once_on_replay(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    markers = [f"/r/{i}" for i in range(20_000)]
    wal = WriteAheadLog(tmp_path / "wal", fsync="never")
    for i in range(0, len(markers), 1000):
        wal.append(_lines(*markers[i:i + 1000]), 1000)
    segment = wal.rotate()
    assert segment is not None
    # The writer inserted the segment, then the process died before deleting it.
    store.ingest_segment(segment.path, f"{NODE}-{segment.token}")
    wal.close()

    with _wal(tmp_path) as reopened:
        assert [s.path for s in reopened.closed_segments()] == [segment.path]
        writer = BatchWriter(reopened, store, node_id=NODE, flush_s=0.05)
        writer.start()
        writer.stop(flush=True)
        assert reopened.closed_segments() == []
    assert _stored(store) == sorted(markers)
    assert _stored(store, "sessions", "entry_page") == sorted(markers)


def test_a_crash_between_the_two_table_inserts_completes_on_replay(
    tmp_path: Path, store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    markers = [f"/h/{i}" for i in range(100)]
    wal = WriteAheadLog(tmp_path / "wal", fsync="never")
    wal.append(_lines(*markers), 100)
    segment = wal.rotate()
    assert segment is not None
    with monkeypatch.context() as m:  # only the events insert ran before the crash
        m.setattr(schema, "SEGMENT_TARGETS", schema.SEGMENT_TARGETS[:1])
        store.ingest_segment(segment.path, f"{NODE}-{segment.token}")
    assert _stored(store) == sorted(markers)
    assert _stored(store, "sessions", "entry_page") == []
    wal.close()

    with _wal(tmp_path) as reopened:
        writer = BatchWriter(reopened, store, node_id=NODE)
        assert writer.flush(timeout=10)
    assert _stored(store) == sorted(markers)
    assert _stored(store, "sessions", "entry_page") == sorted(markers)


# --- outage --------------------------------------------------------------------------------


def test_an_outage_under_load_loses_nothing_duplicates_nothing_and_reports_degraded(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    down_s, retry_max_s = 1.5, 0.4
    outage = OutageStore(store, down_s)
    acknowledged: list[list[str]] = [[], []]
    stop_load = threading.Event()

    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, outage, node_id=NODE, flush_s=0.05, retry_max_s=retry_max_s)

        def load(n: int) -> None:
            i = 0
            while not stop_load.is_set():
                batch = [f"/load/{n}/{i}/{j}" for j in range(5)]
                wal.append(_lines(*batch), 5)
                acknowledged[n].extend(batch)  # only after the append returned
                i += 1
                time.sleep(0.002)

        writer.start()
        workers = [threading.Thread(target=load, args=(n,)) for n in range(2)]
        for w in workers:
            w.start()
        statuses: list[tuple[float, str]] = []
        with _health_client(writer, wal, outage) as client:
            until = time.monotonic() + down_s + 1.5
            while time.monotonic() < until:
                statuses.append((time.monotonic(), client.get("/health").json()["status"]))
                time.sleep(0.05)
            stop_load.set()
            for w in workers:
                w.join()
            assert _wait(lambda: wal.closed_segments() == [] and writer.healthy), writer.last_error
            detailed = client.get("/health/detailed").json()
            assert detailed["status"] == "ok" and detailed["checks"]["store"] == "ok"
        writer.stop(flush=True)
        assert wal.total_bytes == 0

    acked = acknowledged[0] + acknowledged[1]
    assert len(acked) > 100
    stored = _stored(store)
    assert len(stored) == len(set(stored)), "duplicates"
    assert stored == sorted(acked)

    during = [s for t, s in statuses if t < outage.up_at - 0.3]
    after = [s for t, s in statuses if t > outage.up_at + retry_max_s + 0.5]
    assert "degraded" in during
    assert after and set(after) == {"ok"}

    # Back-off: retries while down get further apart, up to the cap, and do not spin.
    tries = [t for t in outage.attempts if t < outage.up_at]
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert 3 <= len(tries) <= 15, gaps
    assert gaps[0] < gaps[2]
    assert max(gaps) == pytest.approx(retry_max_s, abs=0.25)
    assert writer.failures == 0 and writer.last_error is not None


def test_health_detailed_names_the_store_error_while_degraded(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    outage = OutageStore(store, down_s=3600)
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, outage, node_id=NODE, flush_s=0.02, retry_max_s=0.2)
        writer.start()
        try:
            wal.append(_lines("/down"), 1)
            assert _wait(lambda: not writer.healthy)
            with _health_client(writer, wal, outage) as client:
                assert client.get("/health").json()["status"] == "degraded"
                body = client.get("/health/detailed").json()
                assert body["checks"]["store"] == "failing"
                assert "test outage" in body["checks"]["store_error"]
                assert body["checks"]["write_ahead_log_bytes"] > 0
                assert body["checks"]["store_ping"] is False
                outage.restore()
                assert _wait(lambda: writer.healthy, timeout=5)
                assert client.get("/health").json()["status"] == "ok"
        finally:
            writer.stop()
    assert _stored(store) == ["/down"]


# --- graceful stop -------------------------------------------------------------------------


def test_graceful_stop_flushes_the_open_segment(tmp_path: Path, store: EmbeddedStore) -> None:
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, store, node_id=NODE, batch_rows=1 << 30, flush_s=3600)
        writer.start()
        wal.append(_lines(*(f"/s/{i}" for i in range(30))), 30)
        assert _stored(store) == []  # the timer has not fired: only the stop flushes
        writer.stop(flush=True, timeout=10)
        assert wal.total_bytes == 0 and wal.pending_rows == 0
    assert _stored(store) == sorted(f"/s/{i}" for i in range(30))


def test_stop_while_the_store_is_down_keeps_the_rows_for_the_next_start(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    outage = OutageStore(store, down_s=3600)
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, outage, node_id=NODE, flush_s=3600)
        writer.start()
        wal.append(_lines("/k/1", "/k/2"), 2)
        started = time.monotonic()
        writer.stop(flush=True, timeout=0.5)
        assert time.monotonic() - started < 5
        assert not writer.healthy
        assert len(wal.closed_segments()) == 1
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, store, node_id=NODE)
        assert writer.flush(timeout=10)
    assert _stored(store) == ["/k/1", "/k/2"]


# --- the whole app ---------------------------------------------------------------------------


def test_the_app_keeps_accepting_while_the_store_is_down(tmp_path: Path) -> None:
    agent = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/126.0.0.0 Safari/537.36")
    with make_client(tmp_path, writer_retry_max_seconds=0.3) as client:
        make_site(client, "example.com")
        svc = svc_of(client)
        outage = OutageStore(svc.store, down_s=3600)
        svc.writer.store = outage
        acked = []
        for i in range(60):
            marker = f"/app/{i}"
            response = client.post(
                "/api/event", headers={"user-agent": agent, "content-type": "text/plain"},
                json={"n": "pageview", "u": f"https://example.com{marker}", "d": "example.com"})
            assert response.status_code == 202
            acked.append(marker)
            if i == 30:
                assert _wait(lambda: not svc.writer.healthy)
                assert client.get("/health").json()["status"] == "degraded"
        assert svc.wal.total_bytes > 0
        outage.restore()
        assert _wait(lambda: svc.writer.healthy and not svc.wal.closed_segments())
        assert client.get("/health").json()["status"] == "ok"
        assert sorted(r["pathname"] for r in stored_events(client)) == sorted(acked)
