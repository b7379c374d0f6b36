"""Invitations through the app: sent from the settings and team pages and the API, the link
shown or e-mailed (a real SMTP server on loopback), accepted once by a new or existing user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from liveinsight.security.roles import Role
from tests.conftest import csrf_of, login, make_client, make_site, svc_of
from tests.support import free_port, wait_until

PASSWORD = "a long enough password"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        owner = svc.meta.create_user("owner@example.com", PASSWORD)
        team = svc.people.create_team("Acme", owner.id)
        a = make_site(client, "a.example", team_id=team.id)
        b = make_site(client, "b.example", team_id=team.id)
        yield {"client": client, "team": team, "a": a, "b": b, "owner": owner}


def _as(client: TestClient, email: str) -> None:
    client.cookies.clear()
    assert login(client, email, PASSWORD).status_code == 303


def _invite(client: TestClient, url: str, email: str, role: str) -> str:
    page = client.get(url.rsplit("/", 1)[0] + ("/settings" if "/sites/" in url else ""))
    sent = client.post(url, data={"csrf": csrf_of(page.text), "email": email, "role": role})
    assert sent.status_code == 200, sent.text
    found = re.search(r"<code data-invite-link>([^<]+)</code>", sent.text)
    assert found, "the link is shown when there is no SMTP"
    return found.group(1).replace("http://testserver", "")


def test_a_new_user_accepts_and_then_sees_only_that_site(world: dict[str, Any]) -> None:
    client, a, b = world["client"], world["a"], world["b"]
    _as(client, "owner@example.com")
    link = _invite(client, f"/sites/{a.id}/invitations", "New@Example.com", "viewer")
    assert "new@example.com" in client.get(f"/sites/{a.id}/settings").text  # pending
    client.cookies.clear()
    page = client.get(link)
    assert page.status_code == 200 and "Choose a password" in page.text
    token = csrf_of(page.text)
    differ = client.post(link, data={"csrf": token, "password": PASSWORD, "confirm": "other"})
    assert differ.status_code == 400 and "differ" in differ.text
    accepted = client.post(link, data={"csrf": token, "password": PASSWORD,
                                       "confirm": PASSWORD}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/sites/{a.id}"
    listed = client.get("/sites").text  # signed in as the new user
    assert "new@example.com" in listed and "a.example" in listed and "b.example" not in listed
    assert client.get(f"/sites/{b.id}").status_code == 404
    assert client.get("/api/stats/aggregate", params={"site_id": b.domain}).status_code == 403
    client.cookies.clear()
    again = client.get(link)
    assert again.status_code == 410 and "already accepted" in again.text
    assert client.post(link, data={"csrf": token, "password": PASSWORD, "confirm": PASSWORD}
                       ).status_code == 410
    assert client.get(link[:-3] + "abc").status_code == 404  # a forged signature


def test_an_existing_user_signs_in_then_accepts(world: dict[str, Any]) -> None:
    client, team = world["client"], world["team"]
    svc = svc_of(client)
    bob = svc.meta.create_user("bob@example.com", PASSWORD)
    svc.meta.create_user("eve@example.com", PASSWORD)
    _as(client, "owner@example.com")
    link = _invite(client, f"/teams/{team.id}/invitations", "bob@example.com", "editor")
    client.cookies.clear()
    assert "Sign in to accept" in client.get(link).text
    refused = client.post(link, data={"password": PASSWORD, "confirm": PASSWORD})
    assert refused.status_code == 400 and "You have an account" in refused.text
    _as(client, "eve@example.com")
    assert "log out" in client.get(link).text
    wrong = client.post(link, data={"csrf": csrf_of(client.get("/account").text)})
    assert wrong.status_code == 400 and "for bob@example.com" in wrong.text
    _as(client, "bob@example.com")
    page = client.get(link)
    assert "Accept the invitation" in page.text
    done = client.post(link, data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert done.headers["location"] == f"/teams/{team.id}"
    assert svc.people.team_role(bob.id, team.id) == Role.EDITOR


def test_only_owners_invite_to_ownership_and_accepting_transfers(world: dict[str, Any]
                                                                 ) -> None:
    client, a = world["client"], world["a"]
    svc = svc_of(client)
    admin = svc.meta.create_user("admin@example.com", PASSWORD)
    svc.people.set_guest_role(a.id, admin.id, "admin")
    _as(client, "admin@example.com")
    page = client.get(f"/sites/{a.id}/settings")
    assert 'id="people-title"' in page.text and "Invite to take over" not in page.text
    assert client.post(f"/sites/{a.id}/invitations", data={
        "csrf": csrf_of(page.text), "email": "x@example.com", "role": "owner"}
    ).status_code == 403
    _as(client, "owner@example.com")
    link = _invite(client, f"/sites/{a.id}/invitations", "buyer@example.com", "owner")
    client.cookies.clear()
    token = csrf_of(client.get(link).text)
    client.post(link, data={"csrf": token, "password": PASSWORD, "confirm": PASSWORD})
    buyer = svc.meta.user_by_email("buyer@example.com")
    assert buyer is not None and svc.people.site_roles(buyer.id) == {a.id: Role.OWNER}
    assert svc.people.site_roles(world["owner"].id)[a.id] == Role.ADMIN  # a guest now


def test_invitations_are_withdrawn_and_bad_ones_refused(world: dict[str, Any]) -> None:
    client, a = world["client"], world["a"]
    _as(client, "owner@example.com")
    link = _invite(client, f"/sites/{a.id}/invitations", "c@example.com", "editor")
    page = client.get(f"/sites/{a.id}/settings")
    invite_id = re.search(r'data-invitation="(\d+)"', page.text)
    assert invite_id
    token = csrf_of(page.text)
    bad = client.post(f"/sites/{a.id}/invitations", data={"csrf": token, "email": "nobody",
                                                          "role": "viewer"})
    assert bad.status_code == 400 and "email: " in bad.text
    assert client.post(f"/sites/{a.id}/invitations/{invite_id.group(1)}/revoke",
                       data={"csrf": token}, follow_redirects=False).status_code == 303
    client.cookies.clear()
    assert "withdrawn" in client.get(link).text


def test_the_invitations_api(world: dict[str, Any]) -> None:
    client, a, b = world["client"], world["a"], world["b"]
    key = svc_of(client).meta.create_api_key("k", ["admin"], [a.id])[0]
    auth = {"authorization": f"Bearer {key}"}
    url = f"/api/v1/sites/{a.domain}/invitations"
    made = client.post(url, headers=auth, json={"email": "api@example.com", "role": "editor"})
    assert made.status_code == 201
    body = made.json()
    assert (body["email"], body["role"], body["status"], body["emailed"]) == (
        "api@example.com", "editor", "pending", False)
    assert body["url"].startswith("http://testserver/invitations/")
    assert [i["id"] for i in client.get(url, headers=auth).json()] == [body["id"]]
    bad = client.post(url, headers=auth, json={"email": "x@example.com", "role": "boss"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "role"
    assert client.post(f"/api/v1/sites/{b.domain}/invitations", headers=auth,
                       json={"email": "x@example.com"}).status_code == 403
    assert client.delete(f"{url}/{body['id']}", headers=auth).status_code == 204
    assert client.delete(f"{url}/{body['id']}", headers=auth).status_code == 404
    assert client.get(url, headers=auth).json() == []


def test_the_link_is_emailed_when_smtp_is_set_up(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    port = free_port()
    smtp = Controller(Inbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with make_client(tmp_path, smtp_host="127.0.0.1", smtp_port=port,
                         smtp_security="none", public_url="http://stats.example") as client:
            svc = svc_of(client)
            owner = svc.meta.create_user("owner@example.com", PASSWORD)
            site = make_site(client, "a.example",
                             team_id=svc.people.create_team("T", owner.id).id)
            _as(client, "owner@example.com")
            page = client.get(f"/sites/{site.id}/settings")
            sent = client.post(f"/sites/{site.id}/invitations", data={
                "csrf": csrf_of(page.text), "email": "friend@example.com", "role": "viewer"})
            assert "An invitation was e-mailed to" in sent.text
            assert "data-invite-link" not in sent.text
            wait_until(lambda: received, 10, "the invitation e-mail")
            assert received[0].rcpt_tos == ["friend@example.com"]
            mail = message_from_bytes(received[0].content, policy=policy.default)
            assert "a.example" in str(mail["subject"])
            text = mail.get_content()  # type: ignore[attr-defined]
            link = re.search(r"http://stats\.example(/invitations/\S+)", text)
            assert link and "owner@example.com invited you" in text
            client.cookies.clear()
            assert "Choose a password" in client.get(link.group(1)).text
    finally:
        smtp.stop()
