"""The journeys API in a real app: POST /api/v2/journeys for a site's readers, GET
/admin/analytics/journey for instance administrators (any site), cached answers, bad
input refused with the field named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.behaviour.data import journeys
from tests.conftest import fixed_clock, make_client, make_site, svc_of
from tests.query.rows import ingest


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    with make_client(tmp_path, clock=fixed_clock(datetime(2026, 11, 12, 12, tzinfo=UTC))
                     ) as client:
        svc = svc_of(client)
        for n in range(1, 5):
            site = make_site(client, f"s{n}.example")
        assert site.id == 4  # the journeys' site
        ingest(svc.store, tmp_path / "segments", journeys())
        reader, _ = svc.meta.create_api_key("r", ["stats"], [site.id])
        admin, _ = svc.meta.create_api_key("a", ["admin"])
        yield (client, {"authorization": f"Bearer {reader}"},
               {"authorization": f"Bearer {admin}"})


def test_next_pages_for_a_reader_and_the_admin(app: Any) -> None:
    client, reader, admin = app
    r = client.post("/api/v2/journeys", headers=reader, json={
        "site_id": "s4.example", "kind": "next", "page": "/pricing", "steps": 2,
        "date_range": ["2026-11-10", "2026-11-10"]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["kind"], doc["page"], doc["visits"]) == ("next", "/pricing", 5)
    assert doc["pages"][0]["rows"] == [
        {"page": "(exit)", "visits": 3, "percentage": 60.0},
        {"page": "/signup", "visits": 2, "percentage": 40.0}]
    again = client.get("/admin/analytics/journey", headers=admin, params={
        "site_id": "s4.example", "kind": "next", "page": "/pricing", "steps": "2",
        "period": "custom", "date": "2026-11-10,2026-11-10"})
    assert again.status_code == 200, again.text
    assert again.json()["pages"] == doc["pages"] and again.json()["paths"] == doc["paths"]
    assert client.get("/admin/analytics/journey", headers=reader,
                      params={"site_id": "s4.example"}).status_code == 403


def test_sankey_and_the_cache(app: Any) -> None:
    client, reader, _ = app
    body = {"site_id": "s4.example", "kind": "sankey", "steps": 3, "k": 1,
            "date_range": ["2026-11-10", "2026-11-10"]}
    first = client.post("/api/v2/journeys", headers=reader, json=body)
    hits = svc_of(client).answers.layers()["l1"].hits
    again = client.post("/api/v2/journeys", headers=reader, json=body)
    assert again.content == first.content
    assert svc_of(client).answers.layers()["l1"].hits == hits + 1
    links = first.json()["links"]
    assert {"step": 1, "source": "/", "target": "/pricing", "visits": 2} in links


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "next"}, "page"), ({"kind": "paths", "steps": 0}, "steps"),
    ({"kind": "paths", "include": {"comparisons": {"mode": "previous_period"}}}, "include"),
    ({"kind": "paths", "filters": [["is", "visit:nope", ["x"]]]}, "filters"),
    ({"kind": "paths", "colour": 1}, "colour"),
])
def test_bad_input_is_a_400_naming_the_field(app: Any, body: dict[str, Any],
                                             field: str) -> None:
    client, reader, _ = app
    r = client.post("/api/v2/journeys", headers=reader, json={"site_id": "s4.example", **body})
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


def test_admin_parameters_are_checked(app: Any) -> None:
    client, _, admin = app
    for params, field in (({"site_id": "nope.example"}, "site_id"),
                          ({"site_id": "s4.example", "kind": "paths", "period": "ever"},
                           "period"),
                          ({"site_id": "s4.example", "kind": "paths", "filters": "x"},
                           "filters"),
                          ({"site_id": "s4.example", "kind": "paths", "cursor": "1"}, None)):
        r = client.get("/admin/analytics/journey", headers=admin, params=params)
        if field is None:  # an unknown parameter is ignored, as FastAPI does
            assert r.status_code == 200
        else:
            assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


def test_an_infinite_number_is_a_400_naming_the_field(app: Any) -> None:
    """Python's JSON reads `Infinity`; the parser names the field (property tests found it
    raising OverflowError, which only the catch-all turned into a 400 without a field)."""
    client, reader, _ = app
    r = client.post("/api/v2/journeys", headers={**reader, "content-type": "application/json"},
                    content=b'{"site_id": "s4.example", "kind": "paths", "steps": Infinity}')
    assert r.status_code == 400 and r.json()["error"]["field"] == "steps", r.text
