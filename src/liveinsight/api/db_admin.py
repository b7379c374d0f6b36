"""Database administration: ``GET /admin/db/performance``, ``GET /admin/db/slow-queries``,
``POST /admin/db/optimize`` and its job's ``GET /admin/db/jobs/{job_id}``. Instance
administrators only (checked before the request is read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from liveinsight.api.access import instance_admin
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.errors import Invalid, NotFound
from liveinsight.ops.jobs import Step
from liveinsight.services import Services
from liveinsight.storage import admin, schema
from liveinsight.storage.migrate import cluster_of

router = APIRouter(tags=["admin"], dependencies=[Depends(instance_admin)])

NODE = "this node's query timings (the engine keeps no system.query_log)"
LOG = "system.query_log"


def _performance(svc: Services, hours: int) -> dict[str, Any]:
    store = svc.store
    with_log = admin.query_log_available(store)
    latency = ({"all": admin.latency_from_log(store, hours)} if with_log
               else svc.runner.timings.latency())
    return {"source": LOG if with_log else NODE, "hours": hours, "latency": latency,
            "tables": admin.tables(store), "partitions": admin.partitions(store),
            "merges": admin.merges(store), "disks": admin.disks(store)}


@router.get("/admin/db/performance", summary="Query latency, tables, parts, merges, disks",
            responses=error_responses(400, 401, 403, 503))
async def performance(request: Request, hours: int = Query(
        1, ge=1, le=720, description="Window of the query-log figures")) -> dict[str, Any]:
    """Query latency percentiles (per kind from this node's timings on the embedded engine;
    from ``system.query_log`` on a server), and per table: active parts, partitions, rows,
    bytes on disk, compression ratio; per partition; merges running; disk space."""
    return await run_in_threadpool(_performance, services(request), hours)


def _slow(svc: Services, threshold_ms: int, hours: int, limit: int) -> dict[str, Any]:
    if admin.query_log_available(svc.store):
        return {"source": LOG, "threshold_ms": threshold_ms, "hours": hours,
                "queries": admin.slow_from_log(svc.store, threshold_ms, hours, limit)}
    return {"source": NODE, "threshold_ms": threshold_ms, "hours": None,
            "queries": svc.runner.timings.slow(threshold_ms / 1000, limit)}


SLOW_LIMIT = 500


@router.get("/admin/db/slow-queries", summary="The slowest query shapes",
            responses=error_responses(400, 401, 403, 503))
async def slow_queries(
        request: Request,
        threshold_ms: int | None = Query(None, ge=1, le=3_600_000, description="Default: "
                                         "LIVEINSIGHT_SLOW_QUERY_MS"),
        hours: int = Query(24, ge=1, le=720),
        limit: int = Query(50, ge=1, le=SLOW_LIMIT)) -> dict[str, Any]:
    """Queries of at least ``threshold_ms``, grouped by their normalised text (values
    stripped), the most total time first: count, p95, max and total ms, last seen (on the
    embedded engine: of this node's last 512 runs of each shape, since it started; ``runs``
    counts them all)."""
    svc = services(request)
    threshold = threshold_ms or svc.settings.slow_query_ms
    return await run_in_threadpool(_slow, svc, threshold, hours, limit)


class Optimize(BaseModel):
    tables: list[str] | None = Field(None, description="Default: every table of the database.")
    partition: str | None = Field(None, description="One month, YYYYMM (default: all).")
    final: bool = Field(False, description="Merge into one part per partition (heavy: rewrites "
                        "the data; collapses the sessions' cancelled rows).")
    rebuild_rollups: bool = Field(False, description="Then empty the rollups and fill them "
                                  "again from the raw tables (ingest waits meanwhile; "
                                  "accepted events stay in the log).")


@router.post("/admin/db/optimize", summary="Merge parts, rebuild the rollups (a job)",
             status_code=202, responses=error_responses(400, 401, 403, 409, 413))
async def optimize(request: Request, body: Optimize) -> JSONResponse:
    """Starts a job and answers at once with it (``GET /admin/db/jobs/{id}`` follows its
    progress); 409 while another optimize job runs."""
    svc = services(request)
    known = await run_in_threadpool(admin.table_names, svc.store)
    chosen = body.tables if body.tables is not None else known
    unknown = [t for t in chosen if t not in known]
    if unknown or not chosen:
        raise Invalid(f"unknown table {unknown[0][:60]!r}; tables are {', '.join(known)}"
                      if unknown else "no table given", field="tables")
    if body.partition is not None and not admin.PARTITION.match(body.partition):
        raise Invalid("partition must be a month, YYYYMM", field="partition")
    steps: list[Step] = [(f"optimize {t}", _optimizer(svc, t, body.partition, body.final))
                         for t in chosen]
    if body.rebuild_rollups:
        steps.append(("rebuild rollups", lambda: _rebuild_rollups(svc)))
    job = svc.jobs.start("optimize", steps)
    return JSONResponse(job.describe(), status_code=202)


def _optimizer(svc: Services, table: str, partition: str | None, final: bool
               ) -> Callable[[], None]:
    cluster = cluster_of(svc.settings)
    return lambda: admin.optimize(svc.store, table, partition, final, cluster)


def _rebuild_rollups(svc: Services) -> None:
    with svc.writer.held():
        for statement in schema.rollup_rebuild(svc.store.database,
                                                 cluster_of(svc.settings)):
            svc.store.command(statement)
    svc.answers.invalidate_all()


@router.get("/admin/db/jobs/{job_id}", summary="A database job's progress",
            responses=error_responses(401, 403, 404))
async def job(request: Request, job_id: str) -> dict[str, Any]:
    found = services(request).jobs.get(job_id)
    if found is None:
        raise NotFound(f"no job {job_id[:40]!r} on this node")
    return found.describe()
