"""Several processes on one machine: ``liveinsight serve --workers N``.

The N worker processes (granian's) each run the whole app as a node of a cluster would:

- with the embedded engine, one more process, the **engine owner**
  (``storage/owner.py``), holds the chDB directory and answers the workers' queries and
  inserts over loopback HTTP with a password made for the run; the workers use the HTTP
  transport, exactly as nodes on a ClickHouse server do. With ``clickhouse_url`` set there is
  no owner: the workers talk to the server;
- each worker has its own **slot** directory, ``<data_dir>/workers/<n>``: its write-ahead
  log, the logs of its log records, audit copies and spans, and its node id. A worker
  claims the lowest free slot with an exclusive lock it holds while it lives, so a worker
  that crashed (granian starts another) is replaced in its own slot, and the new process
  ingests the logs it left, as a restarted node does;
- live sessions, the live feed, rate limits and the cache's generations are shared through
  Redis (required above one worker); the metadata database, the secret key and the backup
  directory are the data dir's, given to every worker explicitly.

Before the workers start, the parent applies the migrations (metadata and ClickHouse) once
and ingests the logs of slots no worker will claim (a run with fewer workers than the last).
If the owner dies, the parent starts it again on the same port; the workers' writers keep
their segments and retry meanwhile (nothing acknowledged is lost).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from liveinsight.ingest.wal import WriteAheadLog, segment_paths
from liveinsight.ingest.writer import BatchWriter
from liveinsight.ops.logship import LogTable
from liveinsight.settings import Settings
from liveinsight.storage import schema
from liveinsight.storage.owner import PASSWORD_ENV
from liveinsight.storage.protocol import Store

log = logging.getLogger(__name__)

ROOT_ENV = "_LIVEINSIGHT_WORKER_ROOT"
"""Set by the parent for its workers: the directory of the slots (not a setting)."""
OWNER_ENV = "_LIVEINSIGHT_WORKER_OWNER"
"""Set by the parent when there is an engine owner: its URL, which workers wait for."""
OWNER_USER = "liveinsight"
_held: list[IO[bytes]] = []  # the claimed slot's lock, held for the life of the process


def slots_root(settings: Settings) -> Path:
    return settings.data_dir / "workers"


def claim_slot(root: Path) -> Path:
    """The lowest-numbered slot under ``root`` no living process holds, locked by this one
    until it exits."""
    root.mkdir(parents=True, exist_ok=True)
    number = 0
    while True:
        slot = root / str(number)
        slot.mkdir(exist_ok=True)
        lock = (slot / "worker.lock").open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            number += 1
            continue
        _held.append(lock)
        return slot


def wait_for_owner(url: str, timeout: float = 120) -> None:
    """Block until the engine owner at ``url`` answers ``/ping`` (a worker starting while
    the parent restarts the owner waits for it rather than failing its start)."""
    parts = urlsplit(url)
    ping = f"{parts.scheme}://{parts.hostname}:{parts.port}/ping"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(ping, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                return  # the app's start then reports the store unreachable
            time.sleep(0.2)


def worker_environment(settings: Settings, clickhouse_url: str | None) -> dict[str, str]:
    """The variables every worker gets on top of the parent's: what the data dir holds that
    all workers share, named explicitly (each worker's own data dir is its slot)."""
    env = {
        ROOT_ENV: str(slots_root(settings).resolve()),
        "LIVEINSIGHT_DATABASE_URL": settings.metadata_url,
        "LIVEINSIGHT_SECRET_KEY": settings.resolved_secret().decode(),
        "LIVEINSIGHT_BACKUP_DIR": str(settings.backup_path.resolve()),
    }
    if clickhouse_url:
        env["LIVEINSIGHT_CLICKHOUSE_URL"] = clickhouse_url
        env[OWNER_ENV] = clickhouse_url
    return env


# A slot's write-ahead logs: the tables their segments feed (None: events and sessions) and
# the suffix of the node id their shipper writes with (the replay tokens must match its).
SLOT_LOGS: tuple[tuple[str, list[tuple[str, str, schema.Columns]] | None, str], ...] = (
    ("wal", None, ""),
    ("logs-wal", schema.LOG_TARGETS, "-logs"),  # ops/logship.py
    ("audit-wal", schema.AUDIT_TARGETS, "-audit"),  # ops/auditship.py
    ("spans-wal", schema.SPAN_TARGETS, "-spans"),  # ops/spans.py
)


def ingest_unclaimed(root: Path, workers: int, store: Store) -> int:
    """Ingest the logs of slots ``workers`` and above (no worker of this run claims them)
    into ``store`` — events, and the log records', audit copies' and spans' own logs — and
    remove those slots; returns the segments ingested. A slot still locked (a process of
    another run) is left alone. Raises ``RuntimeError`` when a log cannot be ingested
    within two minutes (the store refuses or is away): the slot and its logs stay."""
    done = 0
    if not root.is_dir():
        return 0
    for slot in sorted(root.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not slot.name.isdigit() or int(slot.name) < workers:
            continue
        with (slot / "worker.lock").open("ab") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            node_file = slot / "node_id"
            node_id = node_file.read_text().strip() if node_file.exists() else slot.name
            for name, targets, suffix in SLOT_LOGS:
                done += _drain(slot / name, store if targets is None
                               else LogTable(store, targets), node_id + suffix)
            if not any(segment_paths(slot / name) for name, _, _ in SLOT_LOGS):
                _remove_slot(slot)
    return done


def drain_logs(settings: Settings, root: Path, store: Store) -> int:
    """Ingest what a stopped server left in its write-ahead log (with the tokens it would
    use, so its next start replays nothing twice) and in unclaimed worker slots; the
    segments ingested. Only while no server uses the data directory."""
    node_file = settings.data_dir / "node_id"
    node_id = node_file.read_text().strip() if node_file.exists() else "cli"
    done = _drain(settings.wal_dir, store, node_id) if settings.wal_dir.is_dir() else 0
    return done + ingest_unclaimed(root, 0, store)


def _drain(wal_dir: Path, store: Store, node_id: str) -> int:
    """Ingest every segment of the log in ``wal_dir`` with the tokens its node would use."""
    count = len(segment_paths(wal_dir))
    if count:
        wal = WriteAheadLog(wal_dir, fsync="always")
        writer = BatchWriter(wal, store, node_id=node_id)
        try:
            if not writer.flush(timeout=120):
                raise RuntimeError(f"could not ingest the log in {wal_dir}: {writer.last_error}")
        finally:
            wal.close()
    for leftover in segment_paths(wal_dir):  # an empty segment the log made on opening
        if leftover.stat().st_size == 0:
            leftover.unlink()
    return count


def _remove_slot(slot: Path) -> None:
    for path in sorted(slot.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir():
            path.rmdir()
        elif path.name != "worker.lock":
            path.unlink()
    # the lock file last: a process that opens it meanwhile finds the slot empty
    (slot / "worker.lock").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        slot.rmdir()


class Owner:
    """The engine owner process for ``settings``' chDB directory, started on a free loopback
    port and restarted on that port if it dies (until :meth:`stop`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.password = secrets.token_urlsafe(24)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"http://{OWNER_USER}:{self.password}@127.0.0.1:{self.port}"

    def start(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="engine-owner", daemon=True)
        self._watcher.start()

    def _spawn(self, timeout: float = 120) -> None:
        scratch = self.settings.data_dir / "owner-inserts"
        args = [sys.executable, "-m", "liveinsight.storage.owner",
                "--chdb", str(self.settings.chdb_path.resolve()), "--scratch", str(scratch),
                "--port", str(self.port), "--user", OWNER_USER]
        deadline = time.monotonic() + timeout
        while True:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                    env={**os.environ, PASSWORD_ENV: self.password})
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            proc.stdout.close()
            if line.startswith("listening on "):
                self.port = int(line.split()[-1])
                self._proc = proc
                return
            proc.wait()
            # a restart on the same port can find it still closing, or the old engine's
            # directory lock not yet released: try again for a while
            if time.monotonic() > deadline:
                raise RuntimeError(f"the engine owner did not start (exit {proc.returncode})")
            time.sleep(0.5)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            proc = self._proc
            if proc is not None and proc.poll() is not None and not self._stopping.is_set():
                log.error("the engine owner exited with %s; starting it again", proc.returncode)
                self.restarts += 1
                try:
                    self._spawn()
                except RuntimeError:
                    log.exception("the engine owner could not be started again")
            self._stopping.wait(0.5)

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM the owner (after the workers have stopped and flushed their logs)."""
        self._stopping.set()
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
