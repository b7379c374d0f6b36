"""The node's metrics as JSON (``GET /admin/monitoring/metrics``): a summary a person can
read (process, disk, ingest, HTTP per route with percentiles) and, optionally, every family
of the Prometheus registry (``ops/metrics.py``) as the scrape would see it.

Under ``serve --workers`` the families are the whole server's, as ``/metrics`` has them
(``ops/metricshare.py``: counters and histograms summed, gauges per worker, label
``worker``); the summary combines each gauge of the workers as :data:`OVER_WORKERS` says.

Pure functions of one collection of the registry; the caller collects it off the event loop
(the cache's collector may ask Redis).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from liveinsight.ops.alerts.samples import QUANTILES, histogram_quantile
from liveinsight.ops.metricshare import WORKER_LABEL

MAX_PREFIX = 200
_PROCESS = {"process_cpu_seconds_total": "cpu_seconds",
            "process_resident_memory_bytes": "resident_memory_bytes",
            "process_virtual_memory_bytes": "virtual_memory_bytes",
            "process_open_fds": "open_fds", "process_max_fds": "max_fds"}
_INGEST = {"liveinsight_wal_bytes": "wal_bytes", "liveinsight_wal_segments": "wal_segments",
           "liveinsight_writer_lag_seconds": "writer_lag_seconds",
           "liveinsight_wal_segments_ingested_total": "segments_ingested",
           "liveinsight_store_errors_total": "store_errors"}
_DISK = {"liveinsight_data_dir_free_bytes": "free_bytes",
         "liveinsight_data_dir_total_bytes": "total_bytes"}
OVER_WORKERS: dict[str, Callable[[list[float]], float]] = {
    "process_resident_memory_bytes": sum, "process_virtual_memory_bytes": sum,
    "process_open_fds": sum, "process_max_fds": min, "process_start_time_seconds": min,
    "liveinsight_data_dir_free_bytes": min, "liveinsight_data_dir_total_bytes": max,
    "liveinsight_wal_bytes": sum, "liveinsight_wal_segments": sum,
    "liveinsight_writer_lag_seconds": max, "liveinsight_store_up": min,
}
"""How the summary combines a gauge every worker reports: the server's memory, open files
and backlog are the sums; its lag the longest; the store up only if up for every worker;
the free space the least any worker sees; started when the first worker started."""


def collect(registry: CollectorRegistry) -> list[Metric]:
    """One collection of every family (blocking: call it off the event loop)."""
    return list(registry.collect())


def report(families: Iterable[Metric], *, node_id: str, at: datetime,
           prefix: str | None = None) -> dict[str, Any]:
    """The summary, plus ``metrics`` (every family whose name starts with ``prefix``, each
    with its type, help and samples) when ``prefix`` is given (``""``: all)."""
    fams = list(families)
    values = _plain(fams)
    start = values.get("process_start_time_seconds")
    out: dict[str, Any] = {
        "node_id": node_id,
        "at": at.isoformat(),
        "workers": sorted({s.labels[WORKER_LABEL] for f in fams for s in f.samples
                           if WORKER_LABEL in s.labels}, key=lambda w: (len(w), w)),
        "process": {key: values.get(name) for name, key in _PROCESS.items()}
        | {"started_at": (datetime.fromtimestamp(start, UTC).isoformat()
                          if start is not None else None)},
        "disk": {key: values.get(name) for name, key in _DISK.items()},
        "ingest": {key: values.get(name) for name, key in _INGEST.items()}
        | {"store_up": values.get("liveinsight_store_up") == 1.0,
           "events_accepted": _by_label(fams, "liveinsight_events_accepted", "endpoint"),
           "events_dropped": _by_label(fams, "liveinsight_events_dropped", "reason")},
        "http": http_routes(fams),
    }
    if prefix is not None:
        out["metrics"] = [_family(f) for f in fams if f.name.startswith(prefix)]
    return out


def http_routes(families: Iterable[Metric]) -> list[dict[str, Any]]:
    """Per route template and method: requests by status, 5xx answers, and the mean and
    p50/p95/p99 duration since the process started (linear within a bucket, as
    Prometheus's ``histogram_quantile``); most requested first."""
    counts: dict[tuple[str, str], dict[str, float]] = {}
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = {}
    sums: dict[tuple[str, str], float] = {}
    for fam in families:
        for s in fam.samples:
            labels = s.labels
            if s.name == "liveinsight_http_requests_total":
                key = (labels["route"], labels["method"])
                counts.setdefault(key, {})[labels["status"]] = s.value
            elif s.name == "liveinsight_http_request_seconds_bucket":
                key = (labels["route"], labels["method"])
                buckets.setdefault(key, []).append((float(labels["le"]), s.value))
            elif s.name == "liveinsight_http_request_seconds_sum":
                sums[(labels["route"], labels["method"])] = s.value
    rows = []
    for key, statuses in counts.items():
        total = sum(statuses.values())
        row: dict[str, Any] = {
            "route": key[0], "method": key[1], "requests": int(total),
            "statuses": {k: int(v) for k, v in sorted(statuses.items())},
            "errors_5xx": int(sum(v for k, v in statuses.items() if k.startswith("5"))),
            "mean_seconds": _num(sums[key] / total) if total and key in sums else None,
        }
        for name, q in QUANTILES.items():
            if name != "p90":
                found = histogram_quantile(q, list(buckets.get(key, [])))
                row[f"{name}_seconds"] = _num(found) if found is not None else None
        rows.append(row)
    rows.sort(key=lambda r: (-r["requests"], r["route"], r["method"]))
    return rows


def _plain(families: Iterable[Metric]) -> dict[str, float | None]:
    """Sample name → value, for samples without labels but ``worker`` (those of several
    workers combined as :data:`OVER_WORKERS` says, else summed)."""
    found: dict[str, list[float]] = {}
    for f in families:
        for s in f.samples:
            if not s.labels or s.labels.keys() == {WORKER_LABEL}:
                found.setdefault(s.name, []).append(s.value)
    out: dict[str, float | None] = {}
    for name, values in found.items():
        if any(math.isnan(v) for v in values):
            out[name] = None  # a worker could not read it: no honest figure for the server
        else:
            out[name] = _num(OVER_WORKERS.get(name, sum)(values))
    return out


def _by_label(families: Iterable[Metric], name: str, label: str) -> dict[str, int]:
    for fam in families:
        if fam.name == name:
            return {s.labels[label]: int(s.value) for s in fam.samples
                    if s.name == name + "_total" and label in s.labels}
    return {}


def _family(fam: Metric) -> dict[str, Any]:
    return {"name": fam.name, "type": fam.type, "help": fam.documentation,
            "samples": [_sample(s.name, s.labels, s.value) for s in fam.samples]}


def _sample(name: str, labels: Mapping[str, str], value: float) -> dict[str, Any]:
    return {"name": name, "labels": dict(labels), "value": _num(value)}


def _num(value: float) -> float | None:
    """A JSON number (NaN and infinities have none: null)."""
    return None if math.isnan(value) or math.isinf(value) else round(value, 6)
