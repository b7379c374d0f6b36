"""The composition root: every long-lived object of a node, built in one place, closed in one.

:func:`open_services` opens storage, metadata and the log, applies migrations, replays what
the log holds and wires every service; :func:`close_services` stops them in order. Nothing is
opened at import time, nothing else builds these objects, and every field of
:class:`Services` is typed: the HTTP layer (``api/``) reads them, never adds to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import Engine, text

from liveinsight.behaviour.service import BehaviourService
from liveinsight.cache.answers import Answers, Policy
from liveinsight.cache.cdn import CloudflarePurger, NoPurger, Purger, WebhookPurger
from liveinsight.cache.generation import Generations, MemoryGenerations, RedisGenerations
from liveinsight.cache.layered import LayeredCache
from liveinsight.cache.memory import MemoryResultCache
from liveinsight.cache.protocol import ResultCache
from liveinsight.cache.redis import RedisResultCache
from liveinsight.cache.warmup import Popularity, Warmer
from liveinsight.errors import Invalid
from liveinsight.imports.reader import Limits as ImportLimits
from liveinsight.imports.service import Importer
from liveinsight.ingest.citydb import CityDatabase, CityDatabaseError
from liveinsight.ingest.direct import DirectLog
from liveinsight.ingest.group import GroupIngest
from liveinsight.ingest.pipeline import build_pipeline
from liveinsight.ingest.redis_sessions import RedisSessionStore
from liveinsight.ingest.service import Ingestor
from liveinsight.ingest.session_store import SessionStore
from liveinsight.ingest.sessions import SessionTracker
from liveinsight.ingest.visitor import SaltCache
from liveinsight.ingest.wal import Segment, WriteAheadLog
from liveinsight.ingest.writer import BatchWriter
from liveinsight.meta.assets import Assets
from liveinsight.meta.audit import AuditLog, AuditStore
from liveinsight.meta.db import make_engine, pool_of, upgrade
from liveinsight.meta.funnels import SavedFunnels
from liveinsight.meta.invitations import Invitations
from liveinsight.meta.key_networks import KeyNetworks
from liveinsight.meta.kpi_targets import KpiTargets
from liveinsight.meta.logins import LoginStore
from liveinsight.meta.people import People
from liveinsight.meta.repo import Metadata, SiteDirectory
from liveinsight.meta.segments import Segments
from liveinsight.meta.shares import SharedLinks
from liveinsight.meta.site_imports import SiteImports
from liveinsight.meta.two_factor import TwoFactor
from liveinsight.ops import mail
from liveinsight.ops.alerts.channels.config import Deps
from liveinsight.ops.alerts.evaluator import Evaluator
from liveinsight.ops.alerts.incidents import Incidents
from liveinsight.ops.alerts.reports import Reports
from liveinsight.ops.alerts.service import AlertService
from liveinsight.ops.alerts.store import AlertStore
from liveinsight.ops.auditship import AuditShipper
from liveinsight.ops.breaker import Breaker
from liveinsight.ops.dependencies import Dependencies
from liveinsight.ops.health import Checks, log_disk
from liveinsight.ops.jobs import Jobs
from liveinsight.ops.lease import InProcessLease, Lease
from liveinsight.ops.lease_redis import RedisLease
from liveinsight.ops.lease_sql import SqlLease
from liveinsight.ops.logship import LogShipper
from liveinsight.ops.mail import Mailer
from liveinsight.ops.metrics import Metrics
from liveinsight.ops.metricshare import MetricsShare
from liveinsight.ops.site_data import SiteData
from liveinsight.ops.spans import Tracing
from liveinsight.query.live import Ingested, LiveBus, LiveFeed
from liveinsight.query.realtime import SharedSnapshots
from liveinsight.query.redis_bus import RedisLiveBus
from liveinsight.query.runner import QueryRunner
from liveinsight.query.service import StatsService
from liveinsight.query.timings import QueryTimings
from liveinsight.security.audit import chain_key
from liveinsight.security.client_ip import ClientIpResolver
from liveinsight.security.key_cache import ApiKeyCache
from liveinsight.security.passwords import PasswordPolicy
from liveinsight.security.ratelimit import RateLimiter, open_rate_limiter
from liveinsight.security.throttle import Limits, LoginThrottle
from liveinsight.settings import ConfigError, Settings
from liveinsight.storage.http import HttpStore, outage
from liveinsight.storage.migrate import cluster_of, migrate
from liveinsight.storage.protocol import Store, StoreError, StoreUnavailable
from liveinsight.storage.transports import open_store
from liveinsight.workers import OWNER_ENV, ROOT_ENV, ingest_unclaimed, slots_root

log = logging.getLogger("liveinsight.services")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a request handler may use, built once per node by :func:`open_services`."""

    settings: Settings
    metrics: Metrics
    clock: Clock
    node_id: str
    started_at: datetime
    secret: bytes
    # storage and metadata
    store: Store
    meta: Metadata
    sites: SiteDirectory
    logins: LoginStore
    people: People  # teams, members, guests: who holds which role on a site
    invitations: Invitations  # by e-mail, to a site, its ownership or a team
    # ingest: the pipeline and log behind the collector, the writer draining the log
    wal: WriteAheadLog
    writer: BatchWriter
    ingestor: Ingestor
    group: GroupIngest  # the collector's group commit (fsync=always: appends off the loop)
    salts: SaltCache
    cities: CityDatabase | None  # the city database (geo_city_database); None: country only
    sessions: SessionStore  # live sessions: in memory, or in Redis with redis_url
    ingested: Ingested  # bumped after each segment the writer moved into the store
    # reading
    runner: QueryRunner
    answers: Answers  # every cached analytics answer: keys, generations, invalidation
    dependencies: Dependencies  # the store, the metadata DB, Redis...: checks and breakers
    health_checks: Checks  # the dependencies' checks for the health routes (reused 1 s)
    logs: LogShipper | None  # log records into the logs table (None: log_store off)
    audit_copies: AuditShipper | None  # audit records into the audit table (None: off)
    tracing: Tracing | None  # sampled requests' spans into the spans table (None: off)
    metrics_share: MetricsShare | None  # serve --workers: the whole server's /metrics
    warmer: Warmer  # recomputes the most viewed answers after new data
    stats: StatsService  # parse, cache or run, shape: one call per stats request
    behaviour: BehaviourService  # funnels, journeys, retention: as stats, through the cache
    funnels: SavedFunnels  # saved funnels per site (metadata database)
    shares: SharedLinks  # shared (read-only, signed-out) dashboard links per site
    segments: Segments  # saved filter sets per site (metadata database)
    kpi_targets: KpiTargets  # the KPI board's targets (metadata database)
    feed: LiveBus  # realtime fan-out of appended events (over Redis with redis_url)
    snapshots: SharedSnapshots  # realtime numbers shared by a site's stream subscribers
    purger: Purger  # asks a CDN to drop cached URLs (POST /admin/cdn/purge)
    jobs: Jobs  # long administrative work (optimize, rebuild the rollups), with progress
    site_data: SiteData  # resetting a site's stats, deleting a site (as jobs)
    assets: Assets  # uploaded images (metadata database)
    imports: Importer  # imported Plausible / GA4 aggregates: check, store (a job), delete
    # security
    keys: ApiKeyCache  # API key verifications, for the collector and the read APIs
    ips: ClientIpResolver
    limiter: RateLimiter  # per-API-key ingest rate (events)
    request_limiter: RateLimiter  # requests per address / per API key (api/limits.py)
    audit: AuditLog  # the hash-chained audit log; entries queued, written by its thread
    key_networks: KeyNetworks  # the networks each API key was used from (keyed hashes)
    two_factor: TwoFactor  # users' TOTP secrets and recovery codes
    throttle: LoginThrottle
    mailer: Mailer
    # alerting: one evaluator per cluster (the lease), the API's calls
    evaluator: Evaluator
    alerts: AlertService
    reports: Reports  # weekly/monthly e-mail reports, sent by the evaluator


def _metrics_share(settings: Settings, metrics: Metrics) -> MetricsShare | None:
    """A worker of ``serve --workers`` (its data dir is its slot): its share of the whole
    server's ``/metrics`` (``ops/metricshare.py``)."""
    root = os.environ.get(ROOT_ENV)
    if not root:
        return None
    return MetricsShare(metrics.registry, Path(root), settings.data_dir)


def _node_id(settings: Settings) -> str:
    path = settings.data_dir / "node_id"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(6))
    return path.read_text().strip()


def _city_database(settings: Settings) -> CityDatabase | None:
    """The city database the settings name, open; None without one."""
    if settings.geo_city_database is None:
        return None
    try:
        cities = CityDatabase(settings.geo_city_database)
    except CityDatabaseError as exc:
        raise ConfigError(f"LIVEINSIGHT_GEO_CITY_DATABASE: {exc}") from None
    info = cities.info()
    log.info("city database %s: %s built %s", info["path"], info["type"], info["build_date"])
    return cities


def _open_migrated_store(settings: Settings, breaker: Breaker | None) -> Store:
    """The store, its schema checked. A worker of ``serve --workers`` whose engine owner is
    being restarted by the parent waits for it (up to two minutes) instead of failing its
    start: granian takes a worker that fails right after a respawn for a crash loop and
    stops the whole server."""
    deadline = time.monotonic() + (120 if OWNER_ENV in os.environ else 0)
    while True:
        store: Store | None = None
        try:
            store = open_store(settings, breaker)
            migrate(store, cluster_of(settings))
            return store
        except StoreUnavailable:
            if store is not None:
                store.close()
            if time.monotonic() > deadline:
                raise
            log.warning("the engine owner does not answer yet; waiting for it")
            time.sleep(0.5)


def open_services(settings: Settings, clock: Clock = utc_now) -> Services:
    """Open storage, metadata and the log, apply migrations, replay what the log holds, and
    wire every service. The writer is not started (``svc.writer.start()``)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    cities = _city_database(settings)  # first: a bad file fails the start before any opening
    metrics = Metrics()
    meta_breaker = None
    if settings.metadata_url.startswith("postgresql"):  # a server: connections can fail
        meta_breaker = _dependency_breaker("metadata", settings.database_breaker_failures,
                                           settings.database_retry_seconds, metrics)
    engine = make_engine(settings.metadata_url, pool_of(settings), meta_breaker)
    upgrade(engine)
    meta = Metadata(engine, PasswordPolicy(settings.password_min_length))
    sites = SiteDirectory(meta)
    store_breaker = None
    if settings.clickhouse_url:  # a server (or the engine owner of serve --workers)
        store_breaker = _dependency_breaker("clickhouse", settings.clickhouse_breaker_failures,
                                            settings.clickhouse_retry_seconds, metrics,
                                            counts=outage)
    store = _open_migrated_store(settings, store_breaker)
    if ROOT_ENV not in os.environ:  # one process: what workers of a --workers run left
        ingest_unclaimed(slots_root(settings), 0, store)
    wal = WriteAheadLog(settings.wal_dir, fsync=settings.wal_fsync,
                        interval_s=settings.wal_fsync_interval_ms / 1000,
                        max_bytes=settings.wal_max_bytes, archive=settings.wal_archive_dir)
    if wal.repaired_bytes:
        log.warning("write-ahead log: truncated %d torn bytes after a crash", wal.repaired_bytes)
    node_id = _node_id(settings)
    ingested = Ingested()
    runner = QueryRunner(store, metrics, settings.query_timeout_seconds,
                         timings=QueryTimings())
    dependencies = Dependencies()
    dependencies.register("clickhouse", kind="clickhouse",
                          check=lambda: _ping(store, store_breaker),
                          breaker=store_breaker, required=True)
    dependencies.register("metadata", kind=engine.dialect.name,
                          check=lambda: _select_one(engine), breaker=meta_breaker,
                          required=True)
    if settings.ingest_mode == "log":  # not required: reads go on while the log refuses
        dependencies.register("write_ahead_log", kind="disk", check=log_disk(wal))
    redis_breaker: Breaker | None = None
    if settings.redis_url:
        redis_breaker = Breaker("redis", failures=3, reset_after=settings.redis_retry_seconds,
                                on_change=lambda state: metrics.breaker_open.labels(
                                    "redis").set(float(state != "closed")))
        metrics.breaker_open.labels("redis").set(0.0)
    smtp_breaker = _breaker("smtp", settings, clock, metrics)
    if settings.smtp_host:
        dependencies.register("smtp", kind="smtp", check=lambda: mail.ping(settings),
                              breaker=smtp_breaker)
    channel_breakers = {kind: _breaker(f"alerts_{kind}", settings, clock, metrics)
                        for kind in ("slack", "webhook", "sms")}
    for breaker in channel_breakers.values():
        dependencies.register(breaker.name, kind="http", breaker=breaker)
    answers, redis_client = _answers(settings, clock, redis_breaker)
    if redis_client is not None and redis_breaker is not None:
        dependencies.register("redis", kind="redis", check=redis_client.ping,
                              breaker=redis_breaker)
    popularity = Popularity()
    popularity.load(_popularity_file(settings))
    site_imports = SiteImports(engine)
    stats = StatsService(runner, sites, clock, answers, popularity,
                         sample_rows=settings.query_sample_rows,
                         imported=site_imports.ranges)
    warmer = Warmer(popularity, stats.replay, top=settings.cache_warmup_top,
                    min_interval=settings.cache_warmup_interval_seconds,
                    active=settings.cache_warmup_active_minutes * 60)
    metrics.watch_cache(answers.layers)

    def _on_ingested(segment: Segment, seconds: float) -> None:
        metrics.segments_ingested.inc()
        metrics.segment_ingest_seconds.observe(seconds)
        answers.generations.bump(segment.sites)  # None: replayed, of unknown sites
        ingested.bump()
        if segment.sites is None or segment.sites:
            warmer.notify(segment.sites)

    writer = BatchWriter(wal, store, node_id=node_id, batch_rows=settings.writer_batch_rows,
                         flush_s=settings.writer_flush_ms / 1000,
                         retry_max_s=settings.writer_retry_max_seconds,
                         on_ingested=_on_ingested,
                         on_error=lambda _exc: metrics.store_errors.inc())
    metrics.watch_node(settings.data_dir, lambda: wal.total_bytes,
                       lambda: wal.pending_segments, lambda: wal.backlog_age_s,
                       lambda: writer.healthy)
    salts = SaltCache(meta, clock)
    sessions = _session_store(settings, clock)
    pipeline = build_pipeline(settings=settings, meta=meta, sites=sites, metrics=metrics,
                              store=store, clock=clock, salts=salts, sessions=sessions,
                              cities=cities)
    frames: WriteAheadLog | DirectLog = wal
    if settings.ingest_mode == "direct":  # no local log: ClickHouse confirms every answer
        if not isinstance(store, HttpStore):  # the settings require clickhouse_url
            raise ConfigError("ingest_mode=direct needs a ClickHouse server")

        def _stored(sites: frozenset[int]) -> None:
            answers.generations.bump(sites)
            ingested.bump()

        frames = DirectLog(store, on_stored=_stored)
    ingestor = Ingestor(pipeline, frames, metrics)
    feed: LiveBus = LiveFeed()
    if settings.redis_url:
        feed = RedisLiveBus(settings.redis_url, node_id=node_id, prefix=settings.redis_prefix,
                            socket_timeout=settings.redis_timeout_seconds,
                            on_drop=metrics.live_bus_dropped.inc)
    ingestor.subscribe(feed.publish)
    metrics.shared_state_degraded.labels("sessions").set_function(
        lambda: float(sessions.degraded is not None))
    metrics.shared_state_degraded.labels("live_feed").set_function(
        lambda: float(feed.degraded is not None))
    secret = settings.resolved_secret()
    logins = LoginStore(engine)
    mailer = Mailer(settings, smtp_breaker)
    reports = Reports(engine, sites, stats, mailer, clock)
    audit_copies = _audit_shipper(settings, store, node_id, metrics)
    audit_store = AuditStore(engine, chain_key(secret),
                             on_written=audit_copies.put if audit_copies else None)
    share = _metrics_share(settings, metrics)
    evaluator = Evaluator(
        store=AlertStore(engine), incidents=Incidents(engine),
        lease=_lease(settings, engine, clock), metrics=metrics, runner=runner,
        database=store.database,
        deps=Deps(mailer, httpx.AsyncClient(), settings.alerts_sms_base_url,
                  settings.alerts_allow_private_targets, channel_breakers),
        clock=clock, holder=f"{node_id}:{os.getpid()}:{secrets.token_hex(3)}",
        interval_s=settings.alerts_interval_seconds, base_url=settings.public_url,
        sites=lambda site_id: (s.domain if (s := sites.by_id(site_id)) else None),
        reports=reports, security_events=audit_store.count_flagged,
        registry=share.by_worker if share is not None else None)

    def _site_id(raw: object) -> int:
        from_id = sites.by_id(raw) if isinstance(raw, int) and not isinstance(raw, bool) \
            else None
        found = from_id or (sites.by_domain(raw) if isinstance(raw, str) else None)
        if found is None:
            raise Invalid(f"no site {str(raw)[:100]!r} (give its domain or id)",
                          field="site_id")
        return found.id

    limits = Limits(settings.login_account_attempts, settings.login_address_attempts,
                    timedelta(minutes=settings.login_window_minutes))
    # The limiters' own breaker: their clients' stale connections after a Redis restart
    # must not reopen the cache's breaker (nor health), and they fail open anyway.
    limits_breaker = Breaker("redis_rate_limits", failures=3,
                             reset_after=settings.redis_retry_seconds)
    jobs = Jobs()
    imports = Importer(store, site_imports, jobs, answers.invalidate_site,
                       ImportLimits(settings.import_max_upload_bytes,
                                    settings.import_max_uncompressed_bytes,
                                    settings.import_max_rows),
                       settings.data_dir / "imports", cluster_of(settings))
    return Services(
        settings=settings, metrics=metrics, clock=clock, node_id=node_id,
        started_at=clock(), secret=secret,
        store=store, meta=meta, sites=sites, logins=logins,
        people=People(engine, on_site_change=sites.reload),
        invitations=Invitations(engine, on_site_change=sites.reload),
        wal=wal, writer=writer, ingestor=ingestor,
        # With sessions in Redis, enrichment waits for Redis: off the event loop.
        # Direct mode waits for ClickHouse in every append: off the event loop too.
        group=GroupIngest(ingestor, threaded=settings.wal_fsync == "always"
                          or settings.ingest_mode == "direct",
                          enrich_off_loop=bool(settings.redis_url)),
        salts=salts, cities=cities, sessions=sessions, ingested=ingested,
        runner=runner, answers=answers, dependencies=dependencies,
        health_checks=Checks(dependencies), logs=_log_shipper(settings, store, node_id, metrics),
        tracing=_tracing(settings, store, node_id, metrics), audit_copies=audit_copies,
        metrics_share=share,
        warmer=warmer, stats=stats,
        purger=_purger(settings),
        behaviour=BehaviourService(runner, stats, answers), funnels=SavedFunnels(engine),
        shares=SharedLinks(engine, PasswordPolicy(settings.password_min_length)),
        segments=Segments(engine),
        kpi_targets=KpiTargets(engine),
        jobs=jobs, imports=imports, assets=Assets(engine), feed=feed,
        site_data=SiteData(store, cluster_of(settings), writer, answers, meta, sites,
                           site_imports, settings.site_delete_sweep_seconds),
        snapshots=SharedSnapshots(runner, clock),
        keys=ApiKeyCache(meta.verify_api_key, settings.api_key_cache_seconds),
        ips=ClientIpResolver(settings.trusted_proxies),
        limiter=open_rate_limiter(settings.redis_url, settings.api_key_rate,
                                  settings.api_key_burst, prefix=f"{settings.redis_prefix}rl:",
                                  breaker=limits_breaker),
        request_limiter=open_rate_limiter(
            settings.redis_url, settings.rate_limit_per_minute / 60.0,
            settings.rate_limit_burst, prefix=f"{settings.redis_prefix}rq:",
            breaker=limits_breaker),
        throttle=LoginThrottle(logins, secret, limits),
        two_factor=TwoFactor(engine),
        audit=AuditLog(audit_store,
                       on_drop=metrics.audit_dropped.inc),
        key_networks=KeyNetworks(engine),
        mailer=mailer, evaluator=evaluator, reports=reports,
        alerts=AlertService(evaluator, clock, _site_id),
    )


def shared_answers(settings: Settings) -> Answers:
    """The answer cache as a command run beside the servers sees it: what it invalidates
    reaches every node through Redis (with ``redis_url``); without Redis, only this
    process's memory, which a server does not share (a server started after the command
    starts empty)."""
    breaker = Breaker("redis", failures=3, reset_after=settings.redis_retry_seconds)
    return _answers(settings, utc_now, breaker)[0]


def _answers(settings: Settings, clock: Clock,
             breaker: Breaker | None) -> tuple[Answers, Any]:
    """The answer cache: this node's memory (L1), in front of Redis (L2) when configured
    (then also the Redis client it uses, for the dependency check)."""
    l1 = MemoryResultCache(settings.cache_memory_bytes)
    cache: ResultCache = l1
    generations: Generations = MemoryGenerations()
    client = None
    if settings.redis_url and breaker is not None:
        client = redis.Redis.from_url(settings.redis_url,
                                      socket_timeout=settings.redis_timeout_seconds,
                                      socket_connect_timeout=settings.redis_timeout_seconds)
        prefix = settings.redis_prefix
        l2 = RedisResultCache(client, breaker, prefix=f"{prefix}rc:")
        cache = LayeredCache(l1, l2, client=client, breaker=breaker,
                             channel=f"{prefix}rc-invalidate")
        generations = RedisGenerations(client, breaker, key=f"{prefix}gen")
    policy = Policy(live_ttl=settings.cache_live_ttl_seconds,
                    past_ttl=settings.cache_past_ttl_seconds,
                    stale=settings.cache_stale_seconds,
                    degraded_ttl=settings.cache_degraded_ttl_seconds,
                    timeout=settings.query_timeout_seconds,
                    live_lag=settings.cache_live_lag_seconds)
    return Answers(cache, generations, policy, clock), client


def _breaker(name: str, settings: Settings, clock: Clock, metrics: Metrics) -> Breaker:
    """The breaker of a server notifications go to (SMTP, Slack, webhooks, SMS): open after
    3 failures in a row, one trial after two alert ticks (at least 30 s) on the services'
    clock, so an open breaker holds a notification for about one retry of the outbox."""
    metrics.breaker_open.labels(name).set(0.0)
    return Breaker(name, failures=3, reset_after=max(30.0, 2 * settings.alerts_interval_seconds),
                   clock=lambda: clock().timestamp(),
                   on_change=lambda state: metrics.breaker_open.labels(name).set(
                       float(state != "closed")))


def _dependency_breaker(name: str, failures: int, reset_after: float, metrics: Metrics,
                        counts: Callable[[BaseException], bool] | None = None) -> Breaker:
    """The breaker of a required dependency (the store, the metadata database) on the
    monotonic clock, its state in ``liveinsight_breaker_open{dependency=name}``."""
    gauge = metrics.breaker_open.labels(name)
    gauge.set(0.0)
    return Breaker(name, failures=failures, reset_after=reset_after, counts=counts,
                   on_change=lambda state: gauge.set(float(state != "closed")))


def _ping(store: Store, breaker: Breaker | None = None) -> None:
    """The store's check: its ping (never through the breaker). Once the breaker's pause is
    over (half-open) and the ping answers, a ``SELECT 1`` through the breaker is its trial,
    so a node that nothing else calls (no events, no reads) still closes it: the same as
    the metadata check, whose connection goes through its breaker. The trial's own failure
    is the breaker's business (it opens again), not the check's."""
    if not store.ping():
        raise ConnectionError("the store did not answer SELECT 1")
    if breaker is not None and breaker.state().state == "half_open":
        with contextlib.suppress(StoreError):  # refused (a trial runs) or failed: reported
            store.query("SELECT 1")             # by the breaker's state, not as down


def _select_one(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _log_shipper(settings: Settings, store: Store, node_id: str, metrics: Metrics
                 ) -> LogShipper | None:
    if not settings.log_store:
        return None
    return LogShipper(
        store, settings.data_dir / "logs-wal", node_id=node_id,
        level=settings.log_store_level, retention_days=settings.log_retention_days,
        max_records=settings.log_queue_records, max_bytes=settings.log_wal_max_bytes,
        on_drop=lambda reason, n: metrics.log_records_dropped.labels(reason).inc(n),
        on_shipped=metrics.log_records_shipped.inc)


def _audit_shipper(settings: Settings, store: Store, node_id: str, metrics: Metrics
                   ) -> AuditShipper | None:
    if not settings.audit_store:
        return None
    return AuditShipper(
        store, settings.data_dir / "audit-wal", node_id=node_id,
        retention_days=settings.audit_store_retention_days, max_records=100_000,
        max_bytes=settings.log_wal_max_bytes,
        on_drop=lambda reason, n: metrics.audit_copies_dropped.labels(reason).inc(n),
        on_shipped=metrics.audit_copies_shipped.inc)


def _tracing(settings: Settings, store: Store, node_id: str, metrics: Metrics
             ) -> Tracing | None:
    if settings.trace_sample_ratio <= 0:
        return None
    return Tracing(
        store, settings.data_dir / "spans-wal", node_id=node_id,
        ratio=settings.trace_sample_ratio, retention_days=settings.trace_retention_days,
        max_spans=settings.trace_queue_spans, max_bytes=settings.trace_wal_max_bytes,
        otlp_endpoint=settings.otlp_endpoint,
        on_drop=lambda reason, n: metrics.spans_dropped.labels(reason).inc(n),
        on_shipped=metrics.spans_shipped.inc)


def _purger(settings: Settings) -> Purger:
    if settings.cdn_purger == "cloudflare":
        return CloudflarePurger(settings.cdn_cloudflare_zone_id or "",
                                settings.cdn_cloudflare_api_token or "",
                                settings.cdn_cloudflare_api_url)
    if settings.cdn_purger == "webhook":
        return WebhookPurger(settings.cdn_purge_webhook_url or "",
                             settings.cdn_purge_webhook_secret)
    return NoPurger()


def _popularity_file(settings: Settings) -> Path:
    return settings.data_dir / "cache-popularity.json"


def _lease(settings: Settings, engine: Engine, clock: Clock) -> Lease:
    kind = settings.alerts_lease
    if kind == "auto":
        kind = "redis" if settings.redis_url else "database"
    if kind == "redis":
        if not settings.redis_url:
            raise ConfigError("LIVEINSIGHT_ALERTS_LEASE=redis needs LIVEINSIGHT_REDIS_URL")
        return RedisLease(settings.redis_url, key=f"{settings.redis_prefix}lease:alerts")
    if kind == "database":
        return SqlLease(engine, clock)
    return InProcessLease(clock)


def _session_store(settings: Settings, clock: Clock) -> SessionStore:
    timeout = timedelta(minutes=settings.session_timeout_minutes)
    if settings.redis_url:
        return RedisSessionStore(settings.redis_url, timeout, clock,
                                 prefix=settings.redis_prefix,
                                 socket_timeout=settings.redis_timeout_seconds)
    return SessionTracker(timeout, clock)


async def close_services(svc: Services) -> None:
    """Graceful stop: close the log to appends (requests still running get 503), ingest
    everything it holds (what cannot be ingested stays for next start), stop warming up
    (keeping what was viewed for the next start), then close the cache, the live bus, the
    session store, the limiter, the store and the metadata engine."""
    await svc.evaluator.close()
    if svc.metrics_share is not None:
        await asyncio.to_thread(svc.metrics_share.stop)
    svc.wal.close()
    svc.writer.stop(flush=True, timeout=30)
    svc.warmer.stop()
    svc.warmer.save(_popularity_file(svc.settings))
    svc.answers.cache.close()
    svc.answers.generations.close()
    svc.dependencies.close()
    await svc.feed.close()
    svc.sessions.close()
    await svc.limiter.close()
    await svc.request_limiter.close()
    await asyncio.to_thread(svc.audit.close)  # writes what is queued
    if svc.audit_copies is not None:
        svc.audit_copies.close()
    if svc.tracing is not None:
        svc.tracing.close()
    if svc.logs is not None:
        svc.logs.close()
    svc.store.close()
    svc.meta.engine.dispose()
