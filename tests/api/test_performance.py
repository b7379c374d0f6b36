"""``/admin/performance/traces``, ``/admin/performance/traces/{trace_id}``,
``/admin/performance/metrics``, ``/admin/performance/bottlenecks`` over the spans and
request records an app traced and logged itself (chDB, every request traced)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from liveinsight.ops import perfsearch
from tests.conftest import login, make_client, make_site, svc_of

App = tuple[TestClient, dict[str, str]]
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.6099.109 Safari/537.36")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    tmp_path = tmp_path_factory.mktemp("performance")
    with make_client(tmp_path, trace_sample_ratio=1.0, log_requests="all") as client:
        make_site(client, "a.example")
        key, _ = svc_of(client).meta.create_api_key("root", ["admin", "stats"])
        auth = {"authorization": f"Bearer {key}"}
        for i in range(3):
            r = client.get("/api/stats/aggregate", params={"site_id": "a.example",
                                                           "period": "7d" if i else "day"},
                           headers=auth)
            assert r.status_code == 200
        for _ in range(4):
            assert client.post("/api/event", json={"n": "pageview", "d": "a.example",
                                                   "u": "https://a.example/"},
                               headers={"user-agent": CHROME}).status_code == 202
        assert client.get("/api/stats/aggregate", params={"site_id": "a.example",
                                                          "period": "bogus"},
                          headers=auth).status_code == 400
        svc = svc_of(client)
        assert svc.tracing is not None and svc.tracing.flush(30)
        assert svc.logs is not None and svc.logs.flush(30)
        yield client, auth


def _get(client: TestClient, auth: dict[str, str], path: str, **params: Any) -> Any:
    r = client.get(path, params=params, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_traces_are_searched_by_route_status_duration_and_id(app: App) -> None:
    client, auth = app
    # This test's own requests are traced too, and their traces may be stored between two
    # pages, shifting newest-first offsets: the pages are of what came before it.
    before = datetime.now(UTC).isoformat()
    found = _get(client, auth, "/admin/performance/traces", route="/api/stats/aggregate")
    assert found["total"] == 4 and found["next_offset"] is None
    first = found["traces"][0]
    assert (first["name"], first["method"], first["status"]) == (
        "GET /api/stats/aggregate", "GET", 400)  # newest first
    assert [t["status"] for t in found["traces"]] == [400, 200, 200, 200]
    assert all(t["spans"] >= 1 for t in found["traces"])
    collector = _get(client, auth, "/admin/performance/traces", route="/api/event")
    assert collector["total"] == 4
    assert collector["traces"][0]["spans"] >= 13  # enrichment steps and the log append
    assert _get(client, auth, "/admin/performance/traces", status="400")["total"] == 1
    assert _get(client, auth, "/admin/performance/traces", status="error")["total"] == 0
    slow = _get(client, auth, "/admin/performance/traces", min_duration_ms="3600000")
    assert slow["total"] == 0
    one = _get(client, auth, "/admin/performance/traces", trace_id=first["trace_id"])
    assert [t["trace_id"] for t in one["traces"]] == [first["trace_id"]]
    page = _get(client, auth, "/admin/performance/traces", limit=3, until=before)
    assert len(page["traces"]) == 3 and page["next_offset"] == 3
    rest = _get(client, auth, "/admin/performance/traces", limit=3, offset=3, until=before)
    assert not {t["trace_id"] for t in rest["traces"]} & {t["trace_id"] for t in page["traces"]}
    later = datetime.now(UTC) + timedelta(hours=2)
    assert _get(client, auth, "/admin/performance/traces", since=later.isoformat(),
                until=(later + timedelta(hours=1)).isoformat())["total"] == 0


def test_one_trace_is_a_tree(app: App) -> None:
    client, auth = app
    listed = _get(client, auth, "/admin/performance/traces", route="/api/stats/aggregate",
                  status="200")["traces"][-1]  # the oldest: a cache miss
    tree = _get(client, auth, f"/admin/performance/traces/{listed['trace_id']}")
    spans = tree["spans"]
    assert [(s["depth"], s["name"]) for s in spans][:3] == [
        (0, "GET /api/stats/aggregate"), (1, "cache.get"), (2, "cache.compute")]
    assert {(s["depth"], s["name"]) for s in spans[3:]} >= {(3, "query.build"),
                                                            (3, "store.query")}
    root = spans[0]
    assert root["offset_ms"] == 0 and root["parent_id"] == "" and root["status"] == 200
    assert all(s["offset_ms"] >= 0 for s in spans)
    parents = {s["span_id"]: s["depth"] for s in spans}
    assert all(parents[s["parent_id"]] == s["depth"] - 1 for s in spans[1:])
    assert tree["duration_ms"] >= root["duration_ms"] and not tree["truncated"]


def test_metrics_per_route_from_the_records_or_the_spans(app: App) -> None:
    client, auth = app
    logs = _get(client, auth, "/admin/performance/metrics")
    assert logs["source"] == "logs" and logs["step_seconds"] == 60
    routes = {(r["route"], r["method"]): r for r in logs["routes"]}
    stats = routes[("/api/stats/aggregate", "GET")]
    assert stats["requests"] == 4 and stats["errors_5xx"] == 0
    assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
    assert stats["per_second"] == round(4 / 3600, 4)
    assert routes[("/api/event", "POST")]["requests"] == 4
    assert sum(b["requests"] for b in logs["timeline"]
               if b["route"] == "/api/stats/aggregate") == 4
    spans = _get(client, auth, "/admin/performance/metrics", source="spans",
                 route="/api/event")
    assert [(r["route"], r["requests"]) for r in spans["routes"]] == [("/api/event", 4)]
    top = _get(client, auth, "/admin/performance/metrics", routes=1)
    assert len(top["routes"]) == 1


def test_bottlenecks_rank_routes_and_span_kinds(app: App) -> None:
    client, auth = app
    found = _get(client, auth, "/admin/performance/bottlenecks")
    routes = found["routes"]["by_total_time"]
    assert routes and routes == sorted(routes, key=lambda r: -r["total_ms"])
    assert {r["route"] for r in routes} >= {"/api/stats/aggregate", "/api/event"}
    spans = {s["name"]: s for s in found["spans"]["by_total_time"]}
    assert spans["store.query"]["count"] >= 2 and spans["store.query"]["total_ms"] > 0
    assert all(s["previous_count"] == 0 and s["p95_ratio"] is None for s in spans.values())
    assert found["routes"]["by_p95_regression"] == []  # nothing in the previous hour
    shifted = datetime.now(UTC) + timedelta(minutes=1)
    later = _get(client, auth, "/admin/performance/bottlenecks", min_count=1,
                 since=(shifted - timedelta(seconds=30)).isoformat(),
                 until=(shifted + timedelta(seconds=30)).isoformat())
    assert later["routes"]["by_total_time"] == []  # the requests are all in the previous one


def test_p95_regression_ranks_the_slower() -> None:
    rows = [{"name": "a", "count": 10, "total_ms": 100.0, "p95_ms": 20.0,
             "previous_count": 10, "previous_p95_ms": 10.0},
            {"name": "b", "count": 10, "total_ms": 500.0, "p95_ms": 10.0,
             "previous_count": 10, "previous_p95_ms": 20.0},
            {"name": "c", "count": 2, "total_ms": 50.0, "p95_ms": 90.0,
             "previous_count": 10, "previous_p95_ms": 1.0}]
    ranked = perfsearch.rank(rows, 10, 5)
    assert [r["name"] for r in ranked["by_total_time"]] == ["b", "a", "c"]
    assert [(r["name"], r["p95_ratio"]) for r in ranked["by_p95_regression"]] == [
        ("a", 2.0), ("b", 0.5)]


def test_a_tree_is_built_without_recursion_and_survives_cycles() -> None:
    chain = [{"span_id": f"{i:016x}", "parent_id": f"{i - 1:016x}" if i else "",
              } for i in range(5000)]
    assert [s["depth"] for s in perfsearch.tree(chain)] == list(range(5000))
    loop = [{"span_id": "a", "parent_id": "b"},
            {"span_id": "b", "parent_id": "a"}]
    assert perfsearch.tree(loop) == []  # no root: nothing to hang them from


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/admin/performance/traces", {"since": "yesterday"}, "since"),
    ("/admin/performance/traces", {"since": "2026-01-01T00:00:00Z",
                                   "until": "2026-03-01T00:00:00Z"}, "since"),
    ("/admin/performance/traces", {"status": "teapot"}, "status"),
    ("/admin/performance/traces", {"min_duration_ms": "-1"}, "min_duration_ms"),
    ("/admin/performance/traces", {"trace_id": "xyz"}, "trace_id"),
    ("/admin/performance/traces", {"route": "/" * 201}, "route"),
    ("/admin/performance/traces", {"limit": "201"}, "limit"),
    ("/admin/performance/traces", {"offset": "10001"}, "offset"),
    ("/admin/performance/traces/not-a-trace", {}, "trace_id"),
    ("/admin/performance/metrics", {"source": "tea"}, "source"),
    ("/admin/performance/metrics", {"routes": "51"}, "routes"),
    ("/admin/performance/bottlenecks", {"until": "2026-13-01"}, "until"),
    ("/admin/performance/bottlenecks", {"min_count": "0"}, "min_count"),
])
def test_bad_input_is_a_400_naming_the_field(app: App, path: str, params: dict[str, str],
                                             field: str) -> None:
    client, auth = app
    r = client.get(path, params=params, headers=auth)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


def test_an_unknown_trace_is_a_404(app: App) -> None:
    client, auth = app
    r = client.get(f"/admin/performance/traces/{'0' * 31}1", headers=auth)
    assert r.status_code == 404 and r.json()["error"]["field"] == "trace_id"


def test_the_traces_pages_list_and_show_a_tree(app: App) -> None:
    client, _ = app
    meta = svc_of(client).meta
    meta.create_user("perf-root@example.com", "Quartz-Lantern-Orbit-91", role="admin")
    meta.create_user("perf-viewer@example.com", "Maple-Harbor-Violet-38", role="viewer")
    assert client.get("/traces", follow_redirects=False).status_code == 303
    assert login(client, "perf-viewer@example.com", "Maple-Harbor-Violet-38").status_code == 303
    assert client.get("/traces").status_code == 403
    client.cookies.clear()
    assert login(client, "perf-root@example.com", "Quartz-Lantern-Orbit-91").status_code == 303
    try:
        r = client.get("/traces", params={"route": "/api/stats/aggregate", "status": "400"})
        assert r.status_code == 200 and "1 traced requests" in r.text
        trace_id = r.text.split('href="/traces/')[1].split('"')[0]
        tree = client.get(f"/traces/{trace_id}")
        assert tree.status_code == 200
        assert "GET /api/stats/aggregate → 400" in tree.text and 'data-depth="0"' in tree.text
        assert client.get("/traces", params={"since": "last week"}).status_code == 400
        assert client.get(f"/traces/{'0' * 32}").status_code == 404
        assert client.get("/traces/nope").status_code == 400
    finally:
        client.cookies.clear()
