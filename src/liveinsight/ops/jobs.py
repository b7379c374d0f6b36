"""Long-running administrative work as jobs: an id to ask about, a progress, an outcome.

A job is a list of named steps run one after another on a worker thread of its own (steps
are blocking: database work); ``progress`` is the share of steps done. Jobs live in this
node's memory (the last :data:`KEEP` finished ones are kept for their status); a node that
restarts forgets its jobs, and a job interrupted by a stop is reported as failed to no one —
its effects are whatever its finished steps did, which each step must leave consistent.
At most one job of a kind runs at a time (a second is refused: it would compete for the same
tables).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from liveinsight.errors import Conflict

log = logging.getLogger("liveinsight.jobs")
KEEP = 100

Step = tuple[str, Callable[[], Any]]


class Busy(Conflict):
    """A job of this kind is running already (409)."""


@dataclass(slots=True)
class Job:
    id: str
    kind: str
    steps: list[str]
    status: str = "running"  # running | done | failed
    done: int = 0
    current: str | None = None
    error: str | None = None
    results: dict[str, Any] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status,
                "progress": round(self.done / len(self.steps), 4) if self.steps else 1.0,
                "steps": self.steps, "done": self.done, "current": self.current,
                "error": self.error, "results": self.results,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None}


class Jobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def start(self, kind: str, steps: list[Step]) -> Job:
        """Run ``steps`` in order on a new thread; the job at once. Raises :class:`Busy`
        when a job of ``kind`` is running."""
        with self._lock:
            if any(j.kind == kind and j.status == "running" for j in self._jobs.values()):
                raise Busy(f"a {kind} job is running already; wait for it to finish")
            job = Job(secrets.token_hex(8), kind, [name for name, _ in steps])
            self._jobs[job.id] = job
            finished = [k for k, j in self._jobs.items() if j.status != "running"]
            for key in finished[: max(0, len(finished) - KEEP)]:
                del self._jobs[key]
        threading.Thread(target=self._run, args=(job, steps), name=f"job-{kind}",
                         daemon=True).start()
        return job

    def ensure_idle(self, kind: str) -> None:
        """Raise :class:`Busy` when a job of ``kind`` is running."""
        with self._lock:
            if any(j.kind == kind and j.status == "running" for j in self._jobs.values()):
                raise Busy(f"a {kind} job is running already; wait for it to finish")

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def _run(self, job: Job, steps: list[Step]) -> None:
        for name, step in steps:
            job.current = name
            try:
                outcome = step()
            except Exception as exc:
                log.exception("job %s (%s) failed at %s", job.id, job.kind, name)
                job.status, job.error = "failed", f"{name}: {str(exc)[:500]}"
                break
            if outcome is not None:
                job.results[name] = outcome
            job.done += 1
        else:
            job.status = "done"
        job.current = None
        job.finished_at = datetime.now(UTC)
