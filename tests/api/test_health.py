"""Liveness (``/health``), readiness (``/health/ready``), ``/health/dependencies`` and
``/health/detailed``, against real dependencies: the store (chDB; ClickHouse's HTTP
interface emulated over chDB in a process the test kills and restarts, then a listener that
never answers), an SMTP server (aiosmtpd), a port nobody listens on."""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import make_client, make_site, svc_of
from tests.ops.alerts.helpers import smtp_server
from tests.support import Emulator, black_hole, free_port, wait_until

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36")


def _auth(client: TestClient) -> dict[str, str]:
    key, _ = svc_of(client).meta.create_api_key("ops", ["admin"])
    return {"authorization": f"Bearer {key}"}


def _by_name(body: dict[str, object]) -> dict[str, dict[str, object]]:
    deps = body["dependencies"]
    assert isinstance(deps, list)
    return {d["name"]: d for d in deps}


def test_ready_dependencies_and_detailed_on_a_healthy_node(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        r = client.get("/health/ready")
        assert r.status_code == 200 and r.json()["ready"] is True
        assert client.get("/health/dependencies").status_code == 401
        auth = _auth(client)
        r = client.get("/health/dependencies", headers=auth)
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "ok"
        deps = _by_name(body)
        channels = {"alerts_slack", "alerts_webhook", "alerts_sms"}  # their breakers only
        assert set(deps) == {"clickhouse", "metadata", "write_ahead_log", *channels}
        for name, dep in deps.items():
            required = name not in (*channels, "write_ahead_log")
            assert dep["state"] == "up" and dep["required"] is required
            assert isinstance(dep["latency_ms"], float) is (name not in channels)
            assert dep["error"] is None
        disk = deps["write_ahead_log"]
        assert disk["kind"] == "disk" and disk["detail"]["free_bytes"] > 0
        assert disk["detail"]["quota_bytes"] == svc_of(client).settings.wal_max_bytes
        r = client.get("/health/detailed", headers=auth)
        checks = r.json()["checks"]
        assert checks["store_ping"] is True
        assert checks["disk_free_bytes"] > 0 and checks["writer_lag_seconds"] >= 0
        assert checks["write_ahead_log_segments"] == 0
        assert {d["name"] for d in r.json()["dependencies"]} == {
            "clickhouse", "metadata", "write_ahead_log", *channels}


def _refused(port: int) -> Callable[[], object]:
    """A check that connects to ``port``, where nothing listens (a server that is down)."""
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_detailed_says_down_while_a_required_dependency_is_and_liveness_stays_ok(
        tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        auth = _auth(client)
        assert client.get("/health/detailed", headers=auth).json()["status"] == "ok"
        deps = svc_of(client).dependencies
        deps.register("reports_db", kind="postgresql", check=_refused(free_port()))
        body = wait_until(lambda: (b := client.get("/health/detailed", headers=auth).json())[
            "status"] != "ok" and b, 10, "an optional dependency's failure shown")
        assert body["status"] == "degraded"  # optional: the node serves without it
        assert body["checks"]["store"] == "ok"  # the node's own parts are fine
        # the metadata database (required) refuses connections
        deps.register("metadata", kind="postgresql", check=_refused(free_port()),
                      required=True)
        body = wait_until(lambda: (b := client.get("/health/detailed", headers=auth).json())[
            "status"] == "down" and b, 10, "/health/detailed to say down")
        metadata = _by_name(body)["metadata"]
        assert metadata["state"] == "down" and "Connection refused" in metadata["error"]
        assert client.get("/health/dependencies", headers=auth).json()["status"] == "down"
        live = client.get("/health")  # liveness: the node's memory only, no round-trip
        assert (live.status_code, live.json()["status"]) == (200, "ok")
        assert client.get("/health/ready").status_code == 503


def _log_disk(client: TestClient, auth: dict[str, str]) -> dict[str, object]:
    return _by_name(client.get("/health/dependencies", headers=auth).json())[
        "write_ahead_log"]


def test_the_logs_disk_is_down_while_the_log_refuses_appends(tmp_path: Path) -> None:
    # a quota smaller than one event: every append is refused, as on a full disk
    with make_client(tmp_path, wal_max_bytes=100) as client:
        make_site(client, "example.com")
        auth = _auth(client)
        assert _log_disk(client, auth)["state"] == "up"
        r = client.post("/api/event", json={"n": "pageview", "d": "example.com",
                                            "u": "https://example.com/"},
                        headers={"user-agent": UA})
        assert r.status_code == 503
        disk = wait_until(lambda: (d := _log_disk(client, auth))["state"] == "down" and d,
                          10, "the log's disk reported down")
        assert str(disk["error"]) == ("refusing appends: the write-ahead log is full while "
                                      "the store catches up")
        assert disk["required"] is False and disk["detail"]["quota_bytes"] == 100
        body = client.get("/health/dependencies", headers=auth).json()
        assert body["status"] == "degraded"  # not required: reads go on
        assert client.get("/health/ready").status_code == 200
        detailed = client.get("/health/detailed", headers=auth).json()
        assert detailed["status"] == "degraded"
        assert detailed["checks"]["write_ahead_log"].startswith("refusing appends")


def test_the_logs_disk_is_degraded_when_it_cannot_hold_the_quota(tmp_path: Path) -> None:
    room = shutil.disk_usage(tmp_path).total * 2  # more than the disk could ever hold
    with make_client(tmp_path, wal_max_bytes=room) as client:
        auth = _auth(client)
        disk = _log_disk(client, auth)
        assert disk["state"] == "degraded"
        assert "less than the" in str(disk["error"]) and "the disk would fill first" in str(
            disk["error"])
        detail = disk["detail"]
        assert isinstance(detail, dict) and detail["free_bytes"] < detail["quota_bytes"]
        assert client.get("/health/dependencies", headers=auth).json()["status"] == "degraded"


def test_smtp_is_checked_when_configured(tmp_path: Path) -> None:
    with smtp_server() as (inbox, port), make_client(
            tmp_path / "up", smtp_host="127.0.0.1", smtp_port=port,
            smtp_security="none") as client:
        deps = _by_name(client.get("/health/dependencies", headers=_auth(client)).json())
        assert deps["smtp"]["state"] == "up" and deps["smtp"]["required"] is False
        assert inbox.messages == []  # a check sends nothing
    with make_client(tmp_path / "down", smtp_host="127.0.0.1", smtp_port=free_port(),
                     smtp_security="none") as client:
        body = client.get("/health/dependencies", headers=_auth(client)).json()
        smtp = _by_name(body)["smtp"]
        assert smtp["state"] == "degraded" and "Connection refused" in smtp["error"]
        assert body["status"] == "degraded"
        assert client.get("/health/ready").status_code == 200  # not required to serve


def test_store_down_fails_readiness_not_liveness_and_recovers(tmp_path: Path) -> None:
    emulator = Emulator(tmp_path / "ch")
    emulator.start()
    try:
        with make_client(tmp_path / "app", clickhouse_url=emulator.url,
                         clickhouse_database=f"li_{uuid.uuid4().hex[:10]}") as client:
            auth = _auth(client)
            assert client.get("/health/ready").status_code == 200

            emulator.kill()
            wait_until(lambda: client.get("/health/ready").status_code == 503, 30,
                       "readiness fails while the store is down")
            r = client.get("/health/ready")
            assert r.json() == {"ready": False, "version": r.json()["version"],
                                "reasons": ["clickhouse is down"]}
            assert r.headers["retry-after"] == "5"
            live = client.get("/health")  # liveness: no round-trip to the store
            assert live.status_code == 200
            body = client.get("/health/dependencies", headers=auth).json()
            assert body["status"] == "down"
            store = _by_name(body)["clickhouse"]
            assert store["state"] == "down" and store["error"]
            assert _by_name(body)["metadata"]["state"] == "up"
            assert client.get("/health/detailed", headers=auth).json()[
                "checks"]["store_ping"] is False

            with black_hole(emulator.port):  # a store that accepts and never answers
                wait_until(lambda: "no answer within" in str(_by_name(client.get(
                    "/health/dependencies", headers=auth).json())["clickhouse"]["error"]),
                    30, "the hanging store reported")
                assert client.get("/health/ready").status_code == 503
                assert client.get("/health").status_code == 200

            emulator.start()
            wait_until(lambda: client.get("/health/ready").status_code == 200, 30,
                       "ready again once the store is back")
            # Up once its breaker (opened by the background shippers' failed inserts, if
            # they tried while it was down) has closed: their next call after its pause.
            wait_until(lambda: _by_name(client.get("/health/dependencies", headers=auth).json(
                ))["clickhouse"]["state"] == "up", 60, "the store up, its breaker closed")
    finally:
        emulator.kill()


def test_a_stopping_node_is_not_ready(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc_of(client).wal.close()  # what the graceful stop does first
        r = client.get("/health/ready")
        assert r.status_code == 503 and r.json()["reasons"] == ["the node is stopping"]
