"""The batch writer while the store keeps failing and rows keep arriving: the insert attempts
follow the back-off schedule whatever the append rate (in the background thread and in a
synchronous flush), a circuit breaker's refusal is backed off from like any failure, the
first retry after the store returns goes through, and the failures are logged as a few
summary lines, not one per attempt (the product's own log records reach the store through
a writer like this one).

The store is a fake that fails on demand and counts the attempts; the log is the real one.
Time is the fake clock of tests/ingest/fake_time.py except in one test, which runs the real
back-off wait and checks only lower bounds (a wait never ends early; a slow machine only
makes the gaps longer).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from liveinsight.ingest.backoff import backoff_delays
from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.ingest.writer import FAILURE_LOG_EVERY_S, BatchWriter
from liveinsight.ops.breaker import Breaker, DependencyDown, not_tried
from liveinsight.storage.protocol import StoreUnavailable
from tests.ingest.fake_time import FakeTime
from tests.support import wait_until

WAIT_S = 60.0  # how long a test waits for the writer's thread to get somewhere
ROW = b'{"pathname":"/x"}\n'


class FailingStore:
    """Fails every insert while ``down``; records the ``clock()`` time of each attempt
    and the tokens of the inserts that succeeded. With ``breaker``, each insert goes through
    it as the HTTP transport's do (a refusal: ``StoreUnavailable`` "not tried"), and
    ``tried`` holds the times of the attempts that reached the server."""

    database = "test"

    def __init__(self, clock: Callable[[], float], breaker: Breaker | None = None) -> None:
        self.clock = clock
        self.breaker = breaker
        self.down = True
        self.attempts: list[float] = []
        self.tried: list[float] = []
        self.stored: list[str] = []

    def ingest_segment(self, path: Path, token: str, targets: Any = None) -> None:
        self.attempts.append(self.clock())
        if self.breaker is None:
            self._send(token)
            return
        try:
            self.breaker.call(lambda: self._send(token))
        except DependencyDown as exc:
            raise StoreUnavailable(not_tried(exc)) from exc

    def _send(self, token: str) -> None:
        self.tried.append(self.clock())
        if self.down:
            raise StoreUnavailable("connection refused (test outage)")
        self.stored.append(token)

    def ping(self) -> bool:
        return not self.down


@contextmanager
def _writer(tmp_path: Path, store: FailingStore, fake: FakeTime | None, **kw: Any
            ) -> Iterator[tuple[BatchWriter, WriteAheadLog]]:
    wal = WriteAheadLog(tmp_path / "wal", fsync="never")
    timing = {} if fake is None else {"clock": fake.clock, "wait": fake.wait,
                                      "sleep": fake.sleep}
    writer = BatchWriter(wal, store, node_id="n", flush_s=0.01, **timing, **kw)  # type: ignore[arg-type]
    try:
        yield writer, wal
    finally:
        if fake is not None:
            fake.close()
        writer.stop(flush=False, timeout=10)
        wal.close()


def _append(writer: BatchWriter, wal: WriteAheadLog, frames: int) -> None:
    """Rows arriving as the shippers and the collector append them: each with a nudge."""
    for _ in range(frames):
        wal.append(ROW, 1)
        writer.nudge()


def _waits(fake: FakeTime, count: int) -> None:
    wait_until(lambda: len(fake.waits) >= count, WAIT_S, f"back-off wait {count}")


def test_appends_during_an_outage_add_no_attempt_to_the_back_off_schedule(
        tmp_path: Path) -> None:
    fake = FakeTime()
    store = FailingStore(fake.clock)
    with _writer(tmp_path, store, fake, retry_max_s=0.8) as (writer, wal):
        _append(writer, wal, 1)
        writer.start()
        for tries in range(1, 9):
            _waits(fake, tries)
            _append(writer, wal, 200)  # a burst while the writer waits out its back-off
            assert len(store.attempts) == tries  # one attempt per back-off wait, no more
            fake.release()
        _waits(fake, 9)
        assert fake.waits == list(itertools.islice(backoff_delays(cap=0.8), 9))
        gaps = [b - a for a, b in itertools.pairwise(store.attempts)]
        assert gaps == pytest.approx(fake.waits[:-1])  # each retry one back-off after the last
        assert writer.failures == 9 and not writer.healthy
        pending = wal.pending_segments
        assert pending >= 2  # the bursts are kept, in segments of their own

        store.down = False
        fake.release()  # the retry after the wait in progress is the first after the return
        wait_until(lambda: writer.healthy and not wal.closed_segments(), WAIT_S, "recovered")
        assert len(store.stored) == len(store.attempts) - 9 >= pending  # each one succeeded
        assert len(fake.waits) == 9  # no failure after the store came back


def test_the_real_back_off_wait_is_not_cut_short_by_rows_arriving(tmp_path: Path) -> None:
    store = FailingStore(time.monotonic)
    stop = threading.Event()
    with _writer(tmp_path, store, None, retry_max_s=0.4) as (writer, wal):

        appended = [0]

        def load() -> None:
            while not stop.is_set():
                _append(writer, wal, 1)
                appended[0] += 1
                time.sleep(0.001)

        sender = threading.Thread(target=load)
        sender.start()
        writer.start()
        try:
            wait_until(lambda: len(store.attempts) >= 6, WAIT_S, "six attempts")
        finally:
            stop.set()
            sender.join()
        attempts = list(store.attempts)
        # Appends came every millisecond (hundreds during the outage); attempts came no
        # sooner than each back-off after the one before (waits end late, never early).
        delays = backoff_delays(cap=0.4)
        for (a, b), delay in zip(itertools.pairwise(attempts), delays, strict=False):
            assert b - a >= delay * 0.95, (attempts, delay)
        assert appended[0] > len(attempts) and wal.total_bytes > 0  # all kept


def test_a_flush_while_the_store_is_down_pauses_on_the_back_off_schedule(
        tmp_path: Path) -> None:
    fake = FakeTime()
    store = FailingStore(fake.clock)
    with _writer(tmp_path, store, fake, retry_max_s=1.0) as (writer, wal):
        _append(writer, wal, 50)
        assert writer.flush(timeout=3.0) is False
        # 0.1 + 0.2 + 0.4 + 0.8 + 1.0, then the last pause cut at the deadline: six attempts
        # in three seconds, where a fixed 50 ms pause made sixty.
        assert fake.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 0.5])
        assert len(store.attempts) == 6
        assert fake.clock() == pytest.approx(3.0)
        assert wal.pending_segments == 1  # kept for later
        store.down = False
        assert writer.flush(timeout=3.0) is True  # the first attempt after the return
        assert len(store.attempts) == 7 and len(store.stored) == 1


def test_a_breaker_refusal_is_backed_off_from_and_recovery_needs_no_extra_wait(
        tmp_path: Path) -> None:
    fake = FakeTime()
    breaker = Breaker("clickhouse", failures=2, reset_after=1.0, clock=fake.clock)
    store = FailingStore(fake.clock, breaker)
    with _writer(tmp_path, store, fake, retry_max_s=0.4) as (writer, wal):
        _append(writer, wal, 1)
        writer.start()
        _waits(fake, 1)
        fake.release(11)
        _waits(fake, 12)
        # Refused attempts ("not tried") were waited out on the same schedule as failed ones.
        assert fake.waits == list(itertools.islice(backoff_delays(cap=0.4), 12))
        assert len(store.attempts) == 12
        assert len(store.tried) < len(store.attempts)  # the breaker refused some
        assert "circuit breaker open" in (writer.last_error or "")

        store.down = False
        returned_at = fake.clock()
        fake.release(10)
        wait_until(lambda: writer.healthy and not wal.closed_segments(), WAIT_S, "recovered")
        # Stored at the breaker's first trial after the return: at most its pause plus one
        # back-off after the store came back (on the fake clock).
        assert store.attempts[-1] - returned_at <= 1.0 + 0.4 + 1e-9
        assert len(store.stored) == 1 and breaker.state().state == "closed"


def test_failures_are_logged_once_then_summarised_not_per_attempt(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="liveinsight.writer")
    fake = FakeTime()
    store = FailingStore(fake.clock)
    with _writer(tmp_path, store, fake, retry_max_s=5.0) as (writer, wal):
        _append(writer, wal, 1)
        writer.start()
        _waits(fake, 1)
        fake.release(199)
        _waits(fake, 200)
        assert len(store.attempts) == 200
        outage_s = store.attempts[-1] - store.attempts[0]  # about 17 minutes, fake
        lines = [r.getMessage() for r in caplog.records if r.name == "liveinsight.writer"]
        assert "store insert failed: connection refused (test outage)" in lines[0]
        assert len(lines) <= 2 + outage_s // FAILURE_LOG_EVERY_S < 20  # not 200
        summaries = lines[1:]
        assert summaries and all("still failing" in line for line in summaries)

        caplog.clear()
        store.down = False
        fake.release()
        wait_until(lambda: writer.healthy, WAIT_S, "recovered")
        wait_until(lambda: caplog.records, WAIT_S, "the recovery line")
        [line] = [r.getMessage() for r in caplog.records]
        assert line.startswith("writer: store inserts succeed again after 200 failed attempts")
