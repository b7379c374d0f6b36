"""Bad input to the journeys, retention and user-analysis APIs, per site and for instance
administrators: a 400 naming the field (the funnel API's own cases, and a query over the
time limit for every analysis, are in test_funnels.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.behaviour.data import events, journeys
from tests.conftest import fixed_clock, make_client, make_site, svc_of
from tests.query.rows import ingest

NOW = datetime(2026, 11, 12, 18, tzinfo=UTC)
RANGE = ["2026-11-06", "2026-11-12"]
UNKNOWN_FILTER = [["is", "event:nope", ["x"]]]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("behaviour-errors")
    with make_client(tmp, clock=fixed_clock(NOW)) as client:
        svc = svc_of(client)
        make_site(client, "example.com")
        ingest(svc.store, tmp / "segments", events() + journeys())
        key, _ = svc.meta.create_api_key("a", ["stats", "admin"])
        yield client, {"authorization": f"Bearer {key}"}


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v2/journeys", {"kind": "next", "page": "/", "filters": UNKNOWN_FILTER}, "filters"),
    ("/api/v2/journeys", {"kind": "loops"}, "kind"),
    ("/api/v2/journeys", {"kind": "sankey", "steps": 11}, "steps"),
    ("/api/v2/journeys", {"kind": "next", "page": "/", "colour": "red"}, "colour"),
    ("/api/v2/journeys", {"kind": "paths", "include": {"comparisons": {
        "mode": "previous_period"}}}, "include"),
    ("/api/v2/retention", {"filters": UNKNOWN_FILTER}, "filters"),
    ("/api/v2/retention", {"period": "year"}, "period"),
    ("/api/v2/retention", {"identity": "email"}, "identity"),
    ("/api/v2/retention", {"period": "day", "date_range": ["2026-01-01", "2026-11-12"]},
     "date_range"),
    ("/api/v2/users", {"filters": UNKNOWN_FILTER}, "filters"),
    ("/api/v2/users", {"date_range": ["2026-11-12", "2026-11-01"]}, "date_range"),
])
def test_per_site_bad_input_is_a_400_naming_the_field(
        app: Any, path: str, body: dict[str, Any], field: str) -> None:
    client, auth = app
    r = client.post(path, headers=auth,
                    json={"site_id": "example.com", "date_range": RANGE, **body})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/admin/analytics/journey", {"kind": "paths", "filters": "event:nope==x"}, "filters"),
    ("/admin/analytics/journey", {"kind": "loops"}, "kind"),
    ("/admin/analytics/journey", {"kind": "paths", "steps": "many"}, "steps"),
    ("/admin/analytics/users", {"period": "forever"}, "period"),
    ("/admin/analytics/users", {"site_id": "nope.example"}, "site_id"),
])
def test_admin_bad_input_is_a_400_naming_the_field(
        app: Any, path: str, params: dict[str, str], field: str) -> None:
    client, auth = app
    r = client.get(path, headers=auth, params={"site_id": "example.com", **params})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field
