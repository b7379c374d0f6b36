"""Spans of our own code inside a traced request: :func:`span`.

The request's own span is started by OpenTelemetry's ASGI instrumentation (``ops/spans.py``
wires it); the code it calls opens child spans here, for the query build, the store call
(both transports), the answer cache (get, compute), the enrichment steps and the log
append. A child span is made only when the current span is recorded: in a request the
sampler left out (most of them, at the default ratio) :func:`span` costs one context
lookup and makes nothing, and outside a request (the writer's and the shippers' threads)
nothing is traced — so shipping spans can never make spans.

The tracer is the running app's (:func:`install`); tests that start several apps in one
process each install theirs, the last one wins, as for the log sinks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Tracer

_TRACERS: list[Tracer] = []
_NOTHING: AbstractContextManager[None] = contextlib.nullcontext()


def install(tracer: Tracer) -> None:
    """Make ``tracer`` the one :func:`span` uses (the app being started)."""
    _TRACERS[:] = [tracer]


def uninstall(tracer: Tracer) -> None:
    """Stop using ``tracer`` (its app stops); no-op if another app's is installed."""
    if _TRACERS and _TRACERS[0] is tracer:
        _TRACERS.clear()


def recording() -> bool:
    """Whether the current span is recorded (a sampled request is being served)."""
    return bool(_TRACERS) and trace.get_current_span().is_recording()


def span(name: str, attributes: dict[str, Any] | None = None
         ) -> AbstractContextManager[Span | None]:
    """A child span of the current span, current while the block runs, when the current
    one is recorded; otherwise a context manager that does nothing (and yields None). An
    exception leaving the block marks the span as failed and is re-raised."""
    if not _TRACERS or not trace.get_current_span().is_recording():
        return _NOTHING
    return _started(_TRACERS[0], name, attributes)


@contextlib.contextmanager
def _started(tracer: Tracer, name: str, attributes: dict[str, Any] | None) -> Iterator[Span]:
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def trace_id() -> str | None:
    """The current span's trace id (32 hex digits), or None outside a traced request."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
