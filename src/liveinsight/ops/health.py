"""What a node's health is made of (``api/ops.py`` serves it):

- ``/health`` (liveness): :func:`status`, a pure function of the parts' state in memory —
  no round-trip to any dependency, so it answers in microseconds even while one hangs;
- ``/health/ready`` (readiness) and ``/health/dependencies``: the dependency registry's
  checks (``ops/dependencies.py``; the log's disk's is :func:`log_disk`), run by
  :class:`Checks` at most once at a time and reused for a second, so a storm of probes
  costs one round-trip per dependency a second;
- ``/health/detailed``: both, plus the log's backlog, the writer's lag and the disk; its
  headline is the worse of the two (:func:`worst`): ``down`` while a required dependency is.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.ingest.writer import BatchWriter
from liveinsight.ops.dependencies import DEGRADED, DOWN, UP, Dependencies, Reading, Report

CHECKS_MAX_AGE_S = 1.0
"""How long one run of the dependency checks answers the probes that follow."""
READY_TIMEOUT_S = 1.0
"""At most this long for the checks of one readiness probe (a dependency that does not
answer within it is down)."""


def status(writer: BatchWriter, wal: WriteAheadLog,
           shared: Mapping[str, str | None] | None = None) -> tuple[str, dict[str, Any]]:
    """``("ok" | "degraded", checks)``: degraded while inserts into the store fail (events
    wait in the log meanwhile), while the log refuses appends (its disk full, an I/O error,
    its quota reached: the collector answers 503; shown for 10 s after the last refusal), or
    while a state meant to be shared through Redis is kept in this node only (``shared``:
    state name → why it is node-local, or None when shared); the checks name the store's
    state and error, the log's state, size and quota, and each shared state as ``"shared"``
    or ``"node-local: <why>"``."""
    refusing = wal.refusing
    checks: dict[str, Any] = {
        "store": "ok" if writer.healthy else "failing",
        "write_ahead_log": "ok" if refusing is None else f"refusing appends: {refusing}",
        "write_ahead_log_bytes": wal.total_bytes,
        "write_ahead_log_quota_bytes": wal.max_bytes,
    }
    if writer.last_error and not writer.healthy:
        checks["store_error"] = writer.last_error
    local = False
    for name, why in (shared or {}).items():
        checks[name] = "shared" if why is None else f"node-local: {why}"
        local = local or why is not None
    ok = writer.healthy and refusing is None and not local
    return ("ok" if ok else "degraded"), checks


def log_disk(wal: WriteAheadLog) -> Callable[[], Reading]:
    """The check of the write-ahead log's disk (the dependency ``write_ahead_log``, kind
    ``disk``): ``down`` while the log refuses appends (disk full, an I/O error, its quota
    reached: the collector answers 503; shown for 10 s after the last refusal);
    ``degraded`` while the disk has less free space than the log's quota still lets it grow
    by (the disk would fill before the quota: a long store outage would end in refused
    events); else ``up``. Its ``detail``: the disk's ``free_bytes`` and ``total_bytes``, the
    log's ``log_bytes`` and ``quota_bytes``. Raises ``OSError`` when the disk cannot be
    read (the report then says so)."""

    def check() -> Reading:
        disk = shutil.disk_usage(wal.directory)
        used, quota = wal.total_bytes, wal.max_bytes
        room = max(0, quota - used)
        detail = {"free_bytes": disk.free, "total_bytes": disk.total, "log_bytes": used,
                  "quota_bytes": quota}
        refusing = wal.refusing
        if refusing is not None:
            return Reading(DOWN, f"refusing appends: {refusing}", detail)
        if disk.free < room:
            return Reading(DEGRADED, f"{disk.free} bytes free on the log's disk, less than "
                           f"the {room} its quota still lets it grow by: the disk would "
                           "fill first", detail)
        return Reading(UP, None, detail)

    return check


class Checks:
    """The registry's checks, run at most once at a time and reused for ``max_age``
    seconds (by ``clock``). Blocking: call :meth:`reports` off the event loop."""

    def __init__(self, dependencies: Dependencies, *, max_age: float = CHECKS_MAX_AGE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._deps = dependencies
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, list[Report]] | None = None

    def reports(self, timeout: float | None = None) -> list[Report]:
        """Every dependency's report, at most ``max_age`` old; a caller arriving while a
        run is under way waits for it and takes its result."""
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last[0] < self._max_age:
                return self._last[1]
            found = self._deps.check(timeout)
            self._last = (self._clock(), found)
            return found


def overall(reports: list[Report]) -> str:
    """``down`` when a required dependency is down, ``degraded`` when any is not up, else
    ``ok``."""
    if any(r.required and r.state == DOWN for r in reports):
        return "down"
    return "ok" if all(r.state == UP for r in reports) else "degraded"


_RANK = {"ok": 0, "degraded": 1, "down": 2}


def worst(*statuses: str) -> str:
    """The worst of ``statuses`` (``ok`` < ``degraded`` < ``down``): ``/health/detailed``'s
    headline is the worst of :func:`status` and :func:`overall`."""
    return max(statuses, key=_RANK.__getitem__)


def readiness(reports: list[Report], accepting: bool) -> tuple[bool, list[str]]:
    """Whether the node should get traffic, and why not: every required dependency (the
    store, the metadata database) answers, and the node is not stopping (``accepting``)."""
    why = [f"{r.name} is down" for r in reports if r.required and r.state == DOWN]
    if not accepting:
        why.append("the node is stopping")
    return not why, why


def as_json(report: Report) -> dict[str, Any]:
    """A report as ``/health/dependencies`` shows it (the breaker's state, if any, nested)."""
    out = asdict(report)
    if report.breaker is not None:
        breaker = out["breaker"]
        breaker.pop("name", None)
        for key in ("opened_seconds_ago", "retry_in_seconds"):
            if breaker[key] is not None:
                breaker[key] = round(breaker[key], 3)
    return out


def node(wal: WriteAheadLog, writer: BatchWriter, data_dir: Path) -> dict[str, Any]:
    """The log's backlog, the writer's lag and state, the data directory's disk and the
    log's (``write_ahead_log_disk_*``: the same disk unless the log is mounted apart)."""
    out: dict[str, Any] = {
        "write_ahead_log_segments": wal.pending_segments,
        "writer_lag_seconds": round(wal.backlog_age_s, 3),
        "writer_failures_in_a_row": writer.failures,
    }
    for prefix, path in (("disk", data_dir), ("write_ahead_log_disk", wal.directory)):
        try:
            disk = shutil.disk_usage(path)
            out |= {f"{prefix}_free_bytes": disk.free, f"{prefix}_total_bytes": disk.total}
        except OSError as exc:
            out[f"{prefix}_error"] = str(exc)[:200]
    return out
