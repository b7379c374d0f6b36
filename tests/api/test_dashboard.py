"""Dashboard pages and sign-in through the app: login, cookies, CSRF, roles, rate limits, and
the stats API accepting the session."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from liveinsight.security import sessions
from tests.conftest import csrf_of, grant, login, make_client, make_site, svc_of

ADMIN = ("admin@example.com", "correct horse battery")
VIEWER = ("viewer@example.com", "glass tiger orbit 1")


def _users(client: TestClient) -> None:
    meta = svc_of(client).meta
    meta.create_user(*ADMIN, role="admin")
    meta.create_user(*VIEWER, role="viewer")






def test_login_sets_a_hardened_session_cookie(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        assert client.get("/sites", follow_redirects=False).headers["location"].startswith(
            "/login?next=")
        res = login(client, *ADMIN)
        assert res.status_code == 303 and res.headers["location"] == "/sites"
        cookie = next(c for c in res.headers.get_list("set-cookie")
                      if c.startswith(sessions.COOKIE + "="))
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie
        page = client.get("/sites")
        assert page.status_code == 200 and "admin@example.com" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]


def test_the_cookie_is_secure_over_https(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        token = csrf_of(client.get("https://testserver/login").text)
        res = client.post("https://testserver/login", data={
            "email": ADMIN[0], "password": ADMIN[1], "csrf": token}, follow_redirects=False)
        cookie = next(c for c in res.headers.get_list("set-cookie")
                      if c.startswith(sessions.COOKIE + "="))
        assert "Secure" in cookie


def test_bad_password_and_unknown_user_are_refused_alike(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        wrong = login(client, ADMIN[0], "not the password")
        unknown = login(client, "nobody@example.com", "whatever123")
        for res in (wrong, unknown):
            assert res.status_code == 401  # type: ignore[attr-defined]
            assert "Wrong e-mail or password" in res.text  # type: ignore[attr-defined]
        assert sessions.COOKIE not in client.cookies


def test_login_without_the_form_token_is_refused(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        client.get("/login")
        res = client.post("/login", data={"email": ADMIN[0], "password": ADMIN[1],
                                           "csrf": "forged"}, follow_redirects=False)
        assert res.status_code == 400 and sessions.COOKIE not in client.cookies


def test_a_tampered_cookie_is_not_a_session(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        login(client, *VIEWER)
        token = client.cookies[sessions.COOKIE]
        payload, signature = token.split(".")
        client.cookies.clear()
        client.cookies.set(sessions.COOKIE, payload + "." + signature[::-1])
        assert client.get("/sites", follow_redirects=False).status_code == 303
        site = make_site(client, "example.com")
        res = client.get("/api/stats/aggregate", params={"site_id": site.domain})
        assert res.status_code == 401
        client.cookies.clear()
        client.cookies.set(sessions.COOKIE, token)
        assert client.get("/sites", follow_redirects=False).status_code == 200


def test_the_stats_api_accepts_the_session(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        site = make_site(client, "example.com")
        assert client.get("/api/stats/aggregate", params={"site_id": site.domain}
                          ).status_code == 401
        grant(client, site, VIEWER[0])
        login(client, *VIEWER)
        res = client.get("/api/stats/aggregate", params={"site_id": site.domain,
                                                         "metrics": "visitors"})
        assert res.status_code == 200 and res.json()["results"]["visitors"]["value"] == 0


def test_viewers_read_but_only_admins_change_settings(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        site = make_site(client, "example.com")
        grant(client, site, VIEWER[0])
        login(client, *VIEWER)
        page = client.get(f"/sites/{site.id}/settings")
        assert page.status_code == 200 and 'data-domain="example.com"' in page.text
        assert site.uuid in page.text and "<fieldset disabled>" in page.text
        form = {"csrf": csrf_of(page.text), "name": "Hacked", "domain": "example.com",
                "timezone": "UTC", "retention_days": "0"}
        assert client.post(f"/sites/{site.id}/settings", data=form).status_code == 403
        client.cookies.clear()
        login(client, *ADMIN)
        page = client.get(f"/sites/{site.id}/settings")
        form.update(csrf=csrf_of(page.text), name="Example", aliases="www2.example.com\n",
                    timezone="Europe/Paris", retention_days="400", enabled="on")
        res = client.post(f"/sites/{site.id}/settings", data=form, follow_redirects=False)
        assert res.status_code == 303
        saved = svc_of(client).meta.site(site.id)
        assert saved is not None
        assert (saved.name, saved.timezone, saved.retention_days, saved.aliases) == (
            "Example", "Europe/Paris", 400, ("www2.example.com",))


def test_forms_need_the_session_csrf_token(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        site = make_site(client, "example.com")
        login(client, *ADMIN)
        form = {"csrf": "nope", "name": "X", "domain": "example.com", "timezone": "UTC"}
        assert client.post(f"/sites/{site.id}/settings", data=form).status_code == 403
        assert client.post("/sites", data={"csrf": "", "domain": "new.example"}
                           ).status_code == 403
        assert client.post("/logout", data={"csrf": "nope"}).status_code == 403
        token = csrf_of(client.get("/sites").text)
        res = client.post("/sites", data={"csrf": token, "domain": "https://new.example/",
                                          "timezone": "UTC"}, follow_redirects=False)
        assert res.status_code == 303
        assert svc_of(client).sites.by_domain("new.example") is not None
        res = client.post("/logout", data={"csrf": token}, follow_redirects=False)
        assert res.status_code == 303 and sessions.COOKIE not in client.cookies
        assert client.get("/sites", follow_redirects=False).status_code == 303


def test_login_attempts_are_rate_limited_per_account(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        for _ in range(10):
            assert login(client, ADMIN[0], "wrong password").status_code == 401  # type: ignore[attr-defined]
        blocked = login(client, *ADMIN)
        assert blocked.status_code == 429  # type: ignore[attr-defined]
        assert int(blocked.headers["retry-after"]) > 0  # type: ignore[attr-defined]


def test_next_only_leads_within_the_dashboard(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        for target, expected in (("//evil.example/x", "/sites"), ("https://evil.example", "/sites"),
                                 ("/sites/1", "/sites/1")):
            client.cookies.clear()
            res = login(client, *ADMIN, next=target)
            assert res.headers["location"] == expected  # type: ignore[attr-defined]


def test_static_files_stay_inside_the_static_dir(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        assert client.get("/static/app.css").status_code == 200
        assert client.get("/static/vendor/uPlot.iife.min.js").status_code == 200
        assert client.get("/static/../templates/base.html").status_code == 404
        assert client.get("/static/%2e%2e/templates/base.html").status_code == 404


def test_pages_link_versioned_assets_served_immutable(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        page = client.get("/login").text
        found = re.search(r'href="(/static/app\.([0-9a-f]{12})\.css)"', page)
        assert found, page[:400]
        versioned = client.get(found.group(1))
        assert versioned.status_code == 200
        assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
        plain = client.get("/static/app.css")
        assert plain.content == versioned.content
        assert plain.headers["cache-control"] == "public, max-age=3600"
        other = "0" * 12 if found.group(2) != "0" * 12 else "1" * 12
        assert client.get(f"/static/app.{other}.css").status_code == 404  # another version
        assert client.get("/static/vendor/uPlot.iife.min.0123456789ab.js").status_code == 404


def test_bad_settings_are_refused_with_a_message(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        site = make_site(client, "example.com")
        make_site(client, "other.example")
        login(client, *ADMIN)
        token = csrf_of(client.get(f"/sites/{site.id}/settings").text)
        base = {"csrf": token, "name": "X", "domain": "example.com", "timezone": "UTC",
                "retention_days": "0"}
        for change, message in (({"domain": "other.example"}, "already uses that domain"),
                                ({"timezone": "Mars/Olympus"}, "unknown time zone"),
                                # a directory of zones, a name too long for a file:
                                ({"timezone": "America"}, "unknown time zone"),  # were 500s
                                ({"timezone": "A" * 300}, "unknown time zone"),
                                ({"retention_days": "-3"}, "retention must be")):
            res = client.post(f"/sites/{site.id}/settings", data={**base, **change})
            assert res.status_code == 400 and message in res.text
        saved = svc_of(client).meta.site(site.id)
        assert saved is not None and saved.domain == "example.com"


def test_unknown_sites_and_logged_in_login(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _users(client)
        login(client, *VIEWER)
        for path in ("/sites/999", "/sites/999/settings"):
            res = client.get(path)
            assert res.status_code == 404 and "no site with id 999" in res.text
        res = client.get("/login", follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == "/sites"


def test_the_login_limit_follows_the_client_behind_a_trusted_proxy(tmp_path: Path) -> None:
    with make_client(tmp_path, trusted_proxies=["127.0.0.1"], login_address_attempts=5,
                     login_account_attempts=100) as direct:
        _users(direct)
        proxy = TestClient(direct.app, client=("127.0.0.1", 40000))

        def attempt(ip: str, email: str, password: str) -> int:
            proxy.headers["x-forwarded-for"] = ip
            proxy.cookies.clear()
            return login(proxy, email, password).status_code  # type: ignore[attr-defined,no-any-return]

        for i in range(5):
            assert attempt("198.51.100.7", f"nobody{i}@example.com", "wrong password") == 401
        assert attempt("198.51.100.7", ADMIN[0], ADMIN[1]) == 429
        assert attempt("198.51.100.8", ADMIN[0], ADMIN[1]) == 303  # another client behind it


def test_exclusions_and_site_settings_from_the_settings_page(tmp_path: Path) -> None:
    import json

    with make_client(tmp_path) as client:
        _users(client)
        site = make_site(client, "example.com")
        login(client, *ADMIN)
        token = csrf_of(client.get(f"/sites/{site.id}/settings").text)
        base = {"csrf": token, "name": "X", "domain": "example.com", "timezone": "UTC",
                "retention_days": "0", "enabled": "on", "currency": "eur",
                "blocked_ips": "203.0.113.0/24\n", "blocked_paths": "/admin/*",
                "blocked_hosts": "https://www.Staging.example.com/", "require_signed_ingest": ""}
        for change, message in (({"domain": "bad..domain"}, "is not a domain"),
                                ({"blocked_ips": "300.1.2.3"}, "not an address or CIDR"),
                                ({"blocked_paths": "admin"}, "must start with /"),
                                ({"blocked_hosts": "a b"}, "is not a domain"),
                                ({"currency": "euro"}, "ISO 4217")):
            res = client.post(f"/sites/{site.id}/settings", data={**base, **change})
            assert res.status_code == 400 and message in res.text, (change, res.text[-300:])
        saved = client.post(f"/sites/{site.id}/settings", data=base, follow_redirects=False)
        assert saved.status_code == 303
        now = svc_of(client).meta.site(site.id)
        assert now is not None
        assert (now.currency, now.blocked_ips, now.blocked_paths, now.blocked_hosts) == (
            "EUR", ("203.0.113.0/24",), ("/admin/*",), ("staging.example.com",))
        ua = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/126.0.0.0 Safari/537.36", "content-type": "text/plain"}
        for url in ("https://example.com/admin/users", "https://staging.example.com/",
                    "https://example.com/pricing"):
            body = json.dumps({"n": "pageview", "u": url, "d": "example.com"})
            assert client.post("/api/event", content=body, headers=ua).status_code == 202
        from tests.conftest import stored_events

        assert [e["pathname"] for e in stored_events(client)] == ["/pricing"]


def test_api_keys_from_the_account_page(tmp_path: Path) -> None:
    from datetime import timedelta

    from tests.conftest import fixed_clock

    with make_client(tmp_path) as client:
        _users(client)
        site = make_site(client, "example.com")
        login(client, *ADMIN)
        token = csrf_of(client.get("/account").text)
        made = client.post("/account/keys", data={
            "csrf": token, "name": "reporting", "scope": ["stats"], "site": [str(site.id)],
            "expires_days": "0"})
        assert made.status_code == 201
        found = re.search(r"data-new-key>(li_[^<]+)<", made.text)
        assert found, made.text[-500:]
        auth = {"authorization": f"Bearer {found.group(1)}"}
        assert client.get("/api/stats", headers=auth).status_code == 200
        page = client.get("/account").text
        assert "reporting" in page and found.group(1) not in page  # the secret is shown once
        assert client.post("/account/keys", data={"csrf": token, "name": "x",
                                                  "expires_days": "0"}).status_code == 400
        key = next(k for k in svc_of(client).meta.api_keys() if k.name == "reporting")
        assert key.last_used_at is not None and key.site_ids == (site.id,)
        revoked = client.post(f"/account/keys/{key.id}/revoke", data={"csrf": token},
                              follow_redirects=False)
        assert revoked.status_code == 303
        assert client.get("/api/stats", headers=auth).status_code == 401  # at once here
        client.cookies.clear()
        login(client, *VIEWER)
        viewer_token = csrf_of(client.get("/account").text)
        assert client.post("/account/keys", data={"csrf": viewer_token, "name": "v",
                                                  "scope": ["stats"]}).status_code == 403
    # an expired key stops working
    with make_client(tmp_path / "2", clock=fixed_clock()) as client:
        meta = svc_of(client).meta
        make_site(client, "example.com")
        from datetime import UTC, datetime

        plaintext, _ = meta.create_api_key("old", ["stats"], expires_at=datetime.now(UTC)
                                           - timedelta(seconds=1))
        assert client.get("/api/stats", headers={"authorization": f"Bearer {plaintext}"}
                          ).status_code == 401
