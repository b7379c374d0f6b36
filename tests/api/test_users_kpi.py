"""GET /admin/analytics/users and /admin/analytics/kpi (+ targets) in a real app, over the
funnel event set of site 1 (``tests/behaviour/data.py``), for instance administrators."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from fastapi.testclient import TestClient

from tests.behaviour.data import events
from tests.conftest import fixed_clock, make_client, make_site, svc_of
from tests.query.rows import ingest
from tests.support import wait_until

UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0 Safari/537.36")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with make_client(tmp_path, clock=fixed_clock(datetime(2026, 11, 12, 18, tzinfo=UTC))
                     ) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        make_site(client, "berlin.example", timezone="Europe/Berlin")
        svc.meta.create_goal(site.id, event_name="Signup")
        ingest(svc.store, tmp_path / "segments", events())
        key, _ = svc.meta.create_api_key("a", ["admin"])
        yield client, {"authorization": f"Bearer {key}"}


def _dist(doc: dict[str, Any], name: str) -> dict[str, int]:
    return {b["bucket"]: b["count"] for b in doc["distributions"][name] if b["count"]}


def test_users_analysis(app: Any) -> None:
    client, auth = app
    r = client.get("/admin/analytics/users", headers=auth, params={
        "site_id": "example.com", "period": "custom", "date": "2026-11-10,2026-11-12"})
    assert r.status_code == 200, r.text
    doc = r.json()
    # V1..V7; V4 has two visits (the only returning visitor under one id).
    assert (doc["visitors"], doc["visits"], doc["returning_visitors"],
            doc["new_visitors"]) == (7, 8, 1, 6)
    assert doc["visits_per_visitor"] == 1.14
    assert _dist(doc, "visits_per_visitor") == {"1": 6, "2": 1}
    assert _dist(doc, "pages_per_visit") == {"0": 1, "1": 2, "2": 3, "3": 2}
    assert _dist(doc, "visit_duration") == {"0s": 3, "1-3m": 1, "3-10m": 3, "10-30m": 1}
    assert _dist(doc, "scroll_depth") == {} and doc["medians"]["scroll_depth"] is None
    cells = doc["heatmap"]["cells"]  # 2026-11-10 is a Tuesday
    assert cells[1][10] == {"visitors": 1, "pageviews": 2}  # V1 at 10:00
    assert cells[1][23] == {"visitors": 1, "pageviews": 1}  # V7 at 23:50
    assert cells[2][0] == {"visitors": 1, "pageviews": 1}  # V7 at 00:10 on Wednesday
    assert sum(c["visitors"] for day in cells for c in day) == 9
    assert doc["sequences"][:3] == [
        {"events": ["pageview"], "visits": 5}, {"events": ["pageview", "Signup"], "visits": 2},
        {"events": ["Signup"], "visits": 1}]
    assert any("clicks" in note for note in doc["notes"])


def test_kpi_board_with_targets(app: Any) -> None:
    client, auth = app
    for body in ({"site_id": "example.com", "metric": "visitors", "target": 10},
                 {"site_id": "example.com", "metric": "bounce_rate", "target": 50},
                 {"site_id": None, "metric": "visitors", "target": 5}):
        assert client.put("/admin/analytics/kpi/targets", headers=auth,
                          json=body).status_code == 204
    r = client.get("/admin/analytics/kpi", headers=auth, params={"period": "7d"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [s["site_id"] for s in doc["sites"]] == ["berlin.example", "example.com"]
    site = doc["sites"][1]
    assert site["date_range"] == ["2026-11-06", "2026-11-12"]
    kpis = site["kpis"]
    assert (kpis["visitors"]["value"], kpis["visits"]["value"],
            kpis["pageviews"]["value"]) == (8, 9, 16)
    assert kpis["visitors"]["growth"] is None  # nothing the week before
    assert kpis["visitors"]["sparkline"] == [0, 0, 1, 0, 7, 1, 1]
    assert kpis["goal:Signup"]["value"] == 37.5  # V1, V5, V6 of 8
    assert (kpis["visitors"]["target"], kpis["visitors"]["status"]) == (10, "behind")
    assert (kpis["bounce_rate"]["value"], kpis["bounce_rate"]["status"]) == (33, "on_track")
    assert "status" not in kpis["pageviews"]
    total = doc["total"]["kpis"]
    assert total["visitors"]["value"] == 8 and total["visitors"]["status"] == "on_track"
    listed = client.get("/admin/analytics/kpi/targets", headers=auth).json()
    assert {"site_id": None, "metric": "visitors", "target": 5.0} in listed
    assert client.put("/admin/analytics/kpi/targets", headers=auth, json={
        "site_id": None, "metric": "visitors", "target": None}).status_code == 204
    assert len(client.get("/admin/analytics/kpi/targets", headers=auth).json()) == 2


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/admin/analytics/kpi", {"period": "forever"}, "period"),
    ("/admin/analytics/kpi", {"site_id": "nope.example"}, "site_id"),
    ("/admin/analytics/kpi", {"date": "yesterday"}, "date"),
    ("/admin/analytics/users", {"site_id": "example.com", "filters": "x"}, "filters"),
])
def test_bad_parameters(app: Any, path: str, params: dict[str, str], field: str) -> None:
    client, auth = app
    r = client.get(path, headers=auth, params=params)
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


@pytest.mark.parametrize(("body", "field"), [
    ({"metric": "happiness", "target": 1}, "metric"),
    ({"metric": "bounce_rate", "target": 120}, "target"),
    ({"metric": "visitors", "target": "many"}, "target"),
    ({"site_id": "nope.example", "metric": "visitors", "target": 1}, "site_id"),
])
def test_bad_targets(app: Any, body: dict[str, Any], field: str) -> None:
    client, auth = app
    r = client.put("/admin/analytics/kpi/targets", headers=auth, json=body)
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


# --- POST /api/v2/users: the same analysis per site, for whoever may read the site ---------


def _site_key(client: TestClient, domain: str) -> dict[str, str]:
    svc = svc_of(client)
    site = svc.sites.by_domain(domain)
    assert site is not None
    key, _ = svc.meta.create_api_key(f"stats {domain}", ["stats"], [site.id])
    return {"authorization": f"Bearer {key}"}


def test_users_per_site_answers_what_the_admin_endpoint_answers(app: Any) -> None:
    client, admin = app
    auth = _site_key(client, "example.com")
    r = client.post("/api/v2/users", headers=auth, json={
        "site_id": "example.com", "date_range": ["2026-11-10", "2026-11-12"]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["visitors"], doc["visits"], doc["returning_visitors"],
            doc["new_visitors"]) == (7, 8, 1, 6)
    assert doc["date_range"] == ["2026-11-10", "2026-11-12"]
    admin_doc = client.get("/admin/analytics/users", headers=admin, params={
        "site_id": "example.com", "period": "custom", "date": "2026-11-10,2026-11-12"}).json()
    assert doc == admin_doc
    again = client.post("/api/v2/users", headers={**auth, "if-none-match": r.headers["etag"]},
                        json={"site_id": "example.com",
                              "date_range": ["2026-11-10", "2026-11-12"]})
    assert again.status_code == 304


def test_users_per_site_with_filters_selects_visits(app: Any) -> None:
    client, _ = app
    auth = _site_key(client, "example.com")
    everyone = client.post("/api/v2/users", headers=auth, json={
        "site_id": "example.com", "date_range": ["2026-11-10", "2026-11-12"]}).json()
    signed = client.post("/api/v2/users", headers=auth, json={
        "site_id": "example.com", "date_range": ["2026-11-10", "2026-11-12"],
        "filters": [["is", "event:goal", ["Signup"]]]}).json()
    assert 0 < signed["visits"] < everyone["visits"]
    assert any(s["events"][-1] == "Signup" for s in signed["sequences"])


def test_users_per_site_needs_read_access_to_that_site(app: Any) -> None:
    client, _ = app
    other = _site_key(client, "berlin.example")
    body = {"site_id": "example.com", "date_range": "7d"}
    assert client.post("/api/v2/users", json=body).status_code == 401
    assert client.post("/api/v2/users", headers=other, json=body).status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"period": "7d"}, "period"),
    ({"include": {"comparisons": {"mode": "previous_period"}}}, "include"),
    ({"filters": [["is", "event:nope", ["x"]]]}, "filters"),
    ({"date_range": "forever"}, "date_range"),
])
def test_users_per_site_bad_input_is_a_400_naming_the_field(
        app: Any, body: dict[str, Any], field: str) -> None:
    client, _ = app
    auth = _site_key(client, "example.com")
    r = client.post("/api/v2/users", headers=auth, json={"site_id": "example.com", **body})
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


# --- GET /admin/analytics/kpi/stream: the board again as events arrive -------------------


async def _read_kpi_stream(client: TestClient, query: str, headers: dict[str, str],
                           messages: list[tuple[str, Any]], done: Any) -> None:
    """Drive the ASGI app for one streaming GET until ``done(messages)``, then disconnect."""
    buffer = bytearray()
    finished = anyio.Event()
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
        if message["type"] == "http.response.body":
            buffer.extend(message.get("body", b""))
            messages[:] = [(block.split(b"\n")[0].removeprefix(b"event: ").decode(),
                            orjson.loads(block.split(b"\ndata: ", 1)[1]))
                           for block in bytes(buffer).split(b"\n\n")
                           if block.startswith(b"event: ")]
            if done(messages):
                finished.set()

    path = "/admin/analytics/kpi/stream"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "root_path": "",
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"),
                         *((k.encode(), v.encode()) for k, v in headers.items())]}
    with anyio.fail_after(30):
        await client.app(scope, receive, send)  # type: ignore[arg-type]


def test_kpi_stream_sends_the_board_once_new_events_are_stored(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        quiet = make_site(client, "quiet.example")
        key, _ = svc.meta.create_api_key("a", ["admin"])
        messages: list[tuple[str, Any]] = []

        def done(got: list[tuple[str, Any]]) -> bool:
            return any(board["sites"][0]["kpis"]["visitors"]["value"] == 1
                       for _, board in got)

        assert client.portal is not None
        future = client.portal.start_task_soon(
            _read_kpi_stream, client, "period=day&site_id=example.com,quiet.example",
            {"authorization": f"Bearer {key}"}, messages, done)
        wait_until(lambda: svc.feed.subscribers(site.id) and svc.feed.subscribers(quiet.id),
                   10, "the stream's subscriptions")
        assert client.post("/api/event", headers={"user-agent": UA}, json={
            "n": "pageview", "u": "https://example.com/a", "d": "example.com"}
            ).status_code == 202
        future.result(timeout=30)
        kind, board = messages[-1]
        assert kind == "kpi"
        assert [s["site_id"] for s in board["sites"]] == ["example.com", "quiet.example"]
        assert board["sites"][0]["kpis"]["pageviews"]["value"] == 1
        assert board["total"]["kpis"]["visitors"]["value"] == 1
        wait_until(lambda: not (svc.feed.subscribers(site.id)
                                or svc.feed.subscribers(quiet.id)), 10,
                   "the stream's subscriptions to end with it")


@pytest.mark.parametrize(("params", "field"), [
    ({"period": "forever"}, "period"), ({"site_id": "nope.example"}, "site_id")])
def test_kpi_stream_bad_parameters_are_a_400_before_streaming(
        app: Any, params: dict[str, str], field: str) -> None:
    client, auth = app
    r = client.get("/admin/analytics/kpi/stream", headers=auth, params=params)
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


# --- POST /api/v2/kpi: one site's board, for whoever may read the site ---------------------


def test_kpi_per_site_is_the_admin_boards_entry_with_its_targets(app: Any) -> None:
    client, admin = app
    assert client.put("/admin/analytics/kpi/targets", headers=admin, json={
        "site_id": "example.com", "metric": "visitors", "target": 10}).status_code == 204
    assert client.put("/admin/analytics/kpi/targets", headers=admin, json={
        "site_id": "berlin.example", "metric": "visits", "target": 3}).status_code == 204
    auth = _site_key(client, "example.com")
    r = client.post("/api/v2/kpi", headers=auth, json={"site_id": "example.com",
                                                        "period": "7d"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["period"] == "7d" and "total" not in doc
    [site] = doc["sites"]
    whole = client.get("/admin/analytics/kpi", headers=admin, params={"period": "7d"}).json()
    assert site == next(s for s in whole["sites"] if s["site_id"] == "example.com")
    kpis = site["kpis"]
    assert (kpis["visitors"]["value"], kpis["visitors"]["target"],
            kpis["visitors"]["status"]) == (8, 10, "behind")
    assert "target" not in kpis["visits"]  # another site's target stays there
    anchored = client.post("/api/v2/kpi", headers=auth, json={
        "site_id": "example.com", "period": "day", "date": "2026-11-10"}).json()
    assert anchored["sites"][0]["date_range"] == ["2026-11-10", "2026-11-10"]


def test_kpi_per_site_needs_read_access_to_that_site(app: Any) -> None:
    client, _ = app
    other = _site_key(client, "berlin.example")
    body = {"site_id": "example.com", "period": "7d"}
    assert client.post("/api/v2/kpi", json=body).status_code == 401
    assert client.post("/api/v2/kpi", headers=other, json=body).status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"period": "forever"}, "period"), ({"date": "yesterday"}, "date"), ({"date": 3}, "date"),
    ({"date_range": "7d"}, "date_range"), ({"site_id": "nope.example"}, "site_id"),
])
def test_kpi_per_site_bad_input_is_a_400_naming_the_field(
        app: Any, body: dict[str, Any], field: str) -> None:
    client, _ = app
    key, _ = svc_of(client).meta.create_api_key("every site", ["stats"])
    r = client.post("/api/v2/kpi", headers={"authorization": f"Bearer {key}"},
                    json={"site_id": "example.com", **body})
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text
