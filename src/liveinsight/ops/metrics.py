"""Every Prometheus metric, defined once with its name, labels and buckets.

Each app gets its own registry (so tests can build many apps in one process); ``/metrics``
exposes it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
