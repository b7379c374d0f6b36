"""Request rate limits (``api/limits.py``) through a real app: per client address on the
dashboard and the read/management APIs, per API key by its usage plan, never on the
collector, with ``RateLimit-*`` headers and 429 JSON answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from liveinsight.app import create_app
from tests.conftest import make_settings, svc_of

UA = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}
EVENT = {"n": "pageview", "u": "https://example.com/", "d": "example.com"}


def _client(tmp_path: Path, peer: str = "10.0.0.1", **settings: Any) -> TestClient:
    base: dict[str, Any] = {"rate_limit_per_minute": 60, "rate_limit_burst": 5}
    app = create_app(make_settings(tmp_path, **{**base, **settings}))
    return TestClient(app, base_url="http://testserver", client=(peer, 40000))


def test_an_address_gets_its_burst_then_429_naming_the_limit(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        svc_of(c).meta.create_site("example.com")
        left = []
        for _ in range(5):
            r = c.get("/api/stats/aggregate", params={"site_id": "example.com"})
            assert r.status_code == 401  # anonymous: refused by access, counted all the same
            assert r.headers["ratelimit-limit"] == "5"
            assert r.headers["ratelimit-policy"] == "5;w=5"
            left.append(int(r.headers["ratelimit-remaining"]))
        assert left == [4, 3, 2, 1, 0]
        refused = c.get("/sites")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.headers["x-frame-options"] == "DENY"  # the security headers too
        error = refused.json()["error"]
        assert error["code"] == "rate_limited"
        assert "60 requests a minute, bursts of 5" in error["message"]
        assert c.post("/login", data={"email": "a@b.c", "password": "x"}).status_code == 429
        # neither the collector, the tracker, static files nor /health are limited
        for _ in range(3):
            assert c.post("/api/event", json=EVENT, headers=UA).status_code == 202
        assert c.get("/js/script.js").status_code == 200
        assert c.get("/static/app.css").status_code == 200
        assert c.get("/health").status_code == 200
        assert "ratelimit-limit" not in c.get("/health").headers
        metrics = svc_of(c).metrics.registry.get_sample_value(
            "liveinsight_rate_limited_total", {"limit": "address"})
        assert metrics == 2


def test_addresses_have_their_own_buckets_behind_a_trusted_proxy(tmp_path: Path) -> None:
    with _client(tmp_path, peer="127.0.0.1", trusted_proxies=["127.0.0.1"]) as c:
        for _ in range(5):
            assert c.get("/login", headers={"x-forwarded-for": "203.0.113.7"}).status_code == 200
        assert c.get("/login", headers={"x-forwarded-for": "203.0.113.7"}).status_code == 429
        other = c.get("/login", headers={"x-forwarded-for": "198.51.100.2"})
        assert other.status_code == 200 and other.headers["ratelimit-remaining"] == "4"


def test_an_api_key_spends_its_own_plan_not_the_address(tmp_path: Path) -> None:
    with _client(tmp_path, api_key_cache_seconds=0) as c:
        meta = svc_of(c).meta
        meta.create_site("example.com")
        plain, _ = meta.create_api_key("default plan", ["stats"])
        small, info = meta.create_api_key("small plan", ["stats"], rate=0.01, burst=3)
        q = {"site_id": "example.com", "metrics": "visitors"}
        auth = {"authorization": f"Bearer {small}"}
        answers = [c.get("/api/stats/aggregate", params=q, headers=auth) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["ratelimit-limit"] == "3"
        assert "plan allows 0.01 requests a second, bursts of 3" in answers[3].json()[
            "error"]["message"]
        default = c.get("/api/stats/aggregate", params=q,
                        headers={"authorization": f"Bearer {plain}"})
        assert default.status_code == 200
        assert default.headers["ratelimit-limit"] == "2000"
        assert default.headers["ratelimit-remaining"] == "1999"
        # the key's requests took nothing from the address's bucket
        assert c.get("/login").headers["ratelimit-remaining"] == "4"
        # a new plan applies at once here (key cache of 0 s); the bucket keeps its tokens
        meta.set_api_key_plan(info.id, 0.01, 10)
        again = c.get("/api/stats/aggregate", params=q, headers=auth)
        assert again.status_code == 429 and again.headers["ratelimit-limit"] == "10"
        # a wrong key counts against the address
        wrong = c.get("/api/stats/aggregate", params=q,
                      headers={"authorization": "Bearer li_nope_nope"})
        assert wrong.status_code == 401 and wrong.headers["ratelimit-remaining"] == "3"


def test_a_keys_plan_limits_the_events_it_sends(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        meta = svc_of(c).meta
        meta.create_site("example.com")
        key, _ = meta.create_api_key("ingest", ["ingest"], rate=0.01, burst=3)
        auth = {"authorization": f"Bearer {key}", **UA}
        batch = [{"event_type": "pageview", "page_url": "https://example.com/",
                  "domain": "example.com"}]
        assert c.post("/api/events", json=batch * 3, headers=auth).status_code == 202
        refused = c.post("/api/events", json=batch, headers=auth)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 1


def test_a_plan_out_of_bounds_is_refused(tmp_path: Path) -> None:
    import pytest

    from liveinsight.meta.repo import MetaError

    with _client(tmp_path) as c:
        meta = svc_of(c).meta
        with pytest.raises(MetaError, match="burst"):
            meta.create_api_key("x", ["stats"], burst=0)
        _, info = meta.create_api_key("y", ["stats"])
        with pytest.raises(MetaError, match="rate"):
            meta.set_api_key_plan(info.id, -1.0, None)
        with pytest.raises(MetaError, match="daily quota"):
            meta.set_api_key_plan(info.id, None, None, 0)


def test_a_keys_daily_quota_refuses_until_utc_midnight_naming_the_quota(
        tmp_path: Path) -> None:
    with _client(tmp_path, api_key_cache_seconds=0) as c:
        meta = svc_of(c).meta
        meta.create_site("example.com")
        key, info = meta.create_api_key("metered", ["stats", "ingest"], daily_quota=2)
        auth = {"authorization": f"Bearer {key}", **UA}
        q = {"site_id": "example.com", "metrics": "visitors"}
        answers = [c.get("/api/stats/aggregate", params=q, headers=auth) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[0].headers["ratelimit-policy"] == "2000;w=2, 2;w=86400"
        refused = answers[2]
        assert 1 <= int(refused.headers["retry-after"]) <= 86_400
        assert refused.headers["ratelimit-limit"] == "2"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
        error = refused.json()["error"]
        assert error["code"] == "quota_exceeded"
        assert "daily quota of 2 requests" in error["message"] and "00:00 UTC" in error[
            "message"]
        # events are counted apart, by the same quota
        event = {"event_type": "pageview", "page_url": "https://example.com/",
                 "domain": "example.com"}
        assert c.post("/api/events", json=[event, event], headers=auth).status_code == 202
        over = c.post("/api/events", json=event, headers=auth)
        assert over.status_code == 429 and over.json()["error"]["code"] == "quota_exceeded"
        assert "daily quota of 2 events" in over.json()["error"]["message"]
        # a new plan without a quota lets the key through at once
        meta.set_api_key_plan(info.id, None, None, None)
        assert c.get("/api/stats/aggregate", params=q, headers=auth).status_code == 200
        metrics = svc_of(c).metrics.registry.get_sample_value(
            "liveinsight_rate_limited_total", {"limit": "quota"})
        assert metrics == 1


def test_the_default_daily_quota_applies_to_keys_without_their_own(tmp_path: Path) -> None:
    with _client(tmp_path, api_key_daily_quota=1, api_key_cache_seconds=0) as c:
        meta = svc_of(c).meta
        meta.create_site("example.com")
        key, _ = meta.create_api_key("default plan", ["stats"])
        own, _ = meta.create_api_key("own plan", ["stats"], daily_quota=5)
        q = {"site_id": "example.com", "metrics": "visitors"}
        for token, codes in ((key, [200, 429]), (own, [200, 200])):
            got = [c.get("/api/stats/aggregate", params=q,
                         headers={"authorization": f"Bearer {token}"}).status_code
                   for _ in range(2)]
            assert got == codes
        # the dashboard and anonymous callers have no quota (their address's bucket only)
        assert c.get("/login").status_code == 200
