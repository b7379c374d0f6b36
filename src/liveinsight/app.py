"""The ASGI application: ``create_app(settings)`` wires storage, metadata, the write-ahead log,
the writer and every router. Nothing is opened at import time; the lifespan opens and closes
everything in order.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request

from liveinsight import __version__
from liveinsight.ingest.service import Ingestor
from liveinsight.ingest.visitor import SaltCache
from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.ingest.writer import BatchWriter
from liveinsight.meta.db import make_engine, upgrade
from liveinsight.meta.logins import LoginStore
from liveinsight.meta.repo import Metadata, SiteDirectory
from liveinsight.ops import housekeeping
from liveinsight.ops.logging import configure as configure_logging
from liveinsight.ops.mail import Mailer
from liveinsight.ops.metrics import Metrics
from liveinsight.security.client_ip import ClientIpResolver
from liveinsight.security.key_cache import ApiKeyCache
from liveinsight.security.throttle import Limits, LoginThrottle
from liveinsight.settings import Settings
from liveinsight.storage import Store, open_store
from liveinsight.storage.migrate import migrate

if TYPE_CHECKING:
    from liveinsight.api.frontdoor import FrontDoor

log = logging.getLogger("liveinsight.app")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything a request handler may need, built once per app in the lifespan."""

    settings: Settings
    metrics: Metrics
    clock: Clock
    store: Store
    meta: Metadata
    sites: SiteDirectory
    wal: WriteAheadLog
    writer: BatchWriter
    ingestor: Ingestor
    secret: bytes
    node_id: str
    started_at: datetime
    logins: LoginStore
    throttle: LoginThrottle
    mailer: Mailer
    salts: SaltCache
    keys: ApiKeyCache  # API key verifications, for the collector and the read APIs
    ips: ClientIpResolver
    extras: dict[str, Any] = field(default_factory=dict)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def _node_id(settings: Settings) -> str:
    path = settings.data_dir / "node_id"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(6))
    return path.read_text().strip()


def open_services(settings: Settings, clock: Clock = utc_now) -> Services:
    """Open storage, metadata and the log, apply migrations, replay what the log holds."""
    from liveinsight.ingest.pipeline import build_pipeline

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    engine = make_engine(settings.metadata_url)
    upgrade(engine)
    meta = Metadata(engine)
    sites = SiteDirectory(meta)
    store = open_store(settings)
    migrate(store)
    wal = WriteAheadLog(
        settings.wal_dir,
        fsync=settings.wal_fsync,
        interval_s=settings.wal_fsync_interval_ms / 1000,
        max_bytes=settings.wal_max_bytes,
    )
    if wal.repaired_bytes:
        log.warning("write-ahead log: truncated %d torn bytes after a crash", wal.repaired_bytes)
    node_id = _node_id(settings)

    def _ingested(_segment: object, seconds: float) -> None:
        metrics.segments_ingested.inc()
        metrics.segment_ingest_seconds.observe(seconds)

    writer = BatchWriter(
        wal,
        store,
        node_id=node_id,
        batch_rows=settings.writer_batch_rows,
        flush_s=settings.writer_flush_ms / 1000,
        retry_max_s=settings.writer_retry_max_seconds,
        on_ingested=_ingested,
        on_error=lambda _exc: metrics.store_errors.inc(),
    )
    salts = SaltCache(meta, clock)
    pipeline = build_pipeline(settings=settings, meta=meta, sites=sites, metrics=metrics,
                              store=store, clock=clock, salts=salts)
    ingestor = Ingestor(pipeline, wal, metrics)
    secret = settings.resolved_secret()
    logins = LoginStore(engine)
    throttle = LoginThrottle(logins, secret, Limits(
        settings.login_account_attempts, settings.login_address_attempts,
        timedelta(minutes=settings.login_window_minutes)))
    return Services(
        settings=settings,
        metrics=metrics,
        clock=clock,
        store=store,
        meta=meta,
        sites=sites,
        wal=wal,
        writer=writer,
        ingestor=ingestor,
        secret=secret,
        node_id=node_id,
        started_at=clock(),
        logins=logins,
        throttle=throttle,
        mailer=Mailer(settings),
        salts=salts,
        keys=ApiKeyCache(meta.verify_api_key, settings.api_key_cache_seconds),
        ips=ClientIpResolver(settings.trusted_proxies),
    )


def close_services(svc: Services) -> None:
    """Graceful stop: close the log to appends (requests still running get 503), ingest
    everything it holds (what cannot be ingested stays for next start), then close the
    store and the metadata engine."""
    svc.wal.close()
    svc.writer.stop(flush=True, timeout=30)
    svc.store.close()
    svc.meta.engine.dispose()


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
    from liveinsight.api import collect, routers
    from liveinsight.api import errors as api_errors
    from liveinsight.api.deadline import BodyDeadlines
    from liveinsight.api.frontdoor import FrontDoor

    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = open_services(settings, clock)
        app.state.services = svc
        svc.writer.start()
        for hook in routers.STARTUP:
            await hook(svc)
        chores = asyncio.create_task(housekeeping.run(svc))
        restore_gc = tune_gc() if settings.gc_tuning else None
        try:
            yield
        finally:
            chores.cancel()
            if restore_gc is not None:
                restore_gc()
            for hook in routers.SHUTDOWN:
                await hook(svc)
            close_services(svc)

    app = FastAPI(
        title="LiveInsight",
        version=__version__,
        summary="Self-hosted, real-time, privacy-friendly web analytics.",
        lifespan=lifespan,
    )
    api_errors.install(app)
    for router in routers.all_routers():
        app.include_router(router)
    return FrontDoor(app, collect.POST_ROUTES, BodyDeadlines(settings.body_timeout_seconds),
                     settings.max_api_body_bytes)
