"""Structured logging: structlog renders both our own records and the standard library's
(granian, alembic, …) as one JSON object per line (``log_format=json``) or for people.

Why structlog and not a JSON formatter on the standard library alone: it already renders
every record of the process (ours and the libraries') through one chain of processors, and
that chain is where the request's fields are added (:func:`add_request`) and where IPs
and secrets are taken out (:func:`scrub`) — for the terminal and for the ``logs`` table
(``ops/logship.py``) alike.

Each record carries, when it is logged while a request is served: ``request_id`` (the
client's ``X-Request-ID`` if it is 1-64 letters, digits, ``.``, ``_`` or ``-``, else a new
one), ``route`` (the route's template), ``method``, ``site_id`` (once a handler resolved
the site), ``trace_id`` (the request's trace when it is traced, ``ops/spans.py``, else
its W3C ``traceparent`` header's), and on the request's own
record ``status`` and ``duration_ms``; ``node`` always (the node id, once known).

Nothing logs a raw client IP: the collector never passes one to a logger, and
:func:`scrub` replaces anything shaped like an IPv4 or IPv6 address with ``[ip]``, values of
keys named like secrets with ``[redacted]``, ``Bearer`` tokens, API keys (``li_…``) and
URL passwords in any text.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import sys
from collections.abc import Callable, Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

from liveinsight.ops import tracing
from liveinsight.settings import Settings

MAX_TEXT = 16_384
"""A record's message or exception is cut to this many characters (before scrubbing)."""
_SECRET_KEYS = ("password", "secret", "token", "authorization", "cookie", "api_key",
                "apikey", "credential", "dsn")
_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"
_IPV6 = (r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
         r"|(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{0,4}::(?:[0-9A-Fa-f]{1,4}:){0,6}"
         r"[0-9A-Fa-f]{0,4})(?![\w:])")
_SCRUB = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in (
    ("auth", r"(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    ("key", r"\bli_[A-Za-z0-9]+_[A-Za-z0-9_-]+"),
    ("assign", r"(?i:password|secret|token|api_key)=[^&\s\"']+"),
    ("userinfo", r"://[^/@\s:]+:[^/@\s]+@"),
    ("ipv6", _IPV6),
    ("ipv4", _IPV4),
)))
# Every text _SCRUB can change holds one of these: most texts are passed by one quick search.
_HINT = re.compile(r"\d\.\d|:[0-9A-Fa-f]*:|(?i:earer|asic)\s|li_|=|@")
# Keys whose values the app sets itself (never a client's text): not scanned.
_SAFE_KEYS = frozenset({"level", "logger", "timestamp", "route", "method", "node", "trace_id",
                        "status", "duration_ms", "site_id"})


_SECRET_NAMES: dict[str, bool] = {}


def secret_name(key: str) -> bool:
    """Whether a key is named like a secret (answers kept: a program has few keys)."""
    found = _SECRET_NAMES.get(key)
    if found is None:
        lowered = key.lower()
        found = any(word in lowered for word in _SECRET_KEYS)
        if len(_SECRET_NAMES) < 10_000:
            _SECRET_NAMES[key] = found
    return found


def _replace(match: re.Match[str]) -> str:
    kind, text = match.lastgroup, match.group()
    if kind == "auth":
        return text.split(None, 1)[0] + " [redacted]"
    if kind == "key":
        return "li_[redacted]"
    if kind == "assign":
        return text.split("=", 1)[0] + "=[redacted]"
    if kind == "userinfo":
        return "://[redacted]@"
    return "[ip]"


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
Scope = MutableMapping[str, Any]  # an ASGI scope
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


class RequestContext:
    """The request a record is logged under (``REQUEST``). The id, route and trace id are
    worked out when a record first asks for them, so a request that logs nothing pays only
    for this object."""

    __slots__ = ("_fixed_route", "_id", "_scope", "duration_ms", "site_id", "status")

    def __init__(self, scope: Scope, route: str | None = None) -> None:
        self._scope = scope
        self._fixed_route = route
        self._id: str | None = None
        self.site_id: int | None = None
        self.status: int | None = None
        self.duration_ms: float | None = None

    @property
    def request_id(self) -> str:
        if self._id is None:
            given = _header(self._scope, b"x-request-id")
            self._id = given if given and _REQUEST_ID.fullmatch(given) else \
                secrets.token_hex(8)
        return self._id

    @property
    def route(self) -> str:
        """The route's template (``unmatched`` before or without a match: never the raw
        path, which may hold anything a client sent)."""
        if self._fixed_route is not None:
            return self._fixed_route
        return getattr(self._scope.get("route"), "path", None) or "unmatched"

    @property
    def method(self) -> str:
        return str(self._scope["method"])

    @property
    def trace_id(self) -> str | None:
        """The traced request's trace id (``ops/spans.py``), else its ``traceparent``'s."""
        traced = tracing.trace_id()
        if traced is not None:
            return traced
        given = _header(self._scope, b"traceparent")
        found = _TRACEPARENT.fullmatch(given) if given else None
        return found.group(1) if found else None

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"request_id": self.request_id, "route": self.route[:200],
                               "method": self.method}
        for key in ("site_id", "status", "duration_ms"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        trace = self.trace_id
        if trace is not None:
            out["trace_id"] = trace
        return out


REQUEST: ContextVar[RequestContext | None] = ContextVar("liveinsight_request", default=None)
"""The request being served (set by the front door, ``api/frontdoor.py``)."""
_NODE: list[str] = []


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value[:200].decode("latin-1"))
    return None


def set_node(node_id: str) -> None:
    """Name the node on every record from now on."""
    _NODE[:] = [node_id]


def note_site(site_id: int) -> None:
    """Name the site the request being served is about (no-op outside a request)."""
    ctx = REQUEST.get()
    if ctx is not None:
        ctx.site_id = site_id


_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName"}


def add_extra(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: a standard-library record's ``extra={...}`` fields (not the
    attributes logging itself sets, such as the formatted ``message``)."""
    record = event.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                event.setdefault(key, value)
    return event


def add_request(_: Any, __: str, event: MutableMapping[str, Any]
                ) -> MutableMapping[str, Any]:
    """structlog processor: the request's fields and the node (see the module doc)."""
    ctx = REQUEST.get()
    if ctx is not None:
        for key, value in ctx.fields().items():
            event.setdefault(key, value)
    if _NODE:
        event.setdefault("node", _NODE[0])
    return event


def scrub_text(text: str) -> str:
    """``text`` (cut to :data:`MAX_TEXT`) without IPs, bearer tokens, API keys, URL
    passwords or ``password=…``-style values."""
    text = text[:MAX_TEXT]
    return _SCRUB.sub(_replace, text) if _HINT.search(text) else text


def scrub(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: see :func:`scrub_text`; the value of any key named like a secret
    (password, token, authorization, cookie, api_key, ...) becomes ``[redacted]``."""
    for key, value in list(event.items()):
        if key in _SAFE_KEYS or key.startswith("_"):
            continue
        if secret_name(key):
            event[key] = "[redacted]"
        elif isinstance(value, str):
            event[key] = scrub_text(value)
        elif not isinstance(value, int | float | bool | type(None)):
            event[key] = scrub_text(str(value))
    return event


Sink = Callable[[Mapping[str, Any]], None]
_SINKS: list[Sink] = []


def add_sink(sink: Sink) -> None:
    """Give ``sink`` every record's processed event (after scrubbing, before rendering; its
    ``_record`` is the ``logging.LogRecord``), in the thread that logged it. A sink must
    be quick, must not raise and must not change the event (``ops/logship.py``)."""
    _SINKS.append(sink)


def remove_sink(sink: Sink) -> None:
    with contextlib.suppress(ValueError):
        _SINKS.remove(sink)


def _to_sinks(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for sink in tuple(_SINKS):
        try:
            sink(event)
        except Exception:  # a sink counts its own failures; never the caller's problem
            continue
    return event


def shared_processors() -> list[structlog.types.Processor]:
    """The chain every record goes through before it is rendered or shipped."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_extra,
        add_request,
    ]


def configure(settings: Settings) -> None:
    """Install the handlers for ``settings.log_level`` and ``settings.log_format`` (idempotent)."""
    shared = shared_processors()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.processors.format_exc_info,
            scrub,
            _to_sinks,  # the logs table's shipper: the record processed once for both
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("liveinsight")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "liveinsight"]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
