"""The ingest promise, tested with real processes: ``liveinsight serve`` is started as a
subprocess, loaded over HTTP from this process, killed for real (SIGKILL of its whole process
group), restarted, stopped with SIGTERM; then its data dir is opened here and every event
that was answered 2xx must be stored exactly once.

Each request carries a unique marker in its path (``/p/<run>-<worker>-<seq>``), so the check
is per event, not per count.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.load import Load, assert_exactly_once
from tests.support import Server, tiny_tmpfs, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# --- SIGKILL -------------------------------------------------------------------------------


def test_sigkill_under_load_loses_no_acknowledged_event(
    server: Callable[..., Server]
) -> None:
    srv = server()
    srv.start()
    load = Load(lambda: srv.url, run="k").start()
    wal_at_kill = []
    try:
        for _ in range(3):
            since = time.monotonic()
            wait_until(lambda s=since: load.acked_since(s) >= 200, 20,  # type: ignore[misc]
                      "acknowledged events")
            srv.kill()
            wal_at_kill.append(srv.wal_bytes())
            srv.start()
        since = time.monotonic()
        wait_until(lambda: load.acked_since(since) >= 200, 20, "events after the last restart")
    finally:
        load.stop()
    assert srv.terminate() == 0, srv.log()
    assert srv.wal_bytes() == 0

    assert any(wal_at_kill), "no kill left rows in the log: the replay path was not exercised"
    assert load.transport_errors > 0  # the kills really cut requests off
    stored = srv.stored()
    assert_exactly_once(stored, load.acked)
    assert all(m.startswith("/p/k-") for m in stored)
    assert [s for s in load.refused if s[1] >= 500] == []


# --- SIGTERM -------------------------------------------------------------------------------


@pytest.mark.parametrize("fsync", ["interval", "always"])  # always: appends from threads
def test_sigterm_under_load_flushes_the_log_into_the_store(
    server: Callable[..., Server], fsync: str
) -> None:
    # The writer never flushes on its own here: only the graceful stop moves the rows.
    srv = server(writer_flush_ms="600000", writer_batch_rows="1000000000", wal_fsync=fsync)
    srv.start()
    load = Load(lambda: srv.url, run="t").start()
    try:
        wait_until(lambda: len(load.acked) >= 500, 20, "acknowledged events")
        assert "liveinsight_wal_segments_ingested_total 0.0" in srv.metrics()
        assert srv.wal_bytes() > 0
        started = time.monotonic()
        code = srv.terminate()
        stop_s = time.monotonic() - started
    finally:
        load.stop()
    assert code == 0, srv.log()
    assert stop_s < 30
    assert srv.wal_bytes() == 0
    stored = srv.stored()
    assert_exactly_once(stored, load.acked)
    # Requests still running while the server stops are refused (503), never half-kept.
    assert {status for _, status, _ in load.refused} <= {503}
    assert not [m for m, _, _ in load.refused if m in stored]


# --- disk full -----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["quota", "tmpfs"])
def test_a_full_log_answers_503_then_recovers_when_the_writer_drains(
    server: Callable[..., Server], tmp_path: Path, limit: str
) -> None:
    # Segments are ingested only once their oldest row is 3 s old, so the log fills up
    # between two flushes: refused with 503 while full, accepted again once drained.
    settings = {"writer_flush_ms": "3000"}
    if limit == "quota":
        settings["wal_max_bytes"] = str(96 * 1024)
    srv = server(**settings)
    mount: contextlib.AbstractContextManager[object] = (
        tiny_tmpfs(srv.data_dir / "wal", "96k") if limit == "tmpfs"
        else contextlib.nullcontext())
    with mount:
        srv.start()
        load = Load(lambda: srv.url, run="f", workers=8).start()
        try:
            wait_until(lambda: load.refused, 20, "a refusal")
            first_refusal = time.monotonic()
            wait_until(lambda: load.acked_since(first_refusal) >= 50, 30,
                      "accepted events after the log drained")
            metrics = srv.metrics()
        finally:
            load.stop()
        assert srv.terminate() == 0, srv.log()
        assert srv.wal_bytes() == 0
    assert {status for _, status, _ in load.refused} == {503}
    assert all(ra is not None and int(ra) > 0 for _, _, ra in load.refused)
    reason = "quota" if limit == "quota" else "io"
    assert f'liveinsight_wal_append_failures_total{{reason="{reason}"}}' in metrics
    stored = srv.stored()
    assert_exactly_once(stored, load.acked)
    never_kept = [m for m, _, _ in load.refused if m in stored]
    assert not never_kept, f"{len(never_kept)} events answered 503 were stored"
