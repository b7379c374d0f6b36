"""Opening the metadata database and bringing its schema up to date (Alembic)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from liveinsight.ops.breaker import Breaker, DependencyDown, not_tried
from liveinsight.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

_MIGRATIONS = Path(__file__).parent / "migrations"

UNREACHABLE = (OperationalError, InterfaceError, PoolTimeout)
"""What the metadata database raises when it cannot be reached (refused, dropped, no free
connection within ``database_pool_timeout_seconds``): a failure of the moment, answered 503."""


@dataclass(frozen=True, slots=True)
class Pool:
    """A server database's connection pool (PostgreSQL): ``size`` kept open, ``overflow``
    more opened under bursts, ``timeout`` seconds a request waits for one, connections
    older than ``recycle`` seconds replaced, each checked before use (pre-ping: a
    connection the server or a proxy dropped is replaced, not handed out); opening one
    fails after ``connect_timeout`` seconds (libpq waits forever by default)."""

    size: int = 10
    overflow: int = 20
    timeout: float = 10.0
    recycle: float = 1800.0
    connect_timeout: int = 5


def pool_of(settings: Settings) -> Pool:
    return Pool(settings.database_pool_size, settings.database_pool_overflow,
                settings.database_pool_timeout_seconds, settings.database_pool_recycle_seconds,
                settings.database_connect_timeout_seconds)


def make_engine(url: str, pool: Pool | None = None, breaker: Breaker | None = None
                ) -> Engine:
    """An engine for ``url``; SQLite gets WAL journaling and foreign keys, a server
    database the ``pool`` and, if given, the ``breaker`` (see :func:`_guard`)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            _private(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    p = pool or Pool()
    given = make_url(url).query  # a connect_timeout in the URL itself is kept
    connect = {} if "connect_timeout" in given else {"connect_timeout": p.connect_timeout}
    engine = create_engine(url, pool_pre_ping=True, pool_size=p.size, max_overflow=p.overflow,
                           pool_timeout=p.timeout, pool_recycle=p.recycle,
                           connect_args=connect)
    if breaker is not None:
        _guard(engine, breaker)
    return engine


def _guard(engine: Engine, breaker: Breaker) -> None:
    """Every new connection of ``engine`` is opened through ``breaker``; a pooled connection
    that turns out dropped while in use (a disconnect error, not the pool's pre-ping, which
    replaces it by a new connection anyway) is recorded as a failure. While the breaker is
    open, opening a connection fails at once with the driver's own ``OperationalError``
    ("not tried (circuit breaker open, next try in N s): ...", the refusal as its cause), so
    every caller handles it as it handles an unreachable database (:data:`UNREACHABLE`:
    503, the site directory's last copy...). Connections already pooled are not refused: a
    connection that works is used."""
    dbapi = engine.dialect.loaded_dbapi

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return breaker.call(lambda: dialect.connect(*cargs, **cparams))
        except DependencyDown as exc:
            raise dbapi.OperationalError(not_tried(exc)) from exc

    @event.listens_for(engine, "handle_error")
    def _dropped(ctx: ExceptionContext) -> None:
        if ctx.is_disconnect and not ctx.is_pre_ping and ctx.connection is not None:
            breaker.record_failure(ctx.original_exception)


def _private(db: Path) -> None:
    """The database file (salts, password and key hashes) readable by its owner only. SQLite
    creates ``-wal`` and ``-shm`` with the database file's mode; ones left by an earlier
    version are tightened too."""
    db.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(db, os.O_RDWR | os.O_CREAT, 0o600))
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists():
            path.chmod(0o600)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration's revision: migrations are ``versions/NNNN_<what>.py`` with
    ``revision = 'NNNN'``, each following the one before (tests/meta/test_migrations.py checks
    this against Alembic's own reading)."""
    return max(path.name[:4] for path in (_MIGRATIONS / "versions").glob("[0-9]*.py"))


def applied_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None (no migration applied, or not one head)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):  # a new database
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    return str(rows[0][0]) if len(rows) == 1 else None


def upgrade(engine: Engine) -> None:
    """Apply every pending metadata migration (idempotent). A database already at the head
    revision is left alone without loading Alembic (~0.2 s of every CLI command and start)."""
    if applied_revision(engine) == head_revision():
        return
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
