"""The app as a Lambda function (``liveinsight.serverless``, Mangum) in direct ingest mode,
invoked with API Gateway HTTP API (payload 2.0) events: an event is in ClickHouse when its
202 is returned (no log, no writer), the stats API answers through the handler, two
instances share a visitor's session through Redis, and a ClickHouse that stops answering
gets 503s, never an acknowledgement."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liveinsight.meta.db import make_engine, upgrade
from liveinsight.meta.repo import Metadata
from liveinsight.serverless import Instance, make_instance
from liveinsight.settings import ConfigError, Settings
from liveinsight.storage.http import HttpStore
from tests.conftest import make_settings
from tests.support import free_port, redis_prefix

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"


def _event(method: str, path: str, *, body: str = "", query: str = "",
           headers: dict[str, str] | None = None, ip: str = "203.0.113.9") -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as a Function URL sends too."""
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "abc.lambda-url.eu-west-1.on.aws", "user-agent": UA,
                    "content-type": "text/plain", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc", "domainName": "abc.example",
            "requestId": uuid.uuid4().hex, "stage": "$default",
            "time": "05/Dec/2026:04:00:00 +0000", "timeEpoch": 1796443200000,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": ip,
                     "userAgent": UA}},
        "body": body, "isBase64Encoded": False,
    }


def _pageview(path: str, ip: str = "203.0.113.9") -> dict[str, Any]:
    return _event("POST", "/api/event", ip=ip, body=json.dumps(
        {"n": "pageview", "u": f"https://example.com{path}", "d": "example.com"}))


def _settings(tmp_path: Path, clickhouse_url: str, database: str, redis_url: str,
              prefix: str, name: str = "fn") -> Settings:
    return make_settings(tmp_path / name, clickhouse_url=clickhouse_url,
                         clickhouse_database=database, redis_url=redis_url, redis_prefix=prefix,
                         ingest_mode="direct",
                         database_url=f"sqlite:///{tmp_path / 'meta.db'}")


@pytest.fixture
def key(tmp_path: Path) -> str:
    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    upgrade(engine)
    meta = Metadata(engine)
    meta.create_site("example.com", timezone="UTC")
    plaintext, _ = meta.create_api_key("reader", scopes=["stats"])
    engine.dispose()
    return plaintext


@pytest.fixture
def database(clickhouse_url: str) -> Iterator[str]:
    name = f"fn_{uuid.uuid4().hex[:10]}"
    yield name
    store = HttpStore(clickhouse_url, name)
    store.command(f"DROP DATABASE IF EXISTS `{name}`")
    store.close()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    with redis_prefix(redis_url) as value:
        yield value


def test_an_event_is_in_clickhouse_when_its_202_returns(
        tmp_path: Path, clickhouse_url: str, database: str, redis_url: str, prefix: str,
        key: str) -> None:
    fn = make_instance(_settings(tmp_path, clickhouse_url, database, redis_url, prefix))
    other = make_instance(_settings(tmp_path, clickhouse_url, database, redis_url, prefix,
                                    name="fn2"))
    store = HttpStore(clickhouse_url, database)
    try:
        answer = fn(_pageview("/first"), None)
        assert answer["statusCode"] == 202, answer
        # no writer ran: the row is there because the answer waited for ClickHouse
        rows = store.query(f"SELECT pathname FROM `{database}`.events").rows
        assert rows == [["/first"]]
        # the same visitor through another instance: the same visit (sessions in Redis)
        assert other(_pageview("/second"), None)["statusCode"] == 202
        sessions = store.query(
            f"SELECT count(), sum(pageviews) FROM `{database}`.sessions FINAL").rows
        assert [[int(v) for v in row] for row in sessions] == [[1, 2]]
        stats = fn(_event("GET", "/api/stats/aggregate",
                          query="site_id=example.com&period=day&metrics=visitors,pageviews,visits",
                          headers={"authorization": f"Bearer {key}"}), None)
        assert stats["statusCode"] == 200, stats
        results = json.loads(stats["body"])["results"]
        assert {k: v["value"] for k, v in results.items()} == {
            "visitors": 1, "pageviews": 2, "visits": 1}
    finally:
        store.close()
        fn.close()
        other.close()


def test_a_clickhouse_that_stops_answering_gets_503_never_an_acknowledgement(
        tmp_path: Path, redis_url: str, prefix: str, key: str) -> None:
    port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, str(Path(__file__).parents[1] / "chdb_http.py"), "--port", str(port),
         "--data", str(tmp_path / "ch")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert emulator.stdout is not None and emulator.stdout.readline().startswith(b"listening")
    url = f"http://127.0.0.1:{port}"
    fn: Instance | None = None
    try:
        fn = make_instance(_settings(tmp_path, url, "fn_down", redis_url, prefix))
        assert fn(_pageview("/kept"), None)["statusCode"] == 202
        emulator.kill()
        emulator.wait()
        refused = fn(_pageview("/refused"), None)
        assert refused["statusCode"] == 503, refused
        assert int(refused["headers"]["retry-after"]) > 0
        assert json.loads(refused["body"])["error"]["code"]
    finally:
        if emulator.poll() is None:
            emulator.kill()
        if fn is not None:
            fn.close()


def test_serverless_needs_direct_ingest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="INGEST_MODE=direct"):
        make_instance(make_settings(tmp_path))
    with pytest.raises(ValueError, match="ingest_mode=direct needs"):
        make_settings(tmp_path, ingest_mode="direct")


def test_a_line_gets_the_columns_default_even_with_a_property_of_that_name() -> None:
    from liveinsight.ingest.direct import table_lines

    lines = (b'{"_k":"e","pathname":"/a","props":{"channel":"x"}}\n'
             b'{"_k":"e","pathname":"/b","channel":"Organic Search"}\n'
             b'{"_k":"s","pathname":"/c"}\n')
    events = [json.loads(line) for line in table_lines(lines, "e").splitlines()]
    assert [e["channel"] for e in events] == ["Direct", "Organic Search"]
    assert events[0]["props"] == {"channel": "x"}
