"""Regression tests for what a hostile probe of a running server found (issue 9): each test
failed before its fix. The fixes are listed in docs/operations.md, "Security"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import (
    csrf_of,
    fixed_clock,
    login,
    make_client,
    make_site,
    stored_events,
    svc_of,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36")
PAGE = {"n": "Purchase", "u": "https://example.com/checkout", "d": "example.com"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, clock=fixed_clock(NOW)) as client:
        make_site(client, "example.com")
        yield client


def _event(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/api/event", content=json.dumps(body),
                       headers={"user-agent": UA, "content-type": "text/plain"})


# --- High 1: revenue amounts with huge exponents ---------------------------------------------

HOSTILE_AMOUNTS = ["1e-400000000", "1e999999999", "1e-1000000000000", "99999999999999.99995",
                   "500000000000000"]


def test_hostile_revenue_amounts_are_dropped_and_the_event_kept(app: TestClient) -> None:
    """Each amount was expanded digit by digit on the event loop (3.5 s and ~400 MB for
    1e-400000000), or answered 500 (decimal.Overflow, MemoryError). Now it is not an amount:
    the event is stored without revenue, as with any other invalid revenue."""
    for amount in HOSTILE_AMOUNTS:
        response = _event(app, {**PAGE, "revenue": {"amount": amount, "currency": "EUR"}})
        assert response.status_code == 202, (amount, response.text)
    _event(app, {**PAGE, "revenue": {"amount": "99999999999999.9999", "currency": "EUR"}})
    stored_events(app)
    svc = svc_of(app)
    rows = svc.store.query(f"SELECT toString(revenue), revenue_currency FROM "
                           f"`{svc.store.database}`.events ORDER BY revenue").rows
    assert rows == [["0", ""]] * len(HOSTILE_AMOUNTS) + [["99999999999999.9999", "EUR"]]


def test_hostile_revenue_amounts_on_the_native_endpoint_are_400(app: TestClient) -> None:
    key, _ = svc_of(app).meta.create_api_key("server", ["ingest"])
    for amount in HOSTILE_AMOUNTS:
        response = app.post("/api/events", headers={"authorization": f"Bearer {key}"}, json={
            "page_url": "https://example.com/", "domain": "example.com",
            "revenue": {"amount": amount, "currency": "EUR"}})
        assert response.status_code == 400, (amount, response.text)
        assert response.json()["error"]["field"] == "revenue"


# --- High 2: regular expressions -------------------------------------------------------------


@pytest.fixture
def reader(app: TestClient) -> tuple[TestClient, dict[str, str]]:
    svc = svc_of(app)
    site = svc.sites.by_domain("example.com")
    assert site is not None
    svc.meta.create_goal(site.id, event_name="Signup")
    key, _ = svc.meta.create_api_key("reader", ["stats"], [site.id])
    return app, {"authorization": f"Bearer {key}"}


def _v2(client: TestClient, auth: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v2/query", headers=auth, json={
        "site_id": "example.com", "metrics": ["visitors"], "date_range": "7d", **body})


def test_goal_patterns_are_evaluated_by_re2_not_python(
        reader: tuple[TestClient, dict[str, str]]) -> None:
    """``matches`` on ``event:goal`` ran Python's backtracking ``re`` over the goal names in
    process (``(.*.*)*Z`` held the interpreter for 3.3 s). Patterns now go to ClickHouse:
    RE2 syntax is what counts (a look-ahead is refused, a Unicode class accepted)."""
    client, auth = reader
    assert _v2(client, auth, filters=[["matches", "event:goal", ["(.*.*)*Z"]]]).status_code == 200
    assert _v2(client, auth, filters=[["matches", "event:goal", [r"^\pL+$"]]]).status_code == 200
    refused = _v2(client, auth, filters=[["matches", "event:goal", ["^(?=Sign)"]]])
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "filters"


# --- Low: limits on filters and dates ----------------------------------------------------------


def _nested_not(depth: int) -> list[Any]:
    node: list[Any] = ["is", "event:page", ["/"]]
    for _ in range(depth):
        node = ["not", node]
    return node


@pytest.mark.parametrize(("body", "field"), [
    ({"filters": [["matches", "event:page", ["(" * 5000 + ")" * 5000]]]}, "filters"),
    ({"filters": [_nested_not(11)]}, "filters[0]" + "[1]" * 9),
    ({"filters": [_nested_not(900)]}, "filters[0]" + "[1]" * 9),
    ({"filters": [["is", "event:page", [f"/{i}" for i in range(600)]]]}, "filters[0]"),
    ({"filters": [["is", "event:page", ["/"]]] * 1000}, "filters"),
    ({"date_range": ["0001-01-01", "0001-01-31"]}, "date_range"),
    ({"date_range": ["9999-12-01", "9999-12-31"]}, "date_range"),
    ({"date_range": ["9999-12-01T00:00:00+00:00", "9999-12-31T00:00:00+00:00"]}, "date_range"),
    ({"date_range": "month", "date": "9999-12-31"}, "date"),
    ({"date_range": "day", "date": "0001-01-01",
      "include": {"comparisons": {"mode": "previous_period"}}}, "date"),
    ({"date_range": ["1970-01-01", "1970-01-31"],
      "include": {"comparisons": {"mode": "previous_period"}}}, "include.comparisons"),
])
def test_expensive_or_impossible_queries_are_400_naming_the_field(
        reader: tuple[TestClient, dict[str, str]], body: dict[str, Any], field: str) -> None:
    """Deep regex nesting was a 500 (RecursionError), deep ``not`` nesting a 500 while the
    query was echoed back, very many values a 503, years 1 and 9999 a 500 (OverflowError)."""
    client, auth = reader
    response = _v2(client, auth, **body)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(("params", "field"), [
    ("period=custom&date=0001-01-01,0001-01-02", "date"),
    ("period=custom&date=9999-12-30,9999-12-31&compare=previous_period", "date"),
    ("period=year&date=9999-06-01&compare=year_over_year", "date"),
    ("period=custom&date=1970-01-01,1970-01-02&compare=previous_period", "compare"),
])
def test_calendar_edges_on_the_simple_endpoints_are_400(
        reader: tuple[TestClient, dict[str, str]], params: str, field: str) -> None:
    client, auth = reader
    for kind in ("aggregate", "timeseries", "breakdown?property=event:page&"):
        path = f"/api/stats/{kind}" if "?" in kind else f"/api/stats/{kind}?"
        response = client.get(f"{path}site_id=example.com&{params}", headers=auth)
        assert response.status_code == 400, (kind, response.text[:300])
        assert response.json()["error"]["field"] == field


def test_the_query_api_body_is_bounded(reader: tuple[TestClient, dict[str, str]]) -> None:
    """A 10 MB JSON body was parsed; now 413 past ``max_api_body_bytes``."""
    client, auth = reader
    huge = json.dumps({"site_id": "example.com", "metrics": ["visitors"], "date_range": "7d",
                       "filters": [["is", "event:page", ["/x" * 1000] * 5000]]})
    response = client.post("/api/v2/query", content=huge,
                           headers={**auth, "content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "too_large", "message": "the request body is larger than 131072 bytes",
        "field": "body"}


def test_a_null_byte_in_a_static_path_is_a_404(app: TestClient) -> None:
    response = app.get("/static/app%00.css")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- Low: /metrics and /health/detailed --------------------------------------------------------


def test_metrics_and_detailed_health_need_the_token_or_an_admin(tmp_path: Path) -> None:
    """Both were public (node id, error texts); /health stays public (liveness)."""
    with make_client(tmp_path, metrics_token="scrape-me") as client:
        svc = svc_of(client)
        admin_key, _ = svc.meta.create_api_key("ops", ["admin"])
        stats_key, _ = svc.meta.create_api_key("reader", ["stats"])
        for path in ("/metrics", "/health/detailed"):
            assert client.get(path).status_code == 401
            for bad in ("Bearer scrape-m", "Bearer nope", f"Bearer {stats_key}", "Basic x"):
                assert client.get(path, headers={"authorization": bad}).status_code in (401,
                                                                                        403)
            for good in ("Bearer scrape-me", f"Bearer {admin_key}"):
                assert client.get(path, headers={"authorization": good}).status_code == 200
        assert client.get("/health").status_code == 200


# --- Low: a site-scoped key cannot tell other sites from unknown ones ---------------------------


def test_a_site_scoped_key_gets_one_answer_for_other_and_unknown_sites(
        reader: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = reader
    other = make_site(client, "other.org")
    answers = []
    for name in ("other.org", str(other.id), other.uuid, "nope.example", "424242"):
        response = client.get("/api/stats/aggregate", params={"site_id": name}, headers=auth)
        answers.append((response.status_code, response.json()))
        realtime = client.get("/api/realtime", params={"site_id": name}, headers=auth)
        answers.append((realtime.status_code, realtime.json()))
    assert {(status, json.dumps(body)) for status, body in answers} == {(403, json.dumps(
        {"error": {"code": "forbidden", "message": "the API key does not cover this site",
                   "field": "site_id"}}))}


# --- Medium 3: sessions end server-side ---------------------------------------------------------

ADMIN = ("admin@example.com", "correct horse battery")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now






def _signed_in(client: TestClient, cookie: str) -> bool:
    """Whether ``cookie`` still opens the dashboard and the stats API."""
    client.cookies.clear()
    client.cookies.set("li_session", cookie)
    page = client.get("/sites", follow_redirects=False).status_code == 200
    api = client.get("/api/stats/aggregate", params={"site_id": "example.com"}).status_code
    assert page == (api == 200), (page, api)
    return page


def test_logout_ends_the_session_for_good(tmp_path: Path) -> None:
    """The cookie kept working for its 14 days after logout (pages, stats API, forms)."""
    with make_client(tmp_path) as client:
        make_site(client, "example.com")
        svc_of(client).meta.create_user(*ADMIN, role="admin")
        assert login(client, *ADMIN).status_code == 303
        cookie = client.cookies["li_session"]
        token = csrf_of(client.get("/sites").text)
        assert client.post("/logout", data={"csrf": token}).status_code == 200  # to /login
        assert not _signed_in(client, cookie)
        stale_form = client.post("/sites", data={"csrf": token, "domain": "new.example"})
        assert stale_form.status_code == 401
        assert svc_of(client).sites.by_domain("new.example") is None


def test_password_change_and_end_sessions_revoke_the_others(tmp_path: Path) -> None:
    clock = Clock()
    with make_client(tmp_path, clock=clock, session_idle_minutes=60) as client:
        make_site(client, "example.com")
        svc_of(client).meta.create_user(*ADMIN, role="admin")
        login(client, *ADMIN)
        laptop = client.cookies["li_session"]
        client.cookies.clear()
        login(client, *ADMIN)
        phone = client.cookies["li_session"]
        token = csrf_of(client.get("/account").text)
        assert "Log out everywhere" in client.get("/account").text
        changed = client.post("/account/password", data={
            "csrf": token, "current": ADMIN[1], "new": "a new long password",
            "confirm": "a new long password"}, follow_redirects=False)
        assert changed.status_code == 303
        assert _signed_in(client, phone) and not _signed_in(client, laptop)
        # idle past the limit: the session is over
        clock.now += timedelta(minutes=61)
        assert not _signed_in(client, phone)
        # an admin ends every session of a user, on every node (the metadata DB is shared)
        clock.now = NOW
        client.cookies.clear()
        login(client, ADMIN[0], "a new long password")
        admin_cookie = client.cookies["li_session"]
        user = svc_of(client).meta.user_by_email(ADMIN[0])
        assert user is not None
        ended = client.post(f"/users/{user.id}/end-sessions",
                            data={"csrf": csrf_of(client.get("/account").text)},
                            follow_redirects=False)
        assert ended.status_code == 303
        assert not _signed_in(client, admin_cookie)


# --- Medium 4: login throttling per account and per address -------------------------------------


def _attempt(client: TestClient, ip: str, email: str, password: str) -> int:
    client.cookies.clear()
    client.headers["x-forwarded-for"] = ip
    return int(login(client, email, password).status_code)


def test_one_account_attacked_from_thirty_addresses_is_locked(tmp_path: Path) -> None:
    with make_client(tmp_path, trusted_proxies=["127.0.0.1"]) as direct:
        svc_of(direct).meta.create_user(*ADMIN, role="admin")
        proxy = TestClient(direct.app, client=("127.0.0.1", 40000))
        statuses = [_attempt(proxy, f"198.51.100.{i}", ADMIN[0], "guess") for i in range(30)]
        assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
        assert _attempt(proxy, "203.0.113.1", *ADMIN) == 429  # even the right password


def test_one_address_interleaved_with_another_accounts_logins_is_throttled(
        tmp_path: Path) -> None:
    with make_client(tmp_path, trusted_proxies=["127.0.0.1"]) as direct:
        meta = svc_of(direct).meta
        meta.create_user(*ADMIN, role="admin")
        meta.create_user("mine@example.com", "my own password", role="viewer")
        proxy = TestClient(direct.app, client=("127.0.0.1", 40000))
        statuses = []
        for i in range(36):
            statuses.append(_attempt(proxy, "198.51.100.7", f"target{i % 3}@example.com", "x"))
            if i % 2:
                _attempt(proxy, "198.51.100.7", "mine@example.com", "my own password")
        assert 429 in statuses
        assert statuses.index(429) == 20  # the address's 21st failure is refused


def test_the_owner_of_a_locked_account_is_told(tmp_path: Path) -> None:
    """By e-mail (SMTP, here a real server on loopback) and at their next sign-in."""
    from aiosmtpd.controller import Controller

    from tests.support import free_port

    received: list[Any] = []

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    port = free_port()
    smtp = Controller(Inbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    clock = Clock()
    try:
        with make_client(tmp_path, clock=clock, smtp_host="127.0.0.1", smtp_port=port,
                         smtp_security="none") as client:
            svc_of(client).meta.create_user(*ADMIN, role="admin")
            for _ in range(10):
                assert login(client, ADMIN[0], "guess").status_code == 401
            assert login(client, *ADMIN).status_code == 429
            from tests.support import wait_until

            wait_until(lambda: received, 10, "the lockout e-mail")
            assert received[0].rcpt_tos == [ADMIN[0]]
            from email import message_from_bytes, policy

            mail = message_from_bytes(received[0].content, policy=policy.default)
            assert "sign-in paused" in str(mail["subject"])
            assert "10 failed attempts" in mail.get_content()  # type: ignore[attr-defined]
            clock.now += timedelta(minutes=16)  # the window has passed
            signed_in = login(client, *ADMIN)
            assert signed_in.status_code == 200 and "10 failed attempts" in signed_in.text
            assert "li_session" in client.cookies
            client.cookies.clear()
            assert login(client, *ADMIN).status_code == 303  # the notice is shown once
    finally:
        smtp.stop()


# --- Low: file modes, salts, cookies behind proxies ------------------------------------------


def test_the_metadata_database_is_private(tmp_path: Path) -> None:
    """It was created 0644 (salts, password and key hashes); the -wal and -shm too."""
    with make_client(tmp_path, secret_key=None) as client:
        svc_of(client).meta.create_user(*ADMIN, role="admin")
        data = tmp_path / "data"
        files = [data / n for n in ("liveinsight.db", "liveinsight.db-wal", "liveinsight.db-shm")]
        assert all(f.exists() for f in files)
        assert {f.stat().st_mode & 0o777 for f in files} == {0o600}
        assert (data / "secret_key").stat().st_mode & 0o777 == 0o600


def test_the_session_cookie_is_secure_behind_a_trusted_https_proxy(tmp_path: Path) -> None:
    with make_client(tmp_path, trusted_proxies=["127.0.0.1"]) as direct:
        svc_of(direct).meta.create_user(*ADMIN, role="admin")
        for peer, headers, secure in (
                ("127.0.0.1", {"x-forwarded-proto": "https"}, True),
                ("127.0.0.1", {"forwarded": "for=198.51.100.7;proto=https"}, True),
                ("127.0.0.1", {"x-forwarded-proto": "http"}, False),
                ("198.51.100.9", {"x-forwarded-proto": "https"}, False)):  # not a proxy
            client = TestClient(direct.app, client=(peer, 40000), headers=headers)
            token = csrf_of(client.get("/login").text)
            # the browser talks https to the proxy, so it sends the Secure login cookie back
            client.cookies.set("li_login_csrf", token)
            response = client.post("/login", data={"email": ADMIN[0], "password": ADMIN[1],
                                                   "csrf": token}, follow_redirects=False)
            cookie = next(c for c in response.headers.get_list("set-cookie")
                          if c.startswith("li_session="))
            assert ("Secure" in cookie) == secure, (peer, headers)


def test_a_quiet_sites_salts_are_deleted_on_a_timer(tmp_path: Path) -> None:
    """Salts older than yesterday were deleted only when a new day's first event came."""
    from liveinsight.ops import housekeeping

    clock = Clock()
    with make_client(tmp_path, clock=clock) as app_client:
        make_site(app_client, "example.com")
        svc = svc_of(app_client)
        assert _event(app_client, {**PAGE, "n": "pageview"}).status_code == 202
        assert svc.salts.current(clock.now)[0]
        clock.now += timedelta(days=2)  # no event for two days
        housekeeping.run_once(svc, clock.now)
        with svc.meta.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM salts").scalar() == 0
        assert svc.salts.held_day is None  # nothing held in memory either
    assert housekeeping.next_delay(datetime(2026, 11, 20, 23, 59, 0, tzinfo=UTC)) == 61.0
    assert housekeeping.next_delay(datetime(2026, 11, 20, 12, 0, tzinfo=UTC)) == 600.0


# --- Low: revoked API keys ----------------------------------------------------------------------


def test_a_revoked_key_stops_working_within_a_second(tmp_path: Path) -> None:
    """Revoked keys kept working for up to ~31 s (the key cache); the cache now lives 1 s,
    on every node alike (each asks the shared metadata database once a second per key)."""
    import time

    with make_client(tmp_path) as client:
        make_site(client, "example.com")
        svc = svc_of(client)
        key, info = svc.meta.create_api_key("server", ["ingest", "stats"])
        auth = {"authorization": f"Bearer {key}"}
        body = {"page_url": "https://example.com/", "domain": "example.com"}
        assert client.post("/api/events", headers=auth, json=body).status_code == 202
        assert client.get("/api/stats/aggregate", params={"site_id": "example.com"},
                          headers=auth).status_code == 200
        svc.meta.revoke_api_key(info.id)  # e.g. `liveinsight` on another node
        time.sleep(1.05)  # the promise: within a second, on every node
        assert client.post("/api/events", headers=auth, json=body).status_code == 401
        assert client.get("/api/stats/aggregate", params={"site_id": "example.com"},
                          headers=auth).status_code == 401


def test_metrics_accept_an_admin_session_not_a_viewers(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        meta = svc_of(client).meta
        meta.create_user(*ADMIN, role="admin")
        meta.create_user("viewer@example.com", "glass tiger orbit 1", role="viewer")
        login(client, "viewer@example.com", "glass tiger orbit 1")
        assert client.get("/metrics").status_code == 403
        client.cookies.clear()
        login(client, *ADMIN)
        assert client.get("/metrics").status_code == 200
        assert client.get("/health/detailed").json()["status"] == "ok"
