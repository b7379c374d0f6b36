"""The ``liveinsight`` command line."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from liveinsight.settings import ConfigError, Settings, load_settings

app = typer.Typer(help="LiveInsight: self-hosted, real-time web analytics.", no_args_is_help=True)
console = Console()

# `serve`: seconds granian gives its worker to stop after SIGTERM before killing it. Longer
# than the lifespan shutdown's flush (the writer's 30 s budget in services.close_services).
WORKERS_KILL_TIMEOUT_S = 45


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _meta(settings: Settings):  # type: ignore[no-untyped-def]
    from liveinsight.meta.db import make_engine, pool_of, upgrade
    from liveinsight.meta.repo import Metadata
    from liveinsight.security.passwords import PasswordPolicy

    engine = make_engine(settings.metadata_url, pool_of(settings))
    upgrade(engine)
    return Metadata(engine, PasswordPolicy(settings.password_min_length))


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, max=64, help="Worker processes (default LIVEINSIGHT_WORKERS, 1). Above 1: "
        "needs LIVEINSIGHT_REDIS_URL; with the embedded engine one more process owns it "
        "(docs/performance.md).")] = None,
) -> None:
    """Run the server (collector, APIs, dashboard) on granian."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings, HTTP2Settings

    settings = _settings()
    count = workers or settings.workers
    ping = settings.http2_keep_alive_interval_seconds
    h, p = host or settings.host, port or settings.port
    server = Granian(
        "liveinsight.asgi:app",
        address=h,
        port=p,
        interface=Interfaces.ASGI,
        factory=True,
        # one process owns the embedded engine: several workers go through serve_workers
        workers=count,
        respawn_failed_workers=count > 1,
        # uvloop: asyncio's own loop costs more per request than the collector's work
        # (bench/ingest.py, docs/performance.md).
        loop=Loops.uvloop,
        # A saturated worker can miss SIGTERM (granian issue #875): kill it after this
        # long. The lifespan shutdown (close the log, flush it to the store within the
        # writer's 30 s, see services.close_services) fits inside it; whatever a kill interrupts
        # is in the log and is ingested at the next start.
        workers_kill_timeout=WORKERS_KILL_TIMEOUT_S,
        log_access=False,
        http=HTTPModes(settings.http),
        backlog=settings.listen_backlog,
        http1_settings=HTTP1Settings(
            keep_alive=settings.http1_keep_alive,
            header_read_timeout=round(settings.http1_header_read_timeout_seconds * 1000)),
        http2_settings=HTTP2Settings(
            max_concurrent_streams=settings.http2_max_concurrent_streams,
            keep_alive_interval=round(ping * 1000) if ping else None),
    )
    if count == 1:
        console.print(f"LiveInsight listening on [bold]http://{h}:{p}[/bold]")
        server.serve()
        return
    _serve_workers(settings, count, server, f"http://{h}:{p}")


def _serve_workers(settings: Settings, count: int, server: Any, address: str) -> None:
    """``serve --workers N``: migrations and unclaimed slots' logs once, the engine owner
    (embedded engine), then N granian workers on the server code path (liveinsight.workers)."""
    import os

    from liveinsight import workers as multi
    from liveinsight.ops import backup as backups
    from liveinsight.ops import metricshare
    from liveinsight.storage.http import HttpStore
    from liveinsight.storage.migrate import cluster_of
    from liveinsight.storage.migrate import migrate as run_migrations
    from liveinsight.storage.protocol import StoreError

    if not settings.redis_url:
        raise _fail("--workers above 1 needs LIVEINSIGHT_REDIS_URL: the workers share live "
                    "sessions, the live feed and limits through Redis")
    _meta(settings).engine.dispose()
    owner: multi.Owner | None = None
    url = settings.clickhouse_url
    if not url:
        if backups.held(settings.chdb_path):
            raise _fail(f"a running LiveInsight holds {settings.data_dir}")
        owner = multi.Owner(settings)
        owner.start()
        url = owner.url
    try:
        store = HttpStore(url, settings.clickhouse_database)
        try:
            run_migrations(store, cluster_of(settings))
            multi.ingest_unclaimed(multi.slots_root(settings), count, store)
            metricshare.clear(multi.slots_root(settings))  # never a past run's figures
        finally:
            store.close()
        os.environ.update(multi.worker_environment(settings, owner.url if owner else None))
        console.print(f"LiveInsight listening on [bold]{address}[/bold] with {count} workers"
                      + (" and the engine owner" if owner else ""))
        server.serve()
    except (StoreError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    finally:
        if owner is not None:
            owner.stop()


@app.command()
def migrate(
    print_sql: Annotated[bool, typer.Option(
        "--print-sql", help="Print every ClickHouse schema statement for the current settings "
        "(single server or LIVEINSIGHT_CLICKHOUSE_CLUSTER) and exit: nothing is connected to "
        "or changed.")] = False,
) -> None:
    """Apply pending metadata and ClickHouse schema migrations."""
    from liveinsight.storage import schema
    from liveinsight.storage.migrate import cluster_of
    from liveinsight.storage.migrate import migrate as run
    from liveinsight.storage.transports import open_store

    settings = _settings()
    if print_sql:
        sys.stdout.write(schema.script(settings.clickhouse_database, cluster_of(settings)))
        return
    _meta(settings)
    store = open_store(settings)
    try:
        applied = run(store, cluster_of(settings))
    finally:
        store.close()
    console.print(f"metadata: up to date; ClickHouse: applied {applied or 'nothing new'}")


def _step(step: str) -> None:
    """Progress of a long command, on stderr (stdout holds its JSON answer)."""
    Console(stderr=True).print(f"  [dim]…[/dim] {step}")


def _moment(text: str) -> Any:
    """An ISO-8601 time given on the command line (UTC without an offset)."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _fail(f"--until: {text!r} is not an ISO-8601 time (2026-12-05T10:00:00Z)"
                    ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bars(operation: str) -> Any:
    """Progress bars of a long command on stderr (stdout holds its answer); nothing when
    stderr is not a terminal (``ops/progress.py``)."""
    from liveinsight.ops.backup import STEPS
    from liveinsight.ops.progress import StepBars

    return StepBars(STEPS[operation])


@app.command()
def backup(
    to: Annotated[str | None, typer.Option(
        "--to", help="Directory to put the backup in (default: LIVEINSIGHT_BACKUP_DIR).")] = None,
    verify_dir: Annotated[str | None, typer.Option(
        "--verify", help="Verify this backup instead: checksums, then a restore into a "
        "scratch directory compared with the manifest's row counts.")] = None,
    incremental: Annotated[bool, typer.Option(
        "--incremental", help="Only what the newest backup (under the same directory) "
        "lacks, on top of it.")] = False,
) -> None:
    """Back up the event store, metadata, node files and the log's pending segments (with
    the server stopped; while it runs, use POST /admin/backups)."""
    from pathlib import Path

    from liveinsight.errors import Problem
    from liveinsight.ops import backup as backups

    if verify_dir is not None:
        try:
            with _bars("verify") as bars:
                outcome = backups.verify(Path(verify_dir), progress=bars)
        except Problem as exc:
            raise _fail(str(exc)) from None
        console.print_json(json.dumps(outcome))
        if not outcome["ok"]:
            raise typer.Exit(1)
        return
    settings = _settings()
    if settings.clickhouse_url:
        raise _fail("backups here cover the embedded engine (chDB); back a ClickHouse server "
                    "up with its own BACKUP")
    if backups.held(settings.chdb_path):
        raise _fail(f"a running LiveInsight holds {settings.data_dir}: take the backup "
                    "through it (POST /admin/backups) or stop it first")
    import contextlib

    from liveinsight.ingest.wal import WriteAheadLog
    from liveinsight.storage.embedded import EmbeddedStore

    root = Path(to) if to else settings.backup_path
    store = EmbeddedStore(settings.chdb_path, settings.clickhouse_database,
                          backup_root=root)
    wal = WriteAheadLog(settings.wal_dir, fsync="always")
    try:
        with _bars("backup") as bars:
            manifest = backups.create(settings, store, wal, contextlib.nullcontext,
                                      root=root, progress=bars, incremental=incremental)
    except Problem as exc:
        raise _fail(str(exc)) from None
    finally:
        wal.close()
        store.close()
    on = f", incremental on {manifest['base']}" if manifest["base"] else ""
    console.print(f"backup [bold]{manifest['path']}[/bold]: rows {manifest['rows']}, "
                  f"{manifest['wal_segments']} log segment(s){on}")


@app.command()
def restore(
    directory: Annotated[str, typer.Argument(help="The backup directory to restore (with "
                                             "--until: or the directory of backups).")],
    until: Annotated[str | None, typer.Option(
        "--until", help="Point-in-time recovery: the newest backup before this ISO-8601 "
        "time, then the archived log segments closed by it (LIVEINSIGHT_WAL_ARCHIVE_DIR).")]
    = None,
) -> None:
    """Replace this node's data with a backup (the server must be stopped; the current data
    is moved to <data_dir>/before-restore-<time>)."""
    from pathlib import Path

    from liveinsight.errors import Problem
    from liveinsight.ops import backup as backups
    from liveinsight.ops import recovery

    settings = _settings()
    try:
        with _bars("restore") as bars:
            if until is None:
                outcome = backups.restore(settings, Path(directory), progress=bars)
            else:
                outcome = recovery.recover(settings, Path(directory), _moment(until),
                                           progress=bars)
    except Problem as exc:
        raise _fail(str(exc)) from None
    console.print_json(json.dumps(outcome))


@app.command()
def move(
    to_clickhouse: Annotated[str | None, typer.Option(
        "--to-clickhouse", help="The ClickHouse server (or any server of the cluster) to copy "
        "events and sessions to: http://user:password@host:8123.")] = None,
    to_database: Annotated[str | None, typer.Option(
        "--to-database", help="Its database (default: LIVEINSIGHT_CLICKHOUSE_DATABASE).")] = None,
    to_cluster: Annotated[str | None, typer.Option(
        "--to-cluster", help="The cluster's name: the schema is created ON CLUSTER (replica "
        "path and name from LIVEINSIGHT_CLICKHOUSE_REPLICA_PATH / _NAME).")] = None,
    to_metadata: Annotated[str | None, typer.Option(
        "--to-metadata", help="The metadata database to copy sites, users, keys, salts, goals "
        "and the rest to (an empty one): postgresql+psycopg://user@host/db.")] = None,
) -> None:
    """Copy this node's data (embedded engine, metadata database) to a ClickHouse server or
    cluster and/or PostgreSQL, then check it: the move from one machine to many
    (docs/deployment.md). The node must be stopped; its data is only read."""
    from pathlib import Path

    from liveinsight.errors import Problem
    from liveinsight.ingest.wal import logged_lines
    from liveinsight.ops import backup as backups
    from liveinsight.storage import move as data_move
    from liveinsight.storage import schema
    from liveinsight.storage.embedded import EmbeddedStore
    from liveinsight.storage.http import HttpStore
    from liveinsight.storage.migrate import migrate as run_migrations
    from liveinsight.storage.protocol import StoreError

    settings = _settings()
    if not to_clickhouse and not to_metadata:
        raise _fail("nothing to do: give --to-clickhouse and/or --to-metadata")
    outcome: dict[str, object] = {}
    if to_clickhouse:
        if settings.clickhouse_url:
            raise _fail("this node already uses a ClickHouse server: copy between servers "
                        "with ClickHouse's remote() table function or BACKUP/RESTORE")
        if backups.held(settings.chdb_path):
            raise _fail(f"a running LiveInsight holds {settings.data_dir}: stop it first "
                        "(SIGTERM: it ingests its log before it exits)")
        pending = sum(1 for kind in (b"e", b"s") for _ in logged_lines(settings.wal_dir, kind))
        if pending:
            raise _fail(f"the log in {settings.wal_dir} still holds {pending} row(s) not in the "
                        "store: start this node once and stop it with SIGTERM (it ingests its "
                        "log), then move")
        cluster = (schema.Cluster(to_cluster, settings.clickhouse_replica_path,
                                  settings.clickhouse_replica_name) if to_cluster else None)
        source = EmbeddedStore(settings.chdb_path, settings.clickhouse_database)
        try:
            target = HttpStore(to_clickhouse, to_database or settings.clickhouse_database)
        except StoreError as exc:
            source.close()
            raise _fail(str(exc)) from None
        try:
            run_migrations(source)
            run_migrations(target, cluster)
            copied = data_move.copy(source, target, cluster=cluster, progress=_step,
                                    scratch=Path(settings.data_dir))
        except (Problem, StoreError) as exc:
            raise _fail(str(exc)) from None
        finally:
            target.close()
            source.close()
        outcome["clickhouse"] = copied.as_dict()
    if to_metadata:
        from sqlalchemy.exc import SQLAlchemyError

        from liveinsight.meta import move as meta_move
        from liveinsight.meta.db import make_engine

        source_db, target_db = make_engine(settings.metadata_url), make_engine(to_metadata)
        try:
            outcome["metadata"] = {"rows": meta_move.copy(source_db, target_db, _step)}
        except (Problem, SQLAlchemyError) as exc:
            raise _fail(str(exc).splitlines()[0]) from None
        finally:
            source_db.dispose()
            target_db.dispose()
    console.print_json(json.dumps(outcome))
    clickhouse = outcome.get("clickhouse")
    if isinstance(clickhouse, dict) and not clickhouse["verified"]:
        raise typer.Exit(1)


@app.command("create-site")
def create_site(
    domain: Annotated[str, typer.Argument(help="The site's domain, e.g. example.com")],
    name: Annotated[str, typer.Option(help="Display name (default: the domain).")] = "",
    timezone: Annotated[str, typer.Option(help="IANA time zone for reports.")] = "UTC",
    alias: Annotated[list[str] | None, typer.Option(help="Other domains of the site.")] = None,
    retention_days: Annotated[int, typer.Option(help="Keep events this long (0: keep).")] = 0,
    team: Annotated[str | None, typer.Option(help="The team owning it (name or id; default: "
                                             "the first team, made when there is none).")]
    = None,
) -> None:
    """Add a site to track."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from liveinsight.meta.people import People
    from liveinsight.meta.repo import MetaError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America")
        raise _fail(f"unknown time zone {timezone!r}") from None
    meta = _meta(_settings())
    people = People(meta.engine)
    teams = people.teams()
    if team is not None:
        owner = _team_of(people, team)
    else:
        owner = teams[0] if teams else people.create_team("Default team")
    try:
        site = meta.create_site(domain, name=name, timezone=timezone, aliases=alias or [],
                                retention_days=retention_days, team_id=owner.id)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"created site [bold]{site.domain}[/bold] id={site.id} uuid={site.uuid} "
                  f"team={owner.name!r}")


def _confirmed(domain: str, yes: bool, what: str) -> None:
    """Go on only with ``--yes`` or the site's domain typed at the prompt."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise _fail(f"{what} cannot be undone: pass --yes, or run it in a terminal and type "
                    "the domain")
    typed = typer.prompt(f"{what} cannot be undone. Type the site's domain ({domain}) to "
                         "confirm", default="", show_default=False)
    if typed.strip().lower() != domain:
        raise _fail("the domain typed does not match: nothing was changed")


def _wipe(domain: str, yes: bool, delete: bool) -> None:
    """``reset-stats`` and ``delete-site``: see their help. Steps on stderr, the rows
    deleted per table as JSON on stdout."""
    from liveinsight.services import shared_answers
    from liveinsight.storage.migrate import cluster_of
    from liveinsight.storage.protocol import StoreError
    from liveinsight.storage.sitedata import delete_site_rows
    from liveinsight.storage.transports import open_store
    from liveinsight.workers import drain_logs, slots_root

    settings = _settings()
    meta = _meta(settings)
    site = _site_named(meta, domain)
    _confirmed(site.domain, yes, "Deleting the site and all its data" if delete
               else "Deleting every stored event of the site")
    try:
        store = open_store(settings)
    except StoreError as exc:
        raise _fail(f"cannot open ClickHouse ({exc}). With the embedded engine, stop the "
                    "server first, or use the settings page or the API while it runs") from None
    try:
        if not settings.clickhouse_url:  # the engine was free: no server is running here
            _step("ingesting what the write-ahead logs still hold")
            drain_logs(settings, slots_root(settings), store)
        if delete:
            _step("deleting the site's metadata (goals, people, links, keys' scope)")
            meta.delete_site(site.id)
            if settings.clickhouse_url and settings.site_delete_sweep_seconds:
                _step(f"waiting {settings.site_delete_sweep_seconds:g} s for running servers "
                      "to drop its events and flush their logs")
                time.sleep(settings.site_delete_sweep_seconds)
        _step("deleting its rows (events, sessions, rollups, imported data)")
        rows = delete_site_rows(store, site.id, cluster_of(settings))
    except StoreError as exc:
        raise _fail(f"ClickHouse: {exc}") from None
    finally:
        store.close()
    _step("dropping its cached answers")
    shared_answers(settings).invalidate_site(site.id)
    print(json.dumps({"site": site.domain, "action": "delete" if delete else "reset",
                      "rows": rows}))


@app.command("reset-stats")
def reset_stats(
    domain: Annotated[str, typer.Argument(help="The site's domain.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for the domain again.")]
    = False,
) -> None:
    """Delete every stored event, session and imported row of a site; keep its settings,
    goals and people. Asks for the domain again unless --yes."""
    _wipe(domain, yes, delete=False)


@app.command("delete-site")
def delete_site(
    domain: Annotated[str, typer.Argument(help="The site's domain.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for the domain again.")]
    = False,
) -> None:
    """Delete a site: its goals, funnels, segments, shared links, guests, invitations and
    all its stored data. Asks for the domain again unless --yes."""
    _wipe(domain, yes, delete=True)


@app.command("export-site")
def export_site(
    out: Annotated[str, typer.Argument(help="The zip to write (OUT.zip; - for stdout).")],
    site: Annotated[str, typer.Option("--site", help="The site's domain.")],
    from_: Annotated[str | None, typer.Option("--from", help="First day (site's time zone), "
                                              "YYYY-MM-DD; default: its first day with events."
                                              )] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day, included; default: its "
                                           "last day with events.")] = None,
) -> None:
    """Export a whole site as a zip of CSVs in Plausible's layout (imported_visitors_…csv,
    imported_pages_…csv, ...), written as ClickHouse answers; progress on stderr."""
    from datetime import UTC, date, datetime
    from zoneinfo import ZoneInfo

    from liveinsight.errors import Invalid
    from liveinsight.query.site_archive import export_range, stream_zip
    from liveinsight.storage.protocol import StoreError
    from liveinsight.storage.transports import open_store

    settings = _settings()
    found = _site_named(_meta(settings), site)
    try:
        first = date.fromisoformat(from_) if from_ else None
        last = date.fromisoformat(to) if to else None
    except ValueError as exc:
        raise _fail(f"--from/--to: {exc} (YYYY-MM-DD)") from None
    try:
        store = open_store(settings)
    except StoreError as exc:
        raise _fail(f"cannot open ClickHouse ({exc}). With the embedded engine, stop the "
                    "server first, or download the export from the settings page or the "
                    "API while it runs") from None
    err = Console(stderr=True)
    written = 0
    try:
        today = datetime.now(UTC).astimezone(ZoneInfo(found.timezone)).date()
        first, last = export_range(store, found.id, found.timezone, first, last, today)
        err.print(f"exporting {found.domain}, {first} to {last}")

        def progress(name: str, done: int, total: int) -> None:
            err.print(f"  [dim]…[/dim] {name}: {done}/{total} month-files, "
                      f"{written / 1e6:.1f} MB written", highlight=False)

        target = sys.stdout.buffer if out == "-" else open(out, "wb")  # noqa: SIM115
        try:
            for chunk in stream_zip(store, found.id, found.timezone, first, last, progress):
                target.write(chunk)
                written += len(chunk)
        finally:
            if target is not sys.stdout.buffer:
                target.close()
    except Invalid as exc:
        raise _fail(f"{exc.field}: {exc.message}") from None
    except (StoreError, OSError) as exc:
        raise _fail(f"the export stopped: {exc}") from None
    finally:
        store.close()
    err.print(f"wrote {out} ({written:,} bytes)")


def _site_named(meta: Any, domain: str) -> Any:
    from liveinsight.meta.repo import MetaError, normalize_domain

    try:
        wanted = normalize_domain(domain)
    except MetaError:
        wanted = domain.strip().lower()
    found = next((s for s in meta.sites() if s.domain == wanted), None)
    if found is None:
        raise _fail(f"site: no site {domain!r} (liveinsight list-sites)")
    return found


@app.command("list-sites")
def list_sites(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List sites."""
    sites = _meta(_settings()).sites()
    if as_json:
        print(json.dumps([{"id": s.id, "domain": s.domain, "uuid": s.uuid} for s in sites]))
        return
    table = Table("id", "domain", "uuid", "time zone")
    for s in sites:
        table.add_row(str(s.id), s.domain, s.uuid, s.timezone)
    console.print(table)


@app.command("site-settings")
def site_settings(
    domain: Annotated[str, typer.Argument(help="The site's domain.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    new_domain: Annotated[str | None, typer.Option("--domain", help="A new domain.")] = None,
    alias: Annotated[list[str] | None, typer.Option(
        help="Another domain of the site (repeat; replaces the list).")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code.")] = None,
    retention_days: Annotated[int | None, typer.Option(
        help="Keep events this long (0: keep).", min=0, max=36500)] = None,
    public: Annotated[bool | None, typer.Option(
        "--public/--private", help="A public dashboard, without login.")] = None,
    enabled: Annotated[bool | None, typer.Option(
        "--enable/--disable", help="Off: its events are refused.")] = None,
    signed_ingest: Annotated[bool | None, typer.Option(
        "--signed-ingest/--unsigned-ingest", help="Accept only signed events.")] = None,
    salt_rotation: Annotated[str | None, typer.Option(
        help="How long visitor ids last: daily, weekly or monthly.")] = None,
    block_ip: Annotated[list[str] | None, typer.Option(
        help="An address or CIDR range whose events are dropped (repeat; replaces the "
             "list).")] = None,
    block_path: Annotated[list[str] | None, typer.Option(
        help="A path (* and ** wildcards) whose events are dropped (repeat; replaces).")]
    = None,
    block_host: Annotated[list[str] | None, typer.Option(
        help="A hostname whose events are dropped (repeat; replaces).")] = None,
    clear: Annotated[list[str] | None, typer.Option(
        help="Empty a list: aliases, blocked_ips, blocked_paths or blocked_hosts (repeat).")]
    = None,
) -> None:
    """Show a site's settings, or change them (as the settings page and PATCH
    /api/v1/sites/{site} do); prints the settings as JSON."""
    from dataclasses import asdict
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from liveinsight.meta.repo import MetaError, check_site_fields

    meta = _meta(_settings())
    site = _site_named(meta, domain)
    lists = ("aliases", "blocked_ips", "blocked_paths", "blocked_hosts")
    fields: dict[str, object] = {name: [] for name in clear or ()}
    unknown = set(fields) - set(lists)
    if unknown:
        raise _fail(f"--clear: {', '.join(sorted(unknown))} is not one of {', '.join(lists)}")
    given = {"name": name, "domain": new_domain, "aliases": alias, "timezone": timezone,
             "currency": currency, "retention_days": retention_days, "public": public,
             "enabled": enabled, "require_signed_ingest": signed_ingest,
             "salt_rotation": salt_rotation, "blocked_ips": block_ip,
             "blocked_paths": block_path, "blocked_hosts": block_host}
    fields.update({k: v for k, v in given.items() if v is not None})
    if "timezone" in fields:
        try:
            ZoneInfo(str(fields["timezone"]))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise _fail(f"--timezone: unknown time zone {timezone!r}") from None
    if fields:
        try:
            site = meta.update_site(site.id, **check_site_fields(fields))
        except MetaError as exc:
            option = {"aliases": "alias", "require_signed_ingest": "signed-ingest",
                      "blocked_ips": "block-ip", "blocked_paths": "block-path",
                      "blocked_hosts": "block-host"}.get(exc.field or "",
                                                         (exc.field or "").replace("_", "-"))
            raise _fail(f"{'--' + option + ': ' if option else ''}{exc}") from None
    doc = asdict(site)
    print(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in doc.items()}))


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Argument(help="Login e-mail.")],
    password: Annotated[str | None, typer.Option(help="Password (prompted when omitted).")] = None,
    role: Annotated[str, typer.Option(help="admin (the instance administrator: every site, "
                                      "users, API keys) or viewer (a user reaching the "
                                      "sites of their teams and the sites they are a "
                                      "guest of).")] = "viewer",
) -> None:
    """Add a dashboard user (give them a role with `teams add-member` or `members add`)."""
    from liveinsight.meta.repo import MetaError

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = _meta(_settings()).create_user(email, password, role)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"created {user.role} [bold]{user.email}[/bold]")


@app.command("end-sessions")
def end_sessions(
    email: Annotated[str, typer.Argument(help="The user whose sign-ins to end.")],
) -> None:
    """End every dashboard session of a user, on every node (they must log in again)."""
    from datetime import UTC, datetime

    from liveinsight.meta.logins import LoginStore

    meta = _meta(_settings())
    user = meta.user_by_email(email)
    if user is None:
        raise _fail(f"no user {email!r}")
    ended = LoginStore(meta.engine).revoke_all(user.id, datetime.now(UTC))
    console.print(f"ended {ended} session(s) of [bold]{user.email}[/bold]")


@app.command("reset-two-factor")
def reset_two_factor(
    email: Annotated[str, typer.Argument(help="The user who lost their app and codes.")],
) -> None:
    """Turn a user's two-factor sign-in off (they sign in with the password alone and may
    set it up again)."""
    from liveinsight.meta.two_factor import TwoFactor

    meta = _meta(_settings())
    user = meta.user_by_email(email)
    if user is None:
        raise _fail(f"no user {email!r}")
    TwoFactor(meta.engine).disable(user.id)
    console.print(f"two-factor sign-in is off for [bold]{user.email}[/bold]")


@app.command("create-api-key")
def create_api_key(
    name: Annotated[str, typer.Argument(help="What the key is for.")],
    scope: Annotated[list[str] | None, typer.Option(help="ingest, stats, admin.")] = None,
    site: Annotated[list[int] | None, typer.Option(help="Limit to these site ids.")] = None,
    rate: Annotated[float | None, typer.Option(help="Its usage plan: requests (and events) a "
                                               "second (default: LIVEINSIGHT_API_KEY_RATE).")]
    = None,
    burst: Annotated[int | None, typer.Option(help="...and at once (default: "
                                              "LIVEINSIGHT_API_KEY_BURST).")] = None,
    daily_quota: Annotated[int | None, typer.Option(
        help="...and each UTC day (default: LIVEINSIGHT_API_KEY_DAILY_QUOTA).")] = None,
) -> None:
    """Create an API key (shown once)."""
    from liveinsight.meta.repo import MetaError

    try:
        plaintext, key = _meta(_settings()).create_api_key(
            name, scope or None, site or None, rate=rate, burst=burst,
            daily_quota=daily_quota)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"API key [bold]{key.name}[/bold] id={key.id} "
                  f"scopes={','.join(key.scopes)}")
    print(plaintext)


@app.command("key-plan")
def key_plan(
    key_id: Annotated[int, typer.Argument(help="The key's id (`create-api-key` prints it).")],
    rate: Annotated[float | None, typer.Option(help="Requests (and events) a second; "
                                               "omitted: the default.")] = None,
    burst: Annotated[int | None, typer.Option(help="At once; omitted: the default.")] = None,
    daily_quota: Annotated[int | None, typer.Option(
        help="Requests (and events, counted apart) each UTC day; omitted: the default.")]
    = None,
) -> None:
    """Set an API key's usage plan, the whole plan at once (what it may send a second, at
    once, and each UTC day)."""
    from liveinsight.meta.repo import MetaError

    settings = _settings()
    try:
        key = _meta(settings).set_api_key_plan(key_id, rate, burst, daily_quota)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    quota = key.daily_quota or settings.api_key_daily_quota
    console.print(f"API key [bold]{key.name}[/bold] id={key.id}: "
                  f"{key.rate or settings.api_key_rate:g} a second, bursts of "
                  f"{key.burst or settings.api_key_burst}, "
                  + (f"{quota} a UTC day" if quota else "no daily quota"))


audit_app = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every audit record against the chain: an edited record, a deleted one or a
    cut end is named (exit status 1). Prints the head hash: keep it elsewhere to detect a
    later truncation."""
    from liveinsight.meta.audit import AuditStore
    from liveinsight.security.audit import chain_key

    settings = _settings()
    verdict = AuditStore(_meta(settings).engine, chain_key(settings.resolved_secret())).verify()
    for problem in verdict.problems:
        console.print(f"[red]broken:[/red] {problem}")
    pruned = (f", records up to {verdict.pruned_through} removed by retention"
              if verdict.pruned_through else "")
    console.print(f"{verdict.records} records{pruned}; head {verdict.head}")
    if not verdict.ok:
        raise typer.Exit(1)
    console.print("the chain is intact")


goals_app = typer.Typer(help="A site's goals: list, add, delete.", no_args_is_help=True)
app.add_typer(goals_app, name="goals")


def _site_of(meta, name: str):  # type: ignore[no-untyped-def]
    site = next((s for s in meta.sites() if name in (s.domain, str(s.id), s.uuid)), None)
    if site is None:
        raise _fail(f"no site {name!r}")
    return site


@goals_app.command("list")
def goals_list(site: Annotated[str, typer.Argument(help="The site's domain or id.")]) -> None:
    """List a site's goals."""
    meta = _meta(_settings())
    table = Table("id", "name", "converts on", "currency")
    for g in meta.goals(_site_of(meta, site).id):
        on = f"event {g.event_name}" if g.event_name else f"page {g.page_path}"
        table.add_row(str(g.id), g.display_name, on, g.currency or "")
    console.print(table)


@goals_app.command("add")
def goals_add(
    site: Annotated[str, typer.Argument(help="The site's domain or id.")],
    event: Annotated[str | None, typer.Option(help="Converts on this custom event.")] = None,
    page: Annotated[str | None, typer.Option(help="...or on a pageview of this path "
                                             "(* and ** wildcards).")] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    currency: Annotated[str | None, typer.Option(help="ISO 4217: a revenue goal.")] = None,
) -> None:
    """Add a goal to a site."""
    from liveinsight.meta.repo import MetaError

    meta = _meta(_settings())
    try:
        goal = meta.create_goal(_site_of(meta, site).id, event_name=event, page_path=page,
                                display_name=name, currency=currency)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"added goal [bold]{goal.display_name}[/bold] id={goal.id}")


@goals_app.command("delete")
def goals_delete(site: Annotated[str, typer.Argument(help="The site's domain or id.")],
                 goal_id: Annotated[int, typer.Argument(help="The goal's id.")]) -> None:
    """Delete a goal (its events stay)."""
    from liveinsight.meta.repo import MetaError

    meta = _meta(_settings())
    try:
        meta.delete_goal(_site_of(meta, site).id, goal_id)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"deleted goal {goal_id}")


def _team_of(people, name: str):  # type: ignore[no-untyped-def]
    team = next((t for t in people.teams() if name in (t.name, str(t.id))), None)
    if team is None:
        raise _fail(f"no team {name!r}")
    return team


def _user_of(meta, email: str):  # type: ignore[no-untyped-def]
    user = meta.user_by_email(email)
    if user is None:
        raise _fail(f"no user {email!r}")
    return user


teams_app = typer.Typer(help="Teams: the people holding a role on every site of a team.",
                        no_args_is_help=True)
app.add_typer(teams_app, name="teams")


@teams_app.command("list")
def teams_list() -> None:
    """List teams with their members and sites."""
    from liveinsight.meta.people import People

    meta = _meta(_settings())
    people = People(meta.engine)
    sites = meta.sites()
    table = Table("id", "name", "members", "sites")
    for t in people.teams():
        members = ", ".join(f"{m.email} ({m.role.label})" for m in people.team_members(t.id))
        table.add_row(str(t.id), t.name, members,
                      ", ".join(s.domain for s in sites if s.team_id == t.id))
    console.print(table)


@teams_app.command("create")
def teams_create(
    name: Annotated[str, typer.Argument(help="The team's name.")],
    owner: Annotated[str | None, typer.Option(help="E-mail of its owner (a user).")] = None,
) -> None:
    """Create a team."""
    from liveinsight.meta.people import People
    from liveinsight.meta.repo import MetaError

    meta = _meta(_settings())
    try:
        team = People(meta.engine).create_team(
            name, _user_of(meta, owner).id if owner else None)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"created team [bold]{team.name}[/bold] id={team.id}")


@teams_app.command("add-member")
def teams_add_member(
    team: Annotated[str, typer.Argument(help="The team's name or id.")],
    email: Annotated[str, typer.Argument(help="The user's e-mail.")],
    role: Annotated[str, typer.Option(help="owner, admin, editor or viewer.")] = "viewer",
) -> None:
    """Add a user to a team, or change their role in it."""
    from liveinsight.meta.people import People
    from liveinsight.meta.repo import MetaError

    meta = _meta(_settings())
    people = People(meta.engine)
    try:
        member = people.set_team_role(_team_of(people, team).id, _user_of(meta, email).id, role)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{member.email} is {member.role.label} of team {team!r}")


@teams_app.command("remove-member")
def teams_remove_member(
    team: Annotated[str, typer.Argument(help="The team's name or id.")],
    email: Annotated[str, typer.Argument(help="The user's e-mail.")],
) -> None:
    """Remove a user from a team (a team keeps at least one owner)."""
    from liveinsight.meta.people import People
    from liveinsight.meta.repo import MetaError

    meta = _meta(_settings())
    people = People(meta.engine)
    try:
        people.remove_team_member(_team_of(people, team).id, _user_of(meta, email).id)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"removed {email} from team {team!r}")


members_app = typer.Typer(help="A site's people: its team's members and its guests.",
                          no_args_is_help=True)
app.add_typer(members_app, name="members")


@members_app.command("list")
def members_list(site: Annotated[str, typer.Argument(help="The site's domain or id.")]) -> None:
    """List who holds a role on a site."""
    from liveinsight.meta.people import People

    meta = _meta(_settings())
    table = Table("user id", "e-mail", "role", "through")
    for m in People(meta.engine).site_people(_site_of(meta, site).id):
        table.add_row(str(m.user_id), m.email, m.role.label, m.via)
    console.print(table)


@members_app.command("add")
def members_add(
    site: Annotated[str, typer.Argument(help="The site's domain or id.")],
    email: Annotated[str, typer.Argument(help="The user's e-mail.")],
    role: Annotated[str, typer.Option(help="admin, editor or viewer.")] = "viewer",
) -> None:
    """Give a user a role on one site (a guest), or change it."""
    from liveinsight.meta.people import People
    from liveinsight.meta.repo import MetaError

    meta = _meta(_settings())
    try:
        member = People(meta.engine).set_guest_role(_site_of(meta, site).id,
                                                    _user_of(meta, email).id, role)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{member.email} is {member.role.label} of {site}")


@members_app.command("remove")
def members_remove(
    site: Annotated[str, typer.Argument(help="The site's domain or id.")],
    email: Annotated[str, typer.Argument(help="The guest's e-mail.")],
) -> None:
    """Remove a guest from a site."""
    from liveinsight.meta.people import People
    from liveinsight.meta.repo import MetaError

    meta = _meta(_settings())
    try:
        People(meta.engine).remove_guest(_site_of(meta, site).id, _user_of(meta, email).id)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"removed {email} from {site}")


@app.command("transfer-site")
def transfer_site(
    site: Annotated[str, typer.Argument(help="The site's domain or id.")],
    team: Annotated[str, typer.Argument(help="The team to own it (name or id).")],
) -> None:
    """Move a site to another team (its members then hold their roles on it)."""
    from liveinsight.meta.people import People
    from liveinsight.meta.repo import MetaError

    meta = _meta(_settings())
    people = People(meta.engine)
    try:
        people.move_site(_site_of(meta, site).id, _team_of(people, team).id)
    except MetaError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{site} now belongs to team {team!r}")


@app.command("import")
def import_(
    source: Annotated[str, typer.Argument(help="plausible (its CSV export: the zip, or one "
                                          "CSV) or ga4 (CSV reports, see the user guide)")],
    file: Annotated[str, typer.Argument(help="The zip or CSV file to import.")],
    site: Annotated[str, typer.Option("--site", help="The site's domain (or id).")],
    server: Annotated[str | None, typer.Option(
        "--server", help="Upload to this running server instead (e.g. http://localhost:8000; "
        "needs --api-key): the way while a server holds the embedded engine's data.")] = None,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar="LIVEINSIGHT_API_KEY", help="With --server: an API key with the "
        "admin scope for the site.")] = None,
) -> None:
    """Import another tool's aggregates into a site (kept apart from native events; shown
    with include.imports), with a progress bar on stderr; prints the import as JSON."""
    from pathlib import Path

    from liveinsight.errors import Problem
    from liveinsight.ops.progress import StepBars

    path = Path(file)
    if source not in ("plausible", "ga4"):
        raise _fail(f"source must be plausible or ga4, not {source!r}")
    if not path.is_file():
        raise _fail(f"no file {file!r}")
    if server:
        console.print_json(json.dumps(_import_through(server, api_key, site, source, path)))
        return
    settings = _settings()
    from liveinsight.ops import backup as backups

    if not settings.clickhouse_url and backups.held(settings.chdb_path):
        raise _fail(f"a running LiveInsight holds {settings.data_dir}: import through it "
                    "(--server URL --api-key KEY) or stop it first")
    import shutil
    import tempfile

    from liveinsight.imports.reader import Limits
    from liveinsight.imports.service import Importer
    from liveinsight.meta.site_imports import SiteImports
    from liveinsight.ops.jobs import Jobs
    from liveinsight.storage.migrate import cluster_of, migrate
    from liveinsight.storage.transports import open_store

    meta = _meta(settings)
    found = _site_of(meta, site)
    store = open_store(settings)
    scratch = Path(tempfile.mkdtemp(prefix="liveinsight-import-"))  # its own batches
    try:
        migrate(store, cluster_of(settings))
        importer = Importer(store, SiteImports(meta.engine), Jobs(), lambda _site: None,
                            Limits(settings.import_max_upload_bytes,
                                   settings.import_max_uncompressed_bytes,
                                   settings.import_max_rows),
                            scratch, cluster_of(settings))
        with StepBars(["check", "insert"]) as bars:
            info = importer.run(found, source, path, path.name, progress=bars)
    except Problem as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
        shutil.rmtree(scratch, ignore_errors=True)
    console.print_json(json.dumps(importer.doc(info)))


def _import_through(server: str, api_key: str | None, site: str, source: str,
                    path: Any) -> dict[str, Any]:
    """Upload to a running server, then follow its job until the import ends."""
    import time

    import httpx
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    if not api_key:
        raise _fail("--server needs --api-key (or LIVEINSIGHT_API_KEY)")
    base = server.rstrip("/")
    headers = {"authorization": f"Bearer {api_key}"}
    bars = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                    console=Console(stderr=True), disable=not Console(stderr=True).is_terminal)
    with bars, httpx.Client(timeout=600) as client:
        task = bars.add_task("[1/2] upload and check", total=None)
        with path.open("rb") as fh:
            answer = client.post(f"{base}/api/v1/sites/{site}/imports", headers=headers,
                                 data={"source": source}, files={"file": (path.name, fh)})
        if answer.status_code >= 400:
            raise _fail(f"{answer.status_code}: {answer.text[:500]}")
        doc: dict[str, Any] = answer.json()
        bars.update(task, total=1, completed=1)
        task = bars.add_task("[2/2] insert", total=1)
        while doc["status"] == "importing":
            progress = doc.get("progress") or {}
            bars.update(task, completed=float(progress.get("progress") or 0))
            time.sleep(0.5)
            answer = client.get(f"{base}/api/v1/sites/{site}/imports/{doc['id']}",
                                headers=headers)
            if answer.status_code >= 400:
                raise _fail(f"{answer.status_code}: {answer.text[:500]}")
            doc = answer.json()
        bars.update(task, completed=1)
    if doc["status"] != "completed":
        raise _fail(f"the import failed: {doc.get('error')}")
    return doc


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="Days of history to generate.")] = 30,
    scale: Annotated[float, typer.Option(help="Traffic volume multiplier.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
    reset: Annotated[bool, typer.Option(help="Delete the demo sites' data and regenerate.")]
    = False,
    serve_after: Annotated[bool, typer.Option("--serve", help="Then run the server.")] = False,
    live: Annotated[bool, typer.Option(
        help="Send a live trickle of visits to the server (with --serve: to the one started; "
        "alone: to a server already running, without generating).")] = False,
    live_rate: Annotated[float, typer.Option(help="New live visitors per second.")] = 0.5,
    host: Annotated[str | None, typer.Option(help="Address to serve on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve on.")] = None,
    quiet_if_stored: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Create demo sites with a month of realistic traffic (skipped when their data exists)."""
    from liveinsight.demo.cli import generate, trickle_forever

    settings = _settings()
    base_url = f"http://{host or settings.host}:{port or settings.port}"
    if live and not serve_after:
        trickle_forever(console, base_url, live_rate)
        return
    if not serve_after:
        generate(console, settings, days=days, scale=scale, seed=seed, reset=reset,
                 quiet_if_stored=quiet_if_stored)
        return
    # chDB keeps a data path locked for the life of the process that opened it, so the
    # data is generated by a child process and this one (which serves) never opens it.
    import subprocess

    args = ["demo", "--days", str(days), "--scale", str(scale), "--seed", str(seed),
            "--quiet-if-stored"]
    if subprocess.run([sys.executable, "-m", "liveinsight.cli", *args,
                       *(["--reset"] if reset else [])], check=False).returncode:
        raise typer.Exit(1)
    if live:
        from liveinsight.demo import live as demo_live

        demo_live.start(base_url, visits_per_second=live_rate)
    serve(host=host, port=port)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
