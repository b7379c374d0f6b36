"""Every Prometheus metric, defined once with its name, labels and buckets.

Each app gets its own registry (so tests can build many apps in one process); ``/metrics``
exposes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from liveinsight.cache.protocol import CacheStats

_FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
_SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
        self.http_requests = Counter(
            "liveinsight_http_requests_total", "HTTP requests", ["route", "status"], registry=r)
        self.alert_notifications = Counter(
            "liveinsight_alert_notifications_total", "Alert notifications by channel kind and "
            "outcome (sent, failed, rate_limited)", ["kind", "outcome"], registry=r)
        self.alerts_firing = Gauge(
            "liveinsight_alerts_firing", "Alert series firing (on the node that evaluates)",
            registry=r)
        self.alert_leader = Gauge(
            "liveinsight_alert_evaluator_leader", "1 on the node holding the alert "
            "evaluator's lease", registry=r)

    def watch_cache(self, layers: Callable[[], dict[str, CacheStats]]) -> None:
        """Expose the answer cache's numbers per layer (read at each scrape):
        ``liveinsight_cache_{hits,misses,evictions}_total{layer}`` and
        ``liveinsight_cache_{bytes,keys}{layer}`` (L2's by a scan of its keys, at most
        every 10 seconds)."""
        self.registry.register(_CacheCollector(layers))


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
