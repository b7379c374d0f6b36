"""The security headers on every answer, generated from the route table, and
``require_https``: real apps, answers read as a client reads them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from liveinsight.api.routes import ROUTERS
from liveinsight.security.headers import API_CSP, DASHBOARD_CSP
from tests.conftest import make_client, make_site

COMMON = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
          "referrer-policy": "same-origin", "cross-origin-opener-policy": "same-origin"}
HSTS = "max-age=31536000; includeSubDomains"
PATH_VALUES = {"{site_id}": "1", "{goal_id}": "999", "{session_id}": "1", "{user_id}": "999",
               "{key_id}": "999", "{variant}": "hash", "{path:path}": "app.css",
               "{invite_id}": "999", "{token}": "not-a-token", "{rule_id}": "1",
               "{channel_id}": "1", "{incident_id}": "1", "{report_id}": "1",
               "{job_id}": "nope", "{asset_id}": "0" * 64, "{team_id}": "1"}
# Routes answering with a policy of their own (kept by the front door).
OWN_CSP = {"GET /docs"}


def _routes() -> list[tuple[str, str]]:
    found = {(m, r.path) for router in ROUTERS for r in router.routes  # type: ignore[attr-defined]
             for m in (r.methods or ())}  # type: ignore[attr-defined]
    return sorted(found)


def _path(method: str, path: str) -> str:
    if path.startswith("/api/") and "{site_id}" in path:
        path = path.replace("{site_id}", "example.com")
    for placeholder, value in PATH_VALUES.items():
        path = path.replace(placeholder, value)
    if path.startswith(("/api/stats", "/api/realtime")):
        path += "?site_id=example.com"
    return path


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(Path(tmp_path_factory.mktemp("headers"))) as c:
        make_site(c, "example.com")
        yield c


def _check(headers: dict[str, str] | object, route: str, https: bool) -> None:
    got = {k: headers[k] for k in (*COMMON, "content-security-policy",  # type: ignore[index]
                                   "permissions-policy", "strict-transport-security")
           if k in headers}  # type: ignore[operator]
    for name, value in COMMON.items():
        assert got.get(name) == value, (route, name, got)
    assert "camera=()" in got.get("permissions-policy", ""), (route, got)
    csp = got.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, (route, csp)
    if route not in OWN_CSP:
        html = headers.get("content-type", "").startswith("text/html")  # type: ignore[attr-defined]
        assert csp == (DASHBOARD_CSP if html else API_CSP), (route, csp)
    assert got.get("strict-transport-security") == (HSTS if https else None), (route, got)


@pytest.mark.parametrize(("method", "path"), _routes(), ids=[" ".join(r) for r in _routes()])
def test_every_route_answers_with_the_security_headers(client: TestClient, method: str,
                                                       path: str) -> None:
    """Each route, called anonymously, over HTTP (no HSTS) and over HTTPS (HSTS)."""
    url = _path(method, path)
    for base, https in (("http://testserver", False), ("https://testserver", True)):
        response = client.request(method, base + url, follow_redirects=False)
        assert response.status_code < 500, (method, path, response.status_code)
        _check(response.headers, f"{method} {path}", https)


def test_failures_of_the_front_door_and_router_carry_them_too(client: TestClient) -> None:
    answers = {
        "unknown path": client.get("/no/such/page"),
        "wrong method": client.put("/api/stats/aggregate"),
        "too large": client.post("/api/v2/query", content=b"x" * 200_000),
        "collector's bad input": client.post("/api/event", content=b"{not json"),
        "collector's preflight": client.options("/api/event", headers={
            "origin": "https://example.com", "access-control-request-method": "POST"}),
    }
    for what, response in answers.items():
        assert response.status_code in (202, 204, 400, 404, 405, 413), (what, response)
        _check(response.headers, what, False)


def test_the_collector_accepts_and_answers_with_them(client: TestClient) -> None:
    response = client.post("https://testserver/api/event", json={
        "n": "pageview", "u": "https://example.com/", "d": "example.com"},
        headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"})
    assert response.status_code == 202
    _check(response.headers, "POST /api/event", True)


def test_the_docs_page_allows_only_its_own_inline_script(client: TestClient) -> None:
    response = client.get("/docs")
    csp = response.headers["content-security-policy"]
    script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
    assert "'sha256-" in script_src and "unsafe" not in script_src
    assert "frame-ancestors 'none'" in csp


def test_an_uploaded_image_keeps_its_own_policy(client: TestClient) -> None:
    from tests.security.test_route_access import _GIF

    svc = client.app.state.services  # type: ignore[attr-defined]
    key, _ = svc.meta.create_api_key("img", ["admin"])
    up = client.post("/api/v1/assets/upload", data={"site_id": "example.com"},
                     files={"file": ("a.gif", _GIF, "image/gif")},
                     headers={"authorization": f"Bearer {key}"})
    assert up.status_code in (200, 201), up.text
    image = client.get(up.json()["url"])
    assert image.status_code == 200
    assert image.headers["content-security-policy"] == "default-src 'none'"
    assert image.headers["x-frame-options"] == "DENY"


def test_an_embeddable_answer_drops_x_frame_options_only() -> None:
    from liveinsight.security.headers import SecurityHeaders, embed_csp

    policy = SecurityHeaders(0)
    framed = [(b"content-type", b"text/html; charset=utf-8"),
              (b"content-security-policy", embed_csp(["https://blog.example.com"]).encode())]
    got = dict(policy.add(framed, https=False))
    assert b"x-frame-options" not in got
    assert b"frame-ancestors https://blog.example.com;" in got[b"content-security-policy"]
    assert got[b"x-content-type-options"] == b"nosniff"
    closed = [(b"content-type", b"text/html"),
              (b"content-security-policy", embed_csp([]).encode())]
    assert dict(policy.add(closed, https=False))[b"x-frame-options"] == b"DENY"
    plain = dict(policy.add([(b"content-type", b"text/html")], https=False))
    assert plain[b"x-frame-options"] == b"DENY"
