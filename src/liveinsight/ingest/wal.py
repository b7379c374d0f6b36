"""The write-ahead log: every accepted event is on disk here before the collector answers.

Layout: ``<wal_dir>/<20-digit ns>.wal`` segment files. Exactly one segment is open for appends;
the writer closes it (``rotate``), ingests closed segments into ClickHouse and deletes each
only after the store confirmed it — or, with an ``archive`` directory, moves it there (its
modification time, the segment's last append, kept): the archive is what point-in-time
recovery replays after a backup (``ops/backup.py``).

Record format: a segment is JSON lines that ClickHouse reads directly (``_k`` = ``e`` for an
event row, ``s`` for a session row). Each append is one *frame*: its lines followed by a
trailer line ``{"_k":"c","n":<bytes>,"crc":<crc32>}`` covering the frame's lines. The trailer
is filtered out at insert time. At open, every segment left from a previous run is checked
frame by frame; bytes after the last intact frame (a torn tail from a crash) are truncated,
so a half-written record is never misread. A frame is all-or-nothing. :func:`logged_lines`
reads the rows of one kind back, from intact frames only.

Durability (``fsync`` policy): every append reaches the kernel (``os.write``) before the call
returns, so a killed process loses nothing acknowledged. ``always`` fsyncs before returning
(survives power loss, slowest); ``interval`` fsyncs at most ``interval_s`` later (up to that
much exposure to power loss or a kernel crash); ``never`` leaves it to the OS.

Time comes from two injectable callables, so tests need no wall clock: ``clock()``
(monotonic seconds, default ``time.monotonic``) stamps the open segment's first append for
``oldest_age_s``, and ``wait(seconds)`` paces the ``interval`` fsync thread: it waits up to
``seconds`` and returns True to end the thread (default: the log's own stop event, which
``close`` sets; ``close`` waits at most 5 s for the thread, so an injected ``wait`` should
return True by then). The thread fsyncs after every ``wait`` that returns False.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

SUFFIX = ".wal"
REFUSAL_SHOWN_S = 10.0
"""How long (by ``clock``) :attr:`WriteAheadLog.refusing` reports the last refused append."""
_TRAILER_PREFIX = b'{"_k":"c"'


class WalUnavailable(Exception):
    """The log cannot take this append (I/O error, disk full, quota); answer 503."""

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WalFull(WalUnavailable):
    """The log reached its disk quota (``wal_max_bytes``) while the store catches up."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A closed segment, and the sites whose events it holds as its appends named them
    (None for a segment left by an earlier run, whose appends this process did not see)."""

    path: Path
    sites: frozenset[int] | None = None

    @property
    def token(self) -> str:
        return self.path.stem


def _trailer(payload: bytes) -> bytes:
    return orjson.dumps({"_k": "c", "n": len(payload), "crc": zlib.crc32(payload)}) + b"\n"


def frame(payload: bytes) -> bytes:
    """``payload`` (complete JSON lines) plus its trailer: one append's bytes."""
    return payload + _trailer(payload)


def valid_length(data: bytes) -> tuple[int, int]:
    """``(bytes, frames)``: the length of the longest prefix of ``data`` made of intact frames,
    and how many frames it holds. Anything after it is a torn or corrupt tail."""
    good = frames = start = 0
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return good, frames
        line = data[pos:nl]
        pos = nl + 1
        if not line.startswith(_TRAILER_PREFIX):
            continue
        try:
            meta = orjson.loads(line)
            payload = data[start : start + int(meta["n"])]
            intact = start + int(meta["n"]) == nl - len(line) and zlib.crc32(payload) == meta["crc"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            intact = False
        if not intact:
            return good, frames
        good = start = pos
        frames += 1


def repair(path: Path) -> int:
    """Truncate ``path`` after its last intact frame; return the bytes removed."""
    data = path.read_bytes()
    good, _ = valid_length(data)
    if good < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(good)
            os.fsync(fh.fileno())
    return len(data) - good


def segment_paths(directory: Path) -> list[Path]:
    """The log's segment files in ``directory``, in append order (none if it is missing)."""
    return sorted(Path(directory).glob(f"*{SUFFIX}"))


def logged_lines(directory: Path, kind: bytes) -> Iterator[bytes]:
    """The rows of one kind still in the log in ``directory``: every line that starts with
    ``{"_k":"<kind>"`` (``b"e"`` event rows, ``b"s"`` session rows; rows are written with
    their kind first), without its newline, segment by segment in append order and in
    append order within each.

    Only intact frames are read: a torn or corrupt tail (a crash mid-append, not yet
    repaired by opening the log) is skipped, so every line yielded is complete and part of
    a whole append. Each segment is read whole when the iteration reaches it; a segment
    deleted meanwhile (ingested by the writer) is skipped, as is a missing directory. Does
    not open the log: no segment is created or repaired."""
    prefix = b'{"_k":"' + kind + b'"'
    for path in segment_paths(directory):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        end, _ = valid_length(data)
        pos = 0
        while pos < end:
            nl = data.index(b"\n", pos)  # the intact prefix ends with a trailer's newline
            if data.startswith(prefix, pos):
                yield data[pos:nl]
            pos = nl + 1


class WriteAheadLog:
    """Append-only, segmented, checksummed log. Thread-safe."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync: str = "interval",
        interval_s: float = 1.0,
        max_bytes: int = 1 << 30,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
        archive: Path | None = None,
    ) -> None:
        """Open (creating it if needed) the log in ``directory``, repairing segments left by
        an earlier run. ``wait`` defaults to the log's stop event; see the module docstring
        for ``clock`` and ``wait``; ``archive``: where confirmed segments go instead of being
        deleted. Raises ``ValueError`` for an unknown ``fsync`` policy."""
        self.archive = Path(archive) if archive is not None else None
        if self.archive is not None:
            self.archive.mkdir(parents=True, exist_ok=True)
        if fsync not in ("always", "interval", "never"):
            raise ValueError(f"unknown fsync policy {fsync!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fsync_policy = fsync
        self.interval_s = interval_s
        self.max_bytes = max_bytes
        self.repaired_bytes = 0
        self._lock = threading.Lock()
        self._closed_bytes = 0
        self._clock = clock
        # Clock reading of each sealed segment's first append (the writer's lag); for a
        # segment of an earlier run, its last write (what the file still tells).
        self._sealed_first: dict[Path, float] = {}
        for seg in self._segments_on_disk():
            self.repaired_bytes += repair(seg)
            info = seg.stat()
            if info.st_size == 0:
                seg.unlink()
            else:
                self._closed_bytes += info.st_size
                self._sealed_first[seg] = clock() - max(0.0, time.time() - info.st_mtime)
        self._fd = -1
        self._path: Path | None = None
        self._size = 0
        self._rows = 0
        self._sites: set[int] = set()  # of the open segment's appends
        self._sealed_sites: dict[Path, frozenset[int]] = {}
        self._first_append = 0.0
        self._dirty = False
        self._broken = False
        self._closed = False
        self._last_refusal: tuple[float, str] | None = None
        self._stop = threading.Event()
        self._wait = wait if wait is not None else self._stop.wait
        self._syncer: threading.Thread | None = None
        self._open_new()
        if fsync == "interval":
            self._syncer = threading.Thread(target=self._sync_loop, name="wal-fsync", daemon=True)
            self._syncer.start()

    # --- appends ---------------------------------------------------------------------------

    def append(self, payload: bytes, rows: int, sites: frozenset[int] | set[int] = frozenset(),
               ) -> None:
        """Durably append ``payload`` (complete JSON lines holding ``rows`` event rows of
        ``sites``, which the closed segment reports to the writer: see :class:`Segment`).

        Returns once the bytes are in the kernel (and on disk with ``fsync=always``). Raises
        :class:`WalFull` past the quota and :class:`WalUnavailable` on any I/O error; in both
        cases nothing of the payload is kept.
        """
        data = frame(payload)
        with self._lock:
            if self._closed:
                raise WalUnavailable("the write-ahead log is closed: the server is stopping")
            if self._closed_bytes + self._size + len(data) > self.max_bytes:
                raise self._refused(WalFull("the write-ahead log is full while the store "
                                            "catches up"))
            if self._broken:
                try:
                    self._reopen_after_error()
                except WalUnavailable as exc:
                    raise self._refused(exc) from exc.__cause__
            try:
                self._write_all(data)
                if self.fsync_policy == "always":
                    os.fsync(self._fd)
            except OSError as exc:
                # Truncate back to the last acknowledged frame: a frame whose write or fsync
                # failed must not stay in the log, since its caller answers 503.
                self._undo_partial_write()
                raise self._refused(WalUnavailable(
                    f"cannot write the write-ahead log: {exc.strerror or exc}"
                )) from exc
            if self._rows == 0:
                self._first_append = self._clock()
            self._size += len(data)
            self._rows += rows
            self._sites.update(sites)
            self._dirty = self.fsync_policy != "always"

    def _refused(self, exc: WalUnavailable) -> WalUnavailable:
        self._last_refusal = (self._clock(), str(exc))
        return exc

    @property
    def refusing(self) -> str | None:
        """Why the last append was refused (disk full, I/O error, quota) when that was less
        than :data:`REFUSAL_SHOWN_S` ago, else None: what health shows of the log."""
        last = self._last_refusal
        if last is None or self._clock() - last[0] >= REFUSAL_SHOWN_S:
            return None
        return last[1]

    def _write_all(self, data: bytes) -> None:
        if self._fd < 0:
            raise OSError(errno.EIO, "the write-ahead log has no open segment")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def _undo_partial_write(self) -> None:
        try:
            os.ftruncate(self._fd, self._size)
            os.lseek(self._fd, self._size, os.SEEK_SET)
        except OSError:
            self._broken = True

    def _reopen_after_error(self) -> None:
        """After a write we could not undo, seal the damaged segment and start a new one."""
        try:
            self._seal_current()
            self._open_new()
            self._broken = False
        except OSError as exc:
            raise WalUnavailable(f"cannot write the write-ahead log: {exc.strerror}") from exc

    # --- segments --------------------------------------------------------------------------

    def _segments_on_disk(self) -> list[Path]:
        return segment_paths(self.directory)

    def _open_new(self) -> None:
        name = time.time_ns()
        existing = self._segments_on_disk()
        if existing:
            name = max(name, int(existing[-1].stem) + 1)
        path = self.directory / f"{name:020d}{SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._path = path
        self._size = 0
        self._rows = 0
        self._sites = set()
        self._dirty = False
        with contextlib.suppress(OSError):  # a directory fsync is best effort on some FSes
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _seal_current(self) -> None:
        if self._fd >= 0:
            if self.fsync_policy != "never" and self._dirty:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            if self._broken and self._path is not None:
                repair(self._path)
            if self._path is not None:
                size = self._path.stat().st_size
                if size == 0:
                    self._path.unlink()
                else:
                    self._closed_bytes += size
                    self._sealed_sites[self._path] = frozenset(self._sites)
                    self._sealed_first[self._path] = (self._first_append if self._rows
                                                      else self._clock())

    def rotate(self) -> Segment | None:
        """Close the open segment if it holds anything and start a new one; return the closed
        segment (already fsynced unless the policy is ``never``), or ``None`` if it was empty.
        Raises ``OSError`` if a new segment cannot be opened (appends then raise too)."""
        with self._lock:
            if self._closed or (self._size == 0 and not self._broken):
                return None
            closed = self._path
            self._seal_current()
            self._broken = False
            self._open_new()
        if closed is None or not closed.exists():
            return None
        return Segment(closed, self._sealed_sites.get(closed))

    def closed_segments(self) -> list[Segment]:
        """Closed segments in append order (the writer ingests them in this order).

        Only segments older than the one open when this was called: the directory is read
        outside the lock (appends must not wait for it), and a rotation by another thread
        meanwhile (``BatchWriter.flush`` from a job, say) opens a newer segment that is
        already on disk by then; it is still being appended to and must never be ingested
        and deleted (its later appends, acknowledged, would be lost). Names grow with each
        new segment, so "older" is "a smaller name"."""
        with self._lock:
            current = self._path
            sites = dict(self._sealed_sites)
        return [Segment(p, sites.get(p)) for p in self._segments_on_disk()
                if current is None or p.name < current.name]

    @property
    def open_segment(self) -> Path | None:
        """The segment appends go to now (None once closed)."""
        with self._lock:
            return self._path

    def delete(self, segment: Segment) -> None:
        """Remove a segment the store has confirmed (into the archive, when there is one)."""
        with self._lock:
            self._sealed_sites.pop(segment.path, None)
            self._sealed_first.pop(segment.path, None)
            try:
                size = segment.path.stat().st_size
                if self.archive is not None:
                    shutil.move(segment.path, self.archive / segment.path.name)
                else:
                    segment.path.unlink()
            except FileNotFoundError:
                return
            self._closed_bytes -= size

    # --- state -----------------------------------------------------------------------------

    @property
    def pending_rows(self) -> int:
        """Event rows in the open segment."""
        return self._rows

    @property
    def oldest_age_s(self) -> float:
        """Age of the open segment's first row by ``clock`` (0 when empty)."""
        return self._clock() - self._first_append if self._rows else 0.0

    @property
    def accepting(self) -> bool:
        """False once :meth:`close` was called (the node is stopping)."""
        return not self._closed

    @property
    def backlog_age_s(self) -> float:
        """How long the oldest row not yet confirmed by the store has waited, by ``clock``
        (0 when the log is empty): the writer's lag. For a segment left by an earlier run
        the age of its last write (its first one is not known)."""
        with self._lock:
            firsts = list(self._sealed_first.values())
            if self._rows:
                firsts.append(self._first_append)
        return max(0.0, self._clock() - min(firsts)) if firsts else 0.0

    @property
    def pending_segments(self) -> int:
        """Segments waiting for the store, the open one included when it holds rows."""
        with self._lock:
            return len(self._sealed_first) + (1 if self._rows else 0)

    @property
    def total_bytes(self) -> int:
        return self._closed_bytes + self._size

    @property
    def unsynced(self) -> bool:
        """True when something was appended to the open segment since its last fsync began
        (never under ``always``; under ``never`` until the segment is closed)."""
        return self._dirty

    def sync(self) -> None:
        """Fsync what was appended so far. The fsync runs on a duplicate descriptor outside
        the append lock, so appends (on the event loop) never wait for the disk; a rotation
        meanwhile is harmless (the sealed segment is fsynced, or deleted, all the same)."""
        with self._lock:
            if not self._dirty or self._fd < 0:
                return
            try:
                fd = os.dup(self._fd)
            except OSError:
                self._broken = True
                return
            self._dirty = False
        try:
            os.fsync(fd)
        except OSError:
            with self._lock:
                self._broken = True
        finally:
            os.close(fd)

    def _sync_loop(self) -> None:
        while not self._wait(self.interval_s):
            self.sync()

    def close(self) -> None:
        """Fsync and close the open segment; from then on appends raise
        :class:`WalUnavailable` and every segment is a closed one, which the writer can still
        ingest and delete (what it does not is ingested at the next start)."""
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join(timeout=5)
        with self._lock:
            self._closed = True
            self._seal_current()
            self._path, self._size, self._rows = None, 0, 0
