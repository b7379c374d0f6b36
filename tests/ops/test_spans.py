"""Request tracing (``ops/spans.py``, ``ops/tracing.py``): which requests are traced, the
spans our code opens, their way into the ``spans`` table and out over OTLP, and what they
never keep."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import generate_latest

from tests.conftest import make_client, make_site, svc_of
from tests.support import wait_until

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.6099.109 Safari/537.36")
PARENT = "4bf92f3577b34da6a3ce929d0e0e4736"


def _spans(client: TestClient, where: str = "1") -> list[dict[str, Any]]:
    svc = svc_of(client)
    assert svc.tracing is not None and svc.tracing.flush(30)
    result = svc.store.query(
        f"SELECT trace_id, span_id, parent_id, name, kind, route, method, status, error, "
        f"duration_ms, node, sample_ratio, attributes FROM `{svc.store.database}`.spans "
        f"WHERE {where} ORDER BY timestamp")
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _access_records(client: TestClient) -> list[list[Any]]:
    svc = svc_of(client)
    assert svc.logs is not None and svc.logs.flush(30)
    return svc.store.query(
        f"SELECT route, status, trace_id FROM `{svc.store.database}`.logs "
        "WHERE logger = 'liveinsight.access' ORDER BY timestamp").rows


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with make_client(tmp_path, trace_sample_ratio=1.0, log_requests="all") as client:
        make_site(client, "a.example")
        key, _ = svc_of(client).meta.create_api_key("root", ["admin", "stats"])
        yield client, {"authorization": f"Bearer {key}"}


def test_a_stats_request_is_one_trace_of_our_spans(
        traced: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = traced
    r = client.get("/api/stats/aggregate", params={"site_id": "a.example"},
                   headers={**auth, "x-forwarded-for": "203.0.113.9"})
    assert r.status_code == 200
    spans = _spans(client)
    by_name = {s["name"]: s for s in spans}
    root = by_name["GET /api/stats/aggregate"]
    assert (root["kind"], root["route"], root["method"], root["status"], root["error"]) == (
        "server", "/api/stats/aggregate", "GET", 200, 0)
    assert root["parent_id"] == "" and root["sample_ratio"] == 1.0
    assert {s["trace_id"] for s in spans} == {root["trace_id"]}
    ids = {s["name"]: s["span_id"] for s in spans}
    assert by_name["cache.get"]["parent_id"] == root["span_id"]
    assert by_name["cache.compute"]["parent_id"] == ids["cache.get"]
    assert by_name["cache.get"]["attributes"]["cache.hit"] == "False"
    assert by_name["query.build"]["parent_id"] == ids["cache.compute"]
    store = by_name["store.query"]
    assert store["parent_id"] == ids["cache.compute"]
    assert store["attributes"]["db.transport"] == "embedded"
    assert "events" in store["attributes"]["db.statement"]
    assert all(s["duration_ms"] >= 0 for s in spans)
    # the access record names the same trace
    assert ["/api/stats/aggregate", 200, root["trace_id"]] in _access_records(client)


def test_a_collected_event_has_its_enrichment_and_log_append(
        traced: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = traced
    r = client.post("/api/event", json={"n": "pageview", "u": "https://a.example/p?x=1",
                                        "d": "a.example"},
                    headers={"user-agent": CHROME, "x-forwarded-for": "203.0.113.9"})
    assert r.status_code == 202
    spans = _spans(client)
    names = [s["name"] for s in spans]
    root = spans[names.index("POST /api/event")]
    assert root["route"] == "/api/event" and root["status"] == 202
    enrich = spans[names.index("ingest.enrich")]
    assert enrich["parent_id"] == root["span_id"]
    steps = [s for s in spans if s["name"].startswith("ingest.step ")]
    assert len(steps) == 11 and all(s["parent_id"] == enrich["span_id"] for s in steps)
    append = spans[names.index("wal.append")]
    assert append["attributes"]["wal.rows"] == "1"
    assert append["trace_id"] == root["trace_id"]


def test_spans_keep_no_address_agent_url_or_query(
        traced: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = traced
    client.get("/api/stats/aggregate?site_id=a.example&secret=hunter2",
               headers={**auth, "user-agent": CHROME})
    client.post("/api/event", json={"n": "pageview", "u": "https://a.example/",
                                    "d": "a.example"}, headers={"user-agent": CHROME})
    text = repr(_spans(client))
    for leaked in ("hunter2", "testclient", "Chrome/120", "secret=", "site_id=a.example"):
        assert leaked not in text


def test_a_traceparent_is_followed_and_unsampled_requests_make_nothing(
        tmp_path: Path) -> None:
    with make_client(tmp_path, trace_sample_ratio=0.000001, log_requests="all") as client:
        assert client.get("/health").status_code == 200
        assert client.get("/health", headers={
            "traceparent": f"00-{PARENT}-00f067aa0ba902b7-01"}).status_code == 200
        other = "0af7651916cd43dd8448eb211c80319c"
        assert client.get("/health", headers={
            "traceparent": f"00-{other}-b7ad6b7169203331-00"}).status_code == 200
        spans = _spans(client)
        assert [(s["trace_id"], s["name"], s["parent_id"]) for s in spans] == [
            (PARENT, "GET /health", "00f067aa0ba902b7")]
        traces = [t for _, _, t in _access_records(client)]
        assert traces == ["", PARENT, other]  # the unsampled caller's trace id is logged


def test_ratio_zero_turns_tracing_off(tmp_path: Path) -> None:
    with make_client(tmp_path, trace_sample_ratio=0.0) as client:
        assert svc_of(client).tracing is None
        assert client.get("/health", headers={
            "traceparent": f"00-{PARENT}-00f067aa0ba902b7-01"}).status_code == 200


def test_a_full_span_queue_drops_spans_and_never_the_request(tmp_path: Path) -> None:
    with make_client(tmp_path, trace_sample_ratio=1.0, trace_queue_spans=100) as client:
        make_site(client, "a.example")
        svc = svc_of(client)
        assert svc.tracing is not None
        svc.tracing.shipper.close()  # nothing moves the queue any more
        for _ in range(20):  # 13 spans each
            r = client.post("/api/event", json={"n": "pageview", "u": "https://a.example/",
                                                "d": "a.example"},
                            headers={"user-agent": CHROME})
            assert r.status_code == 202
        text = generate_latest(svc.metrics.registry).decode()
        assert 'liveinsight_spans_dropped_total{reason="queue_full"}' in text
        assert len(svc.tracing.shipper.queue) == 100


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        size = int(self.headers.get("content-length", "0"))
        self.bodies.append((self.path, self.headers.get("content-type", ""),
                            self.rfile.read(size)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    bodies: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (_Receiver,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_spans_are_also_sent_over_otlp(
        tmp_path: Path, receiver: tuple[str, list[tuple[str, str, bytes]]]) -> None:
    url, bodies = receiver
    with make_client(tmp_path, trace_sample_ratio=1.0, otlp_endpoint=url) as client:
        assert client.get("/health", headers={"user-agent": CHROME}).status_code == 200
        assert wait_until(lambda: bodies, 30, "the OTLP receiver")
        assert _spans(client)  # and in the table too
    path, kind, body = bodies[0]
    assert (path, kind) == ("/v1/traces", "application/x-protobuf")
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    sent = [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert [s.name for s in sent] == ["GET /health"]
    keys = {a.key for s in sent for a in s.attributes}
    assert "http.route" in keys and not keys & {"http.user_agent", "net.peer.ip",
                                                "http.url", "http.target"}
    resource = {a.key: a.value.string_value for a in request.resource_spans[0].resource
                .attributes}
    assert resource["service.name"] == "liveinsight"
