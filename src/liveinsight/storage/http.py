"""The server transport: a ClickHouse server or cluster over HTTP (clickhouse-connect).

With a :class:`~liveinsight.ops.breaker.Breaker` (``open_services`` gives one, counting
:func:`outage`), every call to the server but :meth:`HttpStore.ping` goes through it: after
its ``failures`` outages in a row the calls fail at once with ``StoreUnavailable`` ("not tried:
... circuit breaker open, next try in N s") instead of each waiting for a connection, until
one trial call every ``reset_after`` seconds finds the server back. ``ping`` stays outside
it: it is the health check, which must see the server itself, not the breaker (the check
in ``services`` then makes the trial when one is due).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.exceptions import (
    ClickHouseError,
    OperationalError,
    StreamFailureError,
)
from urllib3.exceptions import HTTPError as TransportError

from liveinsight.ops import tracing
from liveinsight.ops.breaker import Breaker, DependencyDown, not_tried
from liveinsight.storage import schema
from liveinsight.storage.protocol import QueryResult, StoreError, StoreUnavailable, code_in

STREAM_CHUNK = 1 << 16

T = TypeVar("T")


def outage(exc: BaseException) -> bool:
    """What the store's breaker counts as a failure: the server unreachable or the answer
    broken off (``StoreUnavailable``: refused or dropped connections, timeouts, a stream cut
    short). A query the server refuses (bad SQL, a time or memory limit: ``StoreError``
    with its code) is an answer: the server is up."""
    return isinstance(exc, StoreUnavailable)


def _traced(sql: str) -> dict[str, str]:
    return {"db.system": "clickhouse", "db.transport": "http", "db.statement": sql[:500]}


class HttpStore:
    """A ClickHouse server reached at ``url`` (``http[s]://user:password@host:port``; a user
    or password holding ``@ : / % ? #`` is percent-encoded in the URL, as URLs require).

    Raises ``StoreUnavailable`` when the server cannot be reached and ``StoreError`` when it
    refuses the connection (wrong user or password, no right to create ``database``).
    """

    def __init__(self, url: str, database: str, *, client: Any = None,
                 breaker: Breaker | None = None) -> None:
        parts = urlsplit(url)
        self.database = database
        self._breaker = breaker
        if client is not None:  # tests: a client that fails as a server's would
            self._client = client
            return
        try:
            self._client = clickhouse_connect.get_client(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or (8443 if parts.scheme == "https" else 8123),
                username=unquote(parts.username or "default"),
                password=unquote(parts.password or ""),
                secure=parts.scheme == "https",
                autogenerate_session_id=False,
            )
            self._client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        except OperationalError as exc:
            raise StoreUnavailable(f"cannot reach ClickHouse at {parts.hostname}: {exc}") from exc
        except ClickHouseError as exc:
            raise StoreError(f"ClickHouse at {parts.hostname} refused the connection: {exc}"
                             ) from exc

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> QueryResult:
        with tracing.span("store.query", _traced(sql)):
            return self._guarded(lambda: self._query(sql, params, timeout))

    def _guarded(self, fn: Callable[[], T]) -> T:
        if self._breaker is None:
            return fn()
        try:
            return self._breaker.call(fn)
        except DependencyDown as exc:
            raise StoreUnavailable(not_tried(exc)) from exc

    def _query(self, sql: str, params: Mapping[str, Any] | None, timeout: float | None
               ) -> QueryResult:
        settings = {"max_execution_time": timeout} if timeout else None
        try:
            result = self._client.query(sql, parameters=dict(params or {}), settings=settings)
        except StreamFailureError as exc:
            if exc.code is None:  # the connection broke mid-answer
                raise StoreUnavailable(str(exc)) from exc
            # The server's own exception in the middle of a streamed answer (a time limit
            # reached after the first blocks were sent, say): the query failed, not the server.
            text = str(exc)
            raise StoreError(text if f"Code: {exc.code}." in text
                             else f"Code: {exc.code}. {text}", exc.code) from exc
        except OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc
        except ClickHouseError as exc:
            raise _refused(exc) from exc
        types = tuple(t.name for t in result.column_types)
        return QueryResult(tuple(result.column_names), types, [list(r) for r in result.result_rows])

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with tracing.span("store.command", _traced(sql)):
            self._guarded(lambda: self._command(sql, params))

    def _command(self, sql: str, params: Mapping[str, Any] | None) -> None:
        try:
            self._client.command(sql, parameters=dict(params or {}))
        except OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc
        except ClickHouseError as exc:
            raise _refused(exc) from exc

    def stream(self, sql: str, params: Mapping[str, Any] | None = None,
               fmt: str = "CSVWithNames") -> Iterator[bytes]:
        with tracing.span("store.stream", _traced(sql)):
            if self._breaker is None:
                yield from self._chunks(sql, params, fmt)
                return
            try:
                yield from self._breaker.stream(lambda: self._chunks(sql, params, fmt))
            except DependencyDown as exc:
                raise StoreUnavailable(not_tried(exc)) from exc

    def _chunks(self, sql: str, params: Mapping[str, Any] | None, fmt: str
                ) -> Iterator[bytes]:
        try:
            answer = self._client.raw_stream(sql, parameters=dict(params or {}), fmt=fmt)
            with answer:
                while chunk := answer.read(STREAM_CHUNK):
                    yield chunk
        except StreamFailureError as exc:
            text = str(exc)
            if exc.code is None:
                raise StoreUnavailable(text) from exc
            raise StoreError(text, exc.code) from exc
        except OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc
        except ClickHouseError as exc:
            raise _refused(exc) from exc
        except (TransportError, OSError) as exc:  # read() is urllib3's: it raises its own
            raise StoreUnavailable(f"the answer broke off: {exc}") from exc

    def ingest_segment(self, path: Path, token: str,
                       targets: list[tuple[str, str, list[tuple[str, str]]]] | None = None
                       ) -> None:
        data = Path(path).read_bytes()
        inserts = schema.segment_inserts(
            self.database, lambda structure: f"input('{structure}')", targets
        )
        for table, sql in inserts:
            settings: dict[str, Any] = {
                **schema.SEGMENT_INSERT_SETTINGS,
                "insert_deduplication_token": f"{token}:{table}",
            }
            self._guarded(functools.partial(self._send, sql + " FORMAT JSONEachRow", data,
                                            settings))

    def insert_lines(self, table: str, columns: list[str], data: bytes,
                     settings: Mapping[str, Any]) -> None:
        """``INSERT INTO table (columns) FORMAT JSONEachRow`` with ``data`` (JSON lines) and
        ``settings``; returns once the server has answered (the collector's direct mode)."""
        names = ", ".join(f"`{name}`" for name in columns)
        sql = f"INSERT INTO `{self.database}`.{table} ({names}) FORMAT JSONEachRow"
        self._guarded(lambda: self._send(sql, data, dict(settings)))

    def _send(self, sql: str, data: bytes, settings: dict[str, Any]) -> None:
        try:
            self._client.command(sql, data=data, settings=settings)
        except OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc
        except ClickHouseError as exc:
            raise _refused(exc) from exc

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except Exception:
            return False

    def close(self) -> None:
        self._client.close()


def _refused(exc: ClickHouseError) -> StoreError:
    """The server's refusal with its error code (clickhouse-connect's, else the message's)."""
    text = str(exc)
    code = getattr(exc, "code", None)
    return StoreError(text, code if isinstance(code, int) else code_in(text))
