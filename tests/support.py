"""Helpers shared by the multi-process and browser tests: ``liveinsight serve`` as a real
process, waiting for a condition, free ports, a tiny real disk, a local HTTP receiver, and
Debian's Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import CLICKHOUSE_ID, EMULATOR_PASSWORD, IN_CI

LIVEINSIGHT = Path(sys.executable).parent / "liveinsight"

# Runs several `liveinsight` commands in one process (Server.cli_many): each through the CLI's
# own entry point (typer), its standard output kept apart; stops at the first that fails.
_CLI_MANY = """
import contextlib, io, json, sys
from liveinsight.cli import app
outputs = []
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = app(args=argv, prog_name="liveinsight", standalone_mode=False)
    if code:
        sys.exit(out.getvalue() + f"liveinsight {' '.join(argv)}: exit status {code}")
    outputs.append(out.getvalue())
print(json.dumps(outputs))
"""

# Every test server's /metrics and /health/detailed token (they need one, see settings).
METRICS_TOKEN = "test-metrics-token"

CHROMIUM = Path("/usr/bin/chromium")
# Headless Chromium says "HeadlessChrome", which the bot filter drops, as it should.
DESKTOP_CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _skip_or_fail(message: str) -> None:
    """Skip on a user's machine; fail in CI, where everything a test needs is required."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: required)")
    pytest.skip(message)


def require_browser() -> None:
    """Return when Playwright and /usr/bin/chromium are there."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("Playwright is not installed")
    if not CHROMIUM.exists():
        _skip_or_fail(f"Chromium is not installed at {CHROMIUM}")


def launch_chromium(playwright: Any, user_agent: str | None = None) -> Any:
    """Headless Debian Chromium; ``user_agent`` goes on the command line, because a context
    override does not reach the keepalive requests a closing page leaves to the browser."""
    args = [*CHROMIUM_ARGS, *([f"--user-agent={user_agent}"] if user_agent else [])]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path``: a disk that really fills up."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        _skip_or_fail(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def black_hole(port: int) -> Iterator[list[socket.socket]]:
    """A listener on ``port`` that accepts connections and never answers (a server that
    hangs); yields the connections it accepted (a test can count who tried), all closed at
    the end, so a client still waiting on one then fails at once."""
    listener = socket.create_server(("127.0.0.1", port))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield held
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for conn in held:
            conn.close()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str | Callable[[], str],
               every: float = 0.05) -> Any:
    """``predicate()``'s first truthy value, polled every ``every`` s; fails the test after
    ``timeout`` s naming ``what`` (or what ``what()`` says then: the state last seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for "
                        f"{what() if callable(what) else what}")
        time.sleep(every)


class Server:
    """``liveinsight serve`` in its own process group, on a data dir that outlives it.

    ``settings`` become ``LIVEINSIGHT_*`` variables (``wal_fsync="always"`` →
    ``LIVEINSIGHT_WAL_FSYNC=always``) on top of the defaults below.
    """

    def __init__(self, data_dir: Path, log_path: Path | None = None, *,
                 factory: str | None = None, **settings: str) -> None:
        self.data_dir = data_dir
        # ``module:function`` of a test-only app factory to run on granian instead of
        # ``liveinsight serve`` (tests/e2e/fake_clock_app.py: the app on a clock the test moves)
        self.factory = factory
        self.log_path = log_path or data_dir.parent / "server.log"
        self.env = {
            **os.environ,
            "LIVEINSIGHT_DATA_DIR": str(self.data_dir),
            "LIVEINSIGHT_SECRET_KEY": "e2e-secret-key-with-enough-entropy-0123456789",
            "LIVEINSIGHT_TRUSTED_PROXIES": "127.0.0.1",
            "LIVEINSIGHT_LOG_LEVEL": "warning",
            "LIVEINSIGHT_METRICS_TOKEN": METRICS_TOKEN,
            # thousands of requests from 127.0.0.1: no limit per address unless a test sets one
            "LIVEINSIGHT_RATE_LIMIT_PER_MINUTE": "0",
            **{f"LIVEINSIGHT_{k.upper()}": v for k, v in settings.items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = free_port()  # known before start (pages that name the server)
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *argv: str, timeout: float = 240) -> str:
        """Run ``liveinsight <argv>`` with this server's settings; its output."""
        proc = subprocess.run([str(LIVEINSIGHT), *argv], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    def cli_many(self, *commands: list[str], timeout: float = 240) -> list[str]:
        """Run several ``liveinsight`` commands (each an argv list) one after the other in one
        process, with this server's settings; their outputs. For a test's set-up: the CLI's
        imports are paid once (~0.5 s a command); ``cli`` runs one command as a user does."""
        proc = subprocess.run([sys.executable, "-c", _CLI_MANY, json.dumps(commands)],
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs: list[str] = json.loads(proc.stdout.splitlines()[-1])
        return outputs

    def start(self, timeout: float = 60) -> Server:
        """Start (each restart on a new port) and return once /health answers."""
        if self.starts:
            self.port = free_port()
        self.starts += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts} on port {self.port}\n".encode())
            argv = [str(LIVEINSIGHT), "serve", "--port", str(self.port)]
            if self.factory:
                argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
                        "--host", "127.0.0.1", "--port", str(self.port), self.factory]
            self.proc = subprocess.Popen(
                argv, env=self.env, cwd=Path(__file__).parent.parent,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"the server did not answer /health within {timeout:.0f} s:\n{self.log()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server and every process it started (no cleanup runs)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._wait_group_gone()

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM the server's main process (as a supervisor does); its exit status. The
        server moves its log into the store before it exits."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the server did not stop within {timeout:.0f} s of SIGTERM")
        self._wait_group_gone()
        return code

    def stop(self) -> None:
        """Terminate if running (for fixtures' teardown)."""
        if self.running():
            self.terminate()

    def _wait_group_gone(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        pytest.fail("a server process outlived its parent")

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=10,
                         headers={"authorization": f"Bearer {METRICS_TOKEN}"}).text

    def metric(self, prefix: str) -> float:
        """The sum of every sample whose line starts with ``prefix`` (name and labels)."""
        return sum(float(line.rsplit(" ", 1)[1]) for line in self.metrics().splitlines()
                   if line.startswith(prefix))

    def events_seen(self) -> float:
        """Events accepted or dropped so far."""
        return (self.metric("liveinsight_events_accepted_total")
                + self.metric("liveinsight_events_dropped_total"))

    def settle(self, at_least: int, timeout: float = 20) -> None:
        """Wait until ``at_least`` events arrived and no more came for half a second."""
        deadline = time.monotonic() + timeout
        last, since = -1.0, time.monotonic()
        while time.monotonic() < deadline:
            seen = self.events_seen()
            if seen != last:
                last, since = seen, time.monotonic()
            elif seen >= at_least and time.monotonic() - since > 0.5:
                return
            time.sleep(0.1)
        raise AssertionError(f"{last} events arrived, expected at least {at_least}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wal_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.data_dir / "wal").glob("*.wal"))

    def stored(self) -> dict[str, int]:
        """``pathname → count`` of the events table, read from the data dir (server stopped)."""
        from liveinsight.storage.embedded import EmbeddedStore

        store = EmbeddedStore(self.data_dir / "chdb", "liveinsight")
        try:
            rows = store.query("SELECT pathname, count() FROM liveinsight.events "
                               "GROUP BY pathname").rows
        finally:
            store.close()
        return {r[0]: int(r[1]) for r in rows}


class Emulator:
    """ClickHouse's HTTP interface over chDB (tests/chdb_http.py) on a fixed port, which the
    test can kill and start again on the same data."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://li:{quote(EMULATOR_PASSWORD, safe='')}@127.0.0.1:{self.port}"

    def start(self) -> Emulator:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("chdb_http.py")), "--port",
             str(self.port), "--data", str(self.data), "--user", "li",
             "--password", EMULATOR_PASSWORD],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("listening"), line
        return self

    def kill(self) -> None:
        """SIGKILL it (as a crash), wait until it is gone."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            self.proc = None

    def stored(self, database: str = "liveinsight") -> dict[str, int]:
        """``pathname → count`` of ``database``'s events table, asked over HTTP."""
        from liveinsight.storage.http import HttpStore

        store = HttpStore(self.url, database)
        try:
            rows = store.query(f"SELECT pathname, count() FROM `{database}`.events "
                               "GROUP BY pathname").rows
        finally:
            store.close()
        return {r[0]: int(r[1]) for r in rows}


# Every store a storage or query suite runs on: embedded chDB, and the HTTP transport (a real
# server with LIVEINSIGHT_TEST_CLICKHOUSE_URL, else ClickHouse's HTTP interface emulated over
# chDB, tests/chdb_http.py). Use as ``@pytest.fixture(params=STORE_KINDS)``.
STORE_KINDS = ["chdb", pytest.param("clickhouse", id=CLICKHOUSE_ID, marks=pytest.mark.clickhouse)]


@contextlib.contextmanager
def open_test_store(request: pytest.FixtureRequest, path: Path) -> Iterator[Any]:
    """A migrated store of ``request.param``'s kind in its own database (chDB in ``path``);
    a server's database is dropped afterwards."""
    from liveinsight.storage.embedded import EmbeddedStore
    from liveinsight.storage.http import HttpStore
    from liveinsight.storage.migrate import migrate

    database = f"t_{uuid.uuid4().hex[:12]}"
    store: Any
    if request.param == "clickhouse":
        store = HttpStore(request.getfixturevalue("clickhouse_url"), database)
    else:
        store = EmbeddedStore(path, database)
    migrate(store)
    try:
        yield store
    finally:
        if request.param == "clickhouse":
            store.command(f"DROP DATABASE IF EXISTS `{database}`")
        store.close()


@dataclass
class Received:
    """One request an :func:`http_receiver` got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@contextlib.contextmanager
def http_receiver(status: int = 200, body: bytes = b'{"ok": true}'
                  ) -> Iterator[tuple[list[Received], str]]:
    """A local HTTP server (loopback, a free port) recording each POST/PUT/DELETE and
    answering ``status`` with ``body`` (JSON); yields (the requests, its base URL). For
    webhooks, Slack, SMS providers, CDN purge APIs."""
    got: list[Received] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            got.append(Received(self.command, self.path,
                                {k.lower(): v for k, v in self.headers.items()},
                                self.rfile.read(length)))
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_PUT = do_DELETE = _record

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class RedisServer:
    """A private ``redis-server`` on a free loopback port, for tests that stop and start Redis
    (never the shared one). No persistence: a restart starts empty, as after a crash of a
    Redis without AOF. ``stop()``/``start()`` keep the port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> RedisServer:
        import shutil

        binary = shutil.which("redis-server")
        if binary is None:
            _skip_or_fail("redis-server is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.directory)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._answers, timeout, f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGKILL it (as a crash) and wait until the port is closed."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        wait_until(lambda: not self._answers(), 20, "redis-server to stop")


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory).start()
    try:
        yield server
    finally:
        server.stop()


class PostgresServer:
    """A private PostgreSQL (``initdb`` + ``pg_ctl``) on a free loopback port, for tests that
    stop and start it (never the shared one on 5432). Its cluster lives in a directory of its
    own under /tmp (owned by ``postgres`` when the tests run as root, since PostgreSQL refuses
    to run as root); ``stop()``/``start()`` keep the port and the data."""

    def __init__(self) -> None:
        import tempfile

        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="li-pg-"))
        self._as: list[str] = []
        if os.geteuid() == 0:
            import shutil

            os.chown(self.directory, *self._postgres_ids())
            self._as = ["runuser", "-u", "postgres", "--"]
            if shutil.which("runuser") is None:
                _skip_or_fail("runuser is not installed (PostgreSQL does not run as root)")
        self._initialised = False

    @staticmethod
    def _postgres_ids() -> tuple[int, int]:
        import pwd

        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            _skip_or_fail("no postgres user to run a private PostgreSQL as")
            raise
        return entry.pw_uid, entry.pw_gid

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        import shutil

        binary = shutil.which(argv[0])
        if binary is None:
            _skip_or_fail(f"{argv[0]} (PostgreSQL's server tools) is not installed")
            return
        proc = subprocess.run([*self._as, binary, *argv[1:]], capture_output=True, text=True,
                              timeout=120, check=False, cwd=self.directory)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def start(self) -> PostgresServer:
        data = self.directory / "data"
        if not self._initialised:
            self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                      "--no-sync")
            self._initialised = True
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.directory} -c fsync=off")
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.directory / "log"),
                  "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        """Stop at once (``-m immediate``: no shutdown checkpoint, as a crash)."""
        if (self.directory / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w",
                      "stop")

    def remove(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.remove()


@contextlib.contextmanager
def redis_prefix(url: str) -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis (db 15), its keys deleted after."""
    import redis

    prefix = f"li:test:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(f"{prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start:start + 500])
        finally:
            client.close()


class RoundRobinProxy:
    """A TCP proxy on a free loopback port, as a load balancer without stickiness: each new
    connection goes to the next backend port of ``backends`` (a list the test may change, e.g.
    when a restarted server comes back on a new port) that accepts it; a backend refusing the
    connection is skipped, as a balancer's health check would. A client opening a connection
    per request therefore alternates between the backends request by request."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self._next = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        self.routed: list[int] = []  # the backend port of each connection, in order
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _backend(self) -> socket.socket | None:
        with self._lock:
            ports = list(self.backends)
            start = self._next
            self._next += 1
        for i in range(len(ports)):
            port = ports[(start + i) % len(ports)]
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                continue
            with self._lock:
                self.routed.append(port)
            return upstream
        return None

    def _serve(self, client: socket.socket) -> None:
        upstream = self._backend()
        if upstream is None:
            client.close()
            return
        upstream.settimeout(None)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join(timeout=60)
        client.close()
        upstream.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()


# --- browser flows -------------------------------------------------------------------------


@contextlib.contextmanager
def static_site(root: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``root`` over HTTP on a free loopback port (a visitor's website, another origin
    than the server's); yields its base URL, ``http://<host>:<port>`` (``localhost`` names a
    cross-site origin, ``127.0.0.1`` a same-site one)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def tracker_snippet(server: str, domain: str, extra: str = "") -> str:
    """The product's tracking snippet (its versioned script) for ``domain``, posting to
    ``server``; ``data-allow-local`` because test sites are on loopback."""
    from liveinsight.api.tracker import tracker_path

    return (f'<script defer src="{server}{tracker_path()}" data-domain="{domain}" '
            f'data-api="{server}/api/event" data-allow-local{extra}></script>')


def sign_in(page: Any, server: str, who: tuple[str, str]) -> None:
    """Log in through the login form as ``(e-mail, password)``; returns on the sites list."""
    page.goto(f"{server}/login")
    page.get_by_label("E-mail").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sites")


def session_cookies(page: Any) -> dict[str, str]:
    """The browser context's cookies, for API calls made as the signed-in user."""
    return {c["name"]: c["value"] for c in page.context.cookies()}


def api_key(server: Server, *scopes: str) -> str:
    """A new API key with ``scopes`` (created with the CLI, printed once on its last line)."""
    argv = [a for scope in scopes for a in ("--scope", scope)]
    return server.cli("create-api-key", "e2e", *argv).strip().splitlines()[-1]
