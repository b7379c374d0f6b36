"""The write-ahead log: frame format, torn-tail repair, quota, I/O errors and fsync policies.

I/O errors are real where the kernel can give them: a directory on a tiny tmpfs fills up for
real (needs ``mount``, i.e. root; skipped elsewhere unless CI=true). A failing write or fsync
is simulated by replacing ``os.write``/``os.ftruncate``/``os.fsync``, the only way to make the
kernel report one on demand.

No assertion measures elapsed time: the background fsync thread runs on a fake wait
(tests/ingest/fake_time.py) that the test grants one interval at a time, and the age of the
open segment is read on a fake clock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from liveinsight.ingest.wal import (
    REFUSAL_SHOWN_S,
    SUFFIX,
    WalFull,
    WalUnavailable,
    WriteAheadLog,
    frame,
    logged_lines,
    repair,
    valid_length,
)
from tests.ingest.fake_time import FakeTime
from tests.support import tiny_tmpfs, wait_until

WAIT_S = 60.0  # how long a test waits for a real thread to get somewhere (never reached)


def _payload(*markers: str) -> bytes:
    return b"".join(orjson.dumps({"_k": "e", "pathname": m}) + b"\n" for m in markers)


def _markers(data: bytes) -> list[str]:
    """The event rows in a segment's bytes (trailers skipped)."""
    rows = [orjson.loads(line) for line in data.splitlines() if line]
    return [r["pathname"] for r in rows if r["_k"] == "e"]


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}"))


@contextlib.contextmanager
def _wal(directory: Path, **kw: object) -> Iterator[WriteAheadLog]:
    wal = WriteAheadLog(directory, **kw)  # type: ignore[arg-type]
    try:
        yield wal
    finally:
        wal.close()


def _three_frames(tmp_path: Path) -> tuple[Path, list[int]]:
    """A closed segment with three frames; returns it and the frame end offsets."""
    with _wal(tmp_path / "wal", fsync="never") as wal:
        for i in range(3):
            wal.append(_payload(f"/f{i}/a", f"/f{i}/b"), 2)
    (segment,) = _segments(tmp_path / "wal")
    data = segment.read_bytes()
    ends: list[int] = []
    for i in range(3):
        ends.append((ends[-1] if ends else 0) + len(frame(_payload(f"/f{i}/a", f"/f{i}/b"))))
    assert ends[-1] == len(data)
    return segment, ends


# --- frame format --------------------------------------------------------------------------


def test_frame_is_payload_then_a_trailer_with_length_and_crc() -> None:
    payload = _payload("/a", "/b")
    data = frame(payload)
    assert data.startswith(payload)
    trailer = data[len(payload):]
    assert trailer.endswith(b"\n") and trailer.count(b"\n") == 1
    assert orjson.loads(trailer) == {"_k": "c", "n": len(payload), "crc": zlib.crc32(payload)}


def test_valid_length_counts_intact_frames() -> None:
    frames = [frame(_payload(f"/{i}")) for i in range(4)]
    data = b"".join(frames)
    assert valid_length(data) == (len(data), 4)
    assert valid_length(b"") == (0, 0)
    assert valid_length(_payload("/no-trailer")) == (0, 0)


def test_valid_length_of_every_prefix_ends_at_a_frame_boundary() -> None:
    frames = [frame(_payload(f"/{i}", f"/{i}/x")) for i in range(3)]
    data = b"".join(frames)
    boundaries = [0]
    for f in frames:
        boundaries.append(boundaries[-1] + len(f))
    for cut in range(len(data) + 1):
        good, count = valid_length(data[:cut])
        expected = max(b for b in boundaries if b <= cut)
        assert (good, count) == (expected, boundaries.index(expected)), cut


def test_any_corrupt_byte_invalidates_its_frame_and_what_follows() -> None:
    frames = [frame(_payload(f"/{i}", f"/{i}/x")) for i in range(3)]
    data = b"".join(frames)
    first_end = len(frames[0])
    for pos in range(first_end, len(data)):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        good, _ = valid_length(bytes(bad))
        assert good <= first_end + (len(frames[1]) if pos >= first_end + len(frames[1]) else 0)
        assert _markers(bytes(bad[:good])) == _markers(data[:good])


def test_a_payload_line_that_looks_like_a_trailer_is_not_trusted() -> None:
    forged = b'{"_k":"c","n":0,"crc":0}\n'
    data = frame(_payload("/ok")) + forged + frame(_payload("/next"))
    good, count = valid_length(data)
    # The forged line is an intact zero-length frame, and the real frame after it too: no
    # bytes are misattributed, and the event row of each frame is kept exactly once.
    assert (good, count) == (len(data), 3)
    assert _markers(data[:good]) == ["/ok", "/next"]


# --- appends and segments ------------------------------------------------------------------


def test_appends_land_in_one_segment_until_rotated(tmp_path: Path) -> None:
    with _wal(tmp_path, fsync="never") as wal:
        wal.append(_payload("/1"), 1)
        wal.append(_payload("/2", "/3"), 2)
        assert wal.pending_rows == 3
        assert wal.closed_segments() == []
        closed = wal.rotate()
        assert closed is not None and wal.pending_rows == 0
        assert wal.rotate() is None  # nothing appended since
        assert wal.closed_segments() == [closed]
        data = closed.path.read_bytes()
        assert valid_length(data) == (len(data), 2)
        assert _markers(data) == ["/1", "/2", "/3"]
        wal.append(_payload("/4"), 1)
        second = wal.rotate()
        assert second is not None and second.token > closed.token
        assert [s.path for s in wal.closed_segments()] == [closed.path, second.path]
        wal.delete(closed)
        wal.delete(closed)  # deleting twice is harmless
        assert [s.path for s in wal.closed_segments()] == [second.path]
        assert wal.total_bytes == second.path.stat().st_size


def test_a_rotation_while_the_segments_are_listed_never_offers_the_open_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer lists the closed segments while another thread may rotate (a job's
    ``writer.flush``): the segment that rotation opens is on disk by the time the directory
    is read, and is being appended to. Offered as closed, the writer ingested and deleted
    it, and the events appended to it afterwards (acknowledged) were lost: 46 of 35,084 in
    20 s of appends with a flush every 7 (2026-12-06), none since. The interleaving is
    made here by rotating inside the directory listing."""
    import liveinsight.ingest.wal as wal_module

    listing = wal_module.segment_paths
    with _wal(tmp_path, fsync="never") as wal:
        wal.append(_payload("/1"), 1)

        def rotated_meanwhile(directory: Path) -> list[Path]:
            monkeypatch.setattr(wal_module, "segment_paths", listing)
            wal.rotate()  # another thread's, between the lock and the listing
            return listing(directory)

        monkeypatch.setattr(wal_module, "segment_paths", rotated_meanwhile)
        offered = [s.path for s in wal.closed_segments()]
        assert wal.open_segment not in offered
        assert offered == []  # the one sealed meanwhile comes at the next call
        wal.append(_payload("/2"), 1)
        [sealed] = wal.closed_segments()
        assert _markers(sealed.path.read_bytes()) == ["/1"]
        assert wal.rotate() is not None
        assert [_markers(s.path.read_bytes()) for s in wal.closed_segments()] == [
            ["/1"], ["/2"]]


def test_a_closed_segment_names_the_sites_its_appends_named(tmp_path: Path) -> None:
    with _wal(tmp_path, fsync="never") as wal:
        wal.append(_payload("/1"), 1, {3})
        wal.append(_payload("/2"), 1, {5, 3})
        first = wal.rotate()
        wal.append(_payload("/3"), 1)
        second = wal.rotate()
        assert first is not None and first.sites == {3, 5}
        assert second is not None and second.sites == frozenset()
        assert [s.sites for s in wal.closed_segments()] == [{3, 5}, frozenset()]
    with _wal(tmp_path, fsync="never") as wal:  # left by an earlier run: not known
        assert [s.sites for s in wal.closed_segments()] == [None, None]


def test_oldest_age_is_the_first_appends_age_on_the_logs_clock(tmp_path: Path) -> None:
    clock = FakeTime(start=50.0)
    with _wal(tmp_path, fsync="never", clock=clock.clock) as wal:
        assert wal.oldest_age_s == 0.0
        clock.advance(10)
        assert wal.oldest_age_s == 0.0  # empty: no age, however long
        wal.append(_payload("/1"), 1)
        assert wal.oldest_age_s == 0.0
        clock.advance(0.25)
        wal.append(_payload("/2"), 1)  # later appends do not restart the age
        clock.advance(0.5)
        assert wal.oldest_age_s == 0.75
        wal.rotate()
        assert wal.oldest_age_s == 0.0
        clock.advance(2)
        wal.append(_payload("/3"), 1)  # the new segment's first append
        clock.advance(0.125)
        assert wal.oldest_age_s == 0.125


def test_backlog_age_counts_sealed_segments_until_the_store_confirms_them(
        tmp_path: Path) -> None:
    clock = FakeTime(start=50.0)
    with _wal(tmp_path, fsync="never", clock=clock.clock) as wal:
        assert wal.backlog_age_s == 0.0 and wal.pending_segments == 0
        clock.advance(100)  # an idle log has no lag, however long
        wal.append(_payload("/1"), 1)
        clock.advance(2)
        first = wal.rotate()
        assert first is not None
        clock.advance(3)
        wal.append(_payload("/2"), 1)
        clock.advance(1)
        assert wal.backlog_age_s == 6.0  # the sealed segment's first append
        assert wal.pending_segments == 2
        wal.delete(first)  # confirmed by the store
        assert wal.backlog_age_s == 1.0 and wal.pending_segments == 1
        second = wal.rotate()
        assert second is not None and wal.backlog_age_s == 1.0
        wal.delete(second)
        assert wal.backlog_age_s == 0.0 and wal.pending_segments == 0
        wal.append(_payload("/3"), 1)
        wal.rotate()
    with _wal(tmp_path, fsync="never") as wal:  # left by an earlier run: counted
        assert wal.pending_segments == 1
        assert 0.0 <= wal.backlog_age_s < 3600


def test_unsynced_follows_the_policy(tmp_path: Path) -> None:
    with _wal(tmp_path / "never", fsync="never") as wal:
        assert not wal.unsynced
        wal.append(_payload("/a"), 1)
        assert wal.unsynced
        wal.rotate()
        assert not wal.unsynced  # a new segment
    with _wal(tmp_path / "interval", fsync="interval", interval_s=3600) as wal:
        wal.append(_payload("/a"), 1)
        assert wal.unsynced
        wal.sync()
        assert not wal.unsynced


def test_segments_left_by_a_previous_run_are_closed_and_kept_in_order(tmp_path: Path) -> None:
    with _wal(tmp_path, fsync="never") as wal:
        wal.append(_payload("/a"), 1)
        wal.rotate()
        wal.append(_payload("/b"), 1)
    with _wal(tmp_path, fsync="never") as wal:
        left = wal.closed_segments()
        assert [_markers(s.path.read_bytes()) for s in left] == [["/a"], ["/b"]]
        wal.append(_payload("/c"), 1)
        new = wal.rotate()
        assert new is not None and new.token > left[-1].token
        assert wal.total_bytes == sum(s.path.stat().st_size for s in [*left, new])


def test_a_closed_log_refuses_appends_and_hands_every_segment_to_the_writer(
    tmp_path: Path,
) -> None:
    wal = WriteAheadLog(tmp_path, fsync="interval")
    wal.append(_payload("/a"), 1)
    wal.rotate()
    wal.append(_payload("/b"), 1)
    wal.close()
    for _ in range(3):  # refused every time: a closed log never reopens itself
        with pytest.raises(WalUnavailable, match="closed"):
            wal.append(_payload("/late"), 1)
    assert wal.rotate() is None
    segments = wal.closed_segments()
    assert [_markers(s.path.read_bytes()) for s in segments] == [["/a"], ["/b"]]
    assert wal.total_bytes == sum(s.path.stat().st_size for s in segments)
    for segment in segments:
        wal.delete(segment)
    assert wal.total_bytes == 0 and _segments(tmp_path) == []
    wal.close()  # closing twice is harmless


# --- torn tails ----------------------------------------------------------------------------


TORN = ["mid_payload", "after_payload", "mid_trailer", "crc_byte", "last_newline"]


def _torn(data: bytes, ends: list[int], where: str) -> bytes:
    """``data`` (three frames ending at ``ends``) with its last frame damaged at ``where``."""
    trailer_at = ends[1] + len(_payload("/f2/a", "/f2/b"))
    if where == "mid_payload":
        return data[: ends[1] + 7]
    if where == "after_payload":
        return data[:trailer_at]
    if where == "mid_trailer":
        return data[: trailer_at + 12]
    if where == "crc_byte":
        crc_at = data.index(b'"crc":', trailer_at) + 7
        flipped = (data[crc_at] - ord("0") + 1) % 10 + ord("0")
        return data[:crc_at] + bytes([flipped]) + data[crc_at + 1 :]
    return data[:-1]


@pytest.mark.parametrize("where", TORN)
def test_reopen_truncates_a_torn_tail_to_the_last_intact_frame(
    tmp_path: Path, where: str
) -> None:
    segment, ends = _three_frames(tmp_path)
    data = segment.read_bytes()
    damaged = _torn(data, ends, where)
    segment.write_bytes(damaged)

    with _wal(tmp_path / "wal", fsync="never") as wal:
        assert wal.repaired_bytes == len(damaged) - ends[1]
        assert segment.read_bytes() == data[: ends[1]]
        assert [s.path for s in wal.closed_segments()] == [segment]
        assert _markers(segment.read_bytes()) == ["/f0/a", "/f0/b", "/f1/a", "/f1/b"]
        # Appends after the repair go to a new segment and are intact.
        wal.append(_payload("/after"), 1)
        fresh = wal.rotate()
        assert fresh is not None and _markers(fresh.path.read_bytes()) == ["/after"]


def test_a_segment_with_no_intact_frame_is_removed(tmp_path: Path) -> None:
    segment, ends = _three_frames(tmp_path)
    segment.write_bytes(segment.read_bytes()[: ends[0] - 3])
    with _wal(tmp_path / "wal", fsync="never") as wal:
        assert wal.closed_segments() == []
        assert not segment.exists()
        assert wal.total_bytes == 0


def test_repair_is_a_no_op_on_an_intact_segment(tmp_path: Path) -> None:
    segment, ends = _three_frames(tmp_path)
    assert repair(segment) == 0
    assert segment.stat().st_size == ends[-1]


# --- reading rows back ---------------------------------------------------------------------


def _row(kind: str, marker: str) -> bytes:
    return orjson.dumps({"_k": kind, "pathname": marker})


def test_logged_lines_are_one_kinds_lines_from_every_segment_in_order(tmp_path: Path) -> None:
    with _wal(tmp_path, fsync="never") as wal:
        wal.append(_row("e", "/1") + b"\n" + _row("s", "/1") + b"\n", 1)
        wal.append(_row("s", "/2") + b"\n", 0)
        wal.rotate()
        wal.append(_row("s", "/3") + b"\n" + _row("e", "/3") + b"\n", 1)  # still open
        sessions = list(logged_lines(tmp_path, b"s"))
        events = list(logged_lines(tmp_path, b"e"))
    assert sessions == [_row("s", "/1"), _row("s", "/2"), _row("s", "/3")]
    assert events == [_row("e", "/1"), _row("e", "/3")]
    assert list(logged_lines(tmp_path, b"s")) == sessions  # closed: the same lines


@pytest.mark.parametrize("where", TORN)
def test_logged_lines_skip_a_torn_tail_and_leave_it_to_the_log(
    tmp_path: Path, where: str
) -> None:
    segment, ends = _three_frames(tmp_path)
    damaged = _torn(segment.read_bytes(), ends, where)
    segment.write_bytes(damaged)
    lines = list(logged_lines(tmp_path / "wal", b"e"))
    assert [orjson.loads(line)["pathname"] for line in lines] == [
        "/f0/a", "/f0/b", "/f1/a", "/f1/b"]
    assert _segments(tmp_path / "wal") == [segment] and segment.read_bytes() == damaged


def test_logged_lines_skip_what_is_gone(tmp_path: Path) -> None:
    assert list(logged_lines(tmp_path / "missing", b"s")) == []
    assert not (tmp_path / "missing").exists()
    with _wal(tmp_path, fsync="never") as wal:
        for marker in ("/1", "/2"):
            wal.append(_row("s", marker) + b"\n", 0)
            wal.rotate()
    lines = logged_lines(tmp_path, b"s")
    assert next(lines) == _row("s", "/1")
    _segments(tmp_path)[-1].unlink()  # ingested and deleted by the writer meanwhile
    assert list(lines) == []


# --- quota ---------------------------------------------------------------------------------


def test_quota_refuses_appends_until_segments_are_deleted(tmp_path: Path) -> None:
    sizes = [len(frame(_payload(f"/{i:04d}"))) for i in range(7)]
    with _wal(tmp_path, fsync="never", max_bytes=sum(sizes[:5]) + sizes[5] - 1) as wal:
        for i in range(5):
            wal.append(_payload(f"/{i:04d}"), 1)
        closed = wal.rotate()
        assert closed is not None
        with pytest.raises(WalFull) as info:
            wal.append(_payload("/0005"), 1)
        assert isinstance(info.value, WalUnavailable) and info.value.retry_after > 0
        assert wal.total_bytes == sum(sizes[:5])
        assert _markers(closed.path.read_bytes()) == [f"/{i:04d}" for i in range(5)]
        wal.delete(closed)  # the writer confirmed it: space is back
        wal.append(_payload("/0006"), 1)
        assert wal.total_bytes == sizes[6]


def test_a_refused_append_is_reported_for_ten_seconds(tmp_path: Path) -> None:
    time = FakeTime()
    quota = len(frame(_payload("/0000")))
    with _wal(tmp_path, fsync="never", max_bytes=quota, clock=time.clock) as wal:
        wal.append(_payload("/0000"), 1)
        assert wal.refusing is None
        with pytest.raises(WalFull):
            wal.append(_payload("/0001"), 1)
        assert wal.refusing == "the write-ahead log is full while the store catches up"
        time.advance(REFUSAL_SHOWN_S - 0.1)
        assert wal.refusing is not None
        time.advance(0.1)
        assert wal.refusing is None  # nothing refused for 10 s: health says ok again


def test_quota_counts_segments_left_by_a_previous_run(tmp_path: Path) -> None:
    quota = len(frame(_payload("/0000"))) + len(frame(_payload("/0001")))
    with _wal(tmp_path, fsync="never", max_bytes=quota) as wal:
        wal.append(_payload("/0000"), 1)
        wal.append(_payload("/0001"), 1)
    with _wal(tmp_path, fsync="never", max_bytes=quota) as wal:
        with pytest.raises(WalFull):
            wal.append(_payload("/0002"), 1)
        for segment in wal.closed_segments():
            wal.delete(segment)
        wal.append(_payload("/0002"), 1)


# --- I/O errors ----------------------------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a disk that really fills up."""
    with tiny_tmpfs(tmp_path / "tiny", "64k") as mount_point:
        yield mount_point


def test_disk_full_answers_unavailable_and_keeps_no_partial_frame(tiny_fs: Path) -> None:
    big = "x" * 9000
    with _wal(tiny_fs / "wal", fsync="always") as wal:
        acknowledged = []
        with pytest.raises(WalUnavailable) as info:
            for i in range(100):
                wal.append(_payload(f"/{i}/{big}"), 1)
                acknowledged.append(f"/{i}/{big}")
        assert not isinstance(info.value, WalFull)
        assert "No space left" in str(info.value)
        assert wal.refusing is not None and "No space left" in wal.refusing
        assert 0 < len(acknowledged) < 100
        for segment in _segments(tiny_fs / "wal"):
            data = segment.read_bytes()
            assert valid_length(data)[0] == len(data)
        kept = [m for s in _segments(tiny_fs / "wal") for m in _markers(s.read_bytes())]
        assert kept == acknowledged
        with pytest.raises(WalUnavailable):  # still full: refused again, still nothing kept
            wal.append(_payload(f"/refused/{big}"), 1)
        assert [m for s in _segments(tiny_fs / "wal") for m in _markers(s.read_bytes())] == kept

        # The writer ingests and deletes the closed segments: space is back, appends work.
        closed = wal.rotate()
        assert closed is not None
        wal.delete(closed)
        wal.append(_payload("/back"), 1)
        again = wal.rotate()
        assert again is not None and _markers(again.path.read_bytes()) == ["/back"]


@pytest.mark.parametrize("undo_fails", [False, True], ids=["truncated", "sealed"])
def test_a_write_error_leaves_no_partial_frame_and_the_log_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, undo_fails: bool
) -> None:
    """A write that fails half-way is truncated away; when even that fails, the next append
    seals the damaged segment (repairing its tail) and opens a new one."""
    real_write = os.write

    def torn(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.EIO, "Input/output error")

    def failing_truncate(fd: int, length: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with _wal(tmp_path, fsync="never") as wal:
        wal.append(_payload("/kept"), 1)
        with monkeypatch.context() as m:
            m.setattr(os, "write", torn)
            if undo_fails:
                m.setattr(os, "ftruncate", failing_truncate)
            with pytest.raises(WalUnavailable, match="Input/output error"):
                wal.append(_payload("/refused"), 1)
        assert wal.pending_rows == 1
        wal.append(_payload("/after"), 1)
        wal.rotate()
        segments = wal.closed_segments()
        assert len(segments) == (2 if undo_fails else 1)
        kept = [m for s in segments for m in _markers(s.path.read_bytes())]
        assert kept == ["/kept", "/after"]
        for segment in segments:
            data = segment.path.read_bytes()
            assert valid_length(data)[0] == len(data)


def test_a_failed_fsync_under_always_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _wal(tmp_path, fsync="always") as wal:
        wal.append(_payload("/kept"), 1)
        real_fsync = os.fsync

        def failing(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fsync", failing)
        with pytest.raises(WalUnavailable):
            wal.append(_payload("/refused"), 1)
        monkeypatch.setattr(os, "fsync", real_fsync)
        assert wal.pending_rows == 1
        wal.append(_payload("/after"), 1)
        closed = wal.rotate()
        assert closed is not None
        assert _markers(closed.path.read_bytes()) == ["/kept", "/after"]


# --- fsync policies ------------------------------------------------------------------------


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count the ``os.fsync`` calls on regular files that returned (the real fsync runs)."""
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        real(fd)
        if os.path.isfile(f"/proc/self/fd/{fd}"):
            calls.append(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return lambda: len(calls)


def test_fsync_always_syncs_before_every_append_returns(
    tmp_path: Path, fsyncs: Callable[[], int]
) -> None:
    with _wal(tmp_path, fsync="always") as wal:
        before = fsyncs()
        for i in range(5):
            wal.append(_payload(f"/{i}"), 1)
            assert fsyncs() == before + i + 1
            assert not wal.unsynced


def _sync_thread_waits(ticks: FakeTime, count: int) -> None:
    """Wait (for real) until the fsync thread has begun its ``count``-th interval."""
    wait_until(lambda: len(ticks.waits) >= count, WAIT_S, f"fsync interval {count}")
    assert len(ticks.waits) == count, ticks.waits


def test_fsync_interval_syncs_in_the_background_once_per_interval(
    tmp_path: Path, fsyncs: Callable[[], int]
) -> None:
    ticks = FakeTime()
    wal = WriteAheadLog(tmp_path, fsync="interval", interval_s=0.1, wait=ticks.wait)
    try:
        _sync_thread_waits(ticks, 1)
        before = fsyncs()
        for i in range(200):
            wal.append(_payload(f"/{i}"), 1)
        assert wal.unsynced and fsyncs() == before  # appends leave the fsync to the thread
        ticks.release()  # one interval passes: one fsync covers all 200 appends
        _sync_thread_waits(ticks, 2)
        assert fsyncs() == before + 1 and not wal.unsynced
        ticks.release()  # another interval with nothing appended: no needless fsync
        _sync_thread_waits(ticks, 3)
        assert fsyncs() == before + 1
        wal.append(_payload("/late"), 1)
        ticks.release()
        _sync_thread_waits(ticks, 4)
        assert fsyncs() == before + 2 and not wal.unsynced
        assert ticks.waits == [0.1, 0.1, 0.1, 0.1]  # at most interval_s between fsyncs
    finally:
        ticks.close()
        wal.close()
    assert [t.name for t in threading.enumerate() if t.name == "wal-fsync"] == []


def test_the_fsync_thread_ends_when_its_wait_reports_stopped(tmp_path: Path) -> None:
    ticks = FakeTime()
    wal = WriteAheadLog(tmp_path, fsync="interval", interval_s=0.1, wait=ticks.wait)
    _sync_thread_waits(ticks, 1)
    ticks.close()
    wait_until(lambda: not [t for t in threading.enumerate() if t.name == "wal-fsync"],
               WAIT_S, "the fsync thread to end")
    wal.append(_payload("/a"), 1)  # appends do not need the thread
    wal.close()
    assert ticks.waits == [0.1]


def test_appends_do_not_wait_for_a_background_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fsync
    syncing = threading.Event()
    disk_done = threading.Event()

    def stuck(fd: int) -> None:
        syncing.set()
        assert disk_done.wait(WAIT_S)  # a disk busy with other writes, until the test says
        real(fd)

    errors: list[BaseException] = []

    def append_two() -> None:
        try:
            wal.append(_payload("/b"), 1)
            wal.append(_payload("/c"), 1)
        except BaseException as exc:
            errors.append(exc)

    with _wal(tmp_path, fsync="interval", interval_s=3600) as wal:
        wal.append(_payload("/a"), 1)
        monkeypatch.setattr(os, "fsync", stuck)
        syncer = threading.Thread(target=wal.sync)
        syncer.start()
        assert syncing.wait(WAIT_S)
        appender = threading.Thread(target=append_two)
        appender.start()
        appender.join(WAIT_S)
        # The appends returned while the fsync was still stuck: they never waited for it.
        appended_during_fsync = not appender.is_alive() and not disk_done.is_set()
        disk_done.set()
        syncer.join()
        appender.join()
        monkeypatch.setattr(os, "fsync", real)
        assert errors == []
        assert appended_during_fsync
        assert wal.unsynced  # the appends after the fsync started are left for the next one
        closed = wal.rotate()
        assert closed is not None and _markers(closed.path.read_bytes()) == ["/a", "/b", "/c"]


def test_fsync_never_leaves_syncing_to_the_os(
    tmp_path: Path, fsyncs: Callable[[], int]
) -> None:
    ticks = FakeTime()
    wal = WriteAheadLog(tmp_path, fsync="never", interval_s=0.05, wait=ticks.wait)
    before = fsyncs()
    for i in range(20):
        wal.append(_payload(f"/{i}"), 1)
    assert [t.name for t in threading.enumerate() if t.name == "wal-fsync"] == []
    wal.rotate()
    wal.close()
    assert fsyncs() == before
    assert ticks.waits == []  # no fsync thread ever waited for an interval


def test_rotate_and_close_sync_under_interval(
    tmp_path: Path, fsyncs: Callable[[], int]
) -> None:
    with _wal(tmp_path, fsync="interval", interval_s=60) as wal:
        wal.append(_payload("/a"), 1)
        before = fsyncs()
        wal.rotate()
        assert fsyncs() == before + 1
        wal.append(_payload("/b"), 1)
        before = fsyncs()
    assert fsyncs() == before + 1


def test_unknown_fsync_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fsync"):
        WriteAheadLog(tmp_path, fsync="sometimes")


def test_concurrent_appends_are_whole_frames(tmp_path: Path) -> None:
    with _wal(tmp_path, fsync="never") as wal:

        def worker(n: int) -> None:
            for i in range(200):
                wal.append(_payload(f"/{n}/{i}", f"/{n}/{i}/x"), 2)
                if i % 50 == 0:
                    wal.rotate()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wal.rotate()
        kept = []
        for segment in wal.closed_segments():
            data = segment.path.read_bytes()
            assert valid_length(data)[0] == len(data)
            kept += _markers(data)
    assert sorted(kept) == sorted(f"/{n}/{i}{x}" for n in range(4) for i in range(200)
                                  for x in ("", "/x"))
