"""Alert rules and ``GET /admin/monitoring/metrics`` under ``serve --workers``: the app is
worker 0 of a slots root (``ops/metricshare.py``), another worker's registry publishes its
snapshot into slot 1, as a real worker does (the real processes: tests/e2e/test_workers.py).
Counters are summed over the workers, their growth taken per worker (a worker started
again counts from zero); gauges are kept apart per worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liveinsight.ops.metrics import Metrics
from liveinsight.ops.metricshare import MetricsShare
from liveinsight.workers import ROOT_ENV
from tests.conftest import svc_of
from tests.ops.alerts.world import World, alert_world


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    root = tmp_path / "workers"
    monkeypatch.setenv(ROOT_ENV, str(root))
    with alert_world(tmp_path, data_dir=root / "0") as w:
        yield w


def _other_worker(world: World, dropped: int, wal_bytes: float) -> None:
    """Worker 1 (started afresh: its counters from zero) publishes its figures."""
    root = svc_of(world.client).settings.data_dir.parent
    slot = root / "1"
    slot.mkdir(exist_ok=True)
    metrics = Metrics()
    metrics.events_dropped.labels("bot").inc(dropped)
    metrics.wal_bytes.set(wal_bytes)
    MetricsShare(metrics.registry, root, slot).publish()


def _series(world: World, name: str) -> list[dict[str, Any]]:
    rules = world.get("/admin/monitoring/alerts").json()["rules"]
    found: list[dict[str, Any]] = next(r for r in rules if r["name"] == name)["series"]
    return found


def test_rules_see_every_workers_counters_and_each_workers_gauges(world: World) -> None:
    mail = world.channel(name="m", kind="email", to=["ops@example.com"])
    world.rule(name="bots", metric="liveinsight_events_dropped_total",
               labels={"reason": "bot"}, stat="increase", window="1m", op=">=",
               threshold=5, channels=[mail])
    world.rule(name="backlog", metric="liveinsight_wal_bytes", op=">", threshold=100,
               channels=[mail])
    _other_worker(world, 0, 500.0)
    world.tick()
    world.drop("bot", 2)  # worker 0, this app
    _other_worker(world, 4, 500.0)  # the same worker 1, 4 drops since
    world.tick(60)
    [bots] = _series(world, "bots")
    assert bots["value"] == 6 and bots["state"] == "firing"  # 2 + 4: the server's
    backlog = {s["labels"]["worker"]: s for s in _series(world, "backlog")}
    assert backlog["1"]["state"] == "firing" and backlog["1"]["value"] == 500
    assert backlog["0"]["state"] == "ok"  # this worker's own log is empty
    # worker 1 is started again: its counter counts from zero, 1 drop since its start
    _other_worker(world, 1, 0.0)
    world.tick(60)
    [bots] = _series(world, "bots")
    assert bots["value"] == 1, "growth is taken per worker (the sum fell from 6 to 3)"
    assert {s["labels"]["worker"]: s["state"] for s in _series(
        world, "backlog")} == {"0": "ok", "1": "ok"}


def test_a_rule_may_keep_counters_apart_per_worker(world: World) -> None:
    rule_id = world.rule(name="per worker", metric="liveinsight_events_dropped_total",
                         by=["worker"], op=">", threshold=0)
    assert world.get(f"/admin/alerts/rule/{rule_id}").json()["by"] == ["worker"]
    world.drop("bot", 2)
    _other_worker(world, 3, 0.0)
    world.tick()
    values = {s["labels"]["worker"]: s["value"]
              for s in _series(world, "per worker")}
    assert values == {"0": 2, "1": 3}


def test_monitoring_metrics_answer_for_every_worker(world: World) -> None:
    world.drop("bot", 2)
    _other_worker(world, 3, 500.0)
    body = world.get("/admin/monitoring/metrics", families="liveinsight_wal_bytes").json()
    assert body["workers"] == ["0", "1"]
    assert body["ingest"]["events_dropped"] == {"bot": 5}
    assert body["ingest"]["wal_bytes"] == 500  # the sum of the workers' backlogs
    assert body["process"]["resident_memory_bytes"] > 0
    [family] = body["metrics"]
    assert {s["labels"]["worker"]: s["value"] for s in family["samples"]} == {
        "0": 0, "1": 500}
