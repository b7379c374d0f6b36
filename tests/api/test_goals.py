"""Goals managed through the API and the settings page, and converting once created."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import csrf_of, fixed_clock, grant, login, make_client, make_site, svc_of

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, clock=fixed_clock(NOW)) as client:
        make_site(client, "example.com")
        make_site(client, "other.org")
        yield client


def _keys(client: TestClient) -> dict[str, dict[str, str]]:
    meta = svc_of(client).meta
    site = svc_of(client).sites.by_domain("example.com")
    other = svc_of(client).sites.by_domain("other.org")
    assert site is not None and other is not None
    made = {"admin": meta.create_api_key("a", ["admin", "stats"], [site.id])[0],
            "stats": meta.create_api_key("s", ["stats"], [site.id])[0],
            "other_admin": meta.create_api_key("o", ["admin"], [other.id])[0]}
    return {name: {"authorization": f"Bearer {key}"} for name, key in made.items()}


def test_goals_through_the_api_with_the_right_keys(app: TestClient) -> None:
    keys = _keys(app)
    url = "/api/v1/sites/example.com/goals"
    created = app.post(url, headers=keys["admin"], json={"event_name": "Signup"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "display_name": "Signup", "event_name": "Signup",
                              "page_path": None, "currency": None}
    revenue = app.post(url, headers=keys["admin"], json={"event_name": "Purchase",
                                                          "currency": "eur"})
    assert revenue.json()["currency"] == "EUR"
    assert [g["display_name"] for g in app.get(url, headers=keys["stats"]).json()] == [
        "Signup", "Purchase"]
    bad = app.post(url, headers=keys["admin"], json={"page_path": "no-slash"})
    assert bad.status_code == 400 and "starts with /" in bad.json()["error"]["message"]
    assert app.post(url, headers=keys["admin"], json={"event_name": "Signup"}
                    ).status_code == 400  # a duplicate
    for who, status in (("stats", 403), ("other_admin", 403)):
        assert app.post(url, headers=keys[who], json={"event_name": "X"}).status_code == status
        assert app.delete(f"{url}/1", headers=keys[who]).status_code == status
    assert app.post(url, json={"event_name": "X"}).status_code == 401
    assert app.post("/api/v1/sites/nope.example/goals", headers=keys["admin"],
                    json={"event_name": "X"}).status_code == 403  # like another's site
    assert app.delete(f"{url}/1", headers=keys["admin"]).status_code == 204
    assert app.delete(f"{url}/1", headers=keys["admin"]).status_code == 404
    assert [g["id"] for g in app.get(url, headers=keys["stats"]).json()] == [2]


def test_a_goal_created_through_the_api_converts(app: TestClient) -> None:
    keys = _keys(app)
    app.post("/api/v1/sites/example.com/goals", headers=keys["admin"],
             json={"page_path": "/thanks/*", "display_name": "Thanks"})
    for path in ("/", "/thanks/order-1"):
        assert app.post("/api/event", content=json.dumps({
            "n": "pageview", "u": f"https://example.com{path}", "d": "example.com"}),
            headers={"user-agent": UA, "content-type": "text/plain"}).status_code == 202
    assert svc_of(app).writer.flush(timeout=30)
    answer = app.post("/api/v2/query", headers=keys["stats"], json={
        "site_id": "example.com", "metrics": ["visitors", "conversion_rate"],
        "date_range": "day", "dimensions": ["event:goal"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"] == [{"metrics": [1, 100.0], "dimensions": ["Thanks"]}]






def test_goals_on_the_settings_page(app: TestClient) -> None:
    meta = svc_of(app).meta
    meta.create_user("admin@example.com", "correct horse battery", role="admin")
    meta.create_user("viewer@example.com", "glass tiger orbit 1", role="viewer")
    site = svc_of(app).sites.by_domain("example.com")
    assert site is not None
    grant(app, site, "viewer@example.com", "viewer")
    login(app, "admin@example.com", "correct horse battery")
    page = app.get(f"/sites/{site.id}/settings")
    assert "No goals yet." in page.text
    form: dict[str, Any] = {"csrf": csrf_of(page.text), "kind": "page", "target": "/pricing",
                            "display_name": "", "currency": ""}
    added = app.post(f"/sites/{site.id}/goals", data=form, follow_redirects=False)
    assert added.status_code == 303
    page = app.get(f"/sites/{site.id}/settings")
    assert "Visit /pricing" in page.text and 'data-goal="1"' in page.text
    refused = app.post(f"/sites/{site.id}/goals", data={**form, "target": "pricing"})
    assert refused.status_code == 400 and "starts with /" in refused.text
    app.cookies.clear()
    login(app, "viewer@example.com", "glass tiger orbit 1")
    viewer_page = app.get(f"/sites/{site.id}/settings")
    assert "Visit /pricing" in viewer_page.text and "Add goal" not in viewer_page.text
    token = csrf_of(viewer_page.text)
    assert app.post(f"/sites/{site.id}/goals/1/delete", data={"csrf": token}
                    ).status_code == 403
    app.cookies.clear()
    login(app, "admin@example.com", "correct horse battery")
    token = csrf_of(app.get(f"/sites/{site.id}/settings").text)
    deleted = app.post(f"/sites/{site.id}/goals/1/delete", data={"csrf": token},
                       follow_redirects=False)
    assert deleted.status_code == 303 and svc_of(app).sites.goals(site.id) == ()
