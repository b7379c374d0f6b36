"""Who may call what, generated from the route table (``api/routes.py``).

Every route of the app is in one class of ``ACCESS`` (a new route fails
``test_every_route_is_classified`` until it is), and every class has one line in ``EXPECT``:
the answer each credential of ``CREDENTIALS`` gets (a status, or ``A``: allowed, neither
401 nor 403 nor 5xx). Adding a route: add it to its class. Adding a class: one line in
``EXPECT`` and its routes in ``ACCESS``.

The world (built once): site A (``a.example``) owned by team T, site B (``b.example``) by
team U. People: the owner of team T (``owner``), guests of A with the admin, editor and
viewer roles, a guest viewer of B (``other_viewer``), an instance administrator
(``instance``). Keys: of B only (stats + admin), of A with stats only, of A with stats +
admin, with the admin scope for every site, with the ingest scope only, revoked. Calls are
made so that an allowed one changes nothing that matters (unknown ids, an invalid time
zone, a team that does not exist).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from liveinsight.api.routes import ROUTERS
from liveinsight.security import sessions
from tests.conftest import make_client, make_site, svc_of

A = "allowed"
CREDENTIALS = ("anonymous", "other_viewer", "viewer", "editor", "admin", "owner", "instance",
               "key_other_site", "key_stats", "key_site_admin", "key_global_admin",
               "key_without_scope", "key_revoked")
EXPECT: dict[str, tuple[int | str, ...]] = {
    # class           anon other viewr editr admin owner inst  k_oth k_sta k_sad k_gad k_ing k_rev
    "ingest_key":     (401, 401, 401, 401, 401, 401, 401, 403, 403, 403, 403, A, 401),
    "ops":            (401, 403, 403, 403, 403, 403, A, 403, 403, 403, A, 403, 401),
    "read":           (401, 403, A, A, A, A, A, 403, A, A, 403, 403, 401),
    "site_list":      (401, A, A, A, A, A, A, A, A, A, 403, 403, 401),
    "api_admin":      (401, 401, 401, 401, 401, 401, 401, 403, 403, A, A, 403, 401),
    "page":           (303, A, A, A, A, A, A, 303, 303, 303, 303, 303, 303),
    "site_page":      (303, 404, A, A, A, A, A, 303, 303, 303, 303, 303, 303),
    "team_page":      (303, 404, 404, 404, 404, A, A, 303, 303, 303, 303, 303, 303),
    "member_form":    (401, A, A, A, A, A, A, 401, 401, 401, 401, 401, 401),
    "instance_form":  (401, 403, 403, 403, 403, 403, A, 401, 401, 401, 401, 401, 401),
    "team_site_form": (401, 403, 403, 403, 403, A, A, 401, 401, 401, 401, 401, 401),
    "site_editor":    (401, 404, 403, A, A, A, A, 401, 401, 401, 401, 401, 401),
    "site_admin":     (401, 404, 403, 403, A, A, A, 401, 401, 401, 401, 401, 401),
    "site_owner":     (401, 404, 403, 403, 403, A, A, 401, 401, 401, 401, 401, 401),
    "team_admin":     (401, 404, 404, 404, 404, A, A, 401, 401, 401, 401, 401, 401),
    "instance_admin": (401, 403, 403, 403, 403, 403, A, 403, 403, 403, A, 403, 401),
    "admin_page":     (303, 403, 403, 403, 403, 403, A, 303, 303, 303, 303, 303, 303),
}
ACCESS: dict[str, set[str]] = {
    "public": {"GET /health", "GET /health/ready", "POST /api/event", "OPTIONS /api/event",
               "POST /api/send",
               "OPTIONS /api/send", "POST /api/batch", "OPTIONS /api/batch",
               "OPTIONS /api/events", "POST /api/csrf-token",
               "OPTIONS /api/csrf-token", "GET /js/plausible.js", "HEAD /js/plausible.js",
               "GET /js/script.js", "HEAD /js/script.js", "GET /js/plausible.{variant}.js",
               "HEAD /js/plausible.{variant}.js", "GET /js/script.{variant}.js",
               "HEAD /js/script.{variant}.js", "GET /", "GET /login", "POST /login",
               "POST /login/code",
               "POST /logout", "GET /static/{path:path}", "GET /docs",
               "GET /api/v1/assets/optimized/{asset_id}",
               "GET /invitations/{token}", "POST /invitations/{token}",  # the link's token
               "GET /share/{token}", "POST /share/{token}",  # a shared link (its token)
               "GET /share/{token}/realtime"},
    "ingest_key": {"POST /api/events"},  # an API key with the ingest scope (or a signed token)
    "ops": {"GET /health/detailed", "GET /health/dependencies", "GET /metrics"},
    "read": {"POST /api/v2/query", "GET /api/stats", "GET /api/stats/aggregate",
             "GET /api/stats/timeseries", "GET /api/stats/breakdown", "GET /api/realtime",
             "GET /api/realtime/stream", "GET /api/v1/sites/{site_id}/goals",
             "POST /api/v2/funnels", "POST /api/v2/journeys", "POST /api/v2/retention",
             "POST /api/v2/users", "POST /api/v2/kpi",
             "GET /api/v1/sites/{site_id}/funnels",
             "GET /api/v1/sites/{site_id}/funnels/{funnel_id}",
             "GET /api/v1/sites/{site_id}/segments"},
    "api_admin": {"POST /api/v1/assets/upload", "GET /api/v1/sites/{site_id}/assets",
                  "DELETE /api/v1/sites/{site_id}/assets/{asset_id}",
                  "POST /api/v1/sites/{site_id}/goals",
                  "DELETE /api/v1/sites/{site_id}/goals/{goal_id}",
                  "GET /api/v1/sites/{site_id}/export/events",
                  "POST /api/v1/sites/{site_id}/funnels",
                  "PUT /api/v1/sites/{site_id}/funnels/{funnel_id}",
                  "DELETE /api/v1/sites/{site_id}/funnels/{funnel_id}",
                  "GET /api/v1/sites/{site_id}/members",
                  "PATCH /api/v1/sites/{site_id}/members/{user_id}",
                  "DELETE /api/v1/sites/{site_id}/members/{user_id}",
                  "POST /api/v1/sites/{site_id}/invitations",
                  "GET /api/v1/sites/{site_id}/invitations",
                  "DELETE /api/v1/sites/{site_id}/invitations/{invite_id}",
                  "GET /api/v1/sites/{site_id}/shared-links",
                  "POST /api/v1/sites/{site_id}/shared-links",
                  "DELETE /api/v1/sites/{site_id}/shared-links/{link_id}",
                  "PUT /api/v1/sites/{site_id}/public",
                  "POST /api/v1/sites/{site_id}/segments",
                  "DELETE /api/v1/sites/{site_id}/segments/{segment_id}",
                  "POST /api/v1/sites/{site_id}/imports", "GET /api/v1/sites/{site_id}/imports",
                  "GET /api/v1/sites/{site_id}/imports/{import_id}",
                  "DELETE /api/v1/sites/{site_id}/imports/{import_id}",
                  "POST /api/v1/sites/{site_id}/reset", "DELETE /api/v1/sites/{site_id}",
                  "GET /api/v1/sites/{site_id}/export",
                  "GET /api/v1/sites/{site_id}", "PATCH /api/v1/sites/{site_id}"},
    "site_list": {"GET /api/v1/sites"},  # the sites the credential reads (none: an empty list)
    "page": {"GET /account", "GET /sites"},
    "site_page": {"GET /sites/{site_id}", "GET /sites/{site_id}/settings",
                  "GET /sites/{site_id}/behaviour", "GET /sites/{site_id}/realtime"},
    "team_page": {"GET /teams/{team_id}"},
    "member_form": {"POST /account/two-factor/setup", "POST /account/two-factor/enable",
                    "POST /account/two-factor/disable", "POST /account/password",
                    "POST /account/sessions/{session_id}/end",
                    "POST /account/sessions/end-all"},
    "instance_form": {"POST /users/{user_id}/end-sessions", "POST /account/keys",
                      "POST /account/keys/{key_id}/revoke", "POST /teams",
                      "POST /alerting/rules", "POST /alerting/rules/{rule_id}",
                      "POST /alerting/rules/{rule_id}/delete", "POST /alerting/channels",
                      "POST /alerting/channels/{channel_id}/delete",
                      "POST /alerting/channels/{channel_id}/test", "POST /alerting/incidents",
                      "POST /alerting/incidents/{incident_id}"},
    # instance-wide administration: a logged-in admin or an admin API key for every site
    "instance_admin": {
        "POST /admin/alerts/rule", "GET /admin/alerts/rules", "GET /admin/alerts/rule/{rule_id}",
        "PUT /admin/alerts/rule/{rule_id}", "DELETE /admin/alerts/rule/{rule_id}",
        "POST /admin/monitoring/threshold", "GET /admin/monitoring/alerts",
        "GET /admin/monitoring/metrics", "GET /admin/logs/search", "GET /admin/logs/analytics",
        "POST /admin/logs/export",
        "GET /admin/performance/traces", "GET /admin/performance/traces/{trace_id}",
        "GET /admin/performance/metrics", "GET /admin/performance/bottlenecks",
        "GET /admin/alerts/history", "POST /admin/alerts/ack", "POST /admin/alerts/channel",
        "GET /admin/alerts/channels", "PUT /admin/alerts/channel/{channel_id}",
        "DELETE /admin/alerts/channel/{channel_id}",
        "POST /admin/alerts/channel/{channel_id}/test", "POST /admin/incidents/create",
        "GET /admin/incidents", "GET /admin/incidents/{incident_id}",
        "POST /admin/incidents/{incident_id}", "POST /admin/reports", "GET /admin/reports",
        "DELETE /admin/reports/{report_id}", "POST /admin/reports/{report_id}/send",
        "GET /admin/cache/stats", "POST /admin/cache/invalidate", "POST /admin/cache/warmup",
        "POST /admin/cdn/purge", "GET /admin/db/performance", "GET /admin/db/slow-queries",
        "POST /admin/db/optimize", "GET /admin/db/jobs/{job_id}",
        "POST /admin/backups", "GET /admin/backups", "GET /admin/backups/jobs/{job_id}",
        "GET /admin/analytics/journey", "GET /admin/analytics/users",
        "GET /admin/analytics/kpi", "GET /admin/analytics/kpi/stream",
        "PUT /admin/analytics/kpi/targets",
        "GET /admin/analytics/kpi/targets", "GET /admin/audit",
        "GET /admin/audit/export", "POST /api/v1/sites"},
    # instance admins' dashboard pages: a logged-in admin only (forms: instance_form)
    "admin_page": {"GET /analytics/kpi", "GET /logs", "GET /audit", "GET /traces",
                   "GET /traces/{trace_id}",
                   "GET /alerting", "GET /alerting/rules/new", "GET /alerting/rules/{rule_id}",
                   "GET /alerting/channels", "GET /alerting/history",
                   "GET /alerting/incidents", "GET /alerting/incidents/{incident_id}"},
    "team_site_form": {"POST /sites"},  # an owner or admin of a team adds sites to it
    "site_editor": {"POST /sites/{site_id}/goals", "POST /sites/{site_id}/goals/{goal_id}/delete",
                    "POST /sites/{site_id}/funnels",
                    "POST /sites/{site_id}/funnels/{funnel_id}/delete",
                    "POST /sites/{site_id}/segments",
                    "POST /sites/{site_id}/segments/{segment_id}/delete"},
    "site_admin": {"POST /sites/{site_id}/settings", "POST /sites/{site_id}/people/{user_id}/role",
                   "POST /sites/{site_id}/people/{user_id}/remove",
                   "POST /sites/{site_id}/invitations",
                   "POST /sites/{site_id}/invitations/{invite_id}/revoke",
                   "POST /sites/{site_id}/shared-links",
                   "POST /sites/{site_id}/shared-links/{link_id}/revoke",
                   "POST /sites/{site_id}/imports",
                   "POST /sites/{site_id}/imports/{import_id}/delete",
                   "POST /sites/{site_id}/reset", "GET /sites/{site_id}/export"},
    "site_owner": {"POST /sites/{site_id}/transfer", "POST /sites/{site_id}/delete"},
    "team_admin": {"POST /teams/{team_id}/members/{user_id}/role",
                   "POST /teams/{team_id}/members/{user_id}/remove",
                   "POST /teams/{team_id}/invitations",
                   "POST /teams/{team_id}/invitations/{invite_id}/revoke"},
}
USERS = {"instance": "instance@example.com", "owner": "owner@example.com",
         "admin": "admin@example.com", "editor": "editor@example.com",
         "viewer": "viewer@example.com", "other_viewer": "other@example.com"}
PASSWORD = "a long enough password"
# What path parameters become: ids that do not exist, so an allowed call changes nothing.
PATH_VALUES = {"{goal_id}": "999", "{session_id}": "1", "{user_id}": "999", "{key_id}": "999",
               "{variant}": "hash", "{path:path}": "app.css", "{invite_id}": "999",
               "{token}": "not-a-token", "{rule_id}": "1", "{channel_id}": "1",
               "{incident_id}": "1", "{report_id}": "1", "{job_id}": "nope",
               "{asset_id}": "0" * 64, "{funnel_id}": "999", "{link_id}": "999",
               "{segment_id}": "999", "{import_id}": "999"}
FORM = {"domain": "new.example", "timezone": "Not/AZone", "current": "x", "new": "x",
        "confirm": "x", "kind": "event", "target": "Goal", "name": "k", "scope": "stats",
        "team": "999", "role": "nobody", "email": "not an address"}


def _routes() -> list[str]:
    return sorted({f"{m} {r.path}" for router in ROUTERS for r in router.routes  # type: ignore[attr-defined]
                   for m in (r.methods or ())})  # type: ignore[attr-defined]


def test_the_tables_agree() -> None:
    assert all(len(row) == len(CREDENTIALS) for row in EXPECT.values()), "a row's length"
    assert set(ACCESS) - {"public"} == set(EXPECT)


def test_every_route_is_classified() -> None:
    classified = set().union(*ACCESS.values())
    assert set(_routes()) == classified, (set(_routes()) ^ classified)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with make_client(Path(tmp_path_factory.mktemp("access"))) as client:
        svc = svc_of(client)
        meta, people = svc.meta, svc.people
        users = {who: meta.create_user(email, PASSWORD,
                                       role="admin" if who == "instance" else "viewer")
                 for who, email in USERS.items()}
        team = people.create_team("Team A", users["owner"].id)
        other_team = people.create_team("Team B")
        site = make_site(client, "a.example", team_id=team.id)
        other = make_site(client, "b.example", team_id=other_team.id)
        for who in ("admin", "editor", "viewer"):
            people.set_guest_role(site.id, users[who].id, who)
        people.set_guest_role(other.id, users["other_viewer"].id, "viewer")
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
        yield {"client": client, "site": site, "team": team, "keys": keys, "users": users}


def _session(world: dict[str, Any], who: str) -> tuple[dict[str, str], str]:
    """A new sign-in of ``who`` (made directly: a call may end sessions): its cookie and
    its forms' CSRF token. ``tests/api/test_dashboard.py`` covers signing in itself."""
    svc = svc_of(world["client"])
    now = svc.clock()
    data = sessions.new_session(world["users"][who].id, now.timestamp())
    svc.logins.open_session(data.user_id, data.nonce, now, timedelta(days=1))
    return ({sessions.COOKIE: sessions.encode(svc.secret, data)},
            sessions.csrf_token(svc.secret, data))


_GIF = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c00000000"
                     "010001000002024401003b")  # a 1x1 GIF


def _call(world: dict[str, Any], route: str, credential: str) -> int:
    client: TestClient = world["client"]
    site = world["site"]
    method, path = route.split(" ", 1)
    api = path.startswith("/api/")
    path = (path.replace("{site_id}", site.domain if api else str(site.id))
            .replace("{team_id}", str(world["team"].id)))
    for placeholder, value in PATH_VALUES.items():
        path = path.replace(placeholder, value)
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    csrf = ""
    if credential in USERS:
        cookies, csrf = _session(world, credential)
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
    elif path in ("/api/v2/funnels", "/api/v2/journeys", "/api/v2/retention",
                  "/api/v2/users"):
        kwargs["json"] = {"site_id": site.domain, "date_range": "7d"}
    elif path == "/api/v2/kpi":
        kwargs["json"] = {"site_id": site.domain, "period": "7d"}
    elif path == "/api/v2/query":
        kwargs["json"] = {"site_id": site.domain, "metrics": ["visitors"], "date_range": "7d"}
    elif method in ("POST", "PUT") and path.startswith("/admin/"):
        kwargs["json"] = {}
    elif api and method == "POST" and "goals" in path:
        kwargs["json"] = {"event_name": f"E-{credential}"}
    elif path == "/api/v1/assets/upload":  # the site is named in the body
        kwargs["data"] = {"site_id": site.domain}
        kwargs["files"] = {"file": ("logo.gif", _GIF, "image/gif")}
    elif api and method in ("POST", "PATCH", "PUT"):
        kwargs["json"] = {"role": "nobody", "email": "someone@example.com"}
    elif method == "POST" and not api:
        kwargs["data"] = {**FORM, "csrf": csrf}
    response = client.request(method, path, **kwargs)
    client.cookies.clear()
    return response.status_code


# An allowed stream never ends: for it only the refusals are called.
CASES = [(route, cls, credential) for cls, routes in ACCESS.items() if cls != "public"
         for route in sorted(routes) for credential, expected in zip(
             CREDENTIALS, EXPECT[cls], strict=True)
         if not (route in ("GET /api/realtime/stream", "GET /admin/analytics/kpi/stream")
                 and expected == A)]


@pytest.mark.parametrize(("route", "cls", "credential"), CASES,
                         ids=[f"{r}|{c}" for r, _, c in CASES])
def test_each_route_answers_each_credential_as_its_class_says(
        world: dict[str, Any], route: str, cls: str, credential: str) -> None:
    expected = EXPECT[cls][CREDENTIALS.index(credential)]
    status = _call(world, route, credential)
    if expected == A:
        assert status not in (401, 403) and status < 500, status
    else:
        assert status == expected


def test_public_routes_answer_without_credentials(world: dict[str, Any]) -> None:
    for route in sorted(ACCESS["public"]):
        status = _call(world, route, "anonymous")
        assert status < 500 and status not in (401, 403), (route, status)
