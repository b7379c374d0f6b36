"""This node's query timings: percentiles per kind, slow executions per query shape."""

from __future__ import annotations

from liveinsight.query import timings
from liveinsight.query.timings import QueryTimings, percentile


def test_percentiles_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99)) == (
        50.0, 95.0, 99.0)
    assert percentile([], 0.5) == 0.0 and percentile([7.0], 0.99) == 7.0


def test_slow_executions_are_grouped_by_the_query_text() -> None:
    t = QueryTimings(clock=lambda: 0.0)
    for seconds in (0.1, 0.6, 0.9):
        t.record("breakdown", "SELECT a FROM events WHERE site_id = {site:UInt32}", seconds)
    t.record("aggregate", "SELECT count() FROM events", 0.7)
    t.record("aggregate", "SELECT 1", 0.01)
    slow = t.slow(0.5, 10)
    assert [(r["kind"], r["count"], r["runs"], r["max_ms"]) for r in slow] == [
        ("breakdown", 2, 3, 900.0), ("aggregate", 1, 1, 700.0)]
    assert t.latency()["aggregate"]["count"] == 2


def test_memory_is_bounded() -> None:
    t = QueryTimings()
    for i in range(timings.SHAPES + 50):
        t.record("k", f"SELECT {i}", 1.0)
    assert len(t.slow(0.0, 10_000)) == timings.SHAPES
