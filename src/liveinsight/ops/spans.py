"""Request tracing with OpenTelemetry: which requests are traced, where their spans go.

**Sampling.** ``trace_sample_ratio`` of the requests that come without a trace context are
traced (0: none; tracing is then off entirely); a request carrying a W3C ``traceparent``
follows its caller's decision (parent-based sampling), at most :data:`REMOTE_PER_SECOND`
such requests a second (a client must not be able to have every request traced). The
decision is taken at the front door, first (:class:`Gate`): a request left out pays for one
random draw and a header scan, and nothing else — no span object, no context attached, no
attribute built. An admitted request gets its span from :meth:`Gate.traced`, our own few
lines in place of OpenTelemetry's ASGI middleware (which cost a traced collector request
~65 µs of its ~110: it builds a dozen attributes we then drop, wraps ``receive`` and
``send`` and sets its semantic conventions up per request): the parent context extracted
from ``traceparent``/``tracestate`` by the SDK's W3C propagator, a ``SERVER`` span with the
method, scheme, protocol and route, the status set when the answer starts (a 5xx or an
exception marks it failed), current while the request is served. The SDK's sampler
(``ParentBased``, whose root sampler admits what the gate admitted) makes the same
decisions for any span started otherwise.

**Where spans go.** Every finished span of a traced request becomes a row of the ClickHouse
``spans`` table through the same durable path as the log records (``ops/logship.py``): a
bounded queue (a full queue drops the span, counted), a write-ahead log of its own
(``<data_dir>/spans-wal``), and a writer that moves its segments into the table. The span
processor (:class:`Queued`) only queues the finished span; the shipping thread renders it
into its row (:func:`span_row`, 10 to 25 µs a span, off the request's path), so a tracing
failure never blocks a request, and the shipping threads trace nothing
(``ops/tracing.py``). With ``otlp_endpoint`` the spans are
also sent to an OpenTelemetry collector over OTLP/HTTP, batched, by the SDK's thread.

**What a span keeps.** The route's template (never the raw path or query string), method,
status, duration and the attributes our code sets; the client's address, user agent, URL,
target and query string are never recorded (and left out should any instrumentation record
them, :data:`DROPPED`), and every other value is scrubbed as log records are
(``ops/logging.scrub_text``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, MutableMapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from liveinsight.ops import tracing
from liveinsight.ops.logging import scrub_text, secret_name
from liveinsight.ops.logship import LogQueue, RowShipper
from liveinsight.storage import schema
from liveinsight.storage.protocol import Store

REMOTE_PER_SECOND = 50
"""Requests traced a second at most because their ``traceparent`` asked for it."""
MAX_ATTRIBUTES = 30
"""Attributes kept per span (the rest are dropped)."""
DROPPED = frozenset({
    "net.peer.ip", "net.peer.port", "net.sock.peer.addr", "net.sock.peer.port",
    "client.address", "client.port", "http.client_ip", "network.peer.address",
    "network.peer.port", "http.user_agent", "user_agent.original", "user_agent.synthetic.type",
    "http.url", "url.full", "http.target", "url.path", "url.query", "http.host",
    "http.server_name", "server.address", "net.host.name", "net.host.port", "server.port",
})
"""Attributes never kept: who asked (address, user agent) and what they typed (URL,
target, query string: the route template stands for them)."""
_ADMITTED: ContextVar[bool] = ContextVar("liveinsight_trace_admitted", default=False)
Scope = MutableMapping[str, Any]
App = Callable[[Scope, Any, Any], Any]


def _traceparent_flags(scope: Scope) -> int | None:
    """The trace flags of a well-formed ``traceparent`` header, or None."""
    for name, value in scope.get("headers", ()):
        if name == b"traceparent":
            parts = value[:100].split(b"-")
            if len(parts) == 4 and len(parts[1]) == 32 and len(parts[3]) == 2:
                try:
                    return int(parts[3], 16)
                except ValueError:
                    return None
            return None
    return None


class _Bucket:
    """At most ``rate`` takes a second (a token bucket of ``rate`` tokens)."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._tokens = rate
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class _Admitted(Sampler):
    """The root sampler: a request the gate admitted is sampled; any other root span by
    its trace id at ``ratio``."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None,
                      trace_state: Any = None) -> SamplingResult:
        if _ADMITTED.get():
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes,
                                         links, trace_state)

    def get_description(self) -> str:
        return f"LiveInsightAdmitted{{{self._ratio.get_description()}}}"


def _when(ns: int) -> str:
    moment = datetime.fromtimestamp(ns / 1e9, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


_OURS = frozenset({
    "http.method", "http.request.method", "http.route", "http.scheme", "http.flavor",
    "network.protocol.version", "url.scheme", "http.status_code",
    "http.response.status_code", "db.system", "db.transport", "db.statement", "query.kind",
    "cache.question", "cache.hit", "ingest.events", "wal.rows", "wal.bytes", "wal.requests",
})
"""Attributes set from the app's own values (templates, SQL with typed parameters, counts):
kept as they are. Every other text is scrubbed."""


def _clean(attributes: Attributes) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (attributes or {}).items():
        if key in DROPPED:
            continue
        if len(out) >= MAX_ATTRIBUTES:
            break
        if key in _OURS or isinstance(value, (int, float)):  # bool is an int
            out[key] = str(value)[:1000]
        else:
            out[key] = "[redacted]" if secret_name(key) else scrub_text(str(value))[:1000]
    return out


def scrubbed(span: ReadableSpan) -> ReadableSpan:
    """``span`` without the attributes of :data:`DROPPED`, the others (and its events')
    scrubbed."""
    events = [Event(e.name, _clean(e.attributes), e.timestamp) for e in span.events]
    return ReadableSpan(name=span.name, context=span.context, parent=span.parent,
                        resource=span.resource, attributes=_clean(span.attributes),
                        events=events, links=span.links, kind=span.kind, status=span.status,
                        start_time=span.start_time, end_time=span.end_time,
                        instrumentation_scope=span.instrumentation_scope)


def span_row(span: ReadableSpan, node: str, ratio: float, retention_days: int) -> str:
    """One ``spans`` row (a JSON line of the spans' log) of a finished span."""
    attrs = _clean(span.attributes)
    context = span.get_span_context()
    start, end = span.start_time or 0, span.end_time or span.start_time or 0
    status = attrs.pop("http.status_code", None) or attrs.pop("http.response.status_code", "")
    row = {
        "_k": "t",
        "timestamp": _when(start),
        "trace_id": format(context.trace_id, "032x") if context else "",
        "span_id": format(context.span_id, "016x") if context else "",
        "parent_id": format(span.parent.span_id, "016x") if span.parent else "",
        "name": span.name[:200],
        "kind": span.kind.name.lower(),
        "route": attrs.pop("http.route", "")[:200],
        "method": (attrs.pop("http.method", None) or attrs.pop("http.request.method", ""))[:10],
        "status": int(status) if status.isdigit() and int(status) < 1000 else 0,
        "error": int(span.status.status_code is StatusCode.ERROR),
        "duration_ms": max(end - start, 0) / 1e6,
        "node": node[:64],
        "sample_ratio": ratio,
        "attributes": attrs,
        "retention_days": retention_days,
    }
    return orjson.dumps(row).decode()


class Queued(SpanProcessor):
    """Puts each finished span, as it is, in the spans' queue (never waits, never raises;
    a full queue drops the span, counted); the shipping thread renders it
    (:meth:`Tracing.render`)."""

    def __init__(self, queue: LogQueue) -> None:
        self._queue = queue

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self._queue.put(span)
        except Exception:
            self._queue.dropped("error")


class Scrubbing(SpanExporter):
    """Another exporter (OTLP's) given the spans :func:`scrubbed`."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([scrubbed(s) for s in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class Gate:
    """The sampling decision (:meth:`admits`, see the module doc) and the request's span for
    a request it admits (:meth:`traced`)."""

    def __init__(self, app: App, tracer: Tracer, ratio: float,
                 name_of: Callable[[Scope], str]) -> None:
        self._app = app
        self._tracer = tracer
        self._ratio = ratio
        self._name_of = name_of
        self._remote = _Bucket(REMOTE_PER_SECOND)
        self._random = random.random

    def admits(self, scope: Scope) -> bool:
        flags = _traceparent_flags(scope)
        if flags is not None:
            return bool(flags & 1) and self._remote.take()
        return self._random() < self._ratio

    async def traced(self, scope: Scope, receive: Any, send: Any) -> None:
        """Serve an admitted request inside its span: a child of the caller's
        (``traceparent``), else a root; current while ``app`` runs, ended once it
        returns. Only the method, scheme, protocol and route are recorded, never the
        client's address, headers or query string."""
        carrier = {k.decode(): v.decode("latin-1") for k, v in scope["headers"]
                   if k in _PROPAGATED}
        parent = _PROPAGATOR.extract(carrier) if carrier else None
        name, attributes = _details(self._name_of(scope))
        method = scope["method"]
        attributes["http.method"] = method
        attributes["http.scheme"] = scope.get("scheme", "http")
        attributes["http.flavor"] = scope.get("http_version", "1.1")
        token = _ADMITTED.set(True)
        try:
            span = self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER,
                                           attributes=attributes)
        finally:
            _ADMITTED.reset(token)
        scope[SPAN_KEY] = span
        attached = otel_context.attach(set_span_in_context(span, parent))

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                span.set_attribute("http.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            await send(message)

        try:
            await self._app(scope, receive, send_status)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}"))
            raise
        finally:
            span.end()
            otel_context.detach(attached)


def _details(name: str) -> tuple[str, dict[str, Any]]:
    route = name.partition(" ")[2]
    return name, ({} if route == "unmatched" else {"http.route": route})


SPAN_KEY = "liveinsight.span"
"""Where a traced request's scope holds its span (:func:`name_request`)."""


_PROPAGATED = frozenset({b"traceparent", b"tracestate"})
_PROPAGATOR = TraceContextTextMapPropagator()


def name_request(scope: Scope, method: str, route: str) -> None:
    """Name a traced request's span by its route's template, once it is known."""
    span = scope.get(SPAN_KEY)
    if span is not None and span.is_recording():
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)


class Tracing:
    """The node's tracing: the tracer provider and its processors, the spans' shipper.
    :meth:`start` starts the shipper and installs the tracer for ``ops/tracing.span``;
    :meth:`close` uninstalls it, ends the processors (OTLP's batch is sent) and drains
    the shipper (what it cannot ingest waits in its log for the next start)."""

    def __init__(self, store: Store, directory: Path, *, node_id: str, ratio: float,
                 retention_days: int, max_spans: int, max_bytes: int,
                 otlp_endpoint: str | None, on_drop: Callable[[str, int], None],
                 on_shipped: Callable[[int], None]) -> None:
        self.ratio = ratio
        self._node, self._days = node_id, retention_days
        self.shipper = RowShipper(store, directory, node_id=f"{node_id}-spans",
                                  targets=schema.SPAN_TARGETS, max_records=max_spans,
                                  max_bytes=max_bytes, on_drop=on_drop,
                                  on_shipped=on_shipped, name="span-shipper",
                                  render=self.render)
        self.provider = TracerProvider(
            sampler=ParentBased(root=_Admitted(ratio)),
            resource=Resource.create({"service.name": "liveinsight",
                                      "service.instance.id": node_id}))
        self.provider.add_span_processor(Queued(self.shipper.queue))
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
            self.provider.add_span_processor(BatchSpanProcessor(
                Scrubbing(OTLPSpanExporter(endpoint=otlp_endpoint, timeout=10)),
                schedule_delay_millis=1000))
        self.tracer = self.provider.get_tracer("liveinsight")

    def render(self, span: ReadableSpan) -> str:
        """A queued span's row (the shipping thread's work)."""
        return span_row(span, self._node, self.ratio, self._days)

    def gate(self, app: App, name_of: Callable[[Scope], str]) -> Gate:
        """``app`` behind the sampling decision and the request's span; a request's span
        is first named ``name_of(scope)`` (see :func:`name_request`)."""
        return Gate(app, self.tracer, self.ratio, name_of)

    def start(self) -> None:
        self.shipper.start()
        tracing.install(self.tracer)

    def flush(self, timeout: float = 10.0) -> bool:
        """Send what the processors hold and ingest everything shipped: True once done."""
        self.provider.force_flush(int(timeout * 1000))
        return self.shipper.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        tracing.uninstall(self.tracer)
        self.provider.shutdown()
        self.shipper.close(timeout)
