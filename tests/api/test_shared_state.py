"""An app with ``redis_url``: live sessions and the live feed go through Redis, health and
metrics say whether they are shared, and with Redis unreachable ingest goes on with
node-local sessions (degraded, not failed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import make_client, make_site, stored_events, svc_of
from tests.support import METRICS_TOKEN, free_port, redis_prefix

UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0 Safari/537.36")
OPS = {"authorization": f"Bearer {METRICS_TOKEN}"}


def _visit(client: TestClient) -> None:
    for path in ("/", "/pricing"):
        response = client.post("/api/event", headers={"user-agent": UA}, json={
            "n": "pageview", "u": f"https://example.com{path}", "d": "example.com"})
        assert response.status_code == 202


def _sessions(client: TestClient) -> list[dict[str, Any]]:
    svc = svc_of(client)
    stored_events(client)  # flushes the log
    return svc.store.query(
        f"SELECT session_id, sum(sign) AS visits, sum(sign * pageviews) AS pageviews "
        f"FROM `{svc.store.database}`.sessions GROUP BY session_id").dicts()


def test_sessions_and_the_feed_go_through_redis(tmp_path: Path, redis_url: str) -> None:
    with redis_prefix(redis_url) as prefix, make_client(
            tmp_path, redis_url=redis_url, redis_prefix=prefix,
            metrics_token=METRICS_TOKEN) as client:
        make_site(client, "example.com")
        _visit(client)
        assert [(s["visits"], s["pageviews"]) for s in _sessions(client)] == [(1, 2)]
        detailed = client.get("/health/detailed", headers=OPS).json()
        assert detailed["status"] == "ok"
        assert (detailed["checks"]["sessions"], detailed["checks"]["live_feed"]) == (
            "shared", "shared")
        metrics = client.get("/metrics", headers=OPS).text
        assert 'liveinsight_shared_state_degraded{state="sessions"} 0.0' in metrics
        assert "liveinsight_sessions_live 1.0" in metrics


def test_without_redis_ingest_goes_on_in_node_memory(tmp_path: Path) -> None:
    with make_client(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0",
                     redis_timeout_seconds=0.2, metrics_token=METRICS_TOKEN) as client:
        make_site(client, "example.com")
        _visit(client)  # both acknowledged
        assert [(s["visits"], s["pageviews"]) for s in _sessions(client)] == [(1, 2)]
        assert client.get("/health").json()["status"] == "degraded"
        checks = client.get("/health/detailed", headers=OPS).json()["checks"]
        assert checks["sessions"].startswith("node-local: Redis unreachable")
        assert checks["store"] == "ok"
        metrics = client.get("/metrics", headers=OPS).text
        assert 'liveinsight_shared_state_degraded{state="sessions"} 1.0' in metrics
