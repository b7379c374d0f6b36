"""Every setting LiveInsight reads, declared once with its default and help text.

Settings come from ``LIVEINSIGHT_*`` environment variables (or a ``.env`` file in the
working directory), are read once at start by :func:`load_settings`, and are passed into
``create_app``; nothing else reads the environment. ``docs/settings.md`` documents each one
(a test fails when a setting is missing there).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from pathlib import Path
from typing import Annotated, Literal

import maxminddb
from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _alias(name: str) -> AliasChoices:
    """The prefixed variable first, then the bare one the specification names (``SMTP_HOST``),
    then the field's name (``Settings(smtp_host=...)``)."""
    return AliasChoices(f"LIVEINSIGHT_{name.upper()}", name.upper(), name)


class ConfigError(Exception):
    """Raised at start for configuration that cannot work; the message says how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIVEINSIGHT_", env_file=".env", extra="ignore", frozen=True
    )

    # --- where things live -------------------------------------------------------------
    data_dir: Path = Field(
        Path("data"),
        description="Directory for the embedded ClickHouse data, the write-ahead log, the "
        "SQLite metadata file and the generated secret key.",
    )
    backup_dir: Path | None = Field(
        None,
        description="Where `liveinsight backup` and `POST /admin/backups` put backups (one "
        "directory each). Empty: `<data_dir>/backups`. Put it on another disk for a backup "
        "that survives the data disk.",
    )
    backup_keep: int = Field(
        7, ge=1, le=1000, description="How many backups to keep: after each new one the "
        "oldest beyond this number are deleted.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the metadata database. Empty: SQLite at "
        "`<data_dir>/liveinsight.db`. For PostgreSQL: `postgresql+psycopg://user@host/db`.",
    )
    clickhouse_url: str | None = Field(
        None,
        description="ClickHouse server URL (`http://user:password@host:8123`). Empty: the "
        "embedded chDB engine with its data in `<data_dir>/chdb`.",
    )
    clickhouse_database: str = Field(
        "liveinsight", description="ClickHouse database holding the events and sessions tables."
    )
    clickhouse_cluster: str = Field(
        "", pattern=r"^[A-Za-z0-9_.-]*$", description="ClickHouse cluster name (of the "
        "servers' `remote_servers`). Empty: one server. Set: `liveinsight migrate` creates "
        "replicated tables `ON CLUSTER`, sharded by visitor, read and written through "
        "Distributed tables (docs/deployment.md); needs `clickhouse_url`."
    )
    clickhouse_replica_path: str = Field(
        "/clickhouse/tables/{shard}/{database}/{table}", min_length=1,
        description="Cluster: Keeper path of each replicated table; the macros are expanded "
        "by each server (`{shard}` from its `<macros>`, `{database}`, `{table}`)."
    )
    clickhouse_replica_name: str = Field(
        "{replica}", min_length=1,
        description="Cluster: replica name of each replicated table (`{replica}`: each "
        "server's macro)."
    )
    database_pool_size: int = Field(
        10, ge=1, le=500, description="PostgreSQL: connections each node keeps open (each "
        "checked before use). Every node opens up to size + overflow: keep nodes × (size + "
        "overflow) below the server's `max_connections`."
    )
    database_pool_overflow: int = Field(
        20, ge=0, le=500, description="PostgreSQL: connections opened beyond the pool under "
        "bursts, closed when returned."
    )
    database_pool_timeout_seconds: float = Field(
        10, gt=0, le=300, description="PostgreSQL: how long a request waits for a free "
        "connection before it fails with 503."
    )
    database_pool_recycle_seconds: float = Field(
        1800, gt=0, description="PostgreSQL: connections older than this are replaced "
        "(below any idle timeout of a proxy such as PgBouncer or a cloud load balancer)."
    )
    clickhouse_breaker_failures: int = Field(
        3, ge=1, le=100, description="ClickHouse server (`clickhouse_url`, and the engine "
        "owner of `serve --workers`): outages in a row (connection refused or dropped, no "
        "answer in time, an answer cut short; never a query the server refuses) that open "
        "its circuit breaker: calls then fail at once (events wait in the log, reads answer "
        "503) until a trial call finds it back."
    )
    clickhouse_retry_seconds: float = Field(
        5.0, gt=0, le=300, description="While ClickHouse's circuit breaker is open, how "
        "often a node lets one call through as a trial (the writer's retry, a request's, or "
        "the health check's); its success closes the breaker."
    )
    database_connect_timeout_seconds: int = Field(
        5, ge=2, le=300, description="PostgreSQL: how long opening a connection may take "
        "(libpq's `connect_timeout`, whole seconds) before it fails, and counts toward the "
        "circuit breaker: a server that hangs then costs this per attempt, not forever."
    )
    database_breaker_failures: int = Field(
        3, ge=1, le=100, description="PostgreSQL: failed connection attempts (and "
        "connections dropped while in use) in a row that open the metadata database's "
        "circuit breaker: new connections then fail at once (503 for what needs the "
        "database) until a trial connection succeeds."
    )
    database_retry_seconds: float = Field(
        5.0, gt=0, le=300, description="PostgreSQL: while the metadata database's circuit "
        "breaker is open, how often a node tries one new connection as a trial (a request's "
        "or the health check's); its success closes the breaker."
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL (`redis://host:6379/0`) for the state app nodes and worker "
        "processes share: live sessions, the live event feed, API key rate limits. Needed by "
        "`serve --workers N` above 1 and by several nodes. Empty: in-process. One Redis "
        "(replicas or Sentinel for availability), not Redis Cluster.",
    )
    redis_prefix: str = Field(
        "li:", description="Prefix of every Redis key and channel LiveInsight uses (several "
        "deployments can share one Redis with different prefixes)."
    )
    redis_timeout_seconds: float = Field(
        0.5, gt=0, description="How long a node waits for Redis before it treats it as "
        "unreachable: sessions then continue in the node's memory (health says `degraded`) "
        "until Redis answers again."
    )
    redis_retry_seconds: float = Field(
        5.0, gt=0, le=300, description="While Redis is unreachable (3 calls in a row failed: "
        "its circuit breaker is open), how often a node tries it again; meanwhile cached "
        "answers come from the node's memory and `/health` says `degraded`."
    )
    secret_key: str | None = Field(
        None,
        description="Secret for session cookies and signed ingest tokens. Empty: generated "
        "once and kept in `<data_dir>/secret_key`. Set the same value on every node.",
    )

    # --- HTTP server -------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address `liveinsight serve` listens on.")
    port: int = Field(8000, description="Port `liveinsight serve` listens on.")
    workers: int = Field(
        1, ge=1, le=64, description="Worker processes of `liveinsight serve` (`--workers`). "
        "Above 1 they share sessions, the live feed and limits through Redis "
        "(`redis_url` required), and with the embedded engine one more process owns the chDB "
        "directory and answers the workers' queries and inserts (docs/performance.md, "
        "\"Several processes on one machine\")."
    )
    http: Literal["auto", "1", "2"] = Field(
        "auto", description="HTTP versions `liveinsight serve` speaks: `auto` (HTTP/1.1, and "
        "HTTP/2 to clients that start with it: h2c prior knowledge, as a proxy's HTTP/2 "
        "upstream does), `1` (HTTP/1.1 only) or `2` (HTTP/2 only)."
    )
    http1_keep_alive: bool = Field(
        True, description="Keep HTTP/1.1 connections open between requests (a proxy's "
        "upstream keep-alive pool and trackers reuse them)."
    )
    http1_header_read_timeout_seconds: float = Field(
        30, gt=0, le=600, description="How long a client may take to send a request's "
        "headers, and how long an idle kept-alive HTTP/1.1 connection is kept."
    )
    http2_max_concurrent_streams: int = Field(
        200, ge=1, le=10_000, description="Requests one HTTP/2 connection may have in flight."
    )
    http2_keep_alive_interval_seconds: float | None = Field(
        None, gt=0, description="Send an HTTP/2 PING on idle connections this often (none: "
        "never), closing those that do not answer within 20 s."
    )
    listen_backlog: int = Field(
        1024, ge=16, le=65_535, description="Connections the kernel queues for "
        "`liveinsight serve` before it accepts them (raise with `net.core.somaxconn` for "
        "bursts of many new connections)."
    )
    public_url: str | None = Field(
        None,
        description="URL users reach this server at (used in tracking snippets). Empty: "
        "derived from each request.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or CIDR ranges of reverse proxies whose X-Forwarded-For, "
        "Forwarded and CF-Connecting-IP headers are believed (JSON list or comma-separated).",
    )
    require_https: bool = Field(
        False, description="Serve over HTTPS only: a GET or HEAD that arrived over plain HTTP "
        "is redirected (308) to `https://` (the host of `public_url` when it is an https URL, "
        "else the request's), anything else is refused with 403 `https_required`. Behind a "
        "TLS-terminating proxy list it in `trusted_proxies`: its `X-Forwarded-Proto` / "
        "`Forwarded: proto=` then tells. The collector's endpoints and `/health` are exempt "
        "(trackers on plain-HTTP pages, load-balancer probes)."
    )
    hsts_seconds: int = Field(
        31536000, ge=0, description="`max-age` of the `Strict-Transport-Security` header "
        "(with `includeSubDomains`), sent only on answers to requests that arrived over "
        "HTTPS (directly or as a trusted proxy reports). 0: no HSTS header."
    )
    max_body_bytes: int = Field(
        65536, description="Largest accepted request body on the collector endpoints (413 above)."
    )
    max_api_body_bytes: int = Field(
        131072, description="Largest accepted request body on every other endpoint (the stats "
        "API, the dashboard's forms): 413 above."
    )
    body_timeout_seconds: float = Field(
        20.0, gt=0, description="A request's whole body must arrive within this many seconds of "
        "its first read, else 408: a client that stalls mid-upload holds no handler longer."
    )
    max_batch_events: int = Field(
        1000, description="Largest batch accepted by `POST /api/events` and `/api/batch`."
    )
    compress_responses: bool = Field(
        True, description="Compress answers of the read APIs, the dashboard and the API docs "
        "with zstd, brotli or gzip, as the client asks (not the collector's, the live stream "
        "or the tracker, which carries its own gzip). Off when a proxy in front compresses."
    )
    gc_tuning: bool = Field(
        True,
        description="Once started, hide the start-up heap from Python's cyclic garbage "
        "collector (`gc.freeze`) and run its youngest generation every 50,000 allocations "
        "instead of 700. Under load, full collections over the start-up heap otherwise cost "
        "about half the CPU of a collector request. Restored at shutdown.",
    )

    metrics_token: str | None = Field(
        None, description="Bearer token that `GET /metrics` and `GET /health/detailed` accept "
        "(for Prometheus and other scrapers). Either way they also accept an API key with the "
        "`admin` scope for every site or a logged-in admin; without any of these they answer "
        "401."
    )

    # --- dashboard sign-in ---------------------------------------------------------------
    session_lifetime_days: int = Field(
        14, ge=1, le=90, description="A dashboard sign-in ends this many days after it began."
    )
    session_idle_minutes: int = Field(
        10080, ge=5, le=43200, description="...or once it has not been used for this many "
        "minutes (default 7 days). Sessions are kept server-side: logging out, changing the "
        "password or `liveinsight end-sessions` ends them on every node at once."
    )
    password_min_length: int = Field(
        8, ge=8, le=128, description="Shortest password accepted when one is set (account "
        "creation, invitations, a password change). Besides, passwords among the 10,000 most "
        "common of leaked lists and passwords containing the person's e-mail address are "
        "refused; there are no composition rules (NIST SP 800-63B)."
    )
    audit_retention_days: int = Field(
        365, ge=0, description="Audit records older than this many days are deleted (daily; "
        "the deletion is itself recorded in the chain). 0: kept for ever."
    )
    audit_store: bool = Field(
        True, description="Also copy audit records into the ClickHouse `audit` table "
        "(searched and exported at volume: `GET /admin/audit/export?source=clickhouse`), "
        "through a log of their own in the data directory (`audit-wal/`). The hash chain "
        "in the metadata database stays the tamper-evident source (`liveinsight audit "
        "verify`)."
    )
    audit_store_retention_days: int = Field(
        730, ge=0, le=18250, description="Days a record's copy stays in the ClickHouse "
        "`audit` table (its TTL, independent of `audit_retention_days`; a change applies "
        "to copies written after it). 0: kept for ever (50 years)."
    )
    login_account_attempts: int = Field(
        10, ge=1, description="Failed sign-ins for one account (from any address) within "
        "`login_window_minutes` before that account is locked for the rest of the window."
    )
    login_address_attempts: int = Field(
        20, ge=1, description="Failed sign-ins from one client address (for any account) "
        "within `login_window_minutes` before that address is locked."
    )
    login_window_minutes: int = Field(
        15, ge=1, description="The sliding window of the two sign-in limits above."
    )

    public_stats_cache_seconds: int = Field(
        0, ge=0, le=86400, description="Stats answers read through a public site or a "
        "shared link without a password carry `Cache-Control: public, max-age=0, "
        "s-maxage=<this>`, so a CDN in front of LiveInsight may keep them this long (a "
        "revoked link or a site made private may then be served from the CDN that long). "
        "0 (the default): `private, no-cache`, as every other answer. Answers behind a "
        "password or a sign-in are never public."
    )
    invitation_days: int = Field(
        7, ge=1, le=30, description="An invitation link (to a site, a team or a site's "
        "ownership) works once, for this many days."
    )

    # --- e-mail ------------------------------------------------------------------------
    smtp_host: str | None = Field(
        None, description="SMTP server for e-mail to users (the lockout notice, invitations, "
        "alerts, reports). Empty: no e-mail; notices are shown in the dashboard only, and an "
        "invitation's link is shown to the person inviting, to pass on. `SMTP_HOST` (no "
        "prefix) is read too.", validation_alias=_alias("smtp_host")
    )
    smtp_port: int = Field(587, description="SMTP port (587 for STARTTLS, 465 for TLS). "
                           "`SMTP_PORT` is read too.", validation_alias=_alias("smtp_port"))
    smtp_username: str | None = Field(None, description="SMTP user, if the server needs one. "
                                      "`SMTP_USERNAME` is read too.",
                                      validation_alias=_alias("smtp_username"))
    smtp_password: str | None = Field(None, description="SMTP password. `SMTP_PASSWORD` is "
                                      "read too.", validation_alias=_alias("smtp_password"))
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="`starttls` (upgrade after connecting), `tls` (TLS from the "
        "start) or `none` (plain text: only for a relay on the same machine)."
    )
    smtp_timeout_seconds: float = Field(
        10.0, gt=0, description="Give up on a message after this long (it is logged)."
    )
    mail_from: str = Field(
        "LiveInsight <liveinsight@localhost>", description="The From of every message."
    )

    # --- alerting ----------------------------------------------------------------------
    alerts_enabled: bool = Field(
        True, description="Run the alert evaluator (rules, notifications, incidents, e-mail "
        "reports) in this node. One node of the cluster evaluates at a time (the lease); "
        "turn it off on nodes that should never send."
    )
    alerts_interval_seconds: float = Field(
        15.0, ge=1, le=300, description="Time between two evaluations of the alert rules "
        "(a rule fires at most this long after its condition has held for its `for`)."
    )
    alerts_lease: Literal["auto", "memory", "database", "redis"] = Field(
        "auto", description="Where the evaluator's lease lives: `database` (a row in the "
        "metadata database: every worker and node sharing it), `redis` (`SET NX PX` on "
        "`redis_url`), `memory` (this process only). `auto`: `redis` when `redis_url` is "
        "set, else `database`."
    )
    alerts_allow_private_targets: bool = Field(
        False, description="Let webhook, Slack and SMS requests go to loopback, private, "
        "link-local and other internal addresses. Off: such targets are refused when a "
        "channel is saved and before each request."
    )
    alerts_sms_base_url: str = Field(
        "https://api.twilio.com", description="Base URL of the Twilio-style SMS API "
        "(`POST {base}/2010-04-01/Accounts/{sid}/Messages.json`)."
    )

    # --- ingest ------------------------------------------------------------------------
    session_timeout_minutes: int = Field(
        30, description="A visitor's events further apart than this start a new session."
    )
    geo_city_database: Path | None = Field(
        None, description="A city database in MMDB format (DB-IP Lite City or MaxMind "
        "GeoLite2 City, docs/enrichment.md#city-and-region) for visitors' regions and "
        "cities. Empty: country only (the bundled `iptocc` table). Checked at start; a file "
        "replaced later (renamed over it) is picked up within a minute without a restart."
    )
    api_key_rate: float = Field(
        1000.0, gt=0, description="An API key's default usage plan: requests a second it "
        "may make to the read and management APIs, and events a second it may send to "
        "`POST /api/events` (two token buckets refilled at this rate). A key's own plan "
        "(`liveinsight key-plan`) replaces it. 429 with `Retry-After` past it."
    )
    api_key_burst: int = Field(2000, ge=1, description="...and the size of those buckets "
                               "(requests or events at once after a quiet moment).")
    api_key_daily_quota: int = Field(
        0, ge=0, le=1_000_000_000, description="An API key's default daily quota: requests "
        "it may make to the read and management APIs, and events it may send to `POST "
        "/api/events` (counted apart), each UTC day; past it, 429 with `Retry-After` until "
        "the next UTC midnight. A key's own plan (`liveinsight key-plan --daily-quota`) "
        "replaces it. Shared by every node with `redis_url`. 0: no quota.")
    rate_limit_per_minute: float = Field(
        60.0, ge=0, description="Requests a minute each client address (as resolved through "
        "`trusted_proxies`) may make to the dashboard, the read and the management APIs "
        "without an API key; the collector, the tracker, static files, `/health` and "
        "`/metrics` are not limited. 429 with `Retry-After` past it. Shared by every node "
        "with `redis_url`. 0: no limit per address."
    )
    rate_limit_burst: int = Field(
        120, ge=1, description="...and how many of them may come at once after a quiet "
        "moment (the token bucket's size)."
    )
    csrf_token_ttl_seconds: int = Field(
        3600, description="Lifetime of tokens issued by `POST /api/csrf-token`."
    )
    api_key_cache_seconds: float = Field(
        1.0, ge=0, description="How long each node remembers a verified (or unknown) API key "
        "before asking the metadata database again: a revoked key stops working on every node "
        "within this long."
    )

    # --- write-ahead log and writer -------------------------------------------------------
    ingest_mode: Literal["log", "direct"] = Field(
        "log", description="`log`: the collector answers once events are in the node's "
        "write-ahead log, and a writer inserts them in batches (the default, and the only "
        "mode with the embedded engine). `direct`: it answers only after ClickHouse confirms "
        "the insert (`async_insert=1, wait_for_async_insert=1`), with no local log: for "
        "nodes without a lasting disk (serverless, docs/deployment.md); needs "
        "`clickhouse_url` and `redis_url`."
    )
    wal_fsync: Literal["always", "interval", "never"] = Field(
        "interval",
        description="When the write-ahead log is fsynced: `always` before every answer, "
        "`interval` at most every `wal_fsync_interval_ms`, `never` (left to the OS).",
    )
    wal_fsync_interval_ms: int = Field(
        1000, description="With `wal_fsync=interval`, the longest time between fsyncs."
    )
    wal_max_bytes: int = Field(
        1 << 30,
        description="Disk quota for the write-ahead log; past it the collector answers 503.",
    )
    wal_archive_dir: Path | None = Field(
        None, description="Opt-in: move each log segment ClickHouse confirmed into this "
        "directory instead of deleting it, for point-in-time recovery (`liveinsight restore "
        "--until TIME`: the newest backup before TIME, then the archived segments closed "
        "by TIME). It grows with the traffic: each backup deletes the segments older than "
        "the oldest backup kept. Put it on another disk than the data directory."
    )
    writer_batch_rows: int = Field(
        100_000, description="The writer inserts a log segment once it holds this many rows..."
    )
    writer_flush_ms: int = Field(
        500, description="...or once its oldest row is this old, whichever comes first; "
        "at most one such time-triggered insert per this interval, and a row arriving "
        "after a quiet interval is inserted at once (so sparse events are visible in the "
        "time of one insert, steady traffic is inserted in batches)."
    )
    writer_retry_max_seconds: float = Field(
        30.0, description="Longest back-off between insert retries while ClickHouse fails."
    )
    site_delete_sweep_seconds: float = Field(
        15.0, ge=0, le=3600, description="After deleting a site's rows, wait this long and "
        "delete what arrived meanwhile from other processes' write-ahead logs (their site "
        "directories refresh within 10 s, their writers flush within `writer_flush_ms`). "
        "0: no second pass (one process only)."
    )

    # --- queries -----------------------------------------------------------------------
    query_timeout_seconds: float = Field(
        10.0, description="Time limit for one analytics query (400 with a clear error past it)."
    )
    slow_query_ms: int = Field(
        500, ge=1, description="Queries taking at least this long are listed by "
        "`GET /admin/db/slow-queries` (its default threshold)."
    )

    # --- result cache ------------------------------------------------------------------
    query_sample_rows: int = Field(
        10_000_000, ge=0, description="Event-based answers (pages, goals, custom events "
        "and properties) over a range holding more events than this are computed from a "
        "sample of about this many, whole visitors at a time (`SAMPLE BY visitor_id`), and "
        "scaled: marked `sampled` with their `sample_factor`; `sampling=exact` in a request "
        "asks for the exact answer. 0: always exact. Visit-based answers (sources, "
        "countries, devices, entry and exit pages, bounce rate) and revenue are always exact."
    )
    cache_memory_bytes: int = Field(
        64 << 20, ge=0, description="Size of this node's in-process answer cache (L1, least "
        "recently used answers dropped first). 0 turns caching off (and Redis's L2 with it)."
    )
    cache_live_ttl_seconds: float = Field(
        60.0, gt=0, description="How long an answer over a range that includes today is kept. "
        "New data for the site replaces it sooner: every ingested batch makes new keys."
    )
    cache_past_ttl_seconds: float = Field(
        86400.0, gt=0, description="How long an answer over a range wholly in the past (ended "
        "more than 25 hours ago) is kept; it changes only with imports, resets and deletions, "
        "which invalidate it at once."
    )
    cache_stale_seconds: float = Field(
        3600.0, ge=0, description="After that, how long a past answer is still served while "
        "one recomputation replaces it in the background (stale-while-revalidate)."
    )
    cache_live_lag_seconds: float = Field(
        0.0, ge=0, le=300, description="How far behind the newest stored data an answer over "
        "a range including now may be. 0 (the default): never — every batch the writer "
        "stores for a site makes its live answers be computed again. A few seconds let the "
        "dashboards of a site receiving events all the time share answers (a higher hit "
        "ratio, less load) at that cost in freshness; realtime and the live feed are not "
        "affected beyond it."
    )
    cache_degraded_ttl_seconds: float = Field(
        2.0, gt=0, description="With Redis configured but unreachable, how long an answer is "
        "kept in this node's memory (other nodes' new data cannot be seen meanwhile)."
    )
    cache_warmup_top: int = Field(
        10, ge=0, description="How many of a site's most viewed stats requests are recomputed "
        "after new data arrives for it (and after start). 0: no warm-up."
    )
    cache_warmup_interval_seconds: float = Field(
        10.0, gt=0, description="At most one warm-up per site in this many seconds."
    )
    cache_warmup_active_minutes: float = Field(
        30.0, gt=0, description="Only requests viewed within this many minutes are warmed "
        "after new data (dashboards being looked at)."
    )

    # --- imports (Plausible / Google Analytics exports) ---------------------------------
    import_max_upload_bytes: int = Field(
        100 << 20, ge=1024, le=4 << 30, description="Largest upload `POST "
        "/api/v1/sites/{site}/imports` (and the settings page's import form) takes, zipped or "
        "not (413 above). The whole body must still arrive within `body_timeout_seconds`."
    )
    import_max_uncompressed_bytes: int = Field(
        1 << 30, ge=1024, le=64 << 30, description="Largest total size of the CSV files in an "
        "imported zip, as its directory declares them (413 above; a member compressed more than "
        "200 to 1 is refused as a zip bomb whatever its size)."
    )
    import_max_rows: int = Field(
        5_000_000, ge=1, le=500_000_000, description="Most CSV rows one import may hold, all "
        "files together (413 above)."
    )

    # --- uploaded images ---------------------------------------------------------------
    asset_max_bytes: int = Field(
        2 << 20, ge=1024, le=50 << 20, description="Largest image `POST "
        "/api/v1/assets/upload` takes (413 above)."
    )

    # --- CDN -----------------------------------------------------------------------------
    cdn_purger: Literal["none", "cloudflare", "webhook"] = Field(
        "none", description="What `POST /admin/cdn/purge` asks to drop cached URLs: "
        "`cloudflare` (its API), `webhook` (a JSON POST to `cdn_purge_webhook_url`) or `none`."
    )
    cdn_cloudflare_zone_id: str | None = Field(None, description="Cloudflare zone id.")
    cdn_cloudflare_api_token: str | None = Field(
        None, description="Cloudflare API token with the Cache Purge permission for the zone."
    )
    cdn_cloudflare_api_url: str = Field(
        "https://api.cloudflare.com/client/v4", description="Cloudflare's API base URL."
    )
    cdn_purge_webhook_url: str | None = Field(
        None, description="With `cdn_purger=webhook`: where purges are POSTed."
    )
    cdn_purge_webhook_secret: str | None = Field(
        None, description="With `cdn_purger=webhook`: HMAC-SHA256 key signing each purge "
        "(`X-LiveInsight-Signature: sha256=<hex>`)."
    )

    # --- logging -----------------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level of log records written."
    )
    log_format: Literal["json", "console"] = Field(
        "console", description="`json` for one JSON object per line, `console` for people."
    )
    log_store: bool = Field(
        True, description="Also keep log records in the ClickHouse `logs` table (searched by "
        "`/admin/logs/search` and the Logs page), through a log of their own in the data "
        "directory (`logs-wal/`): a record waits there while ClickHouse is away."
    )
    log_store_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level of the records kept in the `logs` table (records "
        "below `log_level` are not produced at all)."
    )
    log_retention_days: int = Field(
        14, ge=1, le=3650, description="Days a record stays in the `logs` table (its TTL; "
        "a change applies to records written after it)."
    )
    log_requests: Literal["all", "api", "errors", "none"] = Field(
        "api", description="Which requests get a log record (route template, status, "
        "duration, request id): `all`; `api` (default): all but the collector's accepted "
        "events and the probes' answers (`/health`, `/health/ready` below 500), which "
        "`/metrics` counts; `errors`: answers of 500 and above; `none`."
    )
    sentry_dsn: str | None = Field(
        None, description="Send errors (and, with `sentry_traces_sample_rate`, a sample of "
        "requests) to this Sentry DSN; IPs, tokens and personal data are taken out first "
        "(docs/operations.md, \"Error tracking with Sentry\"). Empty: off."
    )
    sentry_environment: str | None = Field(
        None, description="The environment Sentry files events under (e.g. `production`)."
    )
    sentry_traces_sample_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of requests sent to Sentry as performance "
        "transactions (0: none)."
    )
    log_queue_records: int = Field(
        10_000, ge=100, le=1_000_000, description="Records waiting in memory for the `logs` "
        "table's log at most; past it new records are dropped (counted in "
        "`liveinsight_log_records_dropped_total`), never waited for."
    )
    trace_sample_ratio: float = Field(
        0.01, ge=0.0, le=1.0, description="Share of requests traced with OpenTelemetry "
        "(their spans kept in the ClickHouse `spans` table, searched by "
        "`/admin/performance/traces`); a request with a W3C `traceparent` follows its "
        "caller's decision (at most 50 a second). 0: tracing off."
    )
    trace_retention_days: int = Field(
        7, ge=1, le=3650, description="Days a span stays in the `spans` table (its TTL; a "
        "change applies to spans written after it)."
    )
    trace_queue_spans: int = Field(
        10_000, ge=100, le=1_000_000, description="Finished spans waiting in memory for the "
        "`spans` table's log at most; past it new spans are dropped (counted in "
        "`liveinsight_spans_dropped_total`), never waited for."
    )
    trace_wal_max_bytes: int = Field(
        128 << 20, ge=1 << 20, description="Disk quota of the spans' own write-ahead log "
        "(`spans-wal/`) while ClickHouse is away; past it spans are dropped (counted)."
    )
    otlp_endpoint: str | None = Field(
        None, description="Also send the traced requests' spans over OTLP/HTTP (protobuf) "
        "to this URL, e.g. `http://otel-collector:4318/v1/traces`. Empty: only the `spans` "
        "table."
    )
    log_wal_max_bytes: int = Field(
        256 << 20, ge=1 << 20, description="Disk quota of the log records' own write-ahead "
        "log (`logs-wal/`) while ClickHouse is away; past it records are dropped (counted)."
    )

    @field_validator("geo_city_database", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("geo_city_database")
    @classmethod
    def _check_city_database(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        if not value.is_file():
            raise ValueError(f"no file at {value}: download DB-IP Lite City or GeoLite2 "
                             "City (docs/enrichment.md), or leave it empty for country only")
        try:
            with maxminddb.open_database(str(value)) as reader:
                reader.metadata()
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ValueError(f"{value} is not a MaxMind DB (MMDB) file ({exc}); give the "
                             "`.mmdb` file, not the compressed download") from None
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or CIDR range") from exc
        return value

    @model_validator(mode="after")
    def _check_purger(self) -> Settings:
        if self.cdn_purger == "cloudflare" and not (self.cdn_cloudflare_zone_id
                                                    and self.cdn_cloudflare_api_token):
            raise ValueError("cdn_purger=cloudflare needs LIVEINSIGHT_CDN_CLOUDFLARE_ZONE_ID "
                             "and LIVEINSIGHT_CDN_CLOUDFLARE_API_TOKEN")
        if self.cdn_purger == "webhook" and not self.cdn_purge_webhook_url:
            raise ValueError("cdn_purger=webhook needs LIVEINSIGHT_CDN_PURGE_WEBHOOK_URL")
        if self.ingest_mode == "direct" and not (self.clickhouse_url and self.redis_url):
            raise ValueError("ingest_mode=direct needs LIVEINSIGHT_CLICKHOUSE_URL (inserts go "
                             "straight to a ClickHouse server) and LIVEINSIGHT_REDIS_URL (live "
                             "sessions shared by every instance)")
        if self.workers > 1 and not self.redis_url:
            raise ValueError("workers above 1 need LIVEINSIGHT_REDIS_URL: the workers share "
                             "live sessions, the live feed and limits through Redis (one "
                             "visitor's requests reach different workers)")
        if self.clickhouse_cluster and not self.clickhouse_url:
            raise ValueError("clickhouse_cluster needs LIVEINSIGHT_CLICKHOUSE_URL (the embedded "
                             "engine is one server)")
        return self

    # --- derived -----------------------------------------------------------------------
    @property
    def metadata_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'liveinsight.db').resolve()}"

    @property
    def chdb_path(self) -> Path:
        return self.data_dir / "chdb"

    @property
    def backup_path(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @property
    def wal_dir(self) -> Path:
        return self.data_dir / "wal"

    def resolved_secret(self) -> bytes:
        """The secret key: the setting, else the one kept in the data dir (made on first use)."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()


def settings_table() -> str:
    """The Markdown table of every setting (docs/settings.md holds it; a test compares)."""
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if default is None or default == []:
            shown = "(empty)"
        elif isinstance(default, bool):
            shown = f"`{str(default).lower()}`"
        else:
            shown = f"`{default}`"
        lines.append(f"| `LIVEINSIGHT_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with ``overrides`` on top.

    Raises :class:`ConfigError` naming each bad variable and what it expects.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            if err["loc"]:
                name = "LIVEINSIGHT_" + "_".join(str(p) for p in err["loc"][:1]).upper()
                lines.append(f"{name}: {err['msg']}")
            else:  # a rule across settings: its message names them
                lines.append(str(err["msg"]).removeprefix("Value error, "))
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
