"""Operations endpoints: health (liveness, readiness, dependencies, detailed) and Prometheus
metrics. docs/operations.md says which probe a load balancer or Kubernetes should use."""

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
from liveinsight.ops import health as node_health
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
    """``ok``, or ``degraded`` while events wait in the log because ClickHouse fails, while
    the log refuses appends (its disk full: the collector answers 503), or while Redis is
    unreachable and sessions, the live feed and cached answers are kept on
    this node only.
    The collector keeps accepting events while degraded, so this answers 200 either way."""
    status, _ = _status(request)
    return JSONResponse({"status": status, "version": __version__})


@router.get("/health/ready", summary="Readiness: whether this node should get traffic",
            responses={503: {"description": "Not ready: a required dependency (the store, "
                             "the metadata database) is down, or the node is stopping"}})
async def health_ready(request: Request) -> JSONResponse:
    """200 ``{"ready": true}`` while the store and the metadata database answer their checks
    (run at most once a second, each within 1 s) and the node is not stopping; else 503
    with ``reasons`` and ``Retry-After``. Public, like ``/health``: for load balancers and
    Kubernetes readiness probes (docs/operations.md: which probe for which traffic)."""
    svc = services(request)
    reports = await run_in_threadpool(svc.health_checks.reports, node_health.READY_TIMEOUT_S)
    ready, reasons = node_health.readiness(reports, svc.wal.accepting)
    body: dict[str, Any] = {"ready": ready, "version": __version__}
    if not ready:
        body["reasons"] = reasons
        return JSONResponse(body, 503, headers={"retry-after": "5"})
    return JSONResponse(body)


@router.get("/health/dependencies", summary="Each external dependency's state",
            responses=error_responses(401, 403))
async def health_dependencies(request: Request) -> JSONResponse:
    """Each dependency (the store, the metadata database, the write-ahead log's disk,
    Redis and the SMTP server when configured): ``state`` (``up``, ``degraded``, ``down``),
    the check's ``latency_ms``, the last ``error``, its circuit breaker's state and the
    check's figures (``detail``: the log's disk's free bytes...). Needs the
    ``metrics_token`` (Bearer), an API key with the ``admin`` scope or a logged-in admin."""
    await ops_access(request)
    svc = services(request)
    reports = await run_in_threadpool(svc.health_checks.reports)
    return JSONResponse({"status": node_health.overall(reports), "node_id": svc.node_id,
                         "dependencies": [node_health.as_json(r) for r in reports]})


@router.get("/health/detailed", summary="Status of each component",
            responses=error_responses(401, 403))
async def health_detailed(request: Request) -> JSONResponse:
    """Each component's state: the store's inserts, the log, the writer's lag, the disk,
    shared state, the city database in use (``geo_database``: its type, build date and
    path, or ``"country only"``), and every dependency as ``/health/dependencies`` reports
    it; the node id and its start time. ``status`` is the worse of ``/health``'s and
    ``/health/dependencies``'': ``down`` while a required dependency (the store, the
    metadata database) is down, ``degraded`` while any part is not as it should be. Needs
    the ``metrics_token`` (Bearer), an API key with the ``admin`` scope or a logged-in
    admin."""
    await ops_access(request)
    status, checks = _status(request)
    svc = services(request)
    reports = await run_in_threadpool(svc.health_checks.reports)
    status = node_health.worst(status, node_health.overall(reports))
    store = next((r for r in reports if r.kind == "clickhouse"), None)
    checks["store_ping"] = store is not None and store.state != "down"
    checks |= node_health.node(svc.wal, svc.writer, svc.settings.data_dir)
    checks["geo_database"] = svc.cities.info() if svc.cities is not None else "country only"
    return JSONResponse({"status": status, "version": __version__, "checks": checks,
                         "dependencies": [node_health.as_json(r) for r in reports],
                         "node_id": svc.node_id, "started_at": svc.started_at.isoformat()})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text "
                             "exposition format"}, **error_responses(401, 403)})
async def metrics(request: Request) -> Response:
    """Prometheus text format. Needs the ``metrics_token`` (Bearer, what a scrape config
    sends as ``authorization: {credentials: ...}``), an admin API key or a logged-in admin.
    Under ``serve --workers N``, the whole server's: every worker's counters and histograms
    summed, gauges per worker (label ``worker``), see ``ops/metricshare.py``."""
    await ops_access(request)
    svc = services(request)
    share = svc.metrics_share
    registry = svc.metrics.registry if share is None else share.registry
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
