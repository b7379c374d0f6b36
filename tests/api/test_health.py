"""Liveness (``/health``), readiness (``/health/ready``), ``/health/dependencies`` and
``/health/detailed``, against real dependencies: the store (chDB; ClickHouse's HTTP
interface emulated over chDB in a process the test kills and restarts, then a listener that
never answers), an SMTP server (aiosmtpd), a port nobody listens on."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import make_client, svc_of
from tests.ops.alerts.helpers import smtp_server
from tests.support import Emulator, black_hole, free_port, wait_until


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
        assert set(deps) == {"clickhouse", "metadata", *channels}
        for name, dep in deps.items():
            assert dep["state"] == "up" and dep["required"] is (name not in channels)
            assert isinstance(dep["latency_ms"], float) is (name not in channels)
            assert dep["error"] is None
        r = client.get("/health/detailed", headers=auth)
        checks = r.json()["checks"]
        assert checks["store_ping"] is True
        assert checks["disk_free_bytes"] > 0 and checks["writer_lag_seconds"] >= 0
        assert checks["write_ahead_log_segments"] == 0
        assert {d["name"] for d in r.json()["dependencies"]} == {"clickhouse", "metadata",
                                                                 *channels}


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
