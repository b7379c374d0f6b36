"""The stats read API over a real app: auth, the Plausible v2 shape, the simple endpoints,
errors naming the bad field."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import fixed_clock, make_client, make_site, svc_of
from tests.query.rows import ingest, visit

NOW = datetime(2026, 11, 11, 18, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with make_client(tmp_path, clock=fixed_clock(NOW)) as client:
        site = make_site(client, "example.com")
        make_site(client, "other.org")
        svc = svc_of(client)
        sid = site.id
        ingest(svc.store, tmp_path / "segments", [
            visit(sid, 1, [("2026-11-10T10:00:00", "pageview", "/"),
                           ("2026-11-10T10:01:00", "pageview", "/pricing"),
                           ("2026-11-10T10:02:00", "Signup", "/pricing")],
                  referrer_source="Google", country_code="DE"),
            visit(sid, 2, [("2026-11-10T12:00:00", "pageview", "/blog")],
                  referrer_source="Twitter", country_code="US"),
            visit(sid, 2, [("2026-11-11T09:00:00", "pageview", "/")], country_code="US"),
        ])
        svc.meta.create_goal(sid, event_name="Signup")
        key, _ = svc.meta.create_api_key("stats", ["stats"], [sid])
        yield client, {"authorization": f"Bearer {key}"}


def test_v2_query_plausible_example(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    body = {"site_id": "example.com", "metrics": ["visitors", "pageviews", "bounce_rate"],
            "date_range": ["2026-11-10", "2026-11-11"], "dimensions": ["visit:source"],
            "filters": [["is_not", "visit:country", ["FR"]]], "order_by": [["visitors", "desc"],
                                                                           ["visit:source", "asc"]]}
    r = client.post("/api/v2/query", json=body, headers=auth)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["results"] == [
        {"metrics": [1, 1, 100], "dimensions": ["Direct / None"]},
        {"metrics": [1, 2, 0], "dimensions": ["Google"]},
        {"metrics": [1, 1, 100], "dimensions": ["Twitter"]},
    ]
    assert doc["query"]["date_range"] == ["2026-11-10T00:00:00+00:00",
                                          "2026-11-11T23:59:59+00:00"]
    assert doc["query"]["site_id"] == "example.com"
    assert doc["meta"] == {"imports_included": False}


def test_v2_comparison_goals_and_meta(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    r = client.post("/api/v2/query", headers=auth, json={
        "site_id": "example.com", "metrics": ["visitors", "conversion_rate"], "date_range": "day",
        "date": "2026-11-10", "dimensions": ["event:goal"],
        "include": {"comparisons": {"mode": "previous_period"}, "total_rows": True}})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["results"] == [{"metrics": [1, 50.0], "dimensions": ["Signup"],
                               "comparison": {"dimensions": ["Signup"], "metrics": [0, 0],
                                              "change": [100, 50.0]}}]
    assert doc["meta"]["total_rows"] == len(doc["results"])
    assert doc["meta"]["comparison_date_range"][0] == "2026-11-09T00:00:00+00:00"


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"metrics": ["visitors"], "date_range": "7d"}, 400, "site_id"),
    # a key for one site gets the same answer for unknown sites as for other sites
    ({"site_id": "nope.com", "metrics": ["visitors"], "date_range": "7d"}, 403, "site_id"),
    ({"site_id": "example.com", "metrics": ["visits", "nope"], "date_range": "7d"}, 400,
     "metrics"),
    ({"site_id": "example.com", "metrics": ["visitors"], "date_range": "soon"}, 400,
     "date_range"),
    ({"site_id": "example.com", "metrics": ["visitors"], "date_range": "30d",
      "dimensions": ["time:minute"]}, 400, "dimensions"),
    ({"site_id": "example.com", "metrics": ["visitors"], "date_range": "7d",
      "filters": [["is", "visit:nowhere", ["x"]]]}, 400, "filters"),
    ({"site_id": "other.org", "metrics": ["visitors"], "date_range": "7d"}, 403, "site_id"),
])
def test_v2_errors_name_the_field(app: tuple[TestClient, dict[str, str]], body: dict[str, Any],
                                  status: int, field: str) -> None:
    client, auth = app
    r = client.post("/api/v2/query", json=body, headers=auth)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


def test_auth(app: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = app
    body = {"site_id": "example.com", "metrics": ["visitors"], "date_range": "7d"}
    assert client.post("/api/v2/query", json=body).status_code == 401
    bad = client.post("/api/v2/query", json=body, headers={"authorization": "Bearer li_x_y"})
    assert bad.status_code == 401 and bad.json()["error"]["field"] == "Authorization"
    svc = svc_of(client)
    ingest_only, _ = svc.meta.create_api_key("ingest", ["ingest"])
    r = client.post("/api/v2/query", json=body, headers={"authorization": f"Bearer {ingest_only}"})
    assert r.status_code == 403
    every_site, _ = svc.meta.create_api_key("all", ["stats"])
    r = client.get("/api/stats/aggregate?site_id=other.org&period=day",
                   headers={"authorization": f"Bearer {every_site}"})
    assert r.status_code == 200 and r.json()["results"]["visitors"]["value"] == 0


def test_aggregate_with_compare(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    r = client.get("/api/stats/aggregate", headers=auth, params={
        "site_id": "example.com", "period": "day", "metrics": "visitors,visits,pageviews",
        "compare": "previous_period"})
    assert r.status_code == 200, r.text
    assert r.json()["results"] == {
        "visitors": {"value": 1, "comparison_value": 2, "change": -50},
        "visits": {"value": 1, "comparison_value": 2, "change": -50},
        "pageviews": {"value": 1, "comparison_value": 3, "change": -67},
    }


def test_timeseries_fills_empty_buckets(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    r = client.get("/api/stats/timeseries", headers=auth, params={
        "site_id": "example.com", "period": "7d", "metrics": "visitors,pageviews"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["date"] for x in results][-2:] == ["2026-11-10", "2026-11-11"]
    assert len(results) == 7 and results[0] == {"date": "2026-11-05", "visitors": 0,
                                                "pageviews": 0}
    assert results[-2:] == [{"date": "2026-11-10", "visitors": 2, "pageviews": 3},
                            {"date": "2026-11-11", "visitors": 1, "pageviews": 1}]
    hourly = client.get("/api/stats/timeseries", headers=auth, params={
        "site_id": "example.com", "period": "day", "interval": "hour"}).json()
    # Today at 18:00: the hours 00..18 are the past; the later ones are absent, not zeros.
    assert len(hourly["results"]) == 19 and hourly["interval"] == "hour"
    assert hourly["results"][-1]["date"] == "2026-11-11 18:00:00"


def test_breakdown(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    r = client.get("/api/stats/breakdown", headers=auth, params={
        "site_id": "example.com", "period": "7d", "property": "event:page",
        "metrics": "visitors,pageviews", "filters": "visit:country==US|DE", "limit": "2"})
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"page": "/", "visitors": 2, "pageviews": 2},
                                   {"page": "/blog", "visitors": 1, "pageviews": 1}]
    page2 = client.get("/api/stats/breakdown", headers=auth, params={
        "site_id": "example.com", "period": "7d", "property": "event:page", "limit": "2",
        "page": "2"})
    assert page2.json()["results"] == [{"page": "/pricing", "visitors": 1, "pageviews": 1}]
    bad = client.get("/api/stats/breakdown", headers=auth, params={
        "site_id": "example.com", "property": "visit:colour"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "dimensions"
    missing = client.get("/api/stats/breakdown", headers=auth, params={"site_id": "example.com"})
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "property"


def test_openapi_documents_the_read_routes(app: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = app
    with warnings.catch_warnings():  # another router's duplicate operation ids warn
        warnings.simplefilter("ignore")
        spec = client.app.openapi()  # type: ignore[attr-defined]
    for path in ("/api/v2/query", "/api/stats/aggregate", "/api/stats/timeseries",
                 "/api/stats/breakdown", "/api/realtime", "/api/realtime/stream"):
        assert path in spec["paths"]
        op = next(iter(spec["paths"][path].values()))
        assert op["summary"]
    assert "V2Response" in spec["components"]["schemas"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**12) | st.text(max_size=12)
    | st.sampled_from(["visitors", "visits", "event:page", "visit:source", "time:minute", "is",
                       "and", "not", "matches", "7d", "all", "2026-11-10", "(", "[", "*"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["metrics", "date_range", "dimensions", "filters",
                                       "order_by", "include", "pagination", "date", "mode",
                                       "limit", "comparisons"]), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(["metrics", "date_range", "dimensions", "filters",
                                             "order_by", "include", "pagination", "date"]),
                            _json, max_size=6))
def test_v2_never_answers_500(app: tuple[TestClient, dict[str, str]], body: dict[str, Any]
                              ) -> None:
    client, auth = app
    r = client.post("/api/v2/query", json={"site_id": "example.com", **body}, headers=auth)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["error"]["message"]


@pytest.mark.parametrize(("query", "field"), [
    ("period=custom&date=2026-01-01,bad", "date"), ("limit=abc", "limit"),
    ("filters=[", "filters"), ("filters=visit:country", "filters"), ("period=custom", "date"),
    ("date=yesterday", "date"), ("metrics=", "metrics"), ("compare=sideways", "compare"),
    ("page=0", "page"), ("filters=[[\"is\"]]", "filters[0]"), ("period=fortnight", "period"),
])
def test_simple_endpoints_bad_params_are_400(app: tuple[TestClient, dict[str, str]],
                                             query: str, field: str) -> None:
    client, auth = app
    for kind in ("aggregate", "timeseries", "breakdown"):
        prop = "&property=event:page" if kind == "breakdown" else ""
        r = client.get(f"/api/stats/{kind}?site_id=example.com&{query}{prop}", headers=auth)
        if field in ("limit", "page") and kind != "breakdown":
            continue  # only breakdowns paginate
        assert r.status_code == 400, (kind, query, r.text)
        assert r.json()["error"]["field"] == field
    series = client.get("/api/stats/timeseries?site_id=example.com&period=year&interval=minute",
                        headers=auth)
    assert series.status_code == 400 and series.json()["error"]["field"] == "dimensions"


def test_without_credentials_no_site_is_named(tmp_path: Path) -> None:
    """401 comes before the site lookup: a caller without credentials cannot tell an existing
    site from an unknown one."""
    with make_client(tmp_path) as c:
        site = make_site(c, "example.com")
        for name in (str(site.id), "example.com", "999", "nope.example"):
            response = c.get("/api/stats/aggregate", params={"site_id": name})
            assert response.status_code == 401, name
            assert response.json()["error"]["field"] == "Authorization"
            realtime = c.get("/api/realtime", params={"site_id": name})
            assert realtime.status_code == 401, name


def test_plain_stats_and_realtime_answer_for_the_callers_only_site(
        app: tuple[TestClient, dict[str, str]]) -> None:
    """The specification's ``GET /api/stats`` (a site summary) and ``GET /api/realtime``: with
    credentials that read one site, ``site_id`` may be left out."""
    client, auth = app  # a key for example.com only
    summary = client.get("/api/stats", params={"period": "custom",
                                               "date": "2026-11-10,2026-11-11"}, headers=auth)
    assert summary.status_code == 200, summary.text
    assert {k: v["value"] for k, v in summary.json()["results"].items()} == {
        "visitors": 2, "visits": 3, "pageviews": 4, "views_per_visit": 1.33,
        "bounce_rate": 67, "visit_duration": 40}
    assert client.get("/api/realtime", headers=auth).json()["site_id"] == "example.com"
    named = client.get("/api/stats", params={"site_id": "example.com", "period": "custom",
                                             "date": "2026-11-10,2026-11-11"}, headers=auth)
    assert named.json() == summary.json()
    every_site, _ = svc_of(client).meta.create_api_key("all", ["stats"])
    for path in ("/api/stats", "/api/realtime", "/api/stats/aggregate"):
        ambiguous = client.get(path, headers={"authorization": f"Bearer {every_site}"})
        assert ambiguous.status_code == 400
        error = ambiguous.json()["error"]
        assert error["field"] == "site_id" and "2 sites" in error["message"]
    assert client.get("/api/stats").status_code == 401  # credentials come first


@pytest.mark.parametrize("coding", ["zstd", "br", "gzip"])
def test_answers_are_compressed_as_the_client_asks(app: tuple[TestClient, dict[str, str]],
                                                   coding: str) -> None:
    """A breakdown and the dashboard's pages shrink by at least 70 %; the collector's 202s
    and the live stream are never compressed."""
    client, auth = app
    pages = [f"/p/{i}/some-longer-article-title" for i in range(200)]
    svc = svc_of(client)
    site = svc.sites.by_domain("example.com")
    assert site is not None
    from tests.query.rows import ingest, visit

    ingest(svc.store, Path(svc.settings.data_dir) / "more", [
        visit(site.id, 1000 + i, [("2026-11-10T11:00:00", "pageview", p)])
        for i, p in enumerate(pages)])
    import re

    svc.meta.create_user("admin@example.com", "correct horse battery", role="admin")
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"email": "admin@example.com", "password": "correct horse "
                                "battery", "csrf": token.group(1)})
    for path, headers in (
            ("/api/stats/breakdown?site_id=example.com&property=event:page&period=7d", auth),
            (f"/sites/{site.id}", {}), ("/static/app.css", {}),
            ("/static/vendor/swagger-ui/swagger-ui-bundle.js", {})):
        plain = client.get(path, headers={**headers, "accept-encoding": "identity"})
        packed = client.get(path, headers={**headers, "accept-encoding": coding})
        assert plain.status_code == packed.status_code == 200
        assert "content-encoding" not in plain.headers
        assert packed.headers["content-encoding"] == coding
        size = packed.num_bytes_downloaded  # the bytes on the wire, before decoding
        assert size <= 0.3 * len(plain.content), (path, size, len(plain.content))
    event = client.post("/api/event", headers={"accept-encoding": coding, "user-agent": "x"},
                        content=b'{"n":"pageview","u":"https://example.com/","d":"example.com"}')
    assert "content-encoding" not in event.headers


def test_stats_answers_carry_an_etag_and_revalidate(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    url = "/api/stats/aggregate?site_id=example.com&period=custom&date=2026-11-10,2026-11-11"
    first = client.get(url, headers=auth)
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    again = client.get(url, headers={**auth, "if-none-match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    other = client.get(url + "&metrics=visitors,pageviews", headers={
        **auth, "if-none-match": tag})  # another answer: its own tag
    assert other.status_code == 200 and other.headers["etag"] != tag
    body = {"site_id": "example.com", "metrics": ["visitors"], "date_range": "7d"}
    v2 = client.post("/api/v2/query", headers=auth, json=body)
    assert client.post("/api/v2/query", headers={**auth, "if-none-match": v2.headers["etag"]},
                       json=body).status_code == 304
