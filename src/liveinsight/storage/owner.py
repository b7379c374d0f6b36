"""The engine owner: one process holding the embedded chDB data directory and answering the
subset of ClickHouse's HTTP interface that the HTTP transport (``storage/http.py``,
clickhouse-connect) uses. ``liveinsight serve --workers N`` starts it and points its N worker
processes at it, so they run the server code path (chDB allows one engine per process, and
one process per data directory). The test suite runs the same code as its ClickHouse HTTP
emulator (``tests/chdb_http.py``) under the HTTP transport's contract and query suites.

Listening on loopback only, with a password made for each run, it is not a ClickHouse
server and is not meant for other clients. Per request (``POST /`` or ``GET /``;
``GET /ping`` answers ``Ok.``):

- the SQL is the ``query`` URL parameter followed by the body, as on a server; an INSERT whose
  SQL ends in ``FORMAT <fmt>`` takes the rest of the body as its data: the data is written to
  a temporary file and read with ``FROM INFILE`` (``INSERT INTO t FORMAT f``) or ``file(tmp,
  f, structure)`` in place of ``input(structure)`` (``INSERT ... SELECT ... FROM input(...)``),
  without the structure's DEFAULT expressions, which a server's ``input()`` does not apply;
- ``param_<name>`` values are passed to chDB's query parameters as they are (both take the
  "escaped" text form ClickHouse parses ``{name:Type}`` parameters from);
- ``database`` is applied with ``USE``; every other URL parameter that is not one of the HTTP
  interface's own (``query_id``, ``session_id``, ``wait_end_of_query``, ...) is applied as a
  setting with ``SET`` on a pooled chDB connection for the request (an unknown setting fails
  the request, as on a server) and reset afterwards;
- the answer is in the query's ``FORMAT`` (else ``default_format``, else TabSeparated), never
  compressed: the client reads an answer without ``Content-Encoding`` as it is. Request bodies
  sent with ``Content-Encoding`` gzip, deflate or lz4 are decompressed;
- errors are HTTP 500 (400 for syntax and unknown names, 404 for unknown tables and
  databases, as a server answers) with the ClickHouse exception text and
  ``X-ClickHouse-Exception-Code``.

With credentials, every request but ``/ping`` must carry that user and password (basic auth,
``X-ClickHouse-User``/``X-ClickHouse-Key`` or the ``user``/``password`` parameters), else it
fails with 516 AUTHENTICATION_FAILED (HTTP 401), as a server does.

Not implemented (the transport does not use them): sessions (``session_id`` is ignored:
every request runs on its own), users' rights and quotas, progress headers while a query
runs, the Native format's ``client_protocol_version`` block info (clickhouse-connect's probe
sees it missing and reads Native without it, as it does behind proxies that drop the
parameter), multipart (external data) requests, an exception in the middle of a streamed
answer (the owner answers once the query has ended: an error is always an HTTP error),
cancelling a query when the client disconnects, compressed answers.

Run: ``python -m liveinsight.storage.owner --chdb DIR --scratch DIR [--port N]`` with the
password in ``_LIVEINSIGHT_OWNER_PASSWORD``; it prints ``listening on <port>`` once ready.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import json
import os
import queue
import re
import signal
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import chdb

# URL parameters that belong to the HTTP interface itself, not to the query's settings.
_HTTP_PARAMS = frozenset({
    "query", "database", "default_format", "query_id", "session_id", "session_timeout",
    "session_check", "wait_end_of_query", "client_protocol_version", "compress", "decompress",
    "buffer_size", "user", "password", "quota_key", "role", "stacktrace", "with_stacktrace",
    "enable_http_compression", "http_zlib_compression_level", "send_progress_in_http_headers",
    "http_headers_progress_interval_ms", "cancel_http_readonly_queries_on_client_close",
    "http_wait_end_of_query", "http_response_buffer_size",
})
_CONTENT_TYPES = {
    "Native": "application/octet-stream", "RowBinary": "application/octet-stream",
    "RowBinaryWithNames": "application/octet-stream",
    "RowBinaryWithNamesAndTypes": "application/octet-stream",
    "Arrow": "application/octet-stream", "ArrowStream": "application/octet-stream",
    "Parquet": "application/octet-stream", "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
}
_FORMAT_AT_END = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_INSERT = re.compile(r"^\s*INSERT\b", re.IGNORECASE)
# An INSERT written with its data in the body: the SQL ends at the line that names the format.
_INSERT_HEAD = re.compile(rb"^\s*INSERT\b.*?\bFORMAT\s+(\w+)[ \t]*(\r?\n|$)",
                          re.IGNORECASE | re.DOTALL)
_INPUT = re.compile(r"\binput\s*\(\s*('(?:[^'\\]|\\.)*')\s*\)", re.IGNORECASE)
PASSWORD_ENV = "_LIVEINSIGHT_OWNER_PASSWORD"
"""The variable holding the password (not an argument: arguments are visible to every user)."""
_CODE = re.compile(r"Code: (\d+)\.")
_BAD_REQUEST = {27, 36, 43, 44, 46, 47, 62, 70, 115, 117, 130, 386}  # parse/type/name errors
_NOT_FOUND = {60, 81}  # UNKNOWN_TABLE, UNKNOWN_DATABASE


class QueryFailed(Exception):
    """The engine refused the request; ``str()`` is ClickHouse's exception text."""


class Engine:
    """One chDB data directory, with a pool of connections: a request borrows one, sets its
    database and settings, and they are reset before it goes back."""

    def __init__(self, path: Path, connections: int) -> None:
        self.path = str(path)
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(connections):
            self._pool.put(chdb.connect(self.path))  # type: ignore[no-untyped-call]
        self.version, self.timezone = self.run(
            "SELECT version(), timezone()", {}, {}, None, "TSV"
        )[0].decode().strip().split("\t")

    def close(self) -> None:
        """Close the pooled connections (no request may run any more)."""
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):
                conn.close()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = self._pool.get()
        try:
            yield conn
        finally:
            self._pool.put(conn)

    def run(self, sql: str, params: dict[str, str], settings: dict[str, str],
            database: str | None, fmt: str) -> tuple[bytes, Any]:
        """Run ``sql``; returns chDB's answer (bytes) and the result (for its counters).
        Raises QueryFailed."""
        with self._connection() as conn:
            applied: list[str] = []
            try:
                if database:
                    conn.query(f"USE `{database.replace('`', '``')}`", "TSV")
                for key, value in settings.items():
                    conn.query(f"SET `{key}` = {_literal(value)}", "TSV")
                    applied.append(key)
                result = conn.query(sql, fmt, params=params) if params else conn.query(sql, fmt)
                return result.bytes(), result
            except Exception as exc:
                text = str(exc).strip()
                if "TIMEOUT_EXCEEDED" in text:  # see EmbeddedStore._drain
                    with contextlib.suppress(Exception):
                        conn.query("SELECT 1", "TSV")
                raise QueryFailed(text) from exc
            finally:
                for key in applied:
                    with contextlib.suppress(Exception):
                        conn.query(f"SET `{key}` = DEFAULT", "TSV")
                if database:
                    with contextlib.suppress(Exception):
                        conn.query("USE default", "TSV")


def _literal(value: str) -> str:
    """A setting's URL text as a SQL literal: numbers as they are, anything else quoted."""
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quoted(path: str) -> str:
    return "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"


def split_request(query_param: str, body: bytes) -> tuple[str, bytes | None]:
    """``(sql, insert data or None)`` from the ``query`` parameter and the body: a server reads
    the SQL from their concatenation and an INSERT's data from what follows its FORMAT."""
    if query_param:
        if body and _INSERT.match(query_param) and _FORMAT_AT_END.search(query_param):
            return query_param, body
        return query_param + "\n" + body.decode(), None
    head = _INSERT_HEAD.match(body)
    if head:
        return body[: head.end(1)].decode(), body[head.end():]
    return body.decode(), None


def _top_level(text: str, sep: str) -> list[str]:
    """``text`` split at each ``sep`` outside parentheses and quotes."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    return [*parts, text[start:]]


def without_defaults(structure: str) -> str:
    """An ``input()`` structure (a SQL string literal) with its columns' DEFAULT expressions
    removed: a server's ``input()`` parses them and then does not apply them (an omitted
    field gets its type's zero; ClickHouse issue #84691; ``getSourceFromInputFormat`` adds
    no ``AddingDefaultsTransform`` for ``input()``), where ``file()`` applies them."""
    text = re.sub(r"\\(.)", r"\1", structure[1:-1].replace("''", "\\'"))
    columns = [_top_level(column, " DEFAULT ")[0] for column in _top_level(text, ",")]
    return _quoted(",".join(columns))


def with_data(sql: str, data: bytes, tmp: Path) -> str:
    """Rewrite an INSERT whose data came in the body to read it from ``tmp``: ``input(s)``
    becomes ``file(tmp, fmt, s)`` (without s's DEFAULTs, see ``without_defaults``);
    ``INSERT INTO t FORMAT f`` becomes ``... FROM INFILE``."""
    fmt_match = _FORMAT_AT_END.search(sql)
    if not fmt_match:
        raise QueryFailed("Code: 62. DB::Exception: the engine owner needs INSERT ... FORMAT <fmt> "
                          "for an INSERT with data in the body. (SYNTAX_ERROR)")
    fmt = fmt_match.group(1)
    tmp.write_bytes(data)
    head = sql[: fmt_match.start()]
    if _INPUT.search(head):
        return _INPUT.sub(
            lambda m: f"file({_quoted(str(tmp))}, '{fmt}', {without_defaults(m.group(1))})", head)
    return f"{head} FROM INFILE {_quoted(str(tmp))} FORMAT {fmt}"


def _decoded(body: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity":
        return body
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding == "lz4":
            import lz4.frame

            return bytes(lz4.frame.decompress(body))
    except (OSError, EOFError, zlib.error, RuntimeError) as exc:  # lz4: RuntimeError
        raise QueryFailed(f"Code: 271. DB::Exception: cannot decompress the {encoding} request "
                          f"body: {exc}. (CANNOT_DECOMPRESS)") from exc
    raise QueryFailed(f"Code: 36. DB::Exception: the engine owner cannot decode Content-Encoding "
                      f"{encoding}. (BAD_ARGUMENTS)")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "liveinsight-engine-owner"
    engine: Engine
    tmp_dir: Path
    credentials: tuple[str, str] | None = None

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("_LIVEINSIGHT_OWNER_LOG"):
            super().log_message(format, *args)

    def do_GET(self) -> None:
        path, params = self._target()
        if path in ("/ping", "/") and "query" not in params:
            self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        self._execute(params, b"")

    def do_POST(self) -> None:
        _, params = self._target()
        try:
            body = _decoded(self._body(), self.headers.get("Content-Encoding"))
        except QueryFailed as exc:
            self._error(exc)
            return
        self._execute(params, body)

    def _target(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authenticated(self, params: dict[str, str]) -> bool:
        if self.credentials is None:
            return True
        user = self.headers.get("X-ClickHouse-User") or params.get("user", "default")
        password = self.headers.get("X-ClickHouse-Key") or params.get("password", "")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                decoded = base64.b64decode(auth[6:], validate=True).decode()
            except ValueError:  # not base64, or not UTF-8: no credentials, refused below
                return False
            user, _, password = decoded.partition(":")
        return (user, password) == self.credentials

    def _execute(self, params: dict[str, str], body: bytes) -> None:
        if not self._authenticated(params):
            self._error(QueryFailed("Code: 516. DB::Exception: Authentication failed: password is "
                                    "incorrect, or there is no user with such name. "
                                    "(AUTHENTICATION_FAILED)"))
            return
        if self.headers.get("Content-Type", "").startswith("multipart/"):
            self._error(QueryFailed("Code: 48. DB::Exception: the engine owner does not take "
                                    "multipart requests (external data). (NOT_IMPLEMENTED)"))
            return
        query_id = params.get("query_id") or str(uuid.uuid4())
        # not named after the client's query id: it may hold "/" or ".."
        tmp = self.tmp_dir / f"{uuid.uuid4().hex}.data"
        started = time.monotonic()
        try:
            sql, data = split_request(params.get("query", ""), body)
            if data is not None:
                sql = with_data(sql, data, tmp)
            named = _FORMAT_AT_END.search(sql)
            fmt = named.group(1) if named else params.get("default_format", "TabSeparated")
            out, result = self.engine.run(
                sql,
                {k[6:]: v for k, v in params.items() if k.startswith("param_")},
                {k: v for k, v in params.items()
                 if k not in _HTTP_PARAMS and not k.startswith("param_")},
                params.get("database"), fmt,
            )
        except QueryFailed as exc:
            tmp.unlink(missing_ok=True)  # before the answer: whoever sees it sees no file
            self._error(exc)
            return
        finally:
            tmp.unlink(missing_ok=True)
        summary = {
            "read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
            "written_rows": str(result.rows_written()),
            "written_bytes": str(result.bytes_written()),
            "elapsed_ns": str(int((time.monotonic() - started) * 1e9)),
        }
        self._send(200, out, {
            "Content-Type": _CONTENT_TYPES.get(fmt, "text/plain; charset=UTF-8"),
            "X-ClickHouse-Format": fmt, "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": self.engine.timezone,
            "X-ClickHouse-Summary": json.dumps(summary),
        })

    def _error(self, exc: QueryFailed) -> None:
        text = str(exc)
        match = _CODE.search(text)
        code = int(match.group(1)) if match else 1001
        status = (400 if code in _BAD_REQUEST else 404 if code in _NOT_FOUND
                  else 401 if code == 516 else 500)
        body = f"{text} (version {self.engine.version})\n".encode()
        self._send(status, body, {"Content-Type": "text/plain; charset=UTF-8",
                                  "X-ClickHouse-Exception-Code": str(code)})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("X-ClickHouse-Server-Display-Name", "liveinsight-engine-owner")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def make_server(engine: Engine, scratch: Path, credentials: tuple[str, str] | None = None,
                port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server for ``engine`` bound to 127.0.0.1:``port`` (0: any free port), not yet
    serving; inserts' data is staged in ``scratch`` (emptied of ``*.data`` files first).
    Each server has its own handler class, so two in one process do not share an engine."""
    scratch.mkdir(parents=True, exist_ok=True)
    for stale in scratch.glob("*.data"):  # left by a run that was killed mid-insert
        stale.unlink(missing_ok=True)
    handler = type("EngineHandler", (Handler,),
                   {"engine": engine, "tmp_dir": scratch, "credentials": credentials})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def serve(port: int, chdb_path: Path, scratch: Path,
          credentials: tuple[str, str] | None = None, connections: int = 8) -> None:
    """Serve the chDB directory ``chdb_path`` on 127.0.0.1:``port`` (0: any free port) until
    the process is stopped (SIGTERM); inserts' data is staged in ``scratch``."""
    engine = Engine(chdb_path, connections)
    server = make_server(engine, scratch, credentials, port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"listening on {server.server_address[1]}", flush=True)  # the starter waits for it
    os.dup2(2, 1)  # anything else written to stdout (chDB too) goes to the log, not a full pipe
    server.serve_forever()
    server.server_close()
    engine.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chdb", type=Path, required=True, help="the chDB data directory")
    parser.add_argument("--scratch", type=Path, required=True,
                        help="where inserts' data is staged")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user", default="liveinsight")
    args = parser.parse_args(argv)
    password = os.environ.get(PASSWORD_ENV)
    serve(args.port, args.chdb, args.scratch,
          None if password is None else (args.user, password))


if __name__ == "__main__":
    main()
