"""Per-site roles through the app: what a viewer of one site sees of others (nothing), teams,
guests, transfer, and the members API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from liveinsight.security.roles import Role
from tests.conftest import csrf_of, login, make_client, make_site, svc_of

PASSWORD = "a long enough password"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        users = {who: svc.meta.create_user(f"{who}@example.com", PASSWORD,
                                           role="admin" if who == "root" else "viewer")
                 for who in ("root", "owner", "mate", "guest", "stranger")}
        team = svc.people.create_team("Acme", users["owner"].id)
        svc.people.set_team_role(team.id, users["mate"].id, "viewer")
        a = make_site(client, "a.example", team_id=team.id)
        b = make_site(client, "b.example")
        svc.people.set_guest_role(b.id, users["guest"].id, "viewer")
        yield {"client": client, "users": users, "team": team, "a": a, "b": b}


def _as(client: TestClient, who: str) -> None:
    client.cookies.clear()
    assert login(client, f"{who}@example.com", PASSWORD).status_code == 303


def test_a_viewer_of_one_site_cannot_read_or_learn_of_another(world: dict[str, Any]) -> None:
    client, a, b = world["client"], world["a"], world["b"]
    _as(client, "guest")
    listed = client.get("/sites").text
    assert "b.example" in listed and "a.example" not in listed
    other, missing = client.get(f"/sites/{a.id}"), client.get("/sites/999")
    assert other.status_code == missing.status_code == 404
    assert f"There is no site with id {a.id}." in other.text
    assert other.text.replace(f"id {a.id}.", "") == missing.text.replace("id 999.", "")
    assert client.get(f"/sites/{a.id}/settings").status_code == 404
    for site_id in ("a.example", str(a.id), a.uuid, "nowhere.example"):
        res = client.get("/api/stats/aggregate", params={"site_id": site_id})
        assert res.status_code == 403
        assert res.json() == {"error": {"code": "forbidden", "field": "site_id",
                                        "message": "you have no role on this site"}}
    assert client.get(f"/api/v1/sites/{a.domain}/goals").status_code == 403
    assert client.post("/api/v2/query", json={"site_id": a.domain, "metrics": ["visitors"],
                                              "date_range": "7d"}).status_code == 403
    # without site_id: their one site, and the count of sites never includes the others
    assert client.get("/api/stats").status_code == 200
    assert client.get("/api/stats/aggregate", params={"site_id": b.domain}).status_code == 200


def test_team_members_reach_every_site_of_the_team(world: dict[str, Any]) -> None:
    client = world["client"]
    _as(client, "owner")
    token = csrf_of(client.get("/sites").text)
    added = client.post("/sites", data={"csrf": token, "domain": "https://www.c.example/",
                                        "timezone": "Europe/Paris"}, follow_redirects=False)
    assert added.status_code == 303
    c = svc_of(client).sites.by_domain("c.example")
    assert c is not None and (c.team_id, c.name) == (world["team"].id, "c.example")
    _as(client, "mate")
    listed = client.get("/sites").text
    assert "a.example" in listed and "c.example" in listed and "b.example" not in listed
    page = client.get(f"/sites/{c.id}/settings")
    assert "you have the viewer role" in page.text.lower() and "Add goal" not in page.text
    assert client.post("/sites", data={"csrf": csrf_of(page.text), "domain": "d.example"}
                       ).status_code == 403
    _as(client, "stranger")
    assert "No sites yet" in client.get("/sites").text
    assert client.get("/api/stats").json()["error"]["message"].startswith(
        "site_id is required: these credentials read 0 sites")


def test_team_roles_are_changed_by_admins_and_owners_only_by_owners(world: dict[str, Any]
                                                                     ) -> None:
    client, team, users = world["client"], world["team"], world["users"]
    people = svc_of(client).people
    _as(client, "owner")
    page = client.get(f"/teams/{team.id}")
    assert page.status_code == 200 and "mate@example.com" in page.text
    token = csrf_of(page.text)
    url = f"/teams/{team.id}/members/{users['mate'].id}"
    assert client.post(f"{url}/role", data={"csrf": token, "role": "admin"},
                       follow_redirects=False).status_code == 303
    assert people.team_role(users["mate"].id, team.id) == Role.ADMIN
    alone = client.post(f"/teams/{team.id}/members/{users['owner'].id}/role",
                        data={"csrf": token, "role": "viewer"})
    assert alone.status_code == 400 and "at least one owner" in alone.text
    _as(client, "mate")
    token = csrf_of(client.get(f"/teams/{team.id}").text)
    owner_url = f"/teams/{team.id}/members/{users['owner'].id}"
    assert client.post(f"{owner_url}/remove", data={"csrf": token}).status_code == 403
    assert client.post(f"{url}/role", data={"csrf": token, "role": "owner"}).status_code == 403
    assert client.post(f"{url}/remove", data={"csrf": token},
                       follow_redirects=False).headers["location"] == "/sites"  # left
    assert people.team_role(users["mate"].id, team.id) is None
    assert client.get(f"/teams/{team.id}").status_code == 404


def test_guests_are_changed_and_removed_by_site_admins(world: dict[str, Any]) -> None:
    client, b, users = world["client"], world["b"], world["users"]
    people = svc_of(client).people
    people.set_guest_role(b.id, users["stranger"].id, "admin")
    _as(client, "stranger")
    page = client.get(f"/sites/{b.id}/settings")
    assert "guest@example.com" in page.text and 'id="people-title"' in page.text
    token = csrf_of(page.text)
    url = f"/sites/{b.id}/people/{users['guest'].id}"
    assert client.post(f"{url}/role", data={"csrf": token, "role": "owner"}).status_code == 400
    assert client.post(f"{url}/role", data={"csrf": token, "role": "editor"},
                       follow_redirects=False).status_code == 303
    assert people.site_roles(users["guest"].id) == {b.id: Role.EDITOR}
    assert 'id="owner-title"' not in page.text  # transfer is the owner's
    assert client.post(f"/sites/{b.id}/transfer", data={"csrf": token, "team": "1"}
                       ).status_code == 403
    assert client.post(f"{url}/remove", data={"csrf": token},
                       follow_redirects=False).status_code == 303
    assert people.site_roles(users["guest"].id) == {}
    _as(client, "guest")
    assert client.get(f"/sites/{b.id}").status_code == 404


def test_an_owner_transfers_a_site_to_another_team_of_theirs(world: dict[str, Any]) -> None:
    client, a, users = world["client"], world["a"], world["users"]
    svc = svc_of(client)
    other = svc.people.create_team("Other", users["owner"].id)
    foreign = svc.people.create_team("Foreign", users["stranger"].id)
    _as(client, "owner")
    page = client.get(f"/sites/{a.id}/settings")
    assert 'id="owner-title"' in page.text and "Foreign" not in page.text
    token = csrf_of(page.text)
    refused = client.post(f"/sites/{a.id}/transfer", data={"csrf": token,
                                                           "team": str(foreign.id)})
    assert refused.status_code == 400 and "team you own or administer" in refused.text
    assert client.post(f"/sites/{a.id}/transfer", data={"csrf": token, "team": str(other.id)},
                       follow_redirects=False).status_code == 303
    assert svc.sites.by_id(a.id).team_id == other.id  # type: ignore[union-attr]
    _as(client, "mate")  # a member of the old team only
    assert client.get(f"/sites/{a.id}").status_code == 404


def test_instance_admins_create_teams_and_reach_every_site(world: dict[str, Any]) -> None:
    client = world["client"]
    _as(client, "root")
    listed = client.get("/sites").text
    assert "a.example" in listed and "b.example" in listed
    token = csrf_of(client.get("/account").text)
    made = client.post("/teams", data={"csrf": token, "name": "Newco",
                                       "owner": "stranger@example.com"},
                       follow_redirects=False)
    assert made.status_code == 303
    team_id = int(made.headers["location"].rsplit("/", 1)[1])
    assert svc_of(client).people.team_role(world["users"]["stranger"].id, team_id) == Role.OWNER
    assert client.post("/teams", data={"csrf": token, "name": "X", "owner": "no@example.com"}
                       ).status_code == 400
    _as(client, "stranger")
    assert client.post("/teams", data={"csrf": token, "name": "Mine"}).status_code == 403
    assert "Newco" in client.get("/account").text


def test_the_members_api(world: dict[str, Any]) -> None:
    client, b, users = world["client"], world["b"], world["users"]
    meta = svc_of(client).meta
    key = meta.create_api_key("m", ["admin"], [b.id])[0]
    stats_key = meta.create_api_key("s", ["stats"], [b.id])[0]
    auth = {"authorization": f"Bearer {key}"}
    url = f"/api/v1/sites/{b.domain}/members"
    assert client.get(url, headers={"authorization": f"Bearer {stats_key}"}).status_code == 403
    assert client.get(url, headers=auth).json() == [
        {"user_id": users["guest"].id, "email": "guest@example.com", "role": "viewer",
         "via": "guest"}]
    guest = f"{url}/{users['guest'].id}"
    bad = client.patch(guest, headers=auth, json={"role": "owner"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "role"
    assert client.patch(guest, headers=auth, json={"role": "editor"}).json()["role"] == "editor"
    assert client.patch(f"{url}/999", headers=auth, json={"role": "editor"}).status_code == 404
    assert client.delete(guest, headers=auth).status_code == 204
    assert client.delete(guest, headers=auth).status_code == 404
    assert client.get(f"/api/v1/sites/{world['a'].domain}/members", headers=auth
                      ).status_code == 403
