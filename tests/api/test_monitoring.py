"""Every request counted by route template, method and status with its duration; process,
disk, log backlog and writer lag gauges; ``GET /admin/monitoring/metrics`` as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_client, make_site, svc_of

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with make_client(tmp_path) as client:
        make_site(client, "a.example")
        key, _ = svc_of(client).meta.create_api_key("root", ["admin", "stats"])
        yield client, {"authorization": f"Bearer {key}"}


def _samples(client: TestClient, auth: dict[str, str]) -> dict[tuple[str, frozenset[
        tuple[str, str]]], float]:
    r = client.get("/metrics", headers=auth)
    assert r.status_code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def _requests(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], route: str,
              method: str, status: str) -> float:
    labels = frozenset({"route": route, "method": method, "status": status}.items())
    return samples.get(("liveinsight_http_requests_total", labels), 0.0)


def test_every_route_is_counted_by_template_method_and_status(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    for _ in range(3):
        assert client.get("/health").status_code == 200
    r = client.post("/api/event", json={"n": "pageview", "d": "a.example",
                                        "u": "https://a.example/"},
                    headers={"user-agent": UA, "x-forwarded-for": "198.51.100.7"})
    assert r.status_code == 202
    assert client.post("/api/event", content=b"{").status_code == 400
    assert client.get("/api/v1/sites/a.example/goals", headers=auth).status_code == 200
    assert client.get("/api/v1/sites/a.example/goals").status_code == 401
    assert client.get("/no/such/page/42").status_code == 404
    assert client.request("BREW", "/health").status_code == 405

    samples = _samples(client, auth)
    assert _requests(samples, "/health", "GET", "200") == 3
    assert _requests(samples, "/api/event", "POST", "202") == 1
    assert _requests(samples, "/api/event", "POST", "400") == 1
    # the route's template, never the raw path
    assert _requests(samples, "/api/v1/sites/{site_id}/goals", "GET", "200") == 1
    assert _requests(samples, "/api/v1/sites/{site_id}/goals", "GET", "401") == 1
    assert _requests(samples, "unmatched", "GET", "404") == 1
    assert _requests(samples, "/health", "OTHER", "405") == 1
    assert not any("a.example" in dict(labels).get("route", "")
                   or "42" in dict(labels).get("route", "") for _, labels in samples)
    count = samples[("liveinsight_http_request_seconds_count",
                     frozenset({"route": "/health", "method": "GET"}.items()))]
    assert count == 3
    assert samples[("liveinsight_http_request_seconds_sum",
                    frozenset({"route": "/health", "method": "GET"}.items()))] > 0


def test_process_disk_and_log_gauges(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    samples = _samples(client, auth)
    assert samples[("process_resident_memory_bytes", frozenset())] > 10_000_000
    assert samples[("process_open_fds", frozenset())] > 3
    assert samples[("process_cpu_seconds_total", frozenset())] > 0
    assert samples[("liveinsight_data_dir_free_bytes", frozenset())] > 0
    assert samples[("liveinsight_store_up", frozenset())] == 1
    assert samples[("liveinsight_writer_lag_seconds", frozenset())] >= 0


def test_monitoring_metrics_as_json(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    for _ in range(4):
        client.get("/health")
    svc = svc_of(client)
    svc.writer.stop(flush=False)  # the event below waits in the log
    r = client.post("/api/event", json={"n": "pageview", "d": "a.example",
                                        "u": "https://a.example/x"},
                    headers={"user-agent": UA, "x-forwarded-for": "198.51.100.8"})
    assert r.status_code == 202

    r = client.get("/admin/monitoring/metrics", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["node_id"] == svc.node_id
    assert body["process"]["resident_memory_bytes"] > 10_000_000
    assert body["process"]["open_fds"] > 3
    assert body["process"]["started_at"]
    assert body["disk"]["free_bytes"] > 0
    assert body["disk"]["total_bytes"] >= body["disk"]["free_bytes"]
    ingest = body["ingest"]
    assert ingest["wal_bytes"] > 0 and ingest["wal_segments"] == 1
    assert ingest["writer_lag_seconds"] >= 0
    assert ingest["events_accepted"] == {"event": 1}
    health = next(row for row in body["http"] if row["route"] == "/health")
    assert health["method"] == "GET" and health["requests"] == 4
    assert health["statuses"] == {"200": 4} and health["errors_5xx"] == 0
    assert 0 < health["p50_seconds"] <= health["p95_seconds"] <= health["p99_seconds"]
    assert "metrics" not in body

    r = client.get("/admin/monitoring/metrics", params={"families": "process_"}, headers=auth)
    names = {f["name"] for f in r.json()["metrics"]}
    assert "process_open_fds" in names and all(n.startswith("process_") for n in names)
    r = client.get("/admin/monitoring/metrics", params={"families": "x" * 201}, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["field"] == "families"


def test_monitoring_metrics_is_for_instance_admins(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = app
    assert client.get("/admin/monitoring/metrics").status_code == 401
    key, _ = svc_of(client).meta.create_api_key("reader", ["stats"])
    r = client.get("/admin/monitoring/metrics", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 403


def test_alert_rules_can_name_the_request_metrics(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    client.get("/health")
    r = client.post("/admin/monitoring/threshold", headers=auth, json={
        "name": "slow health", "metric": "liveinsight_http_request_seconds", "stat": "p95",
        "labels": {"route": "/health"}, "op": ">", "threshold": 0.5, "window": "5m"})
    assert r.status_code in (200, 201), r.text
    r = client.post("/admin/monitoring/threshold", headers=auth, json={
        "name": "errors", "metric": "liveinsight_http_requests_total", "stat": "increase",
        "labels": {"status": "5*"}, "op": ">", "threshold": 10, "window": "5m"})
    assert r.status_code in (200, 201), r.text
