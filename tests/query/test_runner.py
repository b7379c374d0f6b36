"""The runner: time limits and store failures become JSON errors; every query is timed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from liveinsight.api.errors import status_of
from liveinsight.errors import Problem
from liveinsight.ops.metrics import Metrics
from liveinsight.query.parser import parse_v2
from liveinsight.query.runner import QueryRunner
from liveinsight.storage.protocol import QueryResult, Store, StoreError, StoreUnavailable
from tests.query.rows import ingest, visit


def test_time_limit_is_a_400_naming_the_range(store: Store) -> None:
    runner = QueryRunner(store, Metrics(), timeout_s=0.2)
    with pytest.raises(Problem) as info:
        runner.raw("SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) = 1", {},
                   "test")
    assert (status_of(info.value), info.value.code, info.value.field) == (
        400, "query_too_expensive", "date_range")
    # The next query on the same thread answers normally.
    assert runner.raw("SELECT 7", {}, "test") == [[7]]


class _FailingStore:
    """A store that fails the way a broken or unreachable ClickHouse does."""

    database = "liveinsight"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def query(self, sql: str, params: Mapping[str, Any] | None = None, *,
              timeout: float | None = None) -> QueryResult:
        raise self.exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        raise self.exc

    def ingest_segment(self, path: Path, token: str, targets: Any = None) -> None:
        raise self.exc

    def ping(self) -> bool:
        return False

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("exc", "code"), [
    (StoreUnavailable("connection refused"), "store_unavailable"),
    (StoreError("Code: 62. Syntax error"), "query_failed"),
])
def test_store_failures_are_503_with_retry_after(exc: Exception, code: str) -> None:
    metrics = Metrics()
    runner = QueryRunner(_FailingStore(exc), metrics, timeout_s=1)
    q = parse_v2({"metrics": ["visitors"], "date_range": "7d"}, site_id=1, timezone="UTC",
                 goals=(), today=date(2026, 11, 20))
    with pytest.raises(Problem) as info:
        runner.run(q)
    assert (status_of(info.value), info.value.code) == (503, code)
    assert info.value.retry_after == 5
    assert metrics.registry.get_sample_value("liveinsight_query_seconds_count",
                                             {"kind": "stats"}) == 1


def test_queries_are_timed_by_kind(store: Store) -> None:
    metrics = Metrics()
    runner = QueryRunner(store, metrics, timeout_s=5)
    q = parse_v2({"metrics": ["visitors", "visits"], "date_range": "7d"}, site_id=99,
                 timezone="UTC", goals=(), today=date(2026, 11, 20))
    result = runner.run(q, "v2")
    assert result.rows[0].metrics == (0, 0)
    assert metrics.registry.get_sample_value("liveinsight_query_seconds_count",
                                             {"kind": "v2"}) == 1


@pytest.mark.parametrize("pattern", ["(", "a{2,1}", "[z-a]", "^/(?=blog)", "(?<=x)y", r"(a)\1"])
def test_a_pattern_re2_cannot_compile_is_a_400_even_over_no_rows(store: Store,
                                                                 pattern: str) -> None:
    runner = QueryRunner(store, Metrics(), timeout_s=5)
    for dimension in ("event:page", "event:goal", "visit:source"):
        q = parse_v2({"metrics": ["visitors"], "date_range": "7d",
                      "filters": [["matches", dimension, [pattern]]]}, site_id=12345,
                     timezone="UTC", goals=(), today=date(2026, 11, 20))
        with pytest.raises(Problem) as info:
            runner.run(q)
        assert (status_of(info.value), info.value.field) == (400, "filters"), dimension


def test_regular_expressions_re2_rejects_are_a_400(store: Store, segments: Path) -> None:
    ingest(store, segments, [visit(1, 1, [("2026-11-19T10:00:00", "pageview", "/blog")])])
    runner = QueryRunner(store, Metrics(), timeout_s=5)
    q = parse_v2({"metrics": ["visitors"], "date_range": "7d",
                  "filters": [["matches", "event:page", ["^/(?=blog)"]]]}, site_id=1,
                 timezone="UTC", goals=(), today=date(2026, 11, 20))
    with pytest.raises(Problem) as info:
        runner.run(q)
    assert (status_of(info.value), info.value.field) == (400, "filters")
