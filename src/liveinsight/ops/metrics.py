"""Every Prometheus metric, defined once with its name, labels and buckets.

Each app gets its own registry (so tests can build many apps in one process); ``/metrics``
exposes it.
"""

from __future__ import annotations

import bisect
import math
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from liveinsight.cache.protocol import CacheStats

_FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
_SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_HTTP = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
         30.0)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; any other is counted as ``OTHER`` (a label's values stay few)."""


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_accepted = Counter(
            "liveinsight_events_accepted_total", "Events written to the write-ahead log",
            ["endpoint"], registry=r)
        self.events_dropped = Counter(
            "liveinsight_events_dropped_total", "Events answered as accepted but not stored",
            ["reason"], registry=r)
        self.requests_rejected = Counter(
            "liveinsight_ingest_rejected_total", "Collector requests answered with 4xx/5xx",
            ["endpoint", "status"], registry=r)
        self.audit_dropped = Counter(
            "liveinsight_audit_dropped_total", "Audit entries lost: the queue was full or "
            "the metadata database refused them three times", registry=r)
        self.rate_limited = Counter(
            "liveinsight_rate_limited_total", "Requests refused (429) by the request rate "
            "limits, by whose bucket was empty (address or key) or a key's spent daily quota "
            "(quota)", ["limit"], registry=r)
        self.requests_aborted = Counter(
            "liveinsight_requests_aborted_total", "Requests whose body never arrived whole: "
            "the client went away (disconnect) or stalled past the deadline (body_timeout)",
            ["endpoint", "reason"], registry=r)
        self.pipeline_step_seconds = Histogram(
            "liveinsight_pipeline_step_seconds", "Time spent in each enrichment step",
            ["step"], buckets=_FAST, registry=r)
        self.sessions_live = Gauge(
            "liveinsight_sessions_live", "Sessions held in memory by the session tracker",
            registry=r)
        self.shared_state_degraded = Gauge(
            "liveinsight_shared_state_degraded", "1 while a state shared through Redis is kept "
            "in this node only (Redis unreachable): sessions, live_feed", ["state"], registry=r)
        self.live_bus_dropped = Counter(
            "liveinsight_live_bus_dropped_total", "Live feed events other nodes could not be "
            "sent (Redis unreachable, or the publisher fell behind)", registry=r)
        self.wal_bytes = Gauge(
            "liveinsight_wal_bytes", "Bytes waiting in the write-ahead log", registry=r)
        self.wal_append_failures = Counter(
            "liveinsight_wal_append_failures_total", "Appends refused (503)", ["reason"],
            registry=r)
        self.segments_ingested = Counter(
            "liveinsight_wal_segments_ingested_total", "Log segments inserted into ClickHouse",
            registry=r)
        self.segment_ingest_seconds = Histogram(
            "liveinsight_wal_segment_ingest_seconds", "Time to insert one log segment",
            buckets=_SLOW, registry=r)
        self.store_errors = Counter(
            "liveinsight_store_errors_total", "Failed inserts into ClickHouse", registry=r)
        self.query_seconds = Histogram(
            "liveinsight_query_seconds", "Analytics query time", ["kind"], buckets=_SLOW,
            registry=r)
        self.breaker_open = Gauge(
            "liveinsight_breaker_open", "1 while a dependency's circuit breaker is open or "
            "half-open (calls refused at once), else 0", ["dependency"], registry=r)
        # liveinsight_http_requests_total{route,method,status} and
        # liveinsight_http_request_seconds{route,method}: see observe_request
        self._http = _HttpCollector(_HTTP)
        r.register(self._http)
        self.log_records_shipped = Counter(
            "liveinsight_log_records_shipped_total", "Log records appended to the records' "
            "own write-ahead log, on their way to the logs table", registry=r)
        self.log_records_dropped = Counter(
            "liveinsight_log_records_dropped_total", "Log records not kept in the logs table "
            "(queue_full, wal_full, io, error); the terminal's copy is unaffected",
            ["reason"], registry=r)
        self.audit_copies_shipped = Counter(
            "liveinsight_audit_copies_shipped_total", "Audit records appended to the audit "
            "copies' write-ahead log, on their way to the ClickHouse audit table", registry=r)
        self.audit_copies_dropped = Counter(
            "liveinsight_audit_copies_dropped_total", "Audit record copies not written to "
            "their log (queue_full, wal_full, io, error); the chain keeps the record and the "
            "next start copies it again", ["reason"], registry=r)
        self.spans_shipped = Counter(
            "liveinsight_spans_shipped_total", "Trace spans appended to the spans' own "
            "write-ahead log, on their way to the spans table", registry=r)
        self.spans_dropped = Counter(
            "liveinsight_spans_dropped_total", "Trace spans not kept in the spans table "
            "(queue_full, wal_full, io, error)", ["reason"], registry=r)
        self.wal_segments = Gauge(
            "liveinsight_wal_segments", "Write-ahead log segments waiting for the store (the "
            "open one included when it holds rows)", registry=r)
        self.writer_lag_seconds = Gauge(
            "liveinsight_writer_lag_seconds", "How long the oldest row not yet confirmed by "
            "the store has waited in the write-ahead log (0 when it is empty)", registry=r)
        self.store_up = Gauge(
            "liveinsight_store_up", "1 while the writer's inserts into the store succeed, 0 "
            "while they fail (events wait in the log)", registry=r)
        self.data_dir_free_bytes = Gauge(
            "liveinsight_data_dir_free_bytes", "Free bytes on the data directory's file "
            "system (for unprivileged users)", registry=r)
        self.data_dir_total_bytes = Gauge(
            "liveinsight_data_dir_total_bytes", "Size of the data directory's file system",
            registry=r)
        # process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds,
        # process_max_fds, ... read from /proc at each collection (Linux).
        ProcessCollector(registry=r)
        self.alert_notifications = Counter(
            "liveinsight_alert_notifications_total", "Alert notifications by channel kind and "
            "outcome (sent, failed, rate_limited)", ["kind", "outcome"], registry=r)
        self.alerts_firing = Gauge(
            "liveinsight_alerts_firing", "Alert series firing (on the node that evaluates)",
            registry=r)
        self.alert_leader = Gauge(
            "liveinsight_alert_evaluator_leader", "1 on the node holding the alert "
            "evaluator's lease", registry=r)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request and its duration, as
        ``liveinsight_http_requests_total{route,method,status}`` and the histogram
        ``liveinsight_http_request_seconds{route,method}``. ``route`` is a route template
        (never a raw path: a label's values stay as few as the routes); a method outside
        :data:`HTTP_METHODS` is counted as ``OTHER``. Call it from one thread (the event
        loop's): the counts are plain integers, without the lock of a prometheus_client
        child (a dictionary look-up, a bisection and two additions per request)."""
        self._http.observe(route, method, status, seconds)

    def watch_node(self, data_dir: Path, backlog_bytes: Callable[[], int],
                   backlog_segments: Callable[[], int], lag_s: Callable[[], float],
                   store_up: Callable[[], bool]) -> None:
        """Read the node's gauges at each collection: the log's backlog, the writer's lag
        and state, the data directory's file system (NaN if it cannot be read)."""
        self.wal_bytes.set_function(lambda: float(backlog_bytes()))
        self.wal_segments.set_function(lambda: float(backlog_segments()))
        self.writer_lag_seconds.set_function(lag_s)
        self.store_up.set_function(lambda: float(store_up()))
        self.data_dir_free_bytes.set_function(lambda: _disk(data_dir, "free"))
        self.data_dir_total_bytes.set_function(lambda: _disk(data_dir, "total"))

    def watch_cache(self, layers: Callable[[], dict[str, CacheStats]]) -> None:
        """Expose the answer cache's numbers per layer (read at each scrape):
        ``liveinsight_cache_{hits,misses,evictions}_total{layer}``,
        ``liveinsight_cache_{bytes,keys}{layer}`` (L2's by a scan of its keys, at most
        every 10 seconds) and the hits and misses once more as
        ``liveinsight_cache_lookups_total{layer,outcome}`` (``hit`` or ``miss``: one
        counter, so an alert rule's ``ratio_of`` can divide hits by every lookup)."""
        self.registry.register(_CacheCollector(layers))


class _HttpCollector(Collector):
    """Request counts and durations kept as plain numbers per (route, method, status):
    ``[sum of seconds, count in bucket 0, ..., count above the last bound]``, exposed as a
    counter and a histogram at each collection (the histogram's buckets summed over
    statuses, its count the sum of its buckets, so the two always agree)."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._cells: dict[tuple[str, str, int], list[float]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        cell = self._cells.get((route, method, status))
        if cell is None:
            cell = self._cell(route, method, status)
        cell[0] += seconds
        cell[1 + bisect.bisect_left(self._bounds, seconds)] += 1

    def _cell(self, route: str, method: str, status: int) -> list[float]:
        if method not in HTTP_METHODS:
            method = "OTHER"  # never a key of its own: the label's values stay few
            found = self._cells.get((route, method, status))
            if found is not None:
                return found
        cell = [0.0] * (len(self._bounds) + 2)
        self._cells[(route, method, status)] = cell
        return cell

    def collect(self) -> Iterator[Metric]:
        counts = CounterMetricFamily(
            "liveinsight_http_requests", "HTTP requests answered, by route template "
            "(`unmatched` for no route), method and status",
            labels=["route", "method", "status"])
        merged: dict[tuple[str, str], list[float]] = {}
        for (route, method, status), cell in list(self._cells.items()):
            cell = list(cell)
            counts.add_metric([route, method, str(status)], sum(cell[1:]))
            into = merged.setdefault((route, method), [0.0] * len(cell))
            for i, value in enumerate(cell):
                into[i] += value
        seconds = HistogramMetricFamily(
            "liveinsight_http_request_seconds", "Time from a request's arrival to the end of "
            "its answer (a stream's whole life), by route template and method",
            labels=["route", "method"])
        for (route, method), cell in merged.items():
            running, buckets = 0.0, []
            for bound, n in zip((*self._bounds, math.inf), cell[1:], strict=True):
                running += n
                buckets.append(("+Inf" if math.isinf(bound) else str(bound), running))
            seconds.add_metric([route, method], buckets, cell[0])
        yield counts
        yield seconds


def _disk(path: Path, field: str) -> float:
    try:
        return float(getattr(shutil.disk_usage(path), field))
    except OSError:
        return math.nan


class _CacheCollector(Collector):
    def __init__(self, layers: Callable[[], dict[str, CacheStats]]) -> None:
        self._layers = layers

    def collect(self) -> Iterator[Metric]:
        stats = self._layers()
        families: list[Metric] = []
        for name, help_text, field, counter in _CACHE_FAMILIES:
            family: CounterMetricFamily | GaugeMetricFamily = (
                CounterMetricFamily(name, help_text, labels=["layer"]) if counter
                else GaugeMetricFamily(name, help_text, labels=["layer"]))
            for layer, values in stats.items():
                family.add_metric([layer], getattr(values, field))
            families.append(family)
        lookups = CounterMetricFamily(
            "liveinsight_cache_lookups", "Answers asked of the cache, by layer and outcome "
            "(hit or miss): the hits and misses above as one counter, for hit ratios",
            labels=["layer", "outcome"])
        for layer, values in stats.items():
            lookups.add_metric([layer, "hit"], values.hits)
            lookups.add_metric([layer, "miss"], values.misses)
        families.append(lookups)
        yield from families


_CACHE_FAMILIES = (
    ("liveinsight_cache_hits", "Answers served from the cache", "hits", True),
    ("liveinsight_cache_misses", "Answers computed because the cache did not hold them",
     "misses", True),
    ("liveinsight_cache_evictions", "Answers dropped to stay within the memory bound",
     "evictions", True),
    ("liveinsight_cache_bytes", "Bytes of answers held", "bytes", False),
    ("liveinsight_cache_keys", "Answers held", "keys", False),
)
