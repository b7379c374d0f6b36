"""The collector end to end through the app: each endpoint's answers, auth, limits, CORS, the
503 promise, and rows landing in the store with the right site, path, source, UTM and props."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveinsight.app import create_app
from tests.conftest import make_client, make_settings, make_site, stored_events, svc_of

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36")
HEADERS = {"user-agent": UA}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def rejected(client: TestClient, endpoint: str, status: int) -> float:
    value = svc_of(client).metrics.registry.get_sample_value(
        "liveinsight_ingest_rejected_total", {"endpoint": endpoint, "status": str(status)})
    return value or 0.0


def error_of(response: Any) -> tuple[int, str | None]:
    return response.status_code, response.json()["error"].get("field")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, clock=Clock(), api_key_rate=1.0, api_key_burst=3,
                     max_body_bytes=4096, max_batch_events=5) as client:
        yield client


def plausible(client: TestClient, body: Any, **headers: str) -> Any:
    return client.post("/api/event", content=json.dumps(body),
                       headers={**HEADERS, "content-type": "text/plain", **headers})


PV = {"n": "pageview", "u": "https://www.example.com/pricing?utm_source=newsletter"
      "&utm_medium=email&utm_campaign=launch", "d": "example.com",
      "r": "https://www.google.com/search?q=x", "p": {"plan": "pro", "seats": 3}}


# --- rows land in the store --------------------------------------------------------------


def test_plausible_event_lands_as_a_row(app: TestClient) -> None:
    site = make_site(app, "example.com")
    response = plausible(app, PV)
    assert (response.status_code, response.text) == (202, "ok")
    assert response.headers["access-control-allow-origin"] == "*"
    plain = {**PV, "u": "https://example.com/about", "p": {}}
    assert plausible(app, plain, **{"user-agent": UA + " 2"}).status_code == 202
    tagged, untagged = sorted(stored_events(app), key=lambda r: str(r["pathname"]), reverse=True)
    assert (tagged["site_id"], tagged["name"], tagged["hostname"], tagged["pathname"]) == (
        site.id, "pageview", "example.com", "/pricing")
    assert (tagged["utm_source"], tagged["utm_medium"], tagged["utm_campaign"]) == (
        "newsletter", "email", "launch")
    assert tagged["referrer_source"] == "newsletter"  # utm_source wins, as in Plausible
    assert dict(tagged["props"]) == {"plan": "pro", "seats": "3"}
    assert (untagged["site_id"], untagged["pathname"], untagged["referrer_source"]) == (
        site.id, "/about", "Google")


def test_umami_event_lands_as_a_row(app: TestClient) -> None:
    site = make_site(app, "example.com")
    body = {"type": "event", "payload": {
        "website": site.uuid, "hostname": "example.com", "url": "/docs/start?utm_campaign=spring",
        "referrer": "https://news.ycombinator.com/item?id=1", "title": "Start",
        "screen": "1920x1080", "language": "en-GB", "name": "signup",
        "data": {"plan": "team"}}}
    response = app.post("/api/send", json=body, headers=HEADERS)
    assert (response.status_code, response.json()) == (200, {"disabled": False})
    [row] = stored_events(app)
    assert (row["site_id"], row["name"], row["pathname"], row["utm_campaign"]) == (
        site.id, "signup", "/docs/start", "spring")
    assert row["referrer_source"] == "Hacker News"
    assert dict(row["props"]) == {"plan": "team"}


def test_umami_batch_and_identify(app: TestClient) -> None:
    site = make_site(app, "example.com")
    one = {"type": "event", "payload": {"website": site.uuid, "hostname": "example.com",
                                        "url": "/a"}}
    bad = {"type": "event", "payload": {"website": "nope", "url": "/b"}}
    ident = {"type": "identify", "payload": {"website": site.uuid, "data": {"a": 1}}}
    response = app.post("/api/batch", json=[one, bad, ident], headers=HEADERS)
    assert response.status_code == 200
    assert response.json()["size"] == 3 and response.json()["processed"] == 2
    assert response.json()["details"][0]["index"] == 1
    assert response.json()["details"][0]["error"]["field"] == "[1].payload.website"
    assert [r["pathname"] for r in stored_events(app)] == ["/a"]
    assert rejected(app, "batch_item", 400) == 1
    assert app.post("/api/batch", json=[one] * 6, headers=HEADERS).status_code == 413


def test_dropped_events_are_answered_like_accepted_ones(app: TestClient) -> None:
    response = plausible(app, {**PV, "d": "unknown.example"})
    assert (response.status_code, response.text) == (202, "ok")
    bot = plausible(app, {**PV, "d": "unknown.example"}, **{"user-agent": "Googlebot/2.1"})
    assert (bot.status_code, bot.text) == (202, "ok")
    assert stored_events(app) == []


def test_several_domains_make_one_row_per_site(app: TestClient) -> None:
    a, b = make_site(app, "example.com"), make_site(app, "rollup.example")
    assert plausible(app, {**PV, "d": "example.com,rollup.example"}).status_code == 202
    assert sorted(r["site_id"] for r in stored_events(app)) == sorted([a.id, b.id])


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field"), [
    ({"d": "example.com", "n": "pageview"}, "url"),
    ({"u": "https://example.com/", "n": "pageview"}, "domain"),
    ({"u": "https://example.com/", "d": "example.com"}, "name"),
    ({**PV, "u": "javascript:alert(1)"}, "url"),
    ({**PV, "u": "https://example.com/" + "a" * 2000}, "url"),
])
def test_plausible_bad_bodies(app: TestClient, body: Any, field: str) -> None:
    response = plausible(app, body)
    assert error_of(response) == (400, field)
    assert response.headers["access-control-allow-origin"] == "*"
    assert rejected(app, "event", 400) == 1


def test_empty_and_non_json_bodies_and_content_types(app: TestClient) -> None:
    for content in (b"", b"nope", b"[1,2"):
        response = app.post("/api/event", content=content, headers={"content-type": "text/plain"})
        assert error_of(response) == (400, "body")
    response = app.post("/api/event", content=json.dumps(PV),
                        headers={"content-type": "multipart/form-data; boundary=x"})
    assert error_of(response) == (415, "content-type")
    assert app.post("/api/send", content=b"{}", headers=HEADERS).status_code == 400


def test_body_limit_by_content_length_and_while_streaming(app: TestClient) -> None:
    big = json.dumps({**PV, "p": {"x": "y" * 5000}})
    response = plausible(app, json.loads(big))
    assert error_of(response) == (413, "body")

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    streamed = app.post("/api/event", content=chunks(), headers={"content-type": "text/plain"})
    assert error_of(streamed) == (413, "body")
    assert rejected(app, "event", 413) == 2


def test_log_full_is_503_with_retry_after(app: TestClient) -> None:
    make_site(app, "example.com")
    svc_of(app).wal.max_bytes = 1
    response = plausible(app, PV)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "log_full"
    assert int(response.headers["retry-after"]) >= 1
    assert rejected(app, "event", 503) == 1
    assert app.get("/health").json()["status"] == "degraded"  # for 10 s after a refusal
    svc_of(app).wal.max_bytes = 1 << 30
    assert plausible(app, PV).status_code == 202


def test_cors_preflight(app: TestClient) -> None:
    for path in ("/api/event", "/api/send", "/api/batch", "/api/events", "/api/csrf-token"):
        response = app.options(path, headers={"origin": "https://example.com",
                                              "access-control-request-method": "POST"})
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*"
        assert "POST" in response.headers["access-control-allow-methods"]
        allowed = response.headers["access-control-allow-headers"].lower()
        assert {"content-type", "x-csrf-token", "x-session-id", "authorization"} <= {
            h.strip() for h in allowed.split(",")}


def test_client_ip_from_trusted_proxies_reaches_the_pipeline(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, trusted_proxies=["10.0.0.0/8"]))
    forwarded = {"x-forwarded-for": "203.0.113.9, 10.1.1.1"}
    with TestClient(app, client=("10.0.0.2", 40000)) as proxied:
        make_site(proxied, "example.com", blocked_ips=["203.0.113.0/24"])
        assert plausible(proxied, PV, **forwarded).status_code == 202  # blocked: dropped
        assert stored_events(proxied) == []
    with TestClient(app, client=("198.51.100.3", 40000)) as direct:
        assert plausible(direct, PV, **forwarded).status_code == 202  # header not believed
        assert len(stored_events(direct)) == 1


# --- native endpoint: auth, sites, rate limits ---------------------------------------------

NATIVE = {"event_type": "purchase", "page_url": "https://example.com/checkout",
          "domain": "example.com", "props": {"sku": "A1"},
          "revenue": {"amount": "49.90", "currency": "EUR"}}


def test_native_with_an_api_key(app: TestClient) -> None:
    site = make_site(app, "example.com")
    key, _ = svc_of(app).meta.create_api_key("server", ["ingest"])
    auth = {"authorization": f"Bearer {key}"}
    response = app.post("/api/events", headers=auth, json=[
        {**NATIVE, "ip": "198.51.100.7", "user_agent": UA},
        {"page_url": "https://example.com/thanks", "site_id": site.id,
         "timestamp": (NOW - timedelta(hours=2)).isoformat()}])
    assert (response.status_code, response.json()) == (202, {"received": 2})
    rows = stored_events(app)
    assert [(r["name"], r["pathname"]) for r in rows] == [
        ("pageview", "/thanks"), ("purchase", "/checkout")]
    assert str(rows[1]["revenue"]).startswith("49.9")


def test_native_auth_failures(app: TestClient) -> None:
    make_site(app, "example.com")
    assert error_of(app.post("/api/events", json=NATIVE)) == (401, "Authorization")
    bad_key = app.post("/api/events", json=NATIVE,
                       headers={"authorization": "Bearer li_abcd_nope"})
    assert error_of(bad_key) == (401, "Authorization")
    assert bad_key.headers["www-authenticate"] == "Bearer"
    assert app.post("/api/events", json=NATIVE,
                    headers={"authorization": "Basic x"}).status_code == 401
    stats_key, _ = svc_of(app).meta.create_api_key("reader", ["stats"])
    response = app.post("/api/events", json=NATIVE,
                        headers={"authorization": f"Bearer {stats_key}"})
    assert error_of(response) == (403, "Authorization")
    assert rejected(app, "events", 401) == 3


def test_revoked_key_works_until_the_cache_expires(tmp_path: Path) -> None:
    with make_client(tmp_path, api_key_cache_seconds=0) as client:
        make_site(client, "example.com")
        key, info = svc_of(client).meta.create_api_key("server", ["ingest"])
        auth = {"authorization": f"Bearer {key}"}
        assert client.post("/api/events", json=NATIVE, headers=auth).status_code == 202
        svc_of(client).meta.revoke_api_key(info.id)
        assert client.post("/api/events", json=NATIVE, headers=auth).status_code == 401


def test_key_limited_to_other_sites_is_403(app: TestClient) -> None:
    make_site(app, "example.com")
    other = make_site(app, "other.example")
    key, _ = svc_of(app).meta.create_api_key("server", ["ingest"], site_ids=[other.id])
    auth = {"authorization": f"Bearer {key}"}
    assert error_of(app.post("/api/events", json=NATIVE, headers=auth)) == (403, "domain")
    ok = {**NATIVE, "domain": "other.example"}
    response = app.post("/api/events", json=[ok, NATIVE], headers=auth)
    assert error_of(response) == (403, "[1].domain")
    assert app.post("/api/events", json=ok, headers=auth).status_code == 202


def test_rate_limit_per_key(app: TestClient) -> None:
    make_site(app, "example.com")
    key, _ = svc_of(app).meta.create_api_key("server", ["ingest"])
    other, _ = svc_of(app).meta.create_api_key("other", ["ingest"])
    auth = {"authorization": f"Bearer {key}"}
    assert app.post("/api/events", json=[NATIVE] * 3, headers=auth).status_code == 202
    limited = app.post("/api/events", json=NATIVE, headers=auth)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.headers["retry-after"] == "1"
    assert app.post("/api/events", json=NATIVE,
                    headers={"authorization": f"Bearer {other}"}).status_code == 202
    assert len(stored_events(app)) == 4


def test_overrides_need_an_api_key(app: TestClient) -> None:
    token = app.post("/api/csrf-token", headers={"x-session-id": "s1"}).json()["token"]
    response = app.post("/api/events", json={**NATIVE, "ip": "1.2.3.4"},
                        headers={"x-session-id": "s1", "x-csrf-token": token})
    assert error_of(response) == (403, "ip")



def test_rate_limit_shared_through_redis(tmp_path: Path, redis_url: str) -> None:
    from tests.support import redis_prefix

    with redis_prefix(redis_url) as prefix, make_client(
            tmp_path, redis_url=redis_url, redis_prefix=prefix, api_key_rate=0.01,
            api_key_burst=2) as client:
        make_site(client, "example.com")
        key, _ = svc_of(client).meta.create_api_key("server", ["ingest"])
        auth = {"authorization": f"Bearer {key}"}
        assert client.post("/api/events", json=[NATIVE] * 2, headers=auth).status_code == 202
        assert client.post("/api/events", json=NATIVE, headers=auth).status_code == 429


# --- signed browser requests ---------------------------------------------------------------


def test_csrf_token_flow(tmp_path: Path) -> None:
    clock = Clock()
    with make_client(tmp_path, clock=clock, csrf_token_ttl_seconds=600) as client:
        make_site(client, "example.com")
        issued = client.post("/api/csrf-token", headers={"x-session-id": "tab-42"})
        assert issued.status_code == 200 and issued.json()["expires_in"] == 600
        assert issued.headers["cache-control"] == "no-store"
        token = issued.json()["token"]
        signed = {"x-session-id": "tab-42", "x-csrf-token": token}
        assert client.post("/api/events", json=NATIVE, headers=signed).status_code == 202
        other_session = {"x-session-id": "tab-43", "x-csrf-token": token}
        response = client.post("/api/events", json=NATIVE, headers=other_session)
        assert error_of(response) == (403, "X-CSRF-Token")
        forged = {"x-session-id": "tab-42", "x-csrf-token": "9999999999.AAAA"}
        assert client.post("/api/events", json=NATIVE, headers=forged).status_code == 403
        clock.now = NOW + timedelta(seconds=601)
        expired = client.post("/api/events", json=NATIVE, headers=signed)
        assert expired.status_code == 403 and "expired" in expired.json()["error"]["message"]
        missing = client.post("/api/csrf-token")
        assert error_of(missing) == (400, "X-Session-ID")


def test_site_requiring_signed_ingest(app: TestClient) -> None:
    site = make_site(app, "example.com", require_signed_ingest=True)
    assert error_of(plausible(app, PV)) == (403, "X-Session-ID")
    send = {"type": "event", "payload": {"website": site.uuid, "hostname": "example.com",
                                         "url": "/"}}
    assert app.post("/api/send", json=send, headers=HEADERS).status_code == 403
    token = app.post("/api/csrf-token", headers={"x-session-id": "abc"}).json()["token"]
    signed = {"x-session-id": "abc", "x-csrf-token": token}
    assert plausible(app, PV, **signed).status_code == 202
    assert app.post("/api/send", json=send, headers={**HEADERS, **signed}).status_code == 200
    assert len(stored_events(app)) == 2


# --- fuzz: never a 500 ---------------------------------------------------------------------

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.sampled_from(["https://example.com/x", "/p", "example.com", "pageview",
                       "6f1c2a4e-8b1d-4c3e-9f20-1a2b3c4d5e6f", "event"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["n", "u", "d", "r", "p", "h", "e", "sd", "revenue", "type", "payload",
                         "website", "hostname", "url", "name", "data", "event_type",
                         "page_url", "domain", "site_id", "timestamp", "props"]), inner,
        max_size=6),
    max_leaves=15,
)
_bodies = st.binary(max_size=300) | _values.map(lambda v: json.dumps(v).encode())
_paths = st.sampled_from(["/api/event", "/api/send", "/api/batch", "/api/events"])
_types = st.sampled_from(["text/plain", "application/json", "text/html", ""])


def test_fuzz_endpoints_never_answer_500(tmp_path: Path) -> None:
    with make_client(tmp_path, clock=Clock()) as client:
        make_site(client, "example.com")
        token = client.post("/api/csrf-token", headers={"x-session-id": "f"}).json()["token"]
        signed = {"x-session-id": "f", "x-csrf-token": token}

        @settings(max_examples=200, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(path=_paths, body=_bodies, content_type=_types)
        def run(path: str, body: bytes, content_type: str) -> None:
            headers = {**HEADERS, **signed, "content-type": content_type}
            response = client.post(path, content=body, headers=headers)
            assert response.status_code in (200, 202, 400, 403, 413, 415), response.text
            if response.status_code >= 400:
                assert response.json()["error"]["code"]

        run()
        assert rejected(client, "event", 500) == 0


def test_metadata_database_unreachable_known_sites_still_collect_the_rest_is_503(
        tmp_path: Path) -> None:
    meta_dir = tmp_path / "meta"
    meta_dir.mkdir()
    with make_client(tmp_path, clock=Clock(), database_url=f"sqlite:///{meta_dir / 'm.db'}",
                     api_key_cache_seconds=0) as client:
        make_site(client, "example.com")
        svc = svc_of(client)
        svc.sites.reload()
        key, _ = svc.meta.create_api_key("server", ["ingest", "stats"])
        auth = {"authorization": f"Bearer {key}"}
        assert plausible(client, PV).status_code == 202  # today's salts are held now
        meta_dir.rename(tmp_path / "away")  # no new connection can open the database
        svc.meta.engine.dispose()
        for _ in range(3):
            assert plausible(client, PV).status_code == 202  # the site directory's last copy
        r = client.post("/api/events", json=NATIVE, headers=auth)  # the key needs the database
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "unavailable"
        assert r.headers["retry-after"] == "5"
        r = client.get("/api/stats/aggregate", params={"site_id": "example.com"}, headers=auth)
        assert (r.status_code, r.json()["error"]["code"]) == (503, "unavailable")  # its limit
        (tmp_path / "away").rename(meta_dir)
        assert client.post("/api/events", json=NATIVE, headers=auth).status_code == 202
        assert len(stored_events(client)) == 5
