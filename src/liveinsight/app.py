"""The ASGI application: ``create_app(settings)`` wires the services (``services.py``, the
composition root) into the HTTP layer (``api/``). This is the only module that imports
``api/``. Nothing is opened at import time; the lifespan opens and closes everything in
order.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette_compress import CompressMiddleware, remove_compress_type

from liveinsight import __version__
from liveinsight.api import assets, collect, imports, routes
from liveinsight.api import errors as api_errors
from liveinsight.api.deadline import BodyDeadlines
from liveinsight.api.frontdoor import FrontDoor
from liveinsight.api.limits import RequestLimits
from liveinsight.ingest import bots
from liveinsight.meta import repo
from liveinsight.ops import housekeeping, sentry
from liveinsight.ops.logging import configure as configure_logging
from liveinsight.ops.logging import set_node
from liveinsight.security.client_ip import ClientIpResolver
from liveinsight.security.headers import SecurityHeaders
from liveinsight.services import Clock, close_services, open_services, utc_now
from liveinsight.settings import Settings

# Youngest-generation threshold while serving (CPython's default is 700 net allocations).
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> Callable[[], None]:
    """Tune the cyclic garbage collector for serving; returns what undoes it.

    Start-up leaves ~200,000 tracked objects (the app, its libraries, chDB's bindings, data
    sets) that live as long as the process. Each full collection walked all of them: in
    process, 500 concurrent collector requests spent 74 µs of their ~125 µs of CPU per request
    in the collector, nearly all in full collections. ``gc.freeze`` moves them to the
    permanent generation, which collections skip. The youngest generation's threshold
    counts net allocations, and the objects of a thousand requests in flight alone pass
    700 (or 10,000: 37 collections of ~6 ms in 20,000 requests); at 50,000 only lasting
    growth triggers a collection. Reference cycles are still collected, a little later.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *thresholds[1:])

    def restore() -> None:
        gc.unfreeze()
        gc.set_threshold(*thresholds)

    return restore


def create_app(settings: Settings, *, clock: Clock = utc_now) -> FrontDoor:
    """The ASGI app: the collector's front door in front of the FastAPI app."""
    configure_logging(settings)
    sentry.init(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = open_services(settings, clock)
        app.state.services = svc
        door.observe = svc.metrics.observe_request
        set_node(svc.node_id)
        if svc.logs is not None:
            svc.logs.start()
        if svc.tracing is not None:
            svc.tracing.start()
            door.trace(svc.tracing)
        if svc.metrics_share is not None:
            svc.metrics_share.start()
        bots.warm()
        repo.warm_sign_in()
        svc.writer.start()
        svc.audit.start()
        if svc.audit_copies is not None:
            svc.audit_copies.start(svc.audit.store.batches)
        svc.warmer.start()
        chores = asyncio.create_task(housekeeping.run(svc))
        alerts = (asyncio.create_task(svc.evaluator.run()) if settings.alerts_enabled
                  else None)
        restore_gc = tune_gc() if settings.gc_tuning else None
        try:
            yield
        finally:
            chores.cancel()
            if alerts is not None:  # let a tick in flight end before the services close
                alerts.cancel()
                await asyncio.gather(alerts, return_exceptions=True)
            if restore_gc is not None:
                restore_gc()
            door.observe = None
            door.trace(None)
            await close_services(svc)

    app = FastAPI(
        title="LiveInsight",
        version=__version__,
        summary="Self-hosted, real-time, privacy-friendly web analytics.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by api/docs.py (no CDN)
        redoc_url=None,
    )
    api_errors.install(app)
    if settings.compress_responses:
        # zstd, brotli or gzip as the client asks (starlette-compress); never the live
        # stream (each event must go out as it comes) nor the collector's answers (the front
        # door answers them before this app).
        remove_compress_type("text/event-stream")
        app.add_middleware(CompressMiddleware, minimum_size=500)
    limits = RequestLimits(collect.POST_ROUTES)
    for router in routes.ROUTERS:
        for route in router.routes:  # one by one: each declares the 429 if it is limited
            app.include_router(APIRouter(routes=[route]),
                               responses=limits.responses(getattr(route, "path", "")))
    door = FrontDoor(app, collect.POST_ROUTES, BodyDeadlines(settings.body_timeout_seconds),
                     settings.max_api_body_bytes,
                     {**assets.body_limits(settings), **imports.body_limits(settings)},
                     headers=SecurityHeaders(settings.hsts_seconds),
                     ips=ClientIpResolver(settings.trusted_proxies),
                     require_https=settings.require_https, public_url=settings.public_url,
                     log_requests=settings.log_requests,
                     limits=limits)
    return door
