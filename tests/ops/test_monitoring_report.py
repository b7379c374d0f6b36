"""The node's metrics as JSON (``ops/monitoring.py``, ``GET /admin/monitoring/metrics``) from
a real registry with known requests: counts per status, 5xx, the mean and the percentiles
interpolated within a bucket as Prometheus's ``histogram_quantile`` does, the busiest
route first; a gauge that cannot be read is null (JSON has no NaN); the families shown are
those the prefix names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from liveinsight.ops import monitoring
from liveinsight.ops.metrics import Metrics

AT = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def _metrics(tmp_path: Path) -> Metrics:
    metrics = Metrics()
    for _ in range(8):
        metrics.observe_request("/a", "GET", 200, 0.2)  # bucket (0.1, 0.25]
    for _ in range(2):
        metrics.observe_request("/a", "GET", 503, 0.7)  # bucket (0.5, 1.0]
    metrics.observe_request("/b", "POST", 201, 0.003)
    metrics.observe_request("/b", "BREW", 400, 0.003)  # an unknown method: OTHER
    metrics.events_accepted.labels("event").inc(3)
    metrics.events_dropped.labels("bot").inc(2)
    metrics.watch_node(tmp_path / "gone", backlog_bytes=lambda: 10,
                       backlog_segments=lambda: 1, lag_s=lambda: 0.5,
                       store_up=lambda: True)
    return metrics


def test_requests_per_route_with_their_percentiles(tmp_path: Path) -> None:
    families = monitoring.collect(_metrics(tmp_path).registry)
    rows = monitoring.http_routes(families)
    assert [(r["route"], r["method"]) for r in rows] == [
        ("/a", "GET"), ("/b", "OTHER"), ("/b", "POST")]
    a = rows[0]
    assert (a["requests"], a["statuses"], a["errors_5xx"]) == (10, {"200": 8, "503": 2}, 2)
    assert a["mean_seconds"] == pytest.approx((8 * 0.2 + 2 * 0.7) / 10)
    # rank q*10 within the bucket that reaches it, linearly from its lower bound
    assert a["p50_seconds"] == pytest.approx(0.1 + 0.15 * 5 / 8)
    assert a["p95_seconds"] == pytest.approx(0.5 + 0.5 * 1.5 / 2)
    assert a["p99_seconds"] == pytest.approx(0.5 + 0.5 * 1.9 / 2)
    assert "p90_seconds" not in a
    assert rows[2]["statuses"] == {"201": 1} and rows[2]["errors_5xx"] == 0


def test_the_report_is_json_with_null_for_what_cannot_be_read(tmp_path: Path) -> None:
    families = monitoring.collect(_metrics(tmp_path).registry)
    report = monitoring.report(families, node_id="n1", at=AT)
    text = json.dumps(report, allow_nan=False)  # no NaN anywhere: it would not be JSON
    assert report["node_id"] == "n1" and report["at"] == AT.isoformat()
    assert report["disk"] == {"free_bytes": None, "total_bytes": None}  # no such dir
    ingest = report["ingest"]
    assert (ingest["wal_bytes"], ingest["wal_segments"], ingest["writer_lag_seconds"]) == (
        10.0, 1.0, 0.5)
    assert ingest["store_up"] is True
    assert ingest["events_accepted"] == {"event": 3}
    assert ingest["events_dropped"] == {"bot": 2}
    assert report["process"]["started_at"] is not None
    assert "metrics" not in report and '"metrics"' not in text

    shown = monitoring.report(families, node_id="n1", at=AT,
                              prefix="liveinsight_http_")["metrics"]
    assert sorted(f["name"] for f in shown) == ["liveinsight_http_request_seconds",
                                                "liveinsight_http_requests"]
    counter = next(f for f in shown if f["name"] == "liveinsight_http_requests")
    assert counter["type"] == "counter"
    assert {"name": "liveinsight_http_requests_total",
            "labels": {"route": "/a", "method": "GET", "status": "503"},
            "value": 2.0} in counter["samples"]
    everything = monitoring.report(families, node_id="n1", at=AT, prefix="")["metrics"]
    assert len(everything) == len(families)
