"""The record shippers where they fail (``ops/logship.py``, ``ops/auditship.py``): a frame
past the log's quota is dropped and counted, the rows after it still go; a failing counter
stops nothing; a flush waits for the rows the shipping thread is moving; a catch-up of the
audit copies that cannot read the table or the chain ends quietly (the next start tries
again), keeping what it had copied."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from liveinsight.ops.auditship import AuditShipper
from liveinsight.ops.logship import LogQueue, LogShipper, LogSink, RowShipper
from liveinsight.security.audit import AuditEntry, AuditRecord
from liveinsight.storage import schema
from tests.conftest import make_client, svc_of


def _boom(_count: int) -> None:
    raise RuntimeError("a broken counter")


def test_a_frame_past_the_quota_is_dropped_and_the_next_one_still_goes(tmp_path: Path
                                                                       ) -> None:
    drops: list[tuple[str, int]] = []
    with make_client(tmp_path) as c:
        svc = svc_of(c)
        shipper = LogShipper(svc.store, tmp_path / "quota-wal", node_id="quota",
                             level="info", retention_days=7, max_records=100,
                             max_bytes=4096, on_drop=lambda r, n: drops.append((r, n)),
                             on_shipped=_boom)
        shipper.writer.start()  # not start(): this test ships by hand, one frame a call
        try:
            for i in range(20):  # ~400 bytes a row: 8 kB, twice the quota, in one frame
                shipper.sink({"event": f"big {i} " + "x" * 200, "level": "warning",
                              "logger": "liveinsight.test.quota"})
            assert shipper.ship() == 0
            assert drops == [("wal_full", 20)]
            shipper.sink({"event": "small", "level": "warning",
                          "logger": "liveinsight.test.quota"})
            assert shipper.ship() == 1  # its counter raised: the row went all the same
            assert shipper.ship() == 0  # nothing queued
            assert shipper.flush(30)
            rows = svc.store.query(
                f"SELECT message, level FROM `{svc.store.database}`.logs "
                "WHERE logger = 'liveinsight.test.quota'").rows
        finally:
            shipper.close()
    assert rows == [["small", "warning"]]
    assert drops == [("wal_full", 20)]


def test_a_flush_waits_for_the_rows_the_shipping_thread_is_moving(tmp_path: Path) -> None:
    # The spans' shipper renders what it takes from its queue on its thread: a flush that
    # came meanwhile found the queue empty and returned before those rows were in the log
    # (a CI run's trace search found 1 of 4 traced requests after a flush said done).
    rendered = LogQueue(10, lambda r, n: None)
    LogSink(rendered, "info", 7)({"event": "in flight", "level": "warning",
                                  "logger": "liveinsight.test.flight"})
    (row,) = rendered.take()
    rendering, release = threading.Event(), threading.Event()

    def render(thing: str) -> str:
        rendering.set()
        release.wait(30)
        return thing

    with make_client(tmp_path) as c:
        svc = svc_of(c)
        shipper = RowShipper(svc.store, tmp_path / "flight-wal", node_id="flight",
                             targets=schema.LOG_TARGETS, max_records=10, max_bytes=1 << 20,
                             on_drop=lambda r, n: None, on_shipped=lambda n: None,
                             render=render)
        shipper.start()
        try:
            shipper.queue.put(row)
            assert rendering.wait(10)  # the thread has taken the row and is rendering it
            flushed: list[bool] = []
            flusher = threading.Thread(target=lambda: flushed.append(shipper.flush(30)))
            flusher.start()
            flusher.join(0.5)
            assert flusher.is_alive(), "the flush returned with a row still in flight"
            release.set()
            flusher.join(30)
            assert flushed == [True]
            rows = svc.store.query(
                f"SELECT message FROM `{svc.store.database}`.logs "
                "WHERE logger = 'liveinsight.test.flight'").rows
        finally:
            release.set()
            shipper.close()
    assert rows == [["in flight"]]


def _records(n: int, first: int = 1) -> list[AuditRecord]:
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    return [AuditRecord(seq, AuditEntry(at=at, actor="key:1 ops", action="site.create",
                                        target=f"site:{seq}", details={"n": seq}),
                        f"{seq - 1:064x}", f"{seq:064x}")
            for seq in range(first, first + n)]


def _shipper(store: Any, directory: Path) -> AuditShipper:
    return AuditShipper(store, directory, node_id="t", retention_days=30, max_records=1000,
                        max_bytes=1 << 20, on_drop=lambda r, n: None,
                        on_shipped=lambda n: None)


def test_a_catch_up_that_loses_the_chain_keeps_what_it_copied(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with make_client(tmp_path, audit_store=False) as c:
        svc = svc_of(c)
        shipper = _shipper(svc.store, tmp_path / "copies-wal")
        asked: list[int] = []

        def chain(after: int) -> Any:
            asked.append(after)
            yield _records(3)
            raise ConnectionError("the metadata database went away\nat line 2")

        shipper.writer.start()
        try:
            with caplog.at_level(logging.WARNING, "liveinsight.audit"):
                assert shipper.catch_up(chain) == 3
            assert asked == [0]  # an empty table: from the start of the chain
            assert "could not read the audit chain: the metadata database went away" in (
                caplog.text)
            assert "at line 2" not in caplog.text  # the first line only
            assert shipper.flush(30)
            copied = svc.store.query(
                f"SELECT seq, target FROM `{svc.store.database}`.audit FINAL ORDER BY seq"
            ).rows
            assert copied == [[1, "site:1"], [2, "site:2"], [3, "site:3"]]

            # the next start: the table's newest is 3, so the chain is read from 0 again
            # (RESHIP before it), and a record copied twice is one row
            assert shipper.catch_up(lambda after: iter([_records(4)])) == 4
            assert shipper.flush(30)
            assert svc.store.query(f"SELECT count() FROM `{svc.store.database}`.audit FINAL"
                                   ).scalar() == 4
        finally:
            shipper.close()
    # the node stopped: its store is closed, as ClickHouse away would be
    late = _shipper(svc.store, tmp_path / "late-wal")
    try:
        with caplog.at_level(logging.WARNING, "liveinsight.audit"):
            assert late.catch_up(lambda after: iter([_records(1)])) == 0
        assert "could not read the table's newest record" in caplog.text
        assert len(late.queue) == 0
    finally:
        late.close()
