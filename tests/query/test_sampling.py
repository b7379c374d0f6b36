"""Sampled answers (``SAMPLE BY visitor_id``): event-based counts over ranges holding more
events than ``sample_rows`` are estimated from whole visitors and marked with their factor;
``sampling=exact``, visit-based metrics, small ranges and revenue are exact. On both
transports."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from liveinsight.ops.metrics import Metrics
from liveinsight.query import response
from liveinsight.query.parser import parse_simple, parse_v2
from liveinsight.query.runner import QueryRunner
from liveinsight.storage.protocol import Store
from tests.query.rows import ingest, visit

SITE, SMALL = 71, 72  # SMALL shares the granules read for SITE (see the sample's factor)
DAY = date(2026, 3, 10)
VISITORS = 3000


@pytest.fixture(scope="module")
def runner(store: Store, segments: Path) -> QueryRunner:
    rng = random.Random(5)
    visits = []
    for n in range(VISITORS):
        pages = rng.choice([["/a"], ["/a", "/b"], ["/b", "/c", "/a"]])
        events = [(f"2026-03-10T{8 + i:02d}:{n % 60:02d}:00", "pageview", p)
                  for i, p in enumerate(pages)]
        visits.append(visit(SITE, rng.getrandbits(64), events))
    visits += [visit(SMALL, rng.getrandbits(64), [("2026-03-10T09:00:00", "pageview", "/a")])
               for _ in range(20)]
    ingest(store, segments / "sampling", visits)
    return QueryRunner(store, Metrics(), timeout_s=30, rollups=False)


def _v2(runner: QueryRunner, body: dict[str, Any], sample_rows: int, site: int = SITE
        ) -> dict[str, Any]:
    q = parse_v2({"date_range": ["2026-03-10", "2026-03-10"], **body}, site_id=site,
                 timezone="UTC", goals=(), today=DAY, sample_rows=sample_rows)
    return response.v2(runner.run(q), {})


def _pages(answer: dict[str, Any]) -> dict[str, list[Any]]:
    return {r["dimensions"][0]: r["metrics"] for r in answer["results"]}


def test_a_large_range_is_estimated_from_a_sample_and_says_so(runner: QueryRunner) -> None:
    body = {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"]}
    exact = _v2(runner, body, 0)
    sampled = _v2(runner, body, 1000)
    assert "sampled" not in exact["meta"]
    assert sampled["meta"]["sampled"] is True and sampled["meta"]["sample_factor"] > 2
    truth, guess = _pages(exact), _pages(sampled)
    assert set(guess) == set(truth)
    for page, (visitors, pageviews) in truth.items():
        assert guess[page][0] == pytest.approx(visitors, rel=0.3), page
        assert guess[page][1] == pytest.approx(pageviews, rel=0.3), page
    # Whole visitors are sampled: each kept visitor brings all their pageviews.
    totals = _v2(runner, {"metrics": ["visitors", "pageviews"]}, 1000)["results"][0]["metrics"]
    assert totals[0] == pytest.approx(VISITORS, rel=0.2)
    assert totals[1] / totals[0] == pytest.approx(2.0, rel=0.15)


def test_exact_on_request_and_where_a_sample_cannot_answer(runner: QueryRunner) -> None:
    body = {"metrics": ["visitors"], "dimensions": ["event:page"]}
    asked = _v2(runner, {**body, "sampling": "exact"}, 1000)
    assert "sampled" not in asked["meta"] and asked == _v2(runner, body, 0)
    # Visit-based metrics come from the sessions table: never sampled.
    visits = _v2(runner, {"metrics": ["visitors", "bounce_rate"]}, 1000)
    assert "sampled" not in visits["meta"]
    assert visits["results"][0]["metrics"][0] == VISITORS
    # A range holding fewer events than the sample size is read whole.
    whole = _v2(runner, body, 100_000)
    assert "sampled" not in whole["meta"] and whole == _v2(runner, body, 0)


def test_the_simple_api_marks_sampled_answers_and_refuses_a_bad_value(
        runner: QueryRunner) -> None:
    def breakdown(**params: str) -> dict[str, Any]:
        q = parse_simple({"period": "custom", "date": "2026-03-10,2026-03-10",
                          "property": "event:page", **params}, "breakdown", site_id=SITE,
                         timezone="UTC", goals=(), today=DAY, sample_rows=1000)
        return response.breakdown(runner.run(q))

    assert breakdown()["sampled"] is True
    assert "sampled" not in breakdown(sampling="exact")
    with pytest.raises(Exception, match="sampling must be auto or exact"):
        breakdown(sampling="sometimes")
