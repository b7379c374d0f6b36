"""Saved segments: named filter sets per site, read by the site's members and keys, saved
and deleted by editors (dashboard) and admin keys (API); filters checked by the stats
parser and kept to what the dashboard can show; not given to shared links."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import csrf_of, grant, login, make_client, make_site, svc_of

PASSWORD = "a long enough password"
URL = "/api/v1/sites/example.com/segments"
GERMANS = [["is", "visit:country", ["DE"]], ["contains", "event:page", ["/blog"]]]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as client:
        make_site(client, "example.com")
        make_site(client, "other.org")
        yield client


def _keys(client: TestClient) -> dict[str, dict[str, str]]:
    svc = svc_of(client)
    site, other = svc.sites.by_domain("example.com"), svc.sites.by_domain("other.org")
    assert site is not None and other is not None
    made = {"admin": svc.meta.create_api_key("a", ["admin"], [site.id])[0],
            "stats": svc.meta.create_api_key("s", ["stats"], [site.id])[0],
            "other": svc.meta.create_api_key("o", ["admin", "stats"], [other.id])[0]}
    return {name: {"authorization": f"Bearer {key}"} for name, key in made.items()}


def test_segments_through_the_api(app: TestClient) -> None:
    keys = _keys(app)
    made = app.post(URL, headers=keys["admin"], json={"name": " Germans on the blog ",
                                                       "filters": GERMANS})
    assert made.status_code == 201, made.text
    doc = made.json()
    assert (doc["name"], doc["filters"]) == ("Germans on the blog", GERMANS)
    listed = app.get(URL, headers=keys["stats"])
    assert listed.status_code == 200 and [s["id"] for s in listed.json()] == [doc["id"]]
    assert app.get(URL, headers=keys["other"]).status_code == 403
    assert app.post(URL, headers=keys["stats"], json={"name": "x", "filters": GERMANS}
                    ).status_code == 403
    again = app.post(URL, headers=keys["admin"], json={"name": "Germans on the blog",
                                                        "filters": GERMANS})
    assert again.status_code == 409 and again.json()["error"]["field"] == "name"
    gone = app.delete(f"{URL}/{doc['id']}", headers=keys["admin"])
    assert gone.status_code == 204
    assert app.delete(f"{URL}/{doc['id']}", headers=keys["admin"]).status_code == 404
    assert app.get(URL, headers=keys["stats"]).json() == []


@pytest.mark.parametrize(("filters", "field"), [
    (None, "filters"),
    ([], "filters"),
    ([["is", "visit:nothing", ["x"]]], "filters"),
    ([["sounds_like", "visit:country", ["DE"]]], "filters[0]"),
    ([["and", [["is", "visit:country", ["DE"]]]]], "filters[0]"),
    ([["is", "visit:country", ["DE"], {"case_sensitive": False}]], "filters[0]"),
    ([["is", "event:page", ["/a|/b"]]], "filters[0]"),
    ([["contains", "event:page", ["/blog*"]]], "filters[0]"),
    ([["is", "visit:country", []]], "filters[0]"),
    ([["is", "visit:country", ["DE"]]] * 21, "filters"),
])
def test_bad_filters_are_refused_naming_the_part(app: TestClient, filters: Any,
                                                 field: str) -> None:
    answer = app.post(URL, headers=_keys(app)["admin"], json={"name": "x", "filters": filters})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


def test_a_bad_name_is_refused(app: TestClient) -> None:
    for name in (None, "  ", "x" * 121):
        answer = app.post(URL, headers=_keys(app)["admin"], json={"name": name,
                                                                  "filters": GERMANS})
        assert answer.status_code == 400 and answer.json()["error"]["field"] == "name"


def _segments_in(html: str) -> list[dict[str, Any]]:
    found = re.search(r'id="segments-data">(.*?)</script>', html, re.S)
    assert found
    data: list[dict[str, Any]] = json.loads(found.group(1))
    return data


def test_editors_save_and_delete_viewers_apply(app: TestClient) -> None:
    svc = svc_of(app)
    site = svc.sites.by_domain("example.com")
    assert site is not None
    for email, role in (("editor@example.com", "editor"), ("viewer@example.com", "viewer")):
        svc.meta.create_user(email, PASSWORD)
        grant(app, site, email, role)
    login(app, "editor@example.com", PASSWORD)
    page = app.get(f"/sites/{site.id}")
    assert 'id="save-segment"' in page.text and _segments_in(page.text) == []
    made = app.post(f"/sites/{site.id}/segments", data={
        "csrf": csrf_of(page.text), "name": "Germans", "filters": json.dumps(GERMANS)})
    assert made.status_code == 201 and made.json()["filters"] == GERMANS
    bad = app.post(f"/sites/{site.id}/segments", data={
        "csrf": csrf_of(page.text), "name": "Bad", "filters": "[not json"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "filters"
    assert app.post(f"/sites/{site.id}/segments", data={
        "csrf": "wrong", "name": "x", "filters": json.dumps(GERMANS)}).status_code == 403
    app.cookies.clear()
    login(app, "viewer@example.com", PASSWORD)
    page = app.get(f"/sites/{site.id}")
    assert [s["name"] for s in _segments_in(page.text)] == ["Germans"]
    assert 'id="save-segment"' not in page.text and 'id="segment"' in page.text
    assert app.post(f"/sites/{site.id}/segments", data={
        "csrf": csrf_of(page.text), "name": "Mine", "filters": json.dumps(GERMANS)}
        ).status_code == 403
    assert app.post(f"/sites/{site.id}/segments/{made.json()['id']}/delete",
                    data={"csrf": csrf_of(page.text)}).status_code == 403
    # the filters of a segment read as the dashboard sends them
    answer = app.get("/api/stats/aggregate", params={"site_id": "example.com",
                                                     "filters": json.dumps(GERMANS)})
    assert answer.status_code == 200
    app.cookies.clear()
    login(app, "editor@example.com", PASSWORD)
    page = app.get(f"/sites/{site.id}")
    deleted = app.post(f"/sites/{site.id}/segments/{made.json()['id']}/delete",
                       data={"csrf": csrf_of(page.text)})
    assert deleted.status_code == 204 and svc.segments.of_site(site.id) == []


def test_shared_links_and_public_pages_carry_no_segments(app: TestClient) -> None:
    svc = svc_of(app)
    site = svc.sites.by_domain("example.com")
    assert site is not None
    svc.segments.create(site.id, "Secret campaign", GERMANS)
    token, _ = svc.shares.create(site.id)
    shared = app.get(f"/share/{token}")
    assert shared.status_code == 200 and _segments_in(shared.text) == []
    assert "Secret campaign" not in shared.text and 'id="segment"' not in shared.text
    assert app.get(URL, params={"auth": token}).status_code == 401
    svc.meta.update_site(site.id, public=True)
    public = app.get(f"/sites/{site.id}")
    assert public.status_code == 200 and "Secret campaign" not in public.text
