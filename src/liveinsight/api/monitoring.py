"""The node's metrics as JSON: ``GET /admin/monitoring/metrics`` (instance administrators
only, checked before the request is read). ``/metrics`` serves the same registry to
Prometheus."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from liveinsight.api.access import instance_admin
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.ops import monitoring

router = APIRouter(tags=["admin"], dependencies=[Depends(instance_admin)])


@router.get("/admin/monitoring/metrics", summary="This node's metrics as JSON",
            responses=error_responses(400, 401, 403))
async def monitoring_metrics(
        request: Request,
        families: Annotated[str | None, Query(
            max_length=monitoring.MAX_PREFIX,
            description="Also list every metric family whose name starts with this prefix "
            "(empty: all of them), with its samples as /metrics exposes them.")] = None,
) -> dict[str, Any]:
    """Process (CPU seconds, resident memory, open files), the data directory's disk, the
    write-ahead log's backlog and the writer's lag, events accepted and dropped, and per
    route template and method: requests by status, 5xx answers, mean and p50/p95/p99
    duration since the process started. Under ``serve --workers N``, the whole server's
    (every worker's, as ``/metrics``; ``workers`` lists the slots included)."""
    svc = services(request)
    share = svc.metrics_share
    registry = svc.metrics.registry if share is None else share.registry
    collected = await run_in_threadpool(monitoring.collect, registry)
    return monitoring.report(collected, node_id=svc.node_id, at=svc.clock(), prefix=families)
