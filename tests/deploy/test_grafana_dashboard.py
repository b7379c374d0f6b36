"""``deploy/grafana/liveinsight.json``: a Grafana dashboard over ``/metrics`` that names only
metrics the app exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from liveinsight.ops.metrics import Metrics

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "liveinsight.json"
_NAME = re.compile(r"\b(?:liveinsight|process)_[a-z_]+\b")
_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


def _exposed() -> set[str]:
    metrics = Metrics()
    metrics.watch_cache(dict)  # the cache's families, as the app registers them
    names = set()
    for family in metrics.registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES)
        names.update(sample.name for sample in family.samples)
    return names


def test_every_panel_queries_metrics_the_app_exposes() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "liveinsight-overview"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    used = {name for expr in exprs for name in _NAME.findall(expr)}
    assert used - _exposed() == set()
    assert {"liveinsight_http_request_seconds_bucket", "liveinsight_wal_bytes",
            "liveinsight_breaker_open", "process_cpu_seconds_total"} <= used


def test_panels_do_not_overlap() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    cells = set()
    for panel in panels:
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))
