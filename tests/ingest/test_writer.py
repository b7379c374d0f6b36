"""The batch writer against the real embedded ClickHouse (chDB in a temp dir): ingest, dedup
on replay after a crash, an outage under load, back-off, health, graceful stop.

No assertion measures elapsed time: the back-off schedule is checked as a pure function, and
the tests about retries and deadlines run the writer on a fake clock (tests/ingest/fake_time.py)
whose waits the test grants one at a time, asserting the delays the writer asked for exactly.
Waiting for the real threads to get somewhere uses ``wait_until`` with generous timeouts.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
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
from liveinsight.ingest.backoff import FIRST_DELAY_S, backoff_delays, next_backoff
from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.ingest.writer import BatchWriter
from liveinsight.ops.dependencies import Dependencies
from liveinsight.ops.health import Checks
from liveinsight.ops.metrics import Metrics
from liveinsight.storage import QueryResult, Store, StoreUnavailable, schema
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate
from liveinsight.types import EventRow, SessionRow
from tests.conftest import make_client, make_site, stored_events, svc_of
from tests.ingest.fake_time import FakeTime
from tests.support import wait_until

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


WAIT_S = 60.0  # how long a test waits for a real thread to get somewhere (never reached)


class OutageStore:
    """The real store behind an outage: ``ingest_segment`` raises ``StoreUnavailable`` until
    :meth:`restore`, then delegates. ``attempts`` holds the ``clock()`` time of every call."""

    def __init__(self, inner: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.database = inner.database
        self.clock = clock
        self.down = True
        self.attempts: list[float] = []

    def restore(self) -> None:
        self.down = False

    def ingest_segment(self, path: Path, token: str, targets: Any = None) -> None:
        self.attempts.append(self.clock())
        if self.down:
            raise StoreUnavailable("ClickHouse is down (test outage)")
        self.inner.ingest_segment(path, token, targets)

    def query(self, sql: str, params: Mapping[str, Any] | None = None, *,
              timeout: float | None = None) -> QueryResult:
        return self.inner.query(sql, params, timeout=timeout)

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.inner.command(sql, params)

    def ping(self) -> bool:
        return not self.down and self.inner.ping()

    def close(self) -> None:
        """The inner store belongs to the fixture."""


def _health_client(writer: BatchWriter, wal: WriteAheadLog, store: Any) -> TestClient:
    """The real ops router over this writer and log (the rest of the app is not needed)."""
    app = FastAPI()
    app.include_router(ops.router)
    def ping() -> None:
        if not store.ping():
            raise ConnectionError("the store did not answer SELECT 1")

    deps = Dependencies()
    deps.register("clickhouse", kind="clickhouse", check=ping, required=True)
    app.state.services = SimpleNamespace(
        writer=writer, wal=wal, store=store, metrics=Metrics(), node_id=NODE, cities=None,
        started_at=datetime.now(UTC), health_checks=Checks(deps, max_age=0),
        settings=SimpleNamespace(metrics_token="t", redis_url=None, data_dir=wal.directory))
    return TestClient(app, headers={"authorization": "Bearer t"})


# --- the back-off schedule (a pure function) ------------------------------------------------


def test_back_off_starts_at_first_doubles_and_stays_at_the_cap() -> None:
    delays = list(itertools.islice(backoff_delays(cap=30.0), 12))
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0]
    assert list(itertools.islice(backoff_delays(cap=0.4), 5)) == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert list(itertools.islice(backoff_delays(cap=0.3), 4)) == [0.1, 0.2, 0.3, 0.3]
    assert list(itertools.islice(backoff_delays(cap=10, first=1.5), 5)) == [1.5, 3, 6, 10, 10]


def test_a_cap_below_the_first_delay_wins() -> None:
    assert list(itertools.islice(backoff_delays(cap=0.05), 3)) == [0.05, 0.05, 0.05]


def test_next_backoff_from_nothing_is_the_first_delay_then_doubles_up_to_the_cap() -> None:
    assert FIRST_DELAY_S == 0.1
    assert next_backoff(0.0, 30.0) == 0.1  # the first failure, or the first after a success
    assert next_backoff(0.1, 30.0) == 0.2
    assert next_backoff(0.05, 30.0) == 0.1  # never below the first delay
    assert next_backoff(0.3, 0.4) == 0.4
    assert next_backoff(30.0, 30.0) == 30.0
    assert next_backoff(0.0, 30.0, first=2.0) == 2.0


# --- the flush timer -----------------------------------------------------------------------


def test_the_open_segment_is_due_when_full_or_when_its_first_row_is_flush_s_old(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    fake = FakeTime(start=100.0)
    with _wal(tmp_path, clock=fake.clock) as wal:
        writer = BatchWriter(wal, store, node_id=NODE, batch_rows=10, flush_s=0.5,
                             clock=fake.clock)
        assert not writer.rotation_due  # empty: never due, however long
        wal.append(_lines("/t/1"), 1)
        fake.advance(0.25)
        assert not writer.rotation_due
        wal.append(_lines("/t/2"), 1)  # the age is the first row's
        fake.advance(0.125)
        assert wal.oldest_age_s == 0.375 and not writer.rotation_due
        fake.advance(0.125)
        assert wal.oldest_age_s == 0.5 and writer.rotation_due
        wal.rotate()
        assert not writer.rotation_due
        wal.append(_lines(*(f"/t/b{i}" for i in range(10))), 10)
        assert wal.oldest_age_s == 0.0 and writer.rotation_due  # a full batch: due at once


def test_after_a_quiet_flush_s_a_new_row_is_due_at_once_then_one_close_per_flush_s(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    """Sparse traffic is stored in the time of an insert (realtime's promise of 1 s), while
    steady traffic is still closed at most once per ``flush_s``, in batches."""
    fake = FakeTime(start=100.0)
    with _wal(tmp_path, clock=fake.clock) as wal:
        writer = BatchWriter(wal, store, node_id=NODE, batch_rows=1000, flush_s=0.5,
                             clock=fake.clock, sleep=fake.sleep)
        fake.advance(0.5)  # quiet since the writer started
        wal.append(_lines("/q/1"), 1)
        assert wal.oldest_age_s == 0.0 and writer.rotation_due  # at once
        assert writer.flush(timeout=10)  # closes and stores it
        wal.append(_lines("/q/2"), 1)  # right after a close: waits
        fake.advance(0.375)
        assert not writer.rotation_due
        fake.advance(0.125)
        assert writer.rotation_due
        assert writer.flush(timeout=10)
        fake.advance(0.25)  # steady traffic: a row 0.25 s after the last close...
        wal.append(_lines("/q/3"), 1)
        fake.advance(0.125)
        assert not writer.rotation_due
        fake.advance(0.125)  # ...is due 0.5 s after that close, when it is 0.25 s old
        assert wal.oldest_age_s == 0.25 and writer.rotation_due
    assert _stored(store) == ["/q/1", "/q/2"]


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
            wait_until(lambda: wal.pending_rows == 0 and wal.closed_segments() == []
                       and len(_stored(store)) == 50, WAIT_S, "all 50 rows stored")
            assert _stored(store) == sorted(markers)
            assert _stored(store, "sessions", "entry_page") == sorted(markers)
            assert wal.total_bytes == 0
            assert writer.healthy and ingested and writer.ingested_segments == len(ingested)
        finally:
            writer.stop()


def test_the_ingest_duration_reported_is_measured_on_the_writers_clock(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    fake = FakeTime(start=7.0)
    ingested: list[float] = []
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, store, node_id=NODE, clock=fake.clock, sleep=fake.sleep,
                             on_ingested=lambda _seg, seconds: ingested.append(seconds))
        wal.append(_lines("/d/1"), 1)
        assert writer.flush(timeout=10)
    assert ingested == [0.0]  # the fake clock did not move during the insert
    assert fake.sleeps == []  # the store took it at the first attempt
    assert _stored(store) == ["/d/1"]


def test_a_full_batch_is_ingested_before_the_flush_interval(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, store, node_id=NODE, batch_rows=10, flush_s=3600)
        writer.start()
        try:
            wal.append(_lines(*(f"/b/{i}" for i in range(10))), 10)
            writer.nudge()
            wait_until(lambda: len(_stored(store)) == 10, WAIT_S, "the full batch stored")
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


def _back_off_waits(fake: FakeTime, count: int) -> None:
    """Wait (for real) until the writer has begun its ``count``-th back-off wait."""
    wait_until(lambda: len(fake.waits) >= count, WAIT_S, f"back-off wait {count}")
    assert len(fake.waits) == count, fake.waits


def test_an_outage_under_load_loses_nothing_duplicates_nothing_and_reports_degraded(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    retry_max_s, failed_tries = 0.4, 7
    fake = FakeTime()
    outage = OutageStore(store, clock=fake.clock)
    acknowledged: list[list[str]] = [[], []]
    stop_load = threading.Event()

    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, outage, node_id=NODE, flush_s=0.05, retry_max_s=retry_max_s,
                             clock=fake.clock, wait=fake.wait, sleep=fake.sleep)

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
        try:
            with _health_client(writer, wal, outage) as client:
                # While the store is down, each failed attempt is followed by exactly one
                # back-off wait, which returns only when the test grants it: the writer
                # cannot spin, and the attempts are counted exactly.
                for tries in range(1, failed_tries + 1):
                    _back_off_waits(fake, tries)
                    assert len(outage.attempts) == tries
                    assert not writer.healthy and writer.failures == tries
                    assert client.get("/health").json()["status"] == "degraded"
                    if tries < failed_tries:
                        fake.release()
                assert fake.waits == [0.1, 0.2, 0.4, 0.4, 0.4, 0.4, 0.4]
                assert fake.waits == list(
                    itertools.islice(backoff_delays(cap=retry_max_s), failed_tries))
                # Each retry came exactly one back-off after the one before (on the fake
                # clock; approx only for the float sums of the clock's readings).
                gaps = [b - a for a, b in itertools.pairwise(outage.attempts)]
                assert gaps == pytest.approx(fake.waits[:-1])
                detailed = client.get("/health/detailed").json()
                assert detailed["checks"]["store"] == "failing"

                wait_until(lambda: min(map(len, acknowledged)) >= 100, WAIT_S, "some load")
                stop_load.set()
                for w in workers:
                    w.join()
                outage.restore()
                fake.release()  # the retry after the last wait succeeds
                wait_until(lambda: wal.closed_segments() == [] and wal.pending_rows == 0
                           and writer.healthy, WAIT_S, "the backlog ingested")
                assert client.get("/health").json()["status"] == "ok"
                detailed = client.get("/health/detailed").json()
                assert detailed["status"] == "ok" and detailed["checks"]["store"] == "ok"
        finally:
            stop_load.set()
            for w in workers:
                w.join()
            fake.close()
            writer.stop(flush=True)
        assert wal.total_bytes == 0
        assert len(fake.waits) == failed_tries  # no failure after the store came back

    acked = acknowledged[0] + acknowledged[1]
    assert len(acked) >= 200
    stored = _stored(store)
    assert len(stored) == len(set(stored)), "duplicates"
    assert stored == sorted(acked)
    assert writer.failures == 0 and writer.last_error is not None


def test_a_success_starts_the_back_off_over(tmp_path: Path, store: EmbeddedStore) -> None:
    fake = FakeTime()
    outage = OutageStore(store, clock=fake.clock)
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, outage, node_id=NODE, flush_s=0.02, retry_max_s=30,
                             clock=fake.clock, wait=fake.wait, sleep=fake.sleep)
        writer.start()
        try:
            wal.append(_lines("/o/1"), 1)
            for tries in range(1, 4):
                _back_off_waits(fake, tries)
                if tries < 3:
                    fake.release()
            outage.restore()
            fake.release()
            wait_until(lambda: _stored(store) == ["/o/1"], WAIT_S, "/o/1 stored")
            outage.down = True  # a second outage
            wal.append(_lines("/o/2"), 1)
            _back_off_waits(fake, 4)
            assert fake.waits == [0.1, 0.2, 0.4, 0.1]
            outage.restore()
            fake.release()
            wait_until(lambda: writer.healthy and wal.total_bytes == 0, WAIT_S, "/o/2 stored")
        finally:
            fake.close()
            writer.stop()
    assert _stored(store) == ["/o/1", "/o/2"]


def test_health_detailed_names_the_store_error_while_degraded(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    outage = OutageStore(store)  # the writer's real clock and waits
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, outage, node_id=NODE, flush_s=0.02, retry_max_s=0.2)
        writer.start()
        try:
            wal.append(_lines("/down"), 1)
            wait_until(lambda: not writer.healthy, WAIT_S, "the writer degraded")
            with _health_client(writer, wal, outage) as client:
                assert client.get("/health").json()["status"] == "degraded"
                body = client.get("/health/detailed").json()
                assert body["checks"]["store"] == "failing"
                assert "test outage" in body["checks"]["store_error"]
                assert body["checks"]["write_ahead_log_bytes"] > 0
                assert body["checks"]["store_ping"] is False
                outage.restore()
                wait_until(lambda: writer.healthy, WAIT_S, "the writer healthy again")
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


def test_stop_while_the_store_is_down_ends_at_its_timeout_and_keeps_the_rows(
    tmp_path: Path, store: EmbeddedStore
) -> None:
    timeout = 0.5
    fake = FakeTime()
    outage = OutageStore(store, clock=fake.clock)
    with _wal(tmp_path) as wal:
        writer = BatchWriter(wal, outage, node_id=NODE, flush_s=3600,
                             clock=fake.clock, wait=fake.wait, sleep=fake.sleep)
        writer.start()
        wal.append(_lines("/k/1", "/k/2"), 2)
        fake.close()  # a back-off wait, if the thread got to one, ends as "stopped"
        writer.stop(flush=True, timeout=timeout)
        # The flush retried on the back-off schedule of the writer's clock, its last pause
        # cut short at the deadline, and gave up there; every attempt was followed by a pause.
        assert fake.sleeps == pytest.approx([0.1, 0.2, 0.2])
        assert fake.clock() == pytest.approx(timeout)
        assert len(outage.attempts) == len(fake.sleeps) + len(fake.waits)
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
        outage = OutageStore(svc.store)
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
                wait_until(lambda: not svc.writer.healthy, WAIT_S, "the writer degraded")
                assert client.get("/health").json()["status"] == "degraded"
        assert svc.wal.total_bytes > 0
        outage.restore()
        wait_until(lambda: svc.writer.healthy and not svc.wal.closed_segments(), WAIT_S,
                   "the backlog ingested")
        assert client.get("/health").json()["status"] == "ok"
        assert sorted(r["pathname"] for r in stored_events(client)) == sorted(acked)
