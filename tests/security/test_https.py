"""``require_https`` and HSTS as the scheme is told (directly, by a trusted proxy): real
apps, each on its own data dir (one chDB path per process at a time, hence apart from
``test_headers.py``'s module-wide app)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from liveinsight.app import create_app
from tests.conftest import make_client, make_settings, make_site
from tests.security.test_headers import HSTS


def _app_client(tmp_path: Path, peer: str, **settings: object) -> TestClient:
    app = create_app(make_settings(tmp_path, **settings))
    return TestClient(app, base_url="http://testserver", client=(peer, 40000))


def test_hsts_follows_the_scheme_a_trusted_proxy_reports(tmp_path: Path) -> None:
    with _app_client(tmp_path, "127.0.0.1", trusted_proxies=["127.0.0.1"]) as proxy:
        told = proxy.get("/login", headers={"x-forwarded-proto": "https"})
        assert told.headers["strict-transport-security"] == HSTS
        rfc = proxy.get("/login", headers={"forwarded": "for=1.2.3.4;proto=https"})
        assert rfc.headers["strict-transport-security"] == HSTS
        plain = proxy.get("/login", headers={"x-forwarded-proto": "http"})
        assert "strict-transport-security" not in plain.headers


def test_an_untrusted_peer_cannot_claim_https(tmp_path: Path) -> None:
    with _app_client(tmp_path, "10.1.2.3", trusted_proxies=["127.0.0.1"]) as direct:
        response = direct.get("/login", headers={"x-forwarded-proto": "https"})
        assert "strict-transport-security" not in response.headers


def test_hsts_can_be_turned_off(tmp_path: Path) -> None:
    with make_client(tmp_path, hsts_seconds=0) as c:
        response = c.get("https://testserver/login")
        assert "strict-transport-security" not in response.headers
        assert response.headers["x-frame-options"] == "DENY"


def test_require_https_redirects_reads_and_refuses_the_rest(tmp_path: Path) -> None:
    with make_client(tmp_path, require_https=True) as c:
        make_site(c, "example.com")
        read = c.get("/sites?tab=1", follow_redirects=False)
        assert read.status_code == 308
        assert read.headers["location"] == "https://testserver/sites?tab=1"
        assert read.headers["x-frame-options"] == "DENY"
        write = c.post("/api/v2/query", json={"site_id": "example.com"})
        assert write.status_code == 403
        assert write.json()["error"]["code"] == "https_required"
        assert c.post("/login", data={"email": "a@b.c"}).status_code == 403
        # over HTTPS it is served
        assert c.get("https://testserver/login").status_code == 200
        # the collector, its preflight and /health keep working over HTTP
        event = c.post("/api/event", json={"n": "pageview", "u": "https://example.com/",
                                           "d": "example.com"},
                       headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"})
        assert event.status_code == 202
        preflight = c.options("/api/event", headers={
            "origin": "https://example.com", "access-control-request-method": "POST"})
        assert preflight.status_code < 300
        assert c.get("/health").status_code == 200
        # a Host that is no host name is not redirected to
        odd = c.get("/sites", headers={"host": "evil.example/x@y"}, follow_redirects=False)
        assert odd.status_code == 403


def test_require_https_redirects_to_the_public_url_behind_a_trusted_proxy(
        tmp_path: Path) -> None:
    with _app_client(tmp_path, "127.0.0.1", trusted_proxies=["127.0.0.1"], require_https=True,
                     public_url="https://stats.example.org/") as c:
        plain = c.get("/login?next=/sites", follow_redirects=False)
        assert plain.status_code == 308
        assert plain.headers["location"] == "https://stats.example.org/login?next=/sites"
        proxied = c.get("/login", headers={"x-forwarded-proto": "https"})
        assert proxied.status_code == 200
        assert proxied.headers["strict-transport-security"] == HSTS
