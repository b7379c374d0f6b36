"""Operations endpoints: health and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from liveinsight import __version__
from liveinsight.api.access import ops_access
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.ops.health import status as health_status

router = APIRouter(tags=["ops"])


def _status(request: Request) -> tuple[str, dict[str, Any]]:
    svc = services(request)
    shared = None
    if svc.settings.redis_url:
        breaker = svc.dependencies.breaker("redis")
        cache = None
        if breaker is not None and breaker.is_open:
            cache = f"Redis unreachable ({breaker.last_error})"
        shared = {"sessions": svc.sessions.degraded, "live_feed": svc.feed.degraded,
                  "result_cache": cache}
    return health_status(svc.writer, svc.wal, shared)


@router.get("/health", summary="Liveness and a one-word status")
async def health(request: Request) -> JSONResponse:
    """``ok``, or ``degraded`` while events wait in the log because ClickHouse fails, or
    while Redis is unreachable and sessions, the live feed and cached answers are kept on
    this node only.
    The collector keeps accepting events while degraded, so this answers 200 either way."""
    status, _ = _status(request)
    return JSONResponse({"status": status, "version": __version__})


@router.get("/health/detailed", summary="Status of each component",
            responses=error_responses(401, 403))
async def health_detailed(request: Request) -> JSONResponse:
    """Each component's state, the node id and its start time. Needs the ``metrics_token``
    (Bearer), an API key with the ``admin`` scope or a logged-in admin."""
    await ops_access(request)
    status, checks = _status(request)
    svc = services(request)
    checks["store_ping"] = await run_in_threadpool(svc.store.ping)
    return JSONResponse({"status": status, "version": __version__, "checks": checks,
                         "node_id": svc.node_id, "started_at": svc.started_at.isoformat()})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text "
                             "exposition format"}, **error_responses(401, 403)})
async def metrics(request: Request) -> Response:
    """Prometheus text format. Needs the ``metrics_token`` (Bearer, what a scrape config
    sends as ``authorization: {credentials: ...}``), an admin API key or a logged-in admin."""
    await ops_access(request)
    svc = services(request)
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
