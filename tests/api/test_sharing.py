"""Shared links and public sites: a link opens its site's dashboard read-only without
signing in and reads that site's stats only; a password is asked for (and throttled);
revoked links are gone; embeds are framed by the allowed origins only; a public site is
read without signing in; public answers may be kept by a CDN when nothing protects them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from liveinsight.api.routes import ROUTERS
from tests.conftest import csrf_of, grant, login, make_client, make_site, svc_of
from tests.security.test_route_access import ACCESS

PASSWORD = "a long enough password"
LINK_PASSWORD = "correct horse battery"
STATS = ("/api/stats", "/api/stats/aggregate", "/api/stats/timeseries",
         "/api/stats/breakdown", "/api/realtime")


def _q(**params: str) -> dict[str, str]:
    return {"property": "event:page", **params}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, public_stats_cache_seconds=60) as client:
        make_site(client, "example.com")
        make_site(client, "other.org")
        yield client


def _site(client: TestClient, domain: str) -> Any:
    site = svc_of(client).sites.by_domain(domain)
    assert site is not None
    return site


def _admin_key(client: TestClient, domain: str = "example.com") -> dict[str, str]:
    key = svc_of(client).meta.create_api_key("a", ["admin"], [_site(client, domain).id])[0]
    return {"authorization": f"Bearer {key}"}


def _make_link(client: TestClient, **body: Any) -> dict[str, Any]:
    made = client.post("/api/v1/sites/example.com/shared-links", headers=_admin_key(client),
                       json=body)
    assert made.status_code == 201, made.text
    doc: dict[str, Any] = made.json()
    return doc


def _token(doc: dict[str, Any]) -> str:
    return str(doc["url"].rsplit("/", 1)[1])


def _auth_of(html: str) -> str:
    found = re.search(r'data-auth="([^"]*)"', html)
    assert found
    return found.group(1)


def test_a_link_made_listed_and_read_logged_out(app: TestClient) -> None:
    doc = _make_link(app, label="Investors", allowed_origins=["https://Blog.example.com/"])
    assert doc["url"].startswith("http://testserver/share/")
    assert doc["label"] == "Investors" and doc["password_protected"] is False
    assert doc["allowed_origins"] == ["https://blog.example.com"]
    token = _token(doc)
    assert len(token) >= 43  # 32 random bytes
    assert svc_of(app).shares.by_token(token) is not None
    listed = app.get("/api/v1/sites/example.com/shared-links", headers=_admin_key(app)).json()
    assert [(x["id"], x["label"]) for x in listed] == [(doc["id"], "Investors")]
    assert "url" not in listed[0]  # the token is not kept: shown once
    page = app.get(f"/share/{token}")
    assert page.status_code == 200
    assert 'data-read-only="true"' in page.text and "/settings" not in page.text
    assert "Log out" not in page.text and "/behaviour" not in page.text
    assert _auth_of(page.text) == token
    for path in STATS:
        answer = app.get(path, params=_q(site_id="example.com", auth=token))
        assert answer.status_code == 200, (path, answer.text)
    v2 = app.post("/api/v2/query", params={"auth": token}, json={
        "site_id": "example.com", "metrics": ["visitors"], "date_range": "7d"})
    assert v2.status_code == 200
    # without a site_id, the link's own site
    assert app.get("/api/stats/aggregate", params={"auth": token}).status_code == 200


def test_public_answers_may_be_kept_by_a_cdn_unless_protected(app: TestClient) -> None:
    token = _token(_make_link(app))
    answer = app.get("/api/stats/aggregate", params={"site_id": "example.com", "auth": token})
    assert answer.headers["cache-control"] == "public, max-age=0, s-maxage=60"
    key = svc_of(app).meta.create_api_key("s", ["stats"])[0]
    private = app.get("/api/stats/aggregate", params={"site_id": "example.com"},
                      headers={"authorization": f"Bearer {key}"})
    assert private.headers["cache-control"] == "private, no-cache"
    grant_value = _unlock(app, _token(_make_link(app, password=LINK_PASSWORD)))
    protected = app.get("/api/stats/aggregate", params={"auth": grant_value})
    assert protected.status_code == 200
    assert protected.headers["cache-control"] == "private, no-cache"


def test_no_public_caching_unless_set(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        make_site(client, "example.com", public=True)
        answer = client.get("/api/stats/aggregate", params={"site_id": "example.com"})
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "private, no-cache"


def _unlock(client: TestClient, token: str) -> str:
    """Give a protected link's password; the grant its page then reads with."""
    opened = client.post(f"/share/{token}", data={"password": LINK_PASSWORD},
                         follow_redirects=False)
    assert opened.status_code == 303
    page = client.get(f"/share/{token}")
    client.cookies.clear()
    return _auth_of(page.text)


def test_a_password_is_asked_for_and_wrong_ones_refused_and_throttled(app: TestClient) -> None:
    doc = _make_link(app, password=LINK_PASSWORD)
    assert doc["password_protected"] is True
    token = _token(doc)
    form = app.get(f"/share/{token}")
    assert form.status_code == 200 and 'type="password"' in form.text
    assert "data-auth" not in form.text  # no dashboard before the password
    # the token alone reads nothing
    refused = app.get("/api/stats/aggregate", params={"auth": token})
    assert refused.status_code == 401 and refused.json()["error"]["field"] == "auth"
    wrong = app.post(f"/share/{token}", data={"password": "not it at all"})
    assert wrong.status_code == 401 and "Wrong password" in wrong.text
    value = _unlock(app, token)
    assert value != token and "." in value
    assert app.get("/api/stats/aggregate", params={"auth": value}).status_code == 200
    # the login limits: 10 failures for one account (here the link) lock it, the right
    # password included
    limits = svc_of(app).throttle.limits
    for _ in range(limits.account_attempts):  # (the right password cleared the count)
        assert app.post(f"/share/{token}", data={"password": "nope nope"}).status_code == 401
    locked = app.post(f"/share/{token}", data={"password": LINK_PASSWORD},
                      follow_redirects=False)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0


def test_weak_link_passwords_and_bad_origins_are_refused_naming_the_field(
        app: TestClient) -> None:
    url = "/api/v1/sites/example.com/shared-links"
    key = _admin_key(app)
    weak = app.post(url, headers=key, json={"password": "password1"})
    assert weak.status_code == 400 and weak.json()["error"]["field"] == "password"
    for origin in ("https://blog.example.com/path", "javascript:alert(1)", "* 'unsafe-inline'",
                   "https://a.example; script-src *"):
        bad = app.post(url, headers=key, json={"allowed_origins": [origin]})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "allowed_origins"
    long = app.post(url, headers=key, json={"label": "x" * 121})
    assert long.status_code == 400 and long.json()["error"]["field"] == "label"
    other = app.post(url, headers=_admin_key(app, "other.org"), json={})
    assert other.status_code == 403


def test_a_revoked_link_is_gone(app: TestClient) -> None:
    doc = _make_link(app)
    token = _token(doc)
    protected = _make_link(app, password=LINK_PASSWORD)
    value = _unlock(app, _token(protected))
    key = _admin_key(app)
    for made in (doc, protected):
        gone = app.delete(f"/api/v1/sites/example.com/shared-links/{made['id']}", headers=key)
        assert gone.status_code == 204
    assert app.delete(f"/api/v1/sites/example.com/shared-links/{doc['id']}",
                      headers=key).status_code == 404
    assert app.get(f"/share/{token}").status_code == 404
    assert app.get("/api/stats/aggregate", params={"auth": token}).status_code == 401
    assert app.get("/api/stats/aggregate", params={"auth": value}).status_code == 401
    assert app.get("/api/v1/sites/example.com/shared-links", headers=key).json() == []


def test_embed_is_framed_by_the_allowed_origins_only(app: TestClient) -> None:
    token = _token(_make_link(app, allowed_origins=["https://blog.example.com",
                                                    "http://localhost:8080"]))
    embedded = app.get(f"/share/{token}", params={"embed": "true"})
    assert embedded.status_code == 200
    csp = embedded.headers["content-security-policy"]
    assert "frame-ancestors https://blog.example.com http://localhost:8080;" in csp
    assert "script-src 'self'" in csp
    assert "x-frame-options" not in embedded.headers
    assert 'data-embed="true"' in embedded.text and '<footer class="foot" hidden' in embedded.text
    plain = app.get(f"/share/{token}")
    assert plain.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in plain.headers["content-security-policy"]
    nowhere = _token(_make_link(app))
    closed = app.get(f"/share/{nowhere}", params={"embed": "true"})
    assert "frame-ancestors 'none'" in closed.headers["content-security-policy"]
    assert closed.headers["x-frame-options"] == "DENY"
    # a protected link's embedded password form answers with the dashboard at once
    locked = _token(_make_link(app, password=LINK_PASSWORD,
                               allowed_origins=["https://blog.example.com"]))
    form = app.get(f"/share/{locked}", params={"embed": "true"})
    assert "frame-ancestors https://blog.example.com;" in form.headers["content-security-policy"]
    opened = app.post(f"/share/{locked}", data={"password": LINK_PASSWORD, "embed": "true"})
    assert opened.status_code == 200 and 'data-embed="true"' in opened.text
    assert "." in _auth_of(opened.text)


def test_a_link_reads_its_own_site_only(app: TestClient) -> None:
    token = _token(_make_link(app))
    for path in STATS:
        other = app.get(path, params=_q(site_id="other.org", auth=token))
        assert other.status_code == 403, path
        unknown = app.get(path, params=_q(site_id="nowhere.example", auth=token))
        assert unknown.status_code == 403, path
    v2 = app.post("/api/v2/query", params={"auth": token}, json={
        "site_id": "other.org", "metrics": ["visitors"], "date_range": "7d"})
    assert v2.status_code == 403
    assert app.get("/api/stats/aggregate", params={"auth": "x" * 43}).status_code == 401
    # a session cookie of someone else does not widen what the link reads
    svc_of(app).meta.create_user("viewer@example.com", PASSWORD)
    grant(app, _site(app, "other.org"), "viewer@example.com")
    login(app, "viewer@example.com", PASSWORD)
    assert app.get("/api/stats/aggregate", params={"site_id": "other.org",
                                                   "auth": token}).status_code == 403
    assert app.get("/api/stats/aggregate", params={"site_id": "example.com",
                                                   "auth": token}).status_code == 200


_READS = {"GET /api/stats", "GET /api/stats/aggregate", "GET /api/stats/timeseries",
          "GET /api/stats/breakdown", "GET /api/realtime", "GET /api/realtime/stream",
          "POST /api/v2/query"}


def test_a_link_opens_no_other_route(app: TestClient) -> None:
    """Every route that is not public and not a stats read, called with the link's token
    (as ``auth``, and as a path's token where it fits) and no other credential: refused."""
    token = _token(_make_link(app))
    site = _site(app, "example.com")
    routes = sorted(set().union(*(r for cls, r in ACCESS.items() if cls != "public")) - _READS)
    assert len(routes) > 100
    for route in routes:
        method, path = route.split(" ", 1)
        api = path.startswith("/api/")
        values = {"{site_id}": site.domain if api else str(site.id), "{path:path}": "app.css"}
        for name in re.findall(r"\{[a-z_:]+\}", path):
            path = path.replace(name, values.get(name, "1"))
        kwargs: dict[str, Any] = {"params": {"auth": token, "site_id": site.domain},
                                  "follow_redirects": False}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["json" if api or path.startswith("/admin") else "data"] = {
                "site_id": site.domain, "date_range": "7d", "public": True,
                "role": "viewer", "email": "someone@example.com", "event_name": "E",
                "metrics": ["visitors"]}
        status = app.request(method, path, **kwargs).status_code
        assert status in (401, 303, 403), (route, status)
    assert {f"{m} {r.path}" for router in ROUTERS for r in router.routes  # type: ignore[attr-defined]
            for m in (r.methods or ())} >= _READS  # type: ignore[attr-defined]


def test_a_public_site_is_read_without_signing_in(app: TestClient) -> None:
    site = _site(app, "example.com")
    assert app.get(f"/sites/{site.id}", follow_redirects=False).status_code == 303
    assert app.get("/api/stats/aggregate", params={"site_id": "example.com"}).status_code == 401
    made = app.put("/api/v1/sites/example.com/public", headers=_admin_key(app),
                   json={"public": True})
    assert made.status_code == 200 and made.json() == {"public": True}
    missing = app.put("/api/v1/sites/example.com/public", headers=_admin_key(app), json={})
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "public"
    page = app.get(f"/sites/{site.id}")
    assert page.status_code == 200 and 'data-read-only="true"' in page.text
    assert "/settings" not in page.text and _auth_of(page.text) == ""
    for path in STATS:
        assert app.get(path, params=_q(site_id="example.com")).status_code == 200, path
    assert app.get("/api/stats/aggregate").status_code == 401  # which site? not said
    # its realtime page too, and what its script reads (the site named by its id)
    realtime = app.get(f"/sites/{site.id}/realtime")
    assert realtime.status_code == 200 and "/settings" not in realtime.text
    assert app.post("/api/v2/query", json={"site_id": str(site.id), "metrics": ["visitors"],
                                           "date_range": ["2026-12-05T04:20:00Z",
                                                          "2026-12-05T04:50:01Z"]}
                    ).status_code == 200
    # the other site stays private, answered as an unknown one
    assert app.get("/api/stats/aggregate", params={"site_id": "other.org"}).status_code == 401
    other = _site(app, "other.org")
    assert app.get(f"/sites/{other.id}", follow_redirects=False).status_code == 303
    assert app.get(f"/sites/{other.id}/realtime", follow_redirects=False).status_code == 303
    # settings and management stay closed
    assert app.get(f"/sites/{site.id}/settings", follow_redirects=False).status_code == 303
    assert app.get("/api/v1/sites/example.com/goals").status_code == 401
    assert app.get("/api/v1/sites/example.com/export/events").status_code == 401
    # a signed-in user without a role on it reads it too, read-only
    svc_of(app).meta.create_user("viewer@example.com", PASSWORD)
    grant(app, other, "viewer@example.com")
    login(app, "viewer@example.com", PASSWORD)
    seen = app.get(f"/sites/{site.id}")
    assert seen.status_code == 200 and 'data-read-only="true"' in seen.text
    assert app.get("/api/stats/aggregate", params={"site_id": "example.com"}).status_code == 200
    assert app.get(f"/sites/{site.id}/settings").status_code == 404


def test_site_admins_share_from_the_settings_page(app: TestClient) -> None:
    svc = svc_of(app)
    site = _site(app, "example.com")
    for email, role in (("admin@example.com", "admin"), ("editor@example.com", "editor")):
        svc.meta.create_user(email, PASSWORD)
        grant(app, site, email, role)
    login(app, "editor@example.com", PASSWORD)
    page = app.get(f"/sites/{site.id}/settings")
    assert "sharing-title" not in page.text
    denied = app.post(f"/sites/{site.id}/shared-links", data={"csrf": csrf_of(page.text)})
    assert denied.status_code == 403
    app.cookies.clear()
    login(app, "admin@example.com", PASSWORD)
    page = app.get(f"/sites/{site.id}/settings")
    assert "No shared links." in page.text
    made = app.post(f"/sites/{site.id}/shared-links", data={
        "csrf": csrf_of(page.text), "label": "Board", "password": LINK_PASSWORD,
        "allowed_origins": "https://blog.example.com\nhttps://intra.example.com"})
    assert made.status_code == 201
    url = re.search(r'id="new-share-url" readonly value="([^"]+)"', made.text)
    assert url and url.group(1).startswith("http://testserver/share/")
    links = svc.shares.of_site(site.id)
    assert [(x.label, x.protected, x.allowed_origins) for x in links] == [
        ("Board", True, ("https://blog.example.com", "https://intra.example.com"))]
    bad = app.post(f"/sites/{site.id}/shared-links", data={
        "csrf": csrf_of(page.text), "allowed_origins": "not an origin"})
    assert bad.status_code == 400 and "not an origin" in bad.text
    revoked = app.post(f"/sites/{site.id}/shared-links/{links[0].id}/revoke",
                       data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert revoked.status_code == 303
    assert svc.shares.of_site(site.id) == []
    assert app.get(url.group(1).removeprefix("http://testserver")).status_code == 404
    # the public switch is in the general settings form
    saved = app.post(f"/sites/{site.id}/settings", data={
        "csrf": csrf_of(page.text), "domain": "example.com", "timezone": "UTC",
        "currency": "USD", "salt_rotation": "daily", "enabled": "on", "public": "on"},
        follow_redirects=False)
    assert saved.status_code == 303
    assert svc.sites.by_id(site.id).public is True  # type: ignore[union-attr]
