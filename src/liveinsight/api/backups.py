"""Backups: ``POST /admin/backups`` (a job), ``GET /admin/backups`` (the backups with their
manifests, and the backup jobs) and ``GET /admin/backups/jobs/{job_id}``. Instance
administrators only (checked before the request is read)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from liveinsight.api.access import instance_admin
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.errors import Invalid, NotFound
from liveinsight.ops import backup
from liveinsight.ops.jobs import Step
from liveinsight.services import Services

router = APIRouter(tags=["admin"], dependencies=[Depends(instance_admin)])

KIND = "backup"
VERIFY_TIMEOUT_S = 3600


class StartBackup(BaseModel):
    verify: bool = Field(True, description="After the backup, restore it into a scratch "
                         "directory (in a separate process) and compare the row counts.")
    incremental: bool = Field(False, description="Only what the newest backup lacks, on "
                              "top of it (400 when there is none).")


@contextlib.contextmanager
def _held(svc: Services) -> Iterator[None]:
    """Every writer of the node held: the events' and those of its own records (logs,
    spans, audit copies), so no table changes between the backup's row counts and its
    ``BACKUP`` (what they write meanwhile waits in their logs and flows in after)."""
    shippers = [svc.logs, svc.audit_copies, svc.tracing.shipper if svc.tracing else None]
    with contextlib.ExitStack() as stack:
        for writer in [svc.writer, *(s.writer for s in shippers if s is not None)]:
            stack.enter_context(writer.held())
        yield


def _take(svc: Services, found: dict[str, Any], incremental: bool) -> dict[str, Any]:
    manifest = backup.create(svc.settings, svc.store, svc.wal, lambda: _held(svc),
                             incremental=incremental)
    found["path"] = manifest["path"]
    return {key: value for key, value in manifest.items() if key != "files"}


def _verify(found: dict[str, Any]) -> dict[str, Any]:
    """In another process: chDB opens one data dir per process, and this one has the
    node's."""
    done = subprocess.run(
        [sys.executable, "-c", "import json, sys; from liveinsight.ops.backup import verify; "
         "print(json.dumps(verify(sys.argv[1])))", found["path"]],
        capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"verification failed: {done.stderr.strip()[-400:]}")
    outcome: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not outcome["ok"]:
        raise RuntimeError(f"verification found differences: {json.dumps(outcome)[:400]}")
    return outcome


@router.post("/admin/backups", summary="Take a backup of this node (a job)", status_code=202,
             responses=error_responses(400, 401, 403, 409, 413))
async def start(request: Request, body: StartBackup | None = None) -> JSONResponse:
    """Starts a job and answers at once with it (``GET /admin/backups/jobs/{id}`` follows
    its progress); 409 while another backup runs. The backup goes under
    ``LIVEINSIGHT_BACKUP_DIR``; the oldest beyond ``LIVEINSIGHT_BACKUP_KEEP`` are deleted."""
    svc = services(request)
    verify = body.verify if body is not None else True
    backup.ensure_supported(svc.store)
    found: dict[str, Any] = {}
    incremental = body.incremental if body is not None else False
    if incremental and backup.newest(svc.settings.backup_path.resolve()) is None:
        raise Invalid("no backup to build an incremental one on: take a full one first",
                      field="incremental")
    steps: list[Step] = [("backup", lambda: _take(svc, found, incremental))]
    if verify:
        steps.append(("verify", lambda: _verify(found)))
    job = svc.jobs.start(KIND, steps)
    return JSONResponse(job.describe(), status_code=202)


@router.get("/admin/backups", summary="Backups and backup jobs",
            responses=error_responses(401, 403))
async def listing(request: Request) -> dict[str, Any]:
    """The backups in ``LIVEINSIGHT_BACKUP_DIR``, newest first, each its manifest (row
    counts per table, cut-off time, log segments) and path; and this node's backup jobs."""
    svc = services(request)
    found = await run_in_threadpool(backup.listing, svc.settings.backup_path)
    jobs = [job.describe() for job in svc.jobs.all() if job.kind == KIND]
    return {"backups": found, "jobs": jobs}


@router.get("/admin/backups/jobs/{job_id}", summary="A backup job's progress",
            responses=error_responses(401, 403, 404))
async def job(request: Request, job_id: str) -> dict[str, Any]:
    found = services(request).jobs.get(job_id)
    if found is None or found.kind != KIND:
        raise NotFound(f"no backup job {job_id[:40]!r} on this node")
    return found.describe()
