"""Shared test factories. Tests use the real engines: chDB in a temp dir, real SQLite, and
real Redis/PostgreSQL when reachable (required when CI=true)."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from fastapi.testclient import TestClient

from liveinsight.app import create_app
from liveinsight.meta.db import make_engine, upgrade
from liveinsight.services import Services
from liveinsight.settings import Settings
from liveinsight.storage.migrate import migrate
from liveinsight.storage.protocol import StoreError
from liveinsight.storage.transports import open_store

REDIS_URL = os.environ.get("LIVEINSIGHT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "LIVEINSIGHT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CLICKHOUSE_URL = os.environ.get("LIVEINSIGHT_TEST_CLICKHOUSE_URL")
# Without a server, the ClickHouse-server runs go to tests/chdb_http.py: ClickHouse's HTTP
# interface emulated over chDB (the real engine, not a real server), named so in test ids.
CLICKHOUSE_ID = "clickhouse" if CLICKHOUSE_URL else "clickhouse-http-emulated-over-chdb"
# URL-reserved characters: the emulator's password reaches it only if the URL's is decoded.
EMULATOR_PASSWORD = "p@ss:w/rd%?#"
# A server's timezone need not be UTC; nothing may depend on it (DST, behind UTC).
EMULATOR_TIMEZONE = "America/New_York"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port),
                                      timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, url: str | None, port: int) -> None:
    """Skip when the service is not reachable on a user's machine; fail in CI."""
    if url and _reachable(url, port):
        return
    message = f"{name} is not reachable at {url!r}"
    if IN_CI and name != "ClickHouse":
        pytest.fail(f"{message} (CI=true: services are required)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """LIVEINSIGHT_TEST_CLICKHOUSE_URL when set (a real server), else the URL of a
    ``tests/chdb_http.py`` process (the HTTP interface emulated over chDB) for the session,
    with a password and a timezone a real deployment may have (see the constants)."""
    if CLICKHOUSE_URL:
        require_service("ClickHouse", CLICKHOUSE_URL, 8123)
        yield CLICKHOUSE_URL
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path_factory.mktemp("chdb-http")
    log = data / "emulator.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("chdb_http.py")), "--port", str(port),
             "--data", str(data), "--user", "li", "--password", EMULATOR_PASSWORD],
            stdout=subprocess.PIPE, stderr=log_file, text=True,
            env={**os.environ, "TZ": EMULATOR_TIMEZONE})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening"):
        proc.kill()
        pytest.fail(f"the ClickHouse HTTP emulator did not start: {line}{log.read_text()}")
    try:
        yield f"http://li:{quote(EMULATOR_PASSWORD, safe='')}@127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", REDIS_URL, 6379)
    return REDIS_URL


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", POSTGRES_URL, 5432)
    return POSTGRES_URL


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "secret_key": "test-secret-key-with-enough-entropy",
        "writer_flush_ms": 100,
        "wal_fsync": "never",
        "log_format": "console",
        # gc.collect + freeze cost ~0.1 s per app start; the served app (and the e2e tests'
        # `liveinsight serve` processes) keep the default, tests/ops/test_gc.py checks it.
        "gc_tuning": False,
        # Tests make thousands of requests from one address (the test client's): the limit
        # per address is off unless a test turns it on (tests/security/test_request_limits.py).
        "rate_limit_per_minute": 0,
        # Tracing samples requests at random: off unless a test asks for it (tests/ops/
        # test_spans.py, tests/api/test_performance.py trace every request).
        "trace_sample_ratio": 0.0,
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


# A data dir holding only the migrated chDB store and SQLite metadata database, made once per
# test process and database name: an app started on a new data dir with the embedded defaults
# gets a copy instead of applying every migration again (~0.3 s of each of ~700 app starts).
# The product's own start then finds the schema current, as on any restart. Migrations from
# nothing run in the tests of migrate/upgrade, the e2e tests' `liveinsight serve` processes
# and every start that is not on the embedded defaults.
_TEMPLATES: dict[str, Path] = {}


def _migrated_template(database: str) -> Path | None:
    if database not in _TEMPLATES:
        root = Path(tempfile.mkdtemp(prefix="liveinsight-template-")) / "data"
        atexit.register(shutil.rmtree, root.parent, ignore_errors=True)
        settings = Settings(_env_file=None, data_dir=root,  # type: ignore[call-arg]
                            secret_key="test-secret-key-with-enough-entropy",
                            clickhouse_database=database)
        try:
            store = open_store(settings)
            try:
                migrate(store)
            finally:
                store.close()
            engine = make_engine(settings.metadata_url)
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            _TEMPLATES[database] = root
        except StoreError:  # another data dir is open in this process: no template now
            return None
    return _TEMPLATES[database]


def _seed_from_template(settings: Settings) -> None:
    """Copy the migrated template into a new data dir on the embedded defaults."""
    if (settings.data_dir.exists() or settings.clickhouse_url or settings.database_url
            or settings.clickhouse_cluster):
        return
    template = _migrated_template(settings.clickhouse_database)
    if template is None:
        return
    settings.data_dir.mkdir(parents=True)
    shutil.copytree(template / "chdb", settings.chdb_path, symlinks=True)
    shutil.copy2(template / "liveinsight.db", settings.data_dir / "liveinsight.db")


@contextmanager
def make_client(tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    """A TestClient over a fully started app (lifespan run) with its own data dir."""
    clock = overrides.pop("clock", None)
    settings = make_settings(tmp_path, **overrides)
    _seed_from_template(settings)
    app = create_app(settings, **({"clock": clock} if clock else {}))
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def svc_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def make_site(client: TestClient, domain: str = "example.com", **fields: Any) -> Any:
    svc = svc_of(client)
    site = svc.meta.create_site(domain, **fields)
    return site


def grant(client: TestClient, site: Any, email: str, role: str = "viewer") -> None:
    """Give the user ``email`` a role on ``site`` (as a guest: admin, editor or viewer)."""
    svc = svc_of(client)
    user = svc.meta.user_by_email(email)
    assert user is not None, email
    svc.people.set_guest_role(site.id, user.id, role)


def stored_events(client: TestClient, where: str = "1") -> list[dict[str, Any]]:
    """Flush the log into the store and read the events back."""
    svc = svc_of(client)
    assert svc.writer.flush(timeout=30), svc.writer.last_error
    return svc.store.query(
        f"SELECT * FROM `{svc.store.database}`.events WHERE {where} ORDER BY timestamp"
    ).dicts()


def csrf_of(html: str) -> str:
    """The CSRF token a dashboard page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(client: TestClient, email: str, password: str, **extra: str) -> Any:
    """Sign in through the login form (its double-submit token included); the answer."""
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "csrf": token,
                                       "next": "/sites", **extra}, follow_redirects=False)


def fixed_clock(value: datetime | None = None) -> Any:
    moment = value or datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    return lambda: moment


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


# Markers follow from the fixtures a test uses (a test cannot use Redis without saying so):
_FIXTURE_MARKS = {"redis_url": "redis", "postgres_url": "postgres", "clickhouse_url": "clickhouse"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, mark in _FIXTURE_MARKS.items():
            if fixture in names:
                item.add_marker(getattr(pytest.mark, mark))
        if "meta" in names and "postgres" in item.nodeid:  # the SQLite/PostgreSQL fixture
            item.add_marker(pytest.mark.postgres)
