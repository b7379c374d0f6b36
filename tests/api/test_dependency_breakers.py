"""The circuit breakers of the two required dependencies, against real servers the tests
start and stop: ClickHouse's HTTP interface (emulated over chDB, ``tests/chdb_http.py``)
and a private PostgreSQL holding the metadata (never the machine's shared one).

Each test takes the server away, makes the breaker open (N failures in a row), then puts
a listener that accepts connections and never answers on the server's port: what the node
still asks would hang there, so reads answering 503 at all — and the listener seeing no
connection — show that an open breaker refuses without trying. Then the server returns and,
after the breaker's pause, the next call (the writer's retry, a request, the health check)
closes it with nobody acting.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from liveinsight.storage.protocol import StoreUnavailable
from tests.conftest import make_client, make_site, svc_of
from tests.support import Emulator, black_hole, private_postgres, wait_until

pytestmark = pytest.mark.timeout(300)

RETRY_S = 15  # long enough for the refusals below to fall before the next trial
OPS = {"authorization": "Bearer breakers-metrics-token"}  # needs no database, as an API key does


def _key(client: TestClient) -> dict[str, str]:
    key, _ = svc_of(client).meta.create_api_key("breakers", ["stats", "admin"])
    return {"authorization": f"Bearer {key}"}


def _dependency(client: TestClient, auth: dict[str, str], name: str) -> dict[str, Any]:
    body = client.get("/health/dependencies", headers=auth).json()
    found: dict[str, Any] = next(d for d in body["dependencies"] if d["name"] == name)
    return found


def _breaker(client: TestClient, name: str) -> Any:
    breaker = svc_of(client).dependencies.breaker(name)
    assert breaker is not None, f"no breaker for {name}"
    return breaker.state()


def _send(client: TestClient, marker: str, n: int) -> None:
    for i in range(n):
        r = client.post("/api/event", json={
            "n": "pageview", "u": f"https://example.com/{marker}/{i}", "d": "example.com"},
            headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                     "x-forwarded-for": f"198.51.100.{i % 250}"})
        assert r.status_code == 202, r.text


def _stats(client: TestClient, auth: dict[str, str], n: int) -> Any:
    # A different question each time: no answer comes from the cache.
    return client.get(f"/api/stats/aggregate?site_id=example.com&period=day&metrics=visitors"
                      f"&filters=event:page%3D%3D/never-{n}", headers=auth)


def _count(client: TestClient, marker: str) -> int:
    svc = svc_of(client)
    return int(svc.store.query(
        f"SELECT count() FROM `{svc.store.database}`.events WHERE pathname LIKE {{p:String}}",
        {"p": f"/{marker}/%"}).scalar())


def test_clickhouse_down_opens_the_breaker_reads_fail_fast_events_wait_and_it_recovers(
        tmp_path: Path) -> None:
    emulator = Emulator(tmp_path / "ch").start()
    try:
        with make_client(tmp_path / "app", clickhouse_url=emulator.url,
                         clickhouse_database=f"li_{uuid.uuid4().hex[:10]}",
                         clickhouse_breaker_failures=3, clickhouse_retry_seconds=RETRY_S,
                         writer_retry_max_seconds=1) as client:
            svc = svc_of(client)
            make_site(client)
            auth = _key(client)
            _send(client, "before", 10)
            assert svc.writer.flush(30) and _count(client, "before") == 10
            assert _stats(client, auth, 0).status_code == 200
            store = _dependency(client, auth, "clickhouse")
            assert store["state"] == "up" and store["breaker"]["state"] == "closed"

            emulator.kill()
            _send(client, "during", 20)  # acknowledged into the log
            reads = []
            for n in range(1, 20):
                r = _stats(client, auth, n)
                reads.append(r)
                assert r.status_code == 503, r.text
                assert r.json()["error"]["code"] == "store_unavailable"
                assert int(r.headers["retry-after"]) > 0
                if _breaker(client, "clickhouse").state == "open":
                    break
            opened = _breaker(client, "clickhouse")
            assert opened.state == "open" and opened.opened_total == 1
            assert opened.consecutive_failures >= 3  # the writer's failures count too
            store = wait_until(  # the checks' reports live a second
                lambda: (d := _dependency(client, auth, "clickhouse"))["state"] == "down" and d,
                10, "the clickhouse dependency down")
            assert store["breaker"]["state"] == "open"
            assert 0 < store["breaker"]["retry_in_seconds"] <= RETRY_S

            with black_hole(emulator.port) as tried:  # a ClickHouse that hangs
                for n in range(100, 110):
                    r = _stats(client, auth, n)
                    assert r.status_code == 503, r.text
                    assert 0 < int(r.headers["retry-after"]) <= RETRY_S
                with pytest.raises(Exception, match="circuit breaker open, next try in"):
                    svc.store.query("SELECT 1")
                wait_until(lambda: "circuit breaker open" in (svc.writer.last_error or ""),
                           10, "the writer's retry refused by the breaker")
                assert tried == []  # nothing reached the port
                assert _breaker(client, "clickhouse").consecutive_failures == \
                    opened.consecutive_failures  # refusals are not failures
            assert svc.wal.pending_segments > 0  # the outage's events wait in the log

            emulator.start()
            # After RETRY_S the writer's next retry is the trial: it closes the breaker.
            wait_until(lambda: _breaker(client, "clickhouse").state == "closed",
                       RETRY_S + 60, "the breaker to close after ClickHouse returned")
            wait_until(lambda: _dependency(client, auth, "clickhouse")["state"] == "up", 30,
                       "the clickhouse dependency up")
            assert svc.writer.flush(30)
            assert _count(client, "during") == 20  # each event of the outage, once
            assert _stats(client, auth, 1000).status_code == 200
            assert _breaker(client, "clickhouse").opened_total == 1
            assert "liveinsight_breaker_open{dependency=\"clickhouse\"} 0.0" in _metrics(client)
    finally:
        emulator.kill()


def test_on_a_quiet_node_the_health_check_is_the_clickhouse_trial(tmp_path: Path) -> None:
    emulator = Emulator(tmp_path / "ch").start()
    try:
        with make_client(tmp_path / "app", clickhouse_url=emulator.url,
                         clickhouse_database=f"li_{uuid.uuid4().hex[:10]}",
                         clickhouse_breaker_failures=2, clickhouse_retry_seconds=2,
                         log_store=False, audit_store=False, alerts_enabled=False,
                         metrics_token=OPS["authorization"][7:]) as client:
            svc = svc_of(client)
            emulator.kill()
            for _ in range(2):
                with pytest.raises(StoreUnavailable):
                    svc.store.query("SELECT 1")
            assert _breaker(client, "clickhouse").state == "open"
            emulator.start()
            # No events, no reads, no background shipping: nothing but the check calls it.
            wait_until(lambda: _breaker(client, "clickhouse").state == "half_open", 30,
                       "the breaker's pause to end")
            store = _dependency(client, OPS, "clickhouse")
            assert store["state"] == "up" and store["breaker"]["state"] == "closed"
            assert _breaker(client, "clickhouse").opened_total == 1
    finally:
        emulator.kill()


def _metrics(client: TestClient) -> str:
    from prometheus_client import generate_latest

    return generate_latest(svc_of(client).metrics.registry).decode()


def test_postgresql_down_opens_the_breaker_metadata_calls_fail_fast_and_it_recovers(
        tmp_path: Path) -> None:
    with private_postgres() as postgres, make_client(
            tmp_path, database_url=postgres.url, metrics_token=OPS["authorization"][7:],
            database_breaker_failures=3, database_retry_seconds=RETRY_S) as client:
        make_site(client)
        auth = _key(client)
        goals = "/api/v1/sites/example.com/goals"
        assert client.post(goals, headers=auth, json={"page_path": "/before"}).status_code == 201
        meta = _dependency(client, OPS, "metadata")
        assert meta["state"] == "up" and meta["breaker"]["state"] == "closed"

        postgres.stop()
        for n in range(20):
            r = client.post(goals, headers=auth, json={"page_path": f"/during-{n}"})
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "unavailable"
            assert int(r.headers["retry-after"]) > 0
            if _breaker(client, "metadata").state == "open":
                break
        opened = _breaker(client, "metadata")
        assert opened.state == "open" and opened.consecutive_failures >= 3
        assert "Connection refused" in str(opened.last_error)
        meta = wait_until(  # the checks' reports live a second
            lambda: (d := _dependency(client, OPS, "metadata"))["state"] == "down" and d,
            10, "the metadata dependency down")
        assert meta["breaker"]["state"] == "open"
        assert "circuit breaker open" in meta["error"]

        with black_hole(postgres.port) as tried:  # a PostgreSQL that hangs
            for n in range(10):
                r = client.post(goals, headers=auth, json={"page_path": f"/open-{n}"})
                assert r.status_code == 503, r.text
                error = r.json()["error"]
                assert error["code"] == "unavailable"
                assert "circuit breaker open, next try in" in error["message"]
                assert 0 < int(r.headers["retry-after"]) <= RETRY_S
            assert _dependency(client, OPS, "metadata")["state"] == "down"
            assert tried == []  # no connection was attempted
            assert _breaker(client, "metadata").consecutive_failures == \
                opened.consecutive_failures
        assert "liveinsight_breaker_open{dependency=\"metadata\"} 1.0" in _metrics(client)

        postgres.start()
        # After RETRY_S the next new connection is the trial: here the health check's.
        wait_until(lambda: _dependency(client, OPS, "metadata")["state"] == "up",
                   RETRY_S + 60, "the metadata database up again")
        assert _breaker(client, "metadata").state == "closed"
        assert client.post(goals, headers=auth, json={"page_path": "/after"}).status_code == 201
        assert "liveinsight_breaker_open{dependency=\"metadata\"} 0.0" in _metrics(client)


def test_a_postgresql_that_hangs_costs_a_connect_timeout_per_attempt_until_it_opens(
        tmp_path: Path) -> None:
    with private_postgres() as postgres, make_client(
            tmp_path, database_url=postgres.url, database_connect_timeout_seconds=2,
            database_breaker_failures=2, database_retry_seconds=RETRY_S) as client:
        make_site(client)
        auth = _key(client)
        goals = "/api/v1/sites/example.com/goals"
        assert client.post(goals, headers=auth, json={"page_path": "/before"}).status_code == 201
        postgres.stop()
        with black_hole(postgres.port) as tried:  # accepts, never answers: libpq would wait
            for n in range(10):
                r = client.post(goals, headers=auth, json={"page_path": f"/hung-{n}"})
                assert r.status_code == 503, r.text
                if _breaker(client, "metadata").state == "open":
                    break
            opened = _breaker(client, "metadata")
            assert opened.state == "open" and "timeout" in str(opened.last_error)
            attempts = len(tried)
            assert attempts >= 2  # each failure was a connection the server never answered
            for n in range(5):
                r = client.post(goals, headers=auth, json={"page_path": f"/open-{n}"})
                assert r.status_code == 503
                assert "circuit breaker open" in r.json()["error"]["message"]
            assert len(tried) == attempts  # refused without connecting


def test_sqlite_and_the_embedded_store_have_no_breaker(tmp_path: Path) -> None:
    with make_client(tmp_path, metrics_token=OPS["authorization"][7:]) as client:
        for name in ("clickhouse", "metadata"):
            assert svc_of(client).dependencies.breaker(name) is None
            dep = _dependency(client, OPS, name)
            assert dep["state"] == "up" and dep["breaker"] is None
