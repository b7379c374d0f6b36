"""The embedded transport: chDB, the ClickHouse engine inside this process.

chDB allows one engine per process and one open data path at a time, so an app process owns
its data directory; connections on that path query in parallel and release the GIL.

A query borrows a connection from the store's pool and gives it back when it is done; at most
``IDLE_CONNECTIONS`` wait idle, any more are closed when given back. (Connections used to be
one per thread, kept until the store closed: each open one holds about 1 MB of the engine's
tracked memory (``MemoryTracking``, what its memory limit is checked against) and 0.1 MB of
resident memory, so worker threads that come and go — AnyIO stops its idle ones after 10 s,
the answer cache refreshes on a new thread each time — grew the process for as long as it
ran. A query run between two pieces of a stream on the same thread also broke the stream.)

The engine starts with a configuration file LiveInsight writes next to the data directory
(``<data_dir>/chdb-engine.xml``): it bounds the query condition cache
(``CONDITION_CACHE_BYTES``) and, when the store may take backups, allows ``BACKUP``/``RESTORE``
under their directory.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import chdb
import orjson

from liveinsight.ops import tracing
from liveinsight.storage import schema
from liveinsight.storage.protocol import (
    Code,
    QueryResult,
    StoreError,
    StoreUnavailable,
    code_in,
)

_OPEN_PATHS: set[str] = set()
_OPEN_LOCK = threading.Lock()

IDLE_CONNECTIONS = 16
"""Idle chDB connections a store keeps for the next queries (more run at once when asked:
each query has its own while it runs)."""

CONDITION_CACHE_BYTES = 8 * 2**20
"""The engine's query condition cache (which granules of a part matched a filter) is capped
at this many bytes of its own weight (ClickHouse's default: 100 MiB). An entry is kept per
(part, filter) read, and parts come and go with every insert and merge, so entries for parts
long merged away stayed until the cap: ~12,000 new ones a minute in the 500-user soak, each
weighing ~61 bytes against the cap but holding ~184 bytes of memory (up to ~300 MB before
ClickHouse's cap). 8 MiB keeps the last ~130,000 entries: more than the live parts times the
filters of a busy dashboard (docs/performance.md, "Soak: the query condition cache")."""


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r",
                              "\0": "\\0"})


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.translate(_TSV_ESCAPES).replace("'", "\\'") + "'"
    return _param_text(value)


def _param_text(value: Any) -> str:
    """A Python value as the text ClickHouse parses a ``{name:Type}`` parameter from
    (its "escaped" format: chDB passes the text through as it is, unlike the HTTP
    interface's clients, so backslashes, tabs and newlines must be escaped here)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return str(value.isoformat(sep=" "))
    if isinstance(value, list | tuple):
        return "[" + ",".join(_quoted(v) for v in value) + "]"
    return str(value).translate(_TSV_ESCAPES)


def _engine_config(path: Path, backup_root: Path | None) -> Path:
    """The chDB configuration file next to the data dir: the condition cache's cap and, with
    ``backup_root``, backups allowed under it."""
    text = f"<query_condition_cache_size>{CONDITION_CACHE_BYTES}</query_condition_cache_size>"
    if backup_root is not None:
        allowed = xml_escape(str(Path(backup_root).resolve()) + "/")
        text += f"<backups><allowed_path>{allowed}</allowed_path></backups>"
    text = f"<clickhouse>{text}</clickhouse>\n"
    config = path.parent / f"{path.name}-engine.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    return config


def _with_settings(sql: str, settings: Mapping[str, Any]) -> str:
    if not settings:
        return sql
    return sql + " SETTINGS " + ", ".join(f"{key} = {value}" for key, value in settings.items())


def _drain(conn: Any) -> None:
    """chDB leaves the output of a query stopped by its time limit on the connection, in front
    of the next answer; one throwaway query takes it off."""
    with contextlib.suppress(Exception):
        conn.query("SELECT 1", "CSV")


def _traced(sql: str) -> dict[str, str]:
    return {"db.system": "clickhouse", "db.transport": "embedded", "db.statement": sql[:500]}


class EmbeddedStore:
    """A chDB data directory. Only one may be open in a process at a time."""

    def __init__(self, path: Path, database: str, *, backup_root: Path | None = None) -> None:
        """``backup_root``: the directory ``BACKUP … TO File(...)`` and ``RESTORE … FROM
        File(...)`` may use (chDB reads ``backups.allowed_path`` from a configuration file
        when the engine starts; without one the File backup engine is refused)."""
        self.path = Path(path).resolve()
        self.database = database
        self._target = f"{self.path}?config-file={_engine_config(self.path, backup_root)}"
        self._idle: list[Any] = []
        self._lent = 0
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)  # a lent connection came back
        self._closed = False
        with _OPEN_LOCK:
            if _OPEN_PATHS and str(self.path) not in _OPEN_PATHS:
                raise StoreError(
                    f"chDB already has {next(iter(_OPEN_PATHS))} open in this process; "
                    "close that store before opening another data directory"
                )
            _OPEN_PATHS.add(str(self.path))
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        except BaseException:
            self.close()  # else the process could open no other data directory
            raise

    @property
    def connections(self) -> int:
        """chDB connections open now: the idle ones plus those lent to running queries."""
        with self._lock:
            return len(self._idle) + self._lent

    def _borrow(self) -> Any:
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the embedded store is closed")
            self._lent += 1
            if self._idle:
                return self._idle.pop()
        try:
            return chdb.connect(self._target)  # type: ignore[no-untyped-call]
        except Exception:
            with self._returned:
                self._lent -= 1
                self._returned.notify_all()
            raise

    def _give_back(self, conn: Any) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < IDLE_CONNECTIONS:
                self._lent -= 1
                self._idle.append(conn)
                return
        with contextlib.suppress(Exception):  # closing a broken connection: best effort
            conn.close()
        with self._returned:
            self._lent -= 1
            self._returned.notify_all()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = self._borrow()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _run(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> bytes:
        """The answer's bytes, taken while the connection is still this query's."""
        with self._connection() as conn:
            try:
                if params:
                    text = {key: _param_text(value) for key, value in params.items()}
                    return bytes(conn.query(sql, fmt, params=text).bytes())
                return bytes(conn.query(sql, fmt).bytes())
            except Exception as exc:
                if self._closed:  # closed while the query ran
                    raise StoreUnavailable("the embedded store is closed") from exc
                # chDB raises plain exceptions: the code is only in the message's "Code: N."
                message = str(exc).strip()
                code = code_in(message)
                if code == Code.TIMEOUT_EXCEEDED:
                    _drain(conn)
                raise StoreError(message, code) from exc

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> QueryResult:
        with tracing.span("store.query", _traced(sql)):
            return self._query(sql, params, timeout)

    def _query(self, sql: str, params: Mapping[str, Any] | None, timeout: float | None
               ) -> QueryResult:
        if timeout:
            sql = _with_settings(sql, {"max_execution_time": timeout})
        raw = self._run(sql, params, "JSONCompact")
        if not raw:
            return QueryResult((), (), [])
        doc = orjson.loads(raw)
        meta = doc["meta"]
        return QueryResult(
            tuple(m["name"] for m in meta), tuple(m["type"] for m in meta), doc["data"]
        )

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with tracing.span("store.command", _traced(sql)):
            self._run(sql, params, "CSV")

    def stream(self, sql: str, params: Mapping[str, Any] | None = None,
               fmt: str = "CSVWithNames") -> Iterator[bytes]:
        with tracing.span("store.stream", _traced(sql)), self._connection() as conn:
            try:
                text = {key: _param_text(value) for key, value in (params or {}).items()}
                answer = conn.send_query(sql, fmt, params=text or None)
            except Exception as exc:
                message = str(exc).strip()
                raise StoreError(message, code_in(message)) from exc
            try:
                for chunk in answer:
                    data = chunk.bytes()
                    if data:
                        yield data
            except Exception as exc:
                message = str(exc).strip()
                raise StoreError(message, code_in(message)) from exc
            finally:
                with contextlib.suppress(Exception):
                    answer.close()

    def ingest_segment(self, path: Path, token: str,
                       targets: list[tuple[str, str, list[tuple[str, str]]]] | None = None
                       ) -> None:
        src = str(Path(path).resolve()).replace("\\", "\\\\").replace("'", "\\'")
        inserts = schema.segment_inserts(
            self.database, lambda structure: f"file('{src}', 'JSONEachRow', '{structure}')",
            targets
        )
        for table, sql in inserts:
            settings = {**schema.SEGMENT_INSERT_SETTINGS}
            self.command(
                _with_settings(sql, settings) + f", insert_deduplication_token = '{token}:{table}'"
            )

    def ping(self) -> bool:
        try:
            return bool(self.query("SELECT 1").scalar() == 1)
        except StoreError:
            return False

    def close(self, wait: float = 10.0) -> None:
        """Close the idle connections now; those lent to running queries close when given
        back, and close waits up to ``wait`` seconds for them: chDB's engine stays on this
        path until its last connection closes, and a store opened on another path before
        then would be refused. Queries asked for afterwards raise StoreUnavailable."""
        with self._lock:
            self._closed = True
            conns, self._idle = self._idle, []
        for conn in conns:
            with contextlib.suppress(Exception):  # closing a broken connection: best effort
                conn.close()
        with self._returned:
            self._returned.wait_for(lambda: self._lent == 0, timeout=wait)
        with _OPEN_LOCK:
            _OPEN_PATHS.discard(str(self.path))
