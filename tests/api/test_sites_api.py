"""The sites API: list, create, read and change a site's settings; bad values name their
field and change nothing; exclusions set through it apply to new events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_client, make_site, stored_events, svc_of


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with make_client(tmp_path, trusted_proxies=["10.0.0.0/8"]) as client:
        meta = svc_of(client).meta
        site = make_site(client, "example.com")
        other = make_site(client, "other.example")
        keys = {
            "admin": meta.create_api_key("a", ["stats", "admin"], [site.id])[0],
            "stats": meta.create_api_key("s", ["stats"], [site.id])[0],
            "global": meta.create_api_key("g", ["stats", "admin"])[0],
        }
        yield {"client": client, "site": site, "other": other, "keys": keys}


def _auth(world: dict[str, Any], key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {world['keys'][key]}"}


def test_list_shows_only_the_sites_the_key_reads(world: dict[str, Any]) -> None:
    client = world["client"]
    mine = client.get("/api/v1/sites", headers=_auth(world, "stats"))
    assert mine.status_code == 200
    assert [s["domain"] for s in mine.json()] == ["example.com"]
    every = client.get("/api/v1/sites", headers=_auth(world, "global")).json()
    assert {s["domain"] for s in every} == {"example.com", "other.example"}
    assert set(every[0]) == {"id", "uuid", "domain", "name", "timezone", "currency",
                             "public", "enabled"}


def test_read_and_change_settings(world: dict[str, Any]) -> None:
    client = world["client"]
    got = client.get("/api/v1/sites/example.com", headers=_auth(world, "admin"))
    assert got.status_code == 200
    assert got.json()["blocked_ips"] == [] and got.json()["timezone"] == "UTC"
    changed = client.patch("/api/v1/sites/example.com", headers=_auth(world, "admin"), json={
        "name": "Example", "timezone": "Europe/Paris", "currency": "eur",
        "retention_days": 400, "blocked_ips": ["203.0.113.0/24", "2001:db8::1"],
        "blocked_paths": ["/admin/**"], "blocked_hosts": ["Staging.Example.com"],
        "aliases": ["example.net"], "require_signed_ingest": False, "public": True})
    assert changed.status_code == 200, changed.text
    doc = changed.json()
    assert doc["name"] == "Example" and doc["timezone"] == "Europe/Paris"
    assert doc["currency"] == "EUR" and doc["retention_days"] == 400 and doc["public"]
    assert doc["blocked_hosts"] == ["staging.example.com"]
    assert doc["aliases"] == ["example.net"]
    again = client.get("/api/v1/sites/example.com", headers=_auth(world, "admin")).json()
    assert again == doc
    # a field left out keeps its value
    client.patch("/api/v1/sites/example.com", headers=_auth(world, "admin"),
                 json={"public": False})
    kept = client.get("/api/v1/sites/example.com", headers=_auth(world, "admin")).json()
    assert kept["blocked_ips"] == doc["blocked_ips"] and not kept["public"]


@pytest.mark.parametrize(("body", "field"), [
    ({"domain": "bad..domain"}, "domain"),
    ({"aliases": ["ok.example", "no spaces.example"]}, "aliases"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": "America"}, "timezone"),
    ({"currency": "EURO"}, "currency"),
    ({"currency": "E1R"}, "currency"),
    ({"retention_days": -1}, "retention_days"),
    ({"retention_days": 10**9}, "retention_days"),
    ({"blocked_ips": ["10.0.0.0/33"]}, "blocked_ips"),
    ({"blocked_ips": ["x"] * 101}, "blocked_ips"),
    ({"blocked_paths": ["no-slash"]}, "blocked_paths"),
    ({"blocked_hosts": ["bad..host"]}, "blocked_hosts"),
    ({"salt_rotation": "hourly"}, "salt_rotation"),
    ({"public": "yes please"}, "public"),
    ({"team_id": 3}, "team_id"),
    ({"id": 7}, "id"),
    ({"name": None}, "name"),
    ({"domain": "other.example"}, "domain"),  # another site's
])
def test_a_bad_value_names_its_field_and_changes_nothing(
        world: dict[str, Any], body: dict[str, Any], field: str) -> None:
    client = world["client"]
    before = client.get("/api/v1/sites/example.com", headers=_auth(world, "admin")).json()
    answer = client.patch("/api/v1/sites/example.com", headers=_auth(world, "admin"),
                          json={"name": "Changed", **body})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field, answer.json()
    after = client.get("/api/v1/sites/example.com", headers=_auth(world, "admin")).json()
    assert after == before


def test_rights(world: dict[str, Any]) -> None:
    client = world["client"]
    assert client.get("/api/v1/sites").status_code == 401
    assert client.patch("/api/v1/sites/example.com", json={"bad": 1}).status_code == 401
    assert client.patch("/api/v1/sites/example.com", headers=_auth(world, "stats"),
                        json={"public": True}).status_code == 403
    # a key of example.com cannot tell other.example from a site that does not exist
    for name in ("other.example", "nowhere.example"):
        answer = client.get(f"/api/v1/sites/{name}", headers=_auth(world, "admin"))
        assert answer.status_code == 403
        assert answer.json() == client.get("/api/v1/sites/nowhere.example",
                                           headers=_auth(world, "admin")).json()
    assert client.post("/api/v1/sites", headers=_auth(world, "admin"),
                       json={"domain": "new.example"}).status_code == 403


def test_create_a_site(world: dict[str, Any]) -> None:
    client = world["client"]
    made = client.post("/api/v1/sites", headers=_auth(world, "global"),
                       json={"domain": "https://www.New.example/", "timezone": "Asia/Tokyo"})
    assert made.status_code == 201, made.text
    assert made.json()["domain"] == "new.example" and made.json()["name"] == "new.example"
    assert made.json()["timezone"] == "Asia/Tokyo" and made.json()["team_id"] is not None
    dup = client.post("/api/v1/sites", headers=_auth(world, "global"),
                      json={"domain": "new.example"})
    assert dup.status_code == 400 and dup.json()["error"]["field"] == "domain"
    for body, field in (({"domain": "bad..domain"}, "domain"),
                        ({"domain": "x.example", "timezone": "Nowhere"}, "timezone"),
                        ({"domain": "x.example", "team": "no such team"}, "team"),
                        ({}, "domain"), ({"domain": "x.example", "extra": 1}, "extra")):
        answer = client.post("/api/v1/sites", headers=_auth(world, "global"), json=body)
        assert answer.status_code == 400 and answer.json()["error"]["field"] == field, body


def test_exclusions_set_through_the_api_apply_to_new_events(world: dict[str, Any]) -> None:
    client = world["client"]
    assert client.patch("/api/v1/sites/example.com", headers=_auth(world, "admin"), json={
        "blocked_ips": ["203.0.113.0/24"], "blocked_paths": ["/private/**"],
    }).status_code == 200
    ua = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0 Safari/537.36")
    sent = [("198.51.100.7", "/kept"), ("203.0.113.9", "/dropped-by-ip"),
            ("198.51.100.8", "/private/a/b")]
    proxied = TestClient(client.app, client=("10.0.0.2", 40000))  # the app runs already
    for ip, path in sent:
        answer = proxied.post("/api/event", headers={"user-agent": ua, "x-forwarded-for": ip},
                             json={"n": "pageview", "u": f"https://example.com{path}",
                                   "d": "example.com"})
        assert answer.status_code == 202
    paths = {e["pathname"] for e in stored_events(client)}
    assert paths == {"/kept"}
