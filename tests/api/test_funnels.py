"""The funnels API in a real app: ad-hoc and saved funnels, the numbers of the hand-built
event set, cached answers freshened by new data, saved-funnel CRUD and its access, bad input
refused with the field named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.behaviour.data import events, journeys
from tests.conftest import fixed_clock, make_client, make_site, svc_of
from tests.query.rows import ingest
from tests.support import wait_until

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/130.0 Safari/537.36")
STEPS = [{"type": "page", "path": "/"}, {"type": "page", "path": "/pricing"},
         {"type": "event", "name": "Signup"}]
RANGE = ["2026-11-10", "2026-11-12"]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    clock = fixed_clock(datetime(2026, 11, 12, 18, 0, tzinfo=UTC))
    with make_client(tmp_path, clock=clock) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        assert site.id == 1  # the event set's site
        make_site(client, "other.example")
        ingest(svc.store, tmp_path / "segments", events())
        stats, _ = svc.meta.create_api_key("s", ["stats"])
        admin, _ = svc.meta.create_api_key("a", ["stats", "admin"], [site.id])
        yield (client, {"authorization": f"Bearer {stats}"},
               {"authorization": f"Bearer {admin}"})


def _ask(client: TestClient, auth: dict[str, str], **body: Any) -> Any:
    body.setdefault("site_id", "example.com")
    body.setdefault("date_range", RANGE)
    return client.post("/api/v2/funnels", json=body, headers=auth)


def _counts(doc: dict[str, Any]) -> list[int]:
    return [s["count"] for s in doc["steps"]]


def test_an_ad_hoc_funnel_answers_the_known_numbers(app: Any) -> None:
    client, auth, _ = app
    r = _ask(client, auth, funnel={"steps": STEPS, "window": "1d"},
             breakdown={"dimension": "visit:source", "limit": 3},
             include={"comparisons": {"mode": "previous_period"}})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert _counts(doc) == [6, 4, 2]
    assert doc["counted"] == "visitors" and doc["conversion_rate"] == 33.33
    assert doc["steps"][1]["median_seconds_from_previous"] == 300.0
    assert doc["funnel"]["window"] == 86400 and doc["funnel"]["order"] == "ordered"
    rows = {row["value"]: _counts(row) for row in doc["breakdown"]["rows"]}
    assert rows == {"Direct / None": [2, 0, 0], "Google": [2, 2, 1], "Twitter": [2, 2, 1]}
    # 2026-11-07..09: V8's / and /pricing.
    assert doc["comparison"]["date_range"] == ["2026-11-07", "2026-11-09"]
    assert _counts(doc["comparison"]) == [1, 1, 0]


def test_answers_are_cached_and_freshened_by_new_data(app: Any) -> None:
    client, auth, _ = app
    body = {"funnel": {"steps": STEPS[:2]}, "date_range": "day"}  # today, 2026-11-12
    first = _ask(client, auth, **body)
    assert _counts(first.json()) == [0, 0]  # V4's /pricing today, without a / before
    hits = svc_of(client).answers.layers()["l1"].hits
    again = _ask(client, auth, **body)
    assert again.content == first.content
    assert svc_of(client).answers.layers()["l1"].hits == hits + 1
    for path in ("/", "/pricing"):
        r = client.post("/api/event", json={"n": "pageview", "u": f"https://example.com{path}",
                                            "d": "example.com"},
                        headers={"user-agent": UA, "x-forwarded-for": "198.51.100.7"})
        assert r.status_code == 202
    wait_until(lambda: _counts(_ask(client, auth, **body).json()) == [1, 1], 20,
               "the new visit in the funnel")


def test_saved_funnels_crud_and_query(app: Any) -> None:
    client, auth, admin = app
    base = "/api/v1/sites/example.com/funnels"
    created = client.post(base, json={"name": "Signup", "steps": STEPS, "window": "10m"},
                          headers=admin)
    assert created.status_code == 201, created.text
    saved = created.json()
    assert saved["window"] == 600 and saved["steps"][2] == {"type": "event", "name": "Signup"}
    duplicate = client.post(base, json={"name": "Signup", "steps": STEPS}, headers=admin)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["field"] == "name"
    assert [f["name"] for f in client.get(base, headers=auth).json()] == ["Signup"]
    r = _ask(client, auth, funnel_id=saved["id"])
    assert _counts(r.json()) == [6, 3, 2]  # 10 minutes: V7's 20-minute step does not count
    changed = client.put(f"{base}/{saved['id']}", headers=admin, json={
        "name": "Pricing", "steps": STEPS[:2], "order": "strict"})
    assert changed.status_code == 200 and changed.json()["order"] == "strict"
    assert client.get(f"{base}/{saved['id']}", headers=auth).json()["name"] == "Pricing"
    # A day's window again (not given: the default), no page between: V1, V5, V7.
    assert _counts(_ask(client, auth, funnel_id=saved["id"]).json()) == [6, 3]
    # Another site's funnel id is not this site's.
    assert _ask(client, auth, site_id="other.example",
                funnel_id=saved["id"]).status_code == 404
    assert client.delete(f"{base}/{saved['id']}", headers=admin).status_code == 204
    assert client.get(f"{base}/{saved['id']}", headers=auth).status_code == 404


def test_writes_need_an_admin_key_of_the_site(app: Any) -> None:
    client, auth, admin = app
    base = "/api/v1/sites/example.com/funnels"
    assert client.post(base, json={"name": "x", "steps": STEPS}, headers=auth).status_code == 403
    other = client.post("/api/v1/sites/other.example/funnels",
                        json={"name": "x", "steps": STEPS}, headers=admin)
    assert other.status_code == 403
    assert client.post(base, json={"name": "x", "steps": STEPS}).status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    ({"funnel": {"steps": [{"type": "click"}, STEPS[1]]}}, "funnel.steps[0].type"),
    ({"funnel": {"steps": [STEPS[0]] * 9}}, "funnel.steps"),
    ({"funnel": {"steps": STEPS, "window": ""}}, "funnel.window"),
    ({"funnel": {"steps": STEPS}, "filters": [["is", "event:nope", ["x"]]]}, "filters"),
    ({"funnel": {"steps": STEPS}, "filters": [["matches", "event:page", ["(?<=x)"]]]},
     "filters"),
    ({"funnel": {"steps": STEPS}, "breakdown": {"dimension": "event:page"}},
     "breakdown.dimension"),
    ({"funnel": {"steps": STEPS}, "breakdown": {"dimension": "visit:os", "limit": 101}},
     "breakdown.limit"),
    ({"funnel": {"steps": STEPS}, "date_range": "forever"}, "date_range"),
    ({"funnel": {"steps": STEPS}, "colour": "red"}, "colour"),
    ({"funnel_id": "x"}, "funnel_id"),
    ({}, "funnel"),
])
def test_bad_input_is_a_400_naming_the_field(app: Any, body: dict[str, Any],
                                             field: str) -> None:
    client, auth, _ = app
    r = _ask(client, auth, **body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


def test_a_query_over_the_time_limit_is_a_400_naming_the_limit(tmp_path: Path) -> None:
    """For every behaviour analysis, per site and for instance administrators."""
    with make_client(tmp_path, query_timeout_seconds=0.001) as client:
        svc = svc_of(client)
        make_site(client, "example.com")
        ingest(svc.store, tmp_path / "segments", (events() + journeys()) * 50)
        key, _ = svc.meta.create_api_key("s", ["stats", "admin"])
        auth = {"authorization": f"Bearer {key}"}
        site = {"site_id": "example.com", "date_range": RANGE}
        asked = {
            "funnel": client.post("/api/v2/funnels", headers=auth, json={
                **site, "funnel": {"steps": STEPS, "order": "any"}}),
            "journey": client.post("/api/v2/journeys", headers=auth, json={
                **site, "kind": "sankey", "steps": 5}),
            "retention": client.post("/api/v2/retention", headers=auth, json={
                **site, "period": "day"}),
            "users": client.post("/api/v2/users", headers=auth, json=site),
            "admin users": client.get("/admin/analytics/users", headers=auth, params={
                "site_id": "example.com", "period": "custom", "date": ",".join(RANGE)}),
        }
        for what, r in asked.items():
            assert r.status_code == 400, (what, r.text)
            assert "time limit of 0.001 s" in r.json()["error"]["message"], (what, r.text)
