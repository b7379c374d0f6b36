"""The answer cache behind the stats API, in a real app: hits, invalidation by new data
(per site), past ranges kept, warm-up of what was viewed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_client, make_site, svc_of
from tests.support import wait_until

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/130.0 Safari/537.36")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with make_client(tmp_path) as client:
        make_site(client, "a.example")
        make_site(client, "b.example")
        key, _ = svc_of(client).meta.create_api_key("stats", ["stats"])
        yield client, {"authorization": f"Bearer {key}"}


def _pageview(client: TestClient, domain: str, path: str, ip: str = "198.51.100.1") -> None:
    r = client.post("/api/event", json={"n": "pageview", "u": f"https://{domain}{path}",
                                        "d": domain},
                    headers={"user-agent": UA, "x-forwarded-for": ip})
    assert r.status_code == 202


def _today(client: TestClient, auth: dict[str, str], domain: str) -> Any:
    r = client.get("/api/stats/aggregate", params={"site_id": domain, "period": "day",
                                                   "metrics": "pageviews"}, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()["results"]["pageviews"]["value"]


def _hits(client: TestClient) -> int:
    return svc_of(client).answers.layers()["l1"].hits


def test_an_answer_is_computed_once_then_served_from_the_cache(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    first = client.get("/api/stats/breakdown", params={"site_id": "a.example",
                                                        "property": "event:page"}, headers=auth)
    hits = _hits(client)
    again = client.get("/api/stats/breakdown", params={"site_id": "a.example",
                                                        "property": "event:page"}, headers=auth)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert _hits(client) == hits + 1


def test_new_data_replaces_todays_answer_for_its_site_only(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    assert _today(client, auth, "a.example") == 0
    assert _today(client, auth, "b.example") == 0
    _pageview(client, "a.example", "/")
    wait_until(lambda: _today(client, auth, "a.example") == 1, 20, "the new pageview")
    hits = _hits(client)
    assert _today(client, auth, "b.example") == 0
    assert _hits(client) == hits + 1  # site b's answer was not touched by a's data


def test_an_answer_over_a_past_range_stays_cached_when_new_data_arrives(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    past = {"site_id": "a.example", "period": "custom", "date": "2026-01-01,2026-01-31",
            "metrics": "visitors"}
    client.get("/api/stats/aggregate", params=past, headers=auth)
    _pageview(client, "a.example", "/")
    wait_until(lambda: _today(client, auth, "a.example") == 1, 20, "the new pageview")
    hits = _hits(client)
    client.get("/api/stats/aggregate", params=past, headers=auth)
    assert _hits(client) == hits + 1


def test_the_viewed_answers_are_recomputed_after_new_data(tmp_path: Path) -> None:
    with make_client(tmp_path, cache_warmup_interval_seconds=0.01) as client:
        make_site(client, "a.example")
        key, _ = svc_of(client).meta.create_api_key("stats", ["stats"])
        auth = {"authorization": f"Bearer {key}"}
        assert _today(client, auth, "a.example") == 0  # viewed once: tracked
        svc = svc_of(client)
        replayed = svc.warmer.replayed
        _pageview(client, "a.example", "/")
        wait_until(lambda: svc.warmer.replayed > replayed, 20, "a warm-up after new data")
        hits = _hits(client)
        assert _today(client, auth, "a.example") == 1
        assert _hits(client) == hits + 1  # computed by the warmer, not by this request


def test_what_was_viewed_is_warmed_after_a_restart(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        make_site(client, "a.example")
        key, _ = svc_of(client).meta.create_api_key("stats", ["stats"])
        auth = {"authorization": f"Bearer {key}"}
        _today(client, auth, "a.example")
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        wait_until(lambda: svc.warmer.replayed >= 1, 20, "the warm-up after start")
        hits = _hits(client)
        _today(client, auth, "a.example")
        assert _hits(client) == hits + 1


# --- /admin/cache/... ------------------------------------------------------------------------


@pytest.fixture
def admin(app: tuple[TestClient, dict[str, str]]) -> tuple[TestClient, dict[str, str],
                                                            dict[str, str]]:
    client, auth = app
    key, _ = svc_of(client).meta.create_api_key("admin", ["admin"])
    return client, auth, {"authorization": f"Bearer {key}"}


def test_cache_stats_per_layer(admin: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, auth, root = admin
    _today(client, auth, "a.example")
    _today(client, auth, "a.example")
    doc = client.get("/admin/cache/stats", headers=root).json()
    l1 = doc["layers"]["l1"]
    assert (l1["hits"], l1["misses"], l1["hit_ratio"], l1["keys"]) == (1, 1, 0.5, 1)
    assert l1["bytes"] > 0 and set(doc["warmup"]) == {"replayed", "failed"}


def test_invalidating_a_site_recomputes_its_answers_only(
        admin: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, auth, root = admin
    _today(client, auth, "a.example")
    _today(client, auth, "b.example")
    r = client.post("/admin/cache/invalidate", json={"site_id": "a.example"}, headers=root)
    assert r.status_code == 200 and r.json() == {"scope": "site a.example", "invalidated": 1}
    hits = _hits(client)
    _today(client, auth, "a.example")
    assert _hits(client) == hits  # recomputed
    _today(client, auth, "b.example")
    assert _hits(client) == hits + 1
    r = client.post("/admin/cache/invalidate", json={"all": True}, headers=root)
    assert r.json()["scope"] == "all"
    hits = _hits(client)
    _today(client, auth, "b.example")
    assert _hits(client) == hits


def test_invalidating_by_key_prefix(
        admin: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, auth, root = admin
    site = svc_of(client).sites.by_domain("a.example")
    assert site is not None
    _today(client, auth, "a.example")
    r = client.post("/admin/cache/invalidate", json={"pattern": f"s{site.id}:*"}, headers=root)
    assert r.json()["invalidated"] == 1


@pytest.mark.parametrize(("body", "field"), [
    ({}, "body"), ({"all": True, "site_id": "a.example"}, "body"),
    ({"pattern": "s1:"}, "pattern"), ({"pattern": "*"}, "pattern"),
    ({"pattern": "s1:*x*"}, "pattern"), ({"site_id": "nope.example"}, "site_id")])
def test_bad_invalidations_are_refused_naming_the_field(
        admin: tuple[TestClient, dict[str, str], dict[str, str]], body: dict[str, Any],
        field: str) -> None:
    client, _, root = admin
    r = client.post("/admin/cache/invalidate", json=body, headers=root)
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


def test_warmup_on_demand_over_given_periods(
        admin: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, auth, root = admin
    _today(client, auth, "a.example")  # the one request viewed for site a
    r = client.post("/admin/cache/warmup", json={"sites": ["a.example", "b.example"],
                                                 "periods": ["7d", "30d"]}, headers=root)
    assert r.status_code == 200, r.text
    doc = r.json()
    # a: its one request over two periods; b (never viewed): the dashboard's five over two
    assert (doc["sites"], doc["requests"], doc["failed"]) == (2, 2 + 10, 0)
    hits = _hits(client)
    client.get("/api/stats/aggregate", params={"site_id": "a.example", "period": "7d",
                                               "metrics": "pageviews"}, headers=auth)
    assert _hits(client) == hits + 1


@pytest.mark.parametrize(("body", "field"), [
    ({"periods": ["custom"]}, "periods"), ({"periods": ["7d"] * 6}, "periods"),
    ({"sites": ["x.example"] * 51}, "sites"), ({"sites": ["nope.example"]}, "sites")])
def test_bad_warmups_are_refused_naming_the_field(
        admin: tuple[TestClient, dict[str, str], dict[str, str]], body: dict[str, Any],
        field: str) -> None:
    client, _, root = admin
    r = client.post("/admin/cache/warmup", json=body, headers=root)
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


def test_realtime_is_shared_within_a_second_and_shows_new_data(tmp_path: Path) -> None:
    now = [datetime(2026, 12, 5, 10, 0, 0, 100_000, tzinfo=UTC)]
    with make_client(tmp_path, clock=lambda: now[0]) as client:
        make_site(client, "a.example")
        key, _ = svc_of(client).meta.create_api_key("stats", ["stats"])
        auth = {"authorization": f"Bearer {key}"}

        def realtime() -> Any:
            r = client.get("/api/realtime", params={"site_id": "a.example"}, headers=auth)
            assert r.status_code == 200 and r.headers["cache-control"] == "private, no-cache"
            return r.json()

        first = realtime()
        hits = _hits(client)
        now[0] += timedelta(milliseconds=800)  # the same second: one snapshot for everyone
        assert realtime() == first and _hits(client) == hits + 1
        _pageview(client, "a.example", "/")  # new data: a new snapshot, with it
        wait_until(lambda: realtime()["visitors"] == 1, 20, "the new visitor in realtime")
        now[0] += timedelta(seconds=1)  # the next second: computed again
        hits = _hits(client)
        assert realtime()["generated_at"] == "2026-12-05T10:00:01+00:00"
        assert _hits(client) == hits
