"""Imported data mixed into the stats (include.imports, with_imported): exact numbers with
and without, for totals, days, and each dimension the imported tables carry; the queries
that cannot mix say why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_client, make_site, svc_of
from tests.imports.exports import plausible_zip
from tests.query.rows import ingest, visit

RANGE = ["2024-01-01", "2024-01-04"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict]]:
    tmp = tmp_path_factory.mktemp("imported")
    with make_client(tmp) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        svc.meta.create_goal(site.id, event_name="Signup")
        svc.sites.reload()
        svc.imports.run(site, "plausible", plausible_zip(tmp / "export.zip"), "export.zip")
        # 4 January, native: three visits (one a bounce), 4 pageviews, one Signup
        google = {"referrer_source": "Google", "country_code": "DE", "device": "Desktop",
                  "browser": "Chrome", "os": "Mac"}
        direct = {"country_code": "US", "device": "Mobile", "browser": "Firefox",
                  "os": "Windows"}
        ingest(svc.store, tmp / "segments", [
            visit(site.id, 1, [("2024-01-04T10:00:00", "pageview", "/"),
                               ("2024-01-04T10:05:00", "pageview", "/pricing")], **google),
            visit(site.id, 2, [("2024-01-04T12:00:00", "pageview", "/")], **direct),
            visit(site.id, 3, [("2024-01-04T14:00:00", "pageview", "/"),
                               ("2024-01-04T14:01:00", "Signup", "/")], **google),
        ])
        key = svc.meta.create_api_key("k", ["stats"], [site.id])[0]
        yield client, {"authorization": f"Bearer {key}"}


def _v2(world: Any, imports: bool, **body: Any) -> dict[str, Any]:
    client, headers = world
    query = {"site_id": "example.com", "date_range": RANGE, **body,
             "include": {"imports": imports, **body.get("include", {})}}
    answer = client.post("/api/v2/query", headers=headers, json=query)
    assert answer.status_code == 200, answer.text
    doc: dict[str, Any] = answer.json()
    return doc


def _rows(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(*r["dimensions"], *r["metrics"]) for r in doc["results"]]


TOTALS = ["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration",
          "views_per_visit"]


def test_totals_with_and_without_imports(world: Any) -> None:
    native = _v2(world, False, metrics=TOTALS)
    assert _rows(native) == [(3, 3, 4, 5, 33, 120, 1.33)]
    assert native["meta"]["imports_included"] is False
    mixed = _v2(world, True, metrics=TOTALS)
    # imported: 33 visitors, 63 visits, 123 pageviews (+9 custom events), 15 bounces, 1800 s
    assert _rows(mixed) == [(36, 66, 127, 137, round(16 * 100 / 66), round(2160 / 66),
                             round(127 / 66, 2))]
    assert mixed["meta"]["imports_included"] is True
    assert "imports_skip_reason" not in mixed["meta"]


def test_days(world: Any) -> None:
    doc = _v2(world, True, metrics=["visitors", "visits"], dimensions=["time:day"])
    assert _rows(doc) == [("2024-01-01", 10, 20), ("2024-01-02", 11, 21),
                          ("2024-01-03", 12, 22), ("2024-01-04", 3, 3)]
    months = _v2(world, True, metrics=["visitors"], dimensions=["time:month"])
    assert _rows(months) == [("2024-01-01", 36)]


@pytest.mark.parametrize(("dimension", "metrics", "expected"), [
    ("visit:source", ["visitors", "visits", "bounce_rate"],
     [("Google", 20, 41, round(9 * 100 / 41)), ("Direct / None", 16, 25, round(7 * 100 / 25))]),
    ("visit:country", ["visitors", "visits"], [("DE", 20, 41), ("US", 16, 25)]),
    ("visit:device", ["visitors"], [("Desktop", 20), ("Mobile", 16)]),
    ("visit:browser", ["visitors"], [("Chrome", 20), ("Firefox", 16)]),
    ("visit:os", ["visitors"], [("Mac", 20), ("Windows", 16)]),
    ("event:page", ["visitors", "pageviews"], [("/", 24, 78), ("/pricing", 13, 49)]),
    ("visit:entry_page", ["visitors", "visits"], [("/", 24, 45), ("/pricing", 12, 21)]),
    ("visit:exit_page", ["visitors", "visits"], [("/", 23, 44), ("/pricing", 13, 22)]),
    ("event:goal", ["visitors", "events", "conversion_rate"],
     [("Signup", 7, 10, round(7 * 100 / 36, 2))]),
])
def test_breakdowns(world: Any, dimension: str, metrics: list[str],
                    expected: list[tuple[Any, ...]]) -> None:
    doc = _v2(world, True, metrics=metrics, dimensions=[dimension])
    assert doc["meta"]["imports_included"] is True, doc["meta"]
    assert _rows(doc) == expected


def test_filters_on_the_same_table(world: Any) -> None:
    doc = _v2(world, True, metrics=["visitors"], dimensions=["visit:source"],
              filters=[["is", "visit:source", ["Google"]]])
    assert _rows(doc) == [("Google", 20)]
    goal = _v2(world, True, metrics=["visitors"], filters=[["is", "event:goal", ["Signup"]]])
    assert _rows(goal) == [(7,)]


@pytest.mark.parametrize(("body", "reason"), [
    ({"metrics": ["visitors"], "dimensions": ["time:hour"]}, "unsupported_interval"),
    ({"metrics": ["visitors"], "dimensions": ["visit:source"],
      "filters": [["is", "visit:country", ["DE"]]]}, "unsupported_query"),
    ({"metrics": ["scroll_depth"]}, "unsupported_query"),
    ({"metrics": ["visitors"], "dimensions": ["visit:channel"]}, "unsupported_query"),
    ({"metrics": ["visitors"], "date_range": ["2023-01-01", "2023-01-31"]}, "out_of_range"),
])
def test_queries_that_cannot_mix_say_why(world: Any, body: dict[str, Any], reason: str) -> None:
    doc = _v2(world, True, **body)
    native = _v2(world, False, **body)
    assert doc["meta"]["imports_included"] is False
    assert doc["meta"]["imports_skip_reason"] == reason
    assert ("imports_warning" in doc["meta"]) == (reason == "unsupported_query")
    assert doc["results"] == native["results"]


def test_v1_with_imported(world: Any) -> None:
    client, headers = world
    base = {"site_id": "example.com", "period": "custom", "date": ",".join(RANGE)}
    agg = client.get("/api/stats/aggregate", headers=headers,
                     params={**base, "metrics": "visitors,pageviews", "with_imported": "true"})
    assert agg.status_code == 200, agg.text
    doc = agg.json()
    assert doc["results"]["visitors"]["value"] == 36
    assert doc["results"]["pageviews"]["value"] == 127 and doc["imports_included"] is True
    plain = client.get("/api/stats/aggregate", headers=headers,
                       params={**base, "metrics": "visitors"}).json()
    assert plain["results"]["visitors"]["value"] == 3 and "imports_included" not in plain
    series = client.get("/api/stats/timeseries", headers=headers,
                        params={**base, "with_imported": "true"}).json()
    assert [r["visitors"] for r in series["results"]] == [10, 11, 12, 3]
    top = client.get("/api/stats/breakdown", headers=headers,
                     params={**base, "property": "visit:source", "metrics": "visitors",
                             "with_imported": "true"}).json()
    assert top["results"] == [{"source": "Google", "visitors": 20},
                              {"source": "Direct / None", "visitors": 16}]
    bad = client.get("/api/stats/aggregate", headers=headers,
                     params={**base, "with_imported": "yes"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "with_imported"
    wrong = client.post("/api/v2/query", headers=headers,
                        json={"site_id": "example.com", "metrics": ["visitors"],
                              "date_range": "7d", "include": {"imports": "yes"}})
    assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "include.imports"


def test_an_import_changes_the_answer_at_once(world: Any, tmp_path: Path) -> None:
    client, _headers = world
    svc = svc_of(client)
    site = svc.sites.by_domain("example.com")
    assert site is not None
    before = _rows(_v2(world, True, metrics=["visitors"]))[0][0]
    (imp,) = [i for i in svc.imports.imports.of_site(site.id)]
    svc.imports.delete(site.id, imp.id)
    assert _rows(_v2(world, True, metrics=["visitors"]))[0][0] == before - 33
    again = svc.imports.run(site, "plausible", plausible_zip(tmp_path / "e.zip"), "e.zip")
    assert again.status == "completed"
    assert _rows(_v2(world, True, metrics=["visitors"]))[0][0] == before


def test_all_time_starts_at_the_first_imported_day(world: Any) -> None:
    doc = _v2(world, True, metrics=["visitors"], date_range="all")
    assert _rows(doc) == [(36,)]
    assert doc["query"]["date_range"][0].startswith("2024-01-01")
    assert _rows(_v2(world, False, metrics=["visitors"], date_range="all")) == [(3,)]
