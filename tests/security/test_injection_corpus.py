"""Hostile strings (XSS, SQL injection, template injection, path tricks, control characters)
sent into every input of every route of the route table, as an instance admin (session and
admin key, so the input reaches the handlers): path parameters, the query parameters each
route declares (and the common ones), JSON body fields (the declared model's, and common
ones), form fields with a valid CSRF token, and the collector's event fields and props.

No answer may be a 5xx, and no HTML answer may carry a payload's markup unescaped. (That
the dashboard's scripts render stored hostile page names, referrers and props inert is
``tests/e2e/test_csp_browser.py``'s part: it fails on any CSP violation.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from liveinsight.api.routes import ROUTERS
from liveinsight.security import sessions
from tests.conftest import make_client, make_site, stored_events, svc_of

PAYLOADS = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "' OR '1'='1' --",
    "1; DROP TABLE events; --",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "../../../../etc/passwd",
    "%00\x00\u2028\ufeff",
    "javascript:alert(document.cookie)",
    "9" * 400,
]
MARKUP = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
COMMON_FIELDS = ("site_id", "domain", "name", "event_name", "email", "role", "period", "date",
                 "metrics", "property", "filters", "url", "page_path", "kind", "target",
                 "timezone", "since", "until", "actor", "action", "query", "code", "password",
                 "current", "new", "confirm", "team", "scope", "next", "message", "note")
SKIP = {"GET /api/realtime/stream",  # an allowed stream never ends
        "POST /logout", "POST /account/sessions/end-all"}  # would end the test's session
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"


def _routes() -> list[tuple[str, str, Any]]:
    found = {}
    for router in ROUTERS:
        for route in router.routes:
            for method in getattr(route, "methods", None) or ():
                if method in ("HEAD", "OPTIONS") or f"{method} {route.path}" in SKIP:
                    continue
                found.setdefault((method, route.path), route)
    return [(m, p, r) for (m, p), r in sorted(found.items())]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with make_client(Path(tmp_path_factory.mktemp("corpus"))) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        admin = svc.meta.create_user("admin@example.com", "tide orbit lantern", role="admin")
        key, _ = svc.meta.create_api_key("corpus", ["admin", "stats", "ingest"])
        yield {"client": client, "site": site, "admin": admin, "key": key}


def _session(world: dict[str, Any]) -> tuple[str, str]:
    svc = svc_of(world["client"])
    now = svc.clock()
    data = sessions.new_session(world["admin"].id, now.timestamp())
    svc.logins.open_session(data.user_id, data.nonce, now, timedelta(days=1))
    return sessions.encode(svc.secret, data), sessions.csrf_token(svc.secret, data)


def _fields(route: Any) -> list[str]:
    names = list(COMMON_FIELDS)
    if isinstance(route, APIRoute):
        names += [p.name for p in route.dependant.query_params]
        model = getattr(route.body_field, "type_", None)
        names += list(getattr(model, "model_fields", {}) or {})
    return sorted(set(names))


def _check(response: Any, where: str) -> None:
    assert response.status_code < 500, (where, response.status_code, response.text[:300])
    if response.headers.get("content-type", "").startswith("text/html"):
        for markup in MARKUP:
            assert markup not in response.text, (where, markup)


@pytest.mark.parametrize(("method", "path", "route"), _routes(),
                         ids=[f"{m} {p}" for m, p, _ in _routes()])
def test_hostile_input_is_never_a_5xx_nor_reflected_as_markup(
        world: dict[str, Any], method: str, path: str, route: Any) -> None:
    client: TestClient = world["client"]
    cookie, csrf = _session(world)
    fields = _fields(route)
    api = path.startswith(("/api/", "/admin/"))
    for payload in PAYLOADS:
        url = path
        for param in ("{site_id}", "{team_id}", "{user_id}", "{goal_id}", "{key_id}",
                      "{session_id}", "{invite_id}", "{token}", "{rule_id}", "{channel_id}",
                      "{incident_id}", "{report_id}", "{job_id}", "{asset_id}", "{variant}",
                      "{funnel_id}", "{path:path}"):
            url = url.replace(param, quote(payload, safe=""))
        url = url.replace("{", "%7B").replace("}", "%7D")  # a parameter not listed above
        values = {name: payload for name in fields}
        kwargs: dict[str, Any] = {"params": values, "follow_redirects": False}
        if api:
            kwargs["headers"] = {"authorization": f"Bearer {world['key']}", "user-agent": UA}
        else:
            client.cookies.set(sessions.COOKIE, cookie)
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            if api:
                kwargs["json"] = {**values, "props": {payload: payload}}
            else:
                kwargs["data"] = {**values, "csrf": csrf}
        response = client.request(method, url, **kwargs)
        client.cookies.clear()
        _check(response, f"{method} {path} with {payload[:30]!r}")


def test_hostile_events_are_stored_as_given_and_read_back_as_json(
        world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    for payload in PAYLOADS[:6]:
        answer = client.post("/api/event", headers={"user-agent": UA}, json={
            "n": "pageview", "d": "example.com", "r": f"https://ref.example/{payload}",
            "u": f"https://example.com/{quote(payload, safe='')}", "p": {payload: payload}})
        assert answer.status_code == 202, answer.text
    rows = stored_events(client)
    assert any("<script>alert(1)</script>" in str(r.get("pathname", "")) for r in rows)
    breakdown = client.get("/api/stats/breakdown", params={
        "site_id": "example.com", "property": "event:page", "period": "day"},
        headers={"authorization": f"Bearer {world['key']}"})
    assert breakdown.status_code == 200
    assert breakdown.headers["content-type"].startswith("application/json")
    assert breakdown.headers["x-content-type-options"] == "nosniff"
