"""The whole server's ``/metrics`` under ``serve --workers`` (``ops/metricshare.py``): two
workers' registries merged through their snapshots (the real processes:
tests/e2e/test_workers.py)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from liveinsight.ops import metricshare, monitoring
from liveinsight.ops.metricshare import MetricsShare


def _worker(root: Path, n: int, served: int, backlog: float) -> MetricsShare:
    registry = CollectorRegistry()
    requests = Counter("requests", "Requests", ["route"], registry=registry)
    requests.labels("/a").inc(served)
    seconds = Histogram("seconds", "Seconds", buckets=(0.1, 1.0), registry=registry)
    for _ in range(served):
        seconds.observe(0.5)
    Gauge("backlog", "Backlog", registry=registry).set(backlog)
    slot = root / str(n)
    slot.mkdir(parents=True)
    return MetricsShare(registry, root, slot)


def _samples(share: MetricsShare) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(share.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_counters_and_histograms_add_up_and_gauges_stay_per_worker(tmp_path: Path) -> None:
    first, second = _worker(tmp_path, 0, 3, 10.0), _worker(tmp_path, 1, 4, 20.0)
    second.publish()
    got = _samples(first)
    assert got[("requests_total", (("route", "/a"),))] == 7
    assert got[("seconds_count", ())] == 7
    assert got[("seconds_bucket", (("le", "1.0"),))] == 7
    assert got[("seconds_bucket", (("le", "0.1"),))] == 0
    assert got[("seconds_sum", ())] == 3.5
    assert got[("backlog", (("worker", "0"),))] == 10.0
    assert got[("backlog", (("worker", "1"),))] == 20.0
    created = [v for (name, _), v in got.items() if name == "requests_created"]
    assert len(created) == 1  # the earliest, never a sum of timestamps
    assert created[0] <= time.time()


def test_a_stale_or_cleared_snapshot_is_left_out(tmp_path: Path) -> None:
    first, second = _worker(tmp_path, 0, 3, 10.0), _worker(tmp_path, 1, 4, 20.0)
    second.publish()
    path = tmp_path / "1" / metricshare.SNAPSHOT
    data = orjson.loads(path.read_bytes())
    data["at"] -= metricshare.STALE_S + 1  # its worker died long ago
    path.write_bytes(orjson.dumps(data))
    assert _samples(first)[("requests_total", (("route", "/a"),))] == 3
    second.publish()
    metricshare.clear(tmp_path)  # what the parent does before its workers start
    assert not path.exists()
    assert _samples(first)[("requests_total", (("route", "/a"),))] == 3


def test_an_unreadable_snapshot_never_fails_a_scrape(tmp_path: Path) -> None:
    first = _worker(tmp_path, 0, 3, 10.0)
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / metricshare.SNAPSHOT).write_bytes(b"{not json")
    assert _samples(first)[("requests_total", (("route", "/a"),))] == 3


def test_the_thread_publishes_and_a_stop_publishes_the_last_counts(tmp_path: Path) -> None:
    share = _worker(tmp_path, 0, 3, 10.0)
    share.start()
    try:
        data = orjson.loads((tmp_path / "0" / metricshare.SNAPSHOT).read_bytes())
        assert data["worker"] == "0" and data["pid"] == os.getpid()
    finally:
        share.stop()
    assert not list((tmp_path / "0").glob(".metrics.json.*"))  # renamed into place


def test_the_evaluators_view_labels_every_sample_with_its_worker(tmp_path: Path) -> None:
    first, second = _worker(tmp_path, 0, 3, 10.0), _worker(tmp_path, 1, 4, 20.0)
    second.publish()
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for f in first.by_worker.collect() for s in f.samples}
    assert got[("requests_total", (("route", "/a"), ("worker", "0")))] == 3
    assert got[("requests_total", (("route", "/a"), ("worker", "1")))] == 4
    assert got[("seconds_count", (("worker", "1"),))] == 4
    assert got[("backlog", (("worker", "0"),))] == 10.0


def _gauges(wal: float, lag: float, up: float, free: float) -> list[Metric]:
    return [GaugeMetricFamily("liveinsight_wal_bytes", "", value=wal),
            GaugeMetricFamily("liveinsight_writer_lag_seconds", "", value=lag),
            GaugeMetricFamily("liveinsight_store_up", "", value=up),
            GaugeMetricFamily("liveinsight_data_dir_free_bytes", "", value=free)]


def test_the_monitoring_summary_combines_the_workers_gauges() -> None:
    merged = metricshare.merge([("0", _gauges(100, 0.5, 1, 9000)),
                                ("1", _gauges(300, 2.5, 0, 7000))])
    body = monitoring.report(merged, node_id="n", at=datetime.now(UTC))
    assert body["workers"] == ["0", "1"]
    ingest = body["ingest"]
    assert ingest["wal_bytes"] == 400  # the server's backlog: every worker's log
    assert ingest["writer_lag_seconds"] == 2.5  # the longest
    assert ingest["store_up"] is False  # one worker's inserts fail
    assert body["disk"]["free_bytes"] == 7000  # the least free space any worker sees
    one = monitoring.report(_gauges(100, 0.5, 1, 9000), node_id="n", at=datetime.now(UTC))
    assert one["workers"] == [] and one["ingest"]["wal_bytes"] == 100
