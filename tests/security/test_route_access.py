"""Who may call what, generated from the route table (``api/routes.py``): every route of the
app is classified below (a new route fails the test until it is), and each class is called
with every kind of credential, expecting its answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from liveinsight.api.routes import ROUTERS
from tests.conftest import make_client, make_site, svc_of

ACCESS: dict[str, set[str]] = {
    "public": {"GET /health", "POST /api/event", "OPTIONS /api/event", "POST /api/send",
               "OPTIONS /api/send", "POST /api/batch", "OPTIONS /api/batch",
               "OPTIONS /api/events", "POST /api/csrf-token",
               "OPTIONS /api/csrf-token", "GET /js/plausible.js", "HEAD /js/plausible.js",
               "GET /js/script.js", "HEAD /js/script.js", "GET /js/plausible.{variant}.js",
               "HEAD /js/plausible.{variant}.js", "GET /js/script.{variant}.js",
               "HEAD /js/script.{variant}.js", "GET /", "GET /login", "POST /login",
               "POST /logout", "GET /static/{path:path}", "GET /docs",
               "GET /api/v1/assets/optimized/{asset_id}"},
    "ingest_key": {"POST /api/events"},  # an API key with the ingest scope (or a signed token)
    "ops": {"GET /health/detailed", "GET /metrics"},
    "read": {"POST /api/v2/query", "GET /api/stats", "GET /api/stats/aggregate",
             "GET /api/stats/timeseries", "GET /api/stats/breakdown", "GET /api/realtime",
             "GET /api/realtime/stream", "GET /api/v1/sites/{site_id}/goals"},
    "api_admin": {"POST /api/v1/assets/upload", "GET /api/v1/sites/{site_id}/assets",
                  "DELETE /api/v1/sites/{site_id}/assets/{asset_id}",
                  "POST /api/v1/sites/{site_id}/goals",
                  "DELETE /api/v1/sites/{site_id}/goals/{goal_id}"},
    "page": {"GET /account", "GET /sites", "GET /sites/{site_id}",
             "GET /sites/{site_id}/settings"},
    "member_form": {"POST /account/password", "POST /account/sessions/{session_id}/end",
                    "POST /account/sessions/end-all"},
    "admin_form": {"POST /sites", "POST /sites/{site_id}/settings",
                   "POST /alerting/rules", "POST /alerting/rules/{rule_id}",
                   "POST /alerting/rules/{rule_id}/delete", "POST /alerting/channels",
                   "POST /alerting/channels/{channel_id}/delete",
                   "POST /alerting/channels/{channel_id}/test", "POST /alerting/incidents",
                   "POST /alerting/incidents/{incident_id}",
                   "POST /sites/{site_id}/goals", "POST /sites/{site_id}/goals/{goal_id}/delete",
                   "POST /users/{user_id}/end-sessions", "POST /account/keys",
                   "POST /account/keys/{key_id}/revoke"},
    # instance-wide administration: a logged-in admin or an admin API key for every site
    "instance_admin": {
        "POST /admin/alerts/rule", "GET /admin/alerts/rules", "GET /admin/alerts/rule/{rule_id}",
        "PUT /admin/alerts/rule/{rule_id}", "DELETE /admin/alerts/rule/{rule_id}",
        "POST /admin/monitoring/threshold", "GET /admin/monitoring/alerts",
        "GET /admin/alerts/history", "POST /admin/alerts/ack", "POST /admin/alerts/channel",
        "GET /admin/alerts/channels", "PUT /admin/alerts/channel/{channel_id}",
        "DELETE /admin/alerts/channel/{channel_id}",
        "POST /admin/alerts/channel/{channel_id}/test", "POST /admin/incidents/create",
        "GET /admin/incidents", "GET /admin/incidents/{incident_id}",
        "POST /admin/incidents/{incident_id}", "POST /admin/reports", "GET /admin/reports",
        "DELETE /admin/reports/{report_id}", "POST /admin/reports/{report_id}/send",
        "GET /admin/cache/stats", "POST /admin/cache/invalidate", "POST /admin/cache/warmup",
        "POST /admin/cdn/purge", "GET /admin/db/performance", "GET /admin/db/slow-queries",
        "POST /admin/db/optimize", "GET /admin/db/jobs/{job_id}"},
    # instance admins' dashboard pages: a logged-in admin only (forms: admin_form)
    "admin_page": {"GET /alerting", "GET /alerting/rules/new", "GET /alerting/rules/{rule_id}",
                   "GET /alerting/channels", "GET /alerting/history",
                   "GET /alerting/incidents", "GET /alerting/incidents/{incident_id}"},
}
ALLOWED = "allowed"
_CLASSES = ('ingest_key', 'ops', 'read', 'api_admin', 'page', 'member_form', 'admin_form',
            'instance_admin', 'admin_page')
# credential → the expected answer per class, in _CLASSES' order (a status, or ALLOWED:
# neither 401 nor 403)
_TABLE: dict[str, tuple[int | str, ...]] = {
    "anonymous": (401, 401, 401, 401, 303, 401, 401, 401, 303),
    "viewer": (401, 403, ALLOWED, 401, ALLOWED, ALLOWED, 403, 403, 403),
    "admin": (401, ALLOWED, ALLOWED, 401, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    "key_other_site": (403, 403, 403, 403, 303, 401, 401, 403, 303),
    "key_stats": (403, 403, ALLOWED, 403, 303, 401, 401, 403, 303),
    "key_site_admin": (403, 403, ALLOWED, ALLOWED, 303, 401, 401, 403, 303),
    "key_global_admin": (403, ALLOWED, 403, ALLOWED, 303, 401, 401, ALLOWED, 303),
    "key_without_scope": (ALLOWED, 403, 403, 403, 303, 401, 401, 403, 303),
    "key_revoked": (401, 401, 401, 401, 303, 401, 401, 401, 303),
}
EXPECT = {cred: dict(zip(_CLASSES, row, strict=True)) for cred, row in _TABLE.items()}
USERS = {"admin": ("admin@example.com", "correct horse battery"),
         "viewer": ("viewer@example.com", "viewer password 1")}


def _routes() -> list[str]:
    return sorted({f"{m} {r.path}" for router in ROUTERS for r in router.routes  # type: ignore[attr-defined]
                   for m in (r.methods or ())})  # type: ignore[attr-defined]


def test_every_route_is_classified() -> None:
    classified = set().union(*ACCESS.values())
    assert set(_routes()) == classified, (set(_routes()) ^ classified)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with make_client(Path(tmp_path_factory.mktemp("access"))) as client:
        site = make_site(client, "a.example")
        other = make_site(client, "b.example")
        meta = svc_of(client).meta
        for role, (email, password) in USERS.items():
            meta.create_user(email, password, role=role)
        keys = {
            "key_other_site": meta.create_api_key("o", ["stats", "admin"], [other.id])[0],
            "key_stats": meta.create_api_key("s", ["stats"], [site.id])[0],
            "key_site_admin": meta.create_api_key("sa", ["stats", "admin"], [site.id])[0],
            "key_global_admin": meta.create_api_key("ga", ["admin"])[0],
            "key_without_scope": meta.create_api_key("i", ["ingest"], [site.id])[0],
        }
        revoked, info = meta.create_api_key("r", ["stats", "admin"])
        meta.revoke_api_key(info.id)
        keys["key_revoked"] = revoked
        yield {"client": client, "site": site, "keys": keys}


def _session(client: TestClient, who: str) -> tuple[dict[str, str], str]:
    """A fresh sign-in of ``who``: its cookies and its forms' CSRF token."""
    client.cookies.clear()
    email, password = USERS[who]
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"email": email, "password": password,
                                "csrf": token.group(1)}, follow_redirects=False)
    page = client.get("/account").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, page[:200]
    cookies = dict(client.cookies)
    client.cookies.clear()
    return cookies, csrf.group(1)


_GIF = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c00000000"
                     "010001000002024401003b")  # a 1x1 GIF


def _call(world: dict[str, Any], route: str, credential: str) -> int:
    client: TestClient = world["client"]
    site = world["site"]
    method, path = route.split(" ", 1)
    api = path.startswith("/api/")
    path = (path.replace("{site_id}", site.domain if api else str(site.id))
            .replace("{goal_id}", "1").replace("{session_id}", "1").replace("{user_id}", "2")
            .replace("{key_id}", "999").replace("{rule_id}", "1")
            .replace("{channel_id}", "1").replace("{incident_id}", "1")
            .replace("{report_id}", "1").replace("{job_id}", "nope")
            .replace("{asset_id}", "0" * 64)
            .replace("{variant}", "hash").replace("{path:path}", "app.css"))
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    csrf = ""
    if credential in USERS:
        cookies, csrf = _session(client, credential)
    elif credential.startswith("key_"):
        headers["authorization"] = f"Bearer {world['keys'][credential]}"
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, value)
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if path.startswith(("/api/stats", "/api/realtime")):
        kwargs["params"] = {"site_id": site.domain}
    if path == "/api/events":
        kwargs["json"] = {"page_url": "https://a.example/", "domain": site.domain}
    if path == "/api/v2/query":
        kwargs["json"] = {"site_id": site.domain, "metrics": ["visitors"], "date_range": "7d"}
    elif method in ("POST", "PUT") and path.startswith("/admin/"):
        kwargs["json"] = {}
    elif api and method == "POST" and "goals" in path:
        kwargs["json"] = {"event_name": f"E-{credential}"}
    elif path == "/api/v1/assets/upload":  # the site is named in the body
        kwargs["data"] = {"site_id": site.domain}
        kwargs["files"] = {"file": ("logo.gif", _GIF, "image/gif")}
    elif method == "POST" and not api:
        kwargs["data"] = {"csrf": csrf, "domain": f"{credential}.example", "current": "x",
                          "new": "x", "confirm": "x", "kind": "event", "target": "Goal",
                          "name": "k", "scope": "stats"}
    response = client.request(method, path, **kwargs)
    client.cookies.clear()
    return response.status_code


# An allowed stream never ends: for it only the refusals are called.
CASES = [(route, cls, credential) for cls, routes in ACCESS.items() if cls != "public"
         for route in sorted(routes) for credential in EXPECT
         if not (route == "GET /api/realtime/stream" and EXPECT[credential][cls] == ALLOWED)]


@pytest.mark.parametrize(("route", "cls", "credential"), CASES,
                         ids=[f"{r}|{c}" for r, _, c in CASES])
def test_each_route_answers_each_credential_as_its_class_says(
        world: dict[str, Any], route: str, cls: str, credential: str) -> None:
    expected = EXPECT[credential][cls]
    status = _call(world, route, credential)
    if expected == ALLOWED:
        assert status not in (401, 403) and status < 500, status
    else:
        assert status == expected


def test_public_routes_answer_without_credentials(world: dict[str, Any]) -> None:
    for route in sorted(ACCESS["public"]):
        status = _call(world, route, "anonymous")
        assert status < 500 and status not in (401, 403), (route, status)
