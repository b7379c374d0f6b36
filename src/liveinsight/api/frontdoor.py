"""The front door: answers the collector's POSTs before FastAPI's middleware and router.

The collector is the hot path (every pageview of every tracked site). Under wrk, FastAPI's
middleware stack and route matching cost more per request than parsing, enrichment and the
write-ahead log together (see docs/performance.md), so those POSTs are dispatched here by
exact path to the same Starlette endpoints the app also registers (where they stay in the
OpenAPI document). Everything else, lifespan included, goes to the FastAPI app.

Every answer, the collector's included, passes here on its way out and gets the security
headers it lacks (``security/headers.py``); with ``require_https``, a request that did not
arrive over HTTPS is sent there (GET, HEAD) or refused (anything else) before it reaches a
route, except the collector's endpoints (trackers on plain-HTTP pages keep working) and
``/health`` (load balancers probe nodes directly). Then the request rate limits
(``api/limits.py``) take their token, or answer 429. Every such answer carries its request
id (``X-Request-ID``), and every change (POST, PUT, PATCH, DELETE) but the collector's is
recorded in the audit log once answered (``api/audit.py``), as is every permission denial
(a 403 of any method: a flagged security event; a read refused again and again by the same
actor, client and route is recorded once a minute).

Every HTTP request is counted here, by route template, method and status, with its
duration (``Metrics.observe_request``): the collector's by their exact path, the others by
the template of the route FastAPI matched (``unmatched`` when none did).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from liveinsight.api.deadline import BodyDeadlines
from liveinsight.api.errors import error_response, metadata_unreachable
from liveinsight.api.limits import Decision, RequestLimits
from liveinsight.api.notes import AUDIT_NOTE, STATE_CHANGING, Note, request_entry, request_id
from liveinsight.meta.db import UNREACHABLE
from liveinsight.ops.logging import REQUEST, RequestContext
from liveinsight.ops.spans import Gate, Tracing, name_request
from liveinsight.security.audit import DENIED
from liveinsight.security.client_ip import ClientIpResolver
from liveinsight.security.headers import SecurityHeaders, https_url

log = logging.getLogger("liveinsight.frontdoor")
access = logging.getLogger("liveinsight.access")

Endpoint = Callable[[Request], Awaitable[Response]]
Observe = Callable[[str, str, int, float], None]
"""``(route template, method, status, seconds)`` of one answered request."""
CLIENT_GONE = 499
"""The status a request is counted with when its client went away before an answer (nginx's
convention); nothing is sent."""
PROBES = frozenset({"/health", "/health/ready"})
"""Asked every few seconds by load balancers: no log record under ``log_requests=api``."""
HTTPS_EXEMPT = PROBES  # plus the collector's paths


class FrontDoor:
    """An ASGI app: ``routes`` (exact path → endpoint, POST only) here, the rest to ``app``.
    Every HTTP request's body is read under ``deadlines`` (``api/deadline.py``), and bodies
    of the other endpoints are at most ``api_body_limit`` bytes, or what ``body_limits``
    allows their exact path (uploads), 413 otherwise; the collector's endpoints check their
    own, ``max_body_bytes``.

    Attribute access falls through to the FastAPI app (``state``, ``openapi()``...), so code
    holding the front door can treat it as the app.
    """

    def __init__(self, app: FastAPI, routes: Mapping[str, Endpoint],
                 deadlines: BodyDeadlines, api_body_limit: int,
                 body_limits: Mapping[str, int] | None = None, *,
                 headers: SecurityHeaders | None = None, ips: ClientIpResolver | None = None,
                 require_https: bool = False, public_url: str | None = None,
                 log_requests: str = "api", limits: RequestLimits | None = None) -> None:
        self.app = app
        self._log_requests = log_requests
        self._routes = dict(routes)
        self._deadlines = deadlines
        self._api_body_limit = api_body_limit
        self._body_limits = dict(body_limits or {})
        self._templated = [(k.split("/"), v) for k, v in self._body_limits.items() if "{" in k]
        self._headers = headers or SecurityHeaders(0)
        self._ips = ips or ClientIpResolver([])
        self._require_https = require_https
        self._public_url = public_url
        self._https_exempt = HTTPS_EXEMPT | set(self._routes)
        self._limits = limits
        # the collector's (not audited: visitors, not people) and sign-ins (own events)
        self._unaudited = set(self._routes) | {"/login"}
        self._trips: dict[str, float] = {}
        app.state.body_deadlines = deadlines  # the collector's read_body uses them
        self.observe: Observe | None = None
        """Where each answered request is counted; set by the lifespan once the services
        are open (None: not counted)."""
        self._gate: Gate | None = None

    def trace(self, tracing: Tracing | None) -> None:
        """Trace the requests ``tracing`` samples from now on (None: none); set by the
        lifespan (``ops/spans.py``)."""
        self._gate = None if tracing is None else tracing.gate(self._serve, self._span_name)

    def _span_name(self, scope: Scope) -> str:
        """A traced request's first name: the collector's exact path, else ``unmatched``
        until a route answers (:meth:`_watched` renames it by the route's template)."""
        path = scope["path"] if scope["path"] in self._routes else "unmatched"
        return f"{scope['method']} {path}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate = self._gate
        if gate is not None and gate.admits(scope):
            await gate.traced(scope, receive, send)
        else:
            await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        https = self._https(scope)
        endpoint = self._routes.get(scope["path"]) if scope["method"] == "POST" else None
        context = RequestContext(scope, None if endpoint is None else scope["path"])
        token = REQUEST.set(context)
        try:
            if endpoint is None:
                await self._watched(scope, receive, send, https)
            else:
                await self._collect(endpoint, scope, receive, send, https)
        finally:
            REQUEST.reset(token)

    async def _collect(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send,
                       https: bool) -> None:
        started = time.perf_counter()
        # The collector's endpoints keep their own body deadline (see api/deadline.py).
        scope["app"] = self.app
        try:
            response = await endpoint(Request(scope, receive))
        except ClientDisconnect:
            # counted by the endpoint; nobody is left to answer
            self._count(scope["path"], "POST", CLIENT_GONE, started, collector=True)
            return
        except UNREACHABLE as exc:  # an API key or a new day's salts need the database
            response = metadata_unreachable("POST", scope["path"], exc)
        except Exception as exc:  # the endpoints answer every expected failure
            log.exception("unhandled error on POST %s", scope["path"], exc_info=exc)
            response = error_response(500, "internal", "internal error; it has "
                                      "been logged")
        await _respond(response, scope, receive, send, self._headers, https)
        self._count(scope["path"], "POST", response.status_code, started, collector=True)

    def _count(self, route: str, method: str, status: int, started: float, *,
               collector: bool = False) -> None:
        """Count the answered request; log it as ``log_requests`` asks."""
        seconds = time.perf_counter() - started
        if self.observe is not None:
            self.observe(route, method, status, seconds)
        mode = self._log_requests
        if mode == "none" or (mode == "errors" and status < 500) or (mode == "api" and (
                (collector and status < 400) or (route in PROBES and status < 500))):
            return
        context = REQUEST.get()
        if context is not None:
            context.status = status
            context.duration_ms = round(seconds * 1000, 3)
        level = logging.ERROR if status >= 500 else logging.INFO
        access.log(level, "%s %s %d", method, route, status)

    async def _watched(self, scope: Scope, receive: Receive, send: Send, https: bool) -> None:
        """:meth:`_other`, counted under the template of the route that answered."""
        started = time.perf_counter()
        status = 0

        async def send_watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                route = getattr(scope.get("route"), "path", None)
                if route is not None:
                    name_request(scope, scope["method"], route)
            await send(message)

        failed = True
        try:
            await self._other(scope, receive, send_watched, https)
            failed = False
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self._count(route, scope["method"],
                        status or (500 if failed else CLIENT_GONE), started)

    def _https(self, scope: Scope) -> bool:
        client = scope.get("client")
        return self._ips.scheme(client[0] if client else None, scope["headers"],
                                scope.get("scheme", "http")) == "https"

    def _secured(self, send: Send, https: bool,
                 extra: list[tuple[bytes, bytes]] | None = None,
                 status: list[int] | None = None) -> Send:
        """``send`` adding the security headers (and ``extra``) to the start of the answer
        (whose status goes into ``status``)."""
        policy = self._headers

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = policy.add(message.get("headers", ()), https)
                message = {**message, "headers": headers + extra if extra else headers}
                if status is not None:
                    status.append(message["status"])
            await send(message)

        return secured

    async def _other(self, scope: Scope, receive: Receive, send: Send, https: bool) -> None:
        """Any other request: HTTPS required, its rate limit, its body under the deadline
        and the size limit; its id (``X-Request-ID``) and, for a change, its audit entry."""
        if self._require_https and not https and scope["path"] not in self._https_exempt:
            await self._to_https(scope, receive, self._secured(send, https))
            return
        note = Note(request_id(scope))
        scope[AUDIT_NOTE] = note
        extra = [(b"x-request-id", note.request_id.encode())]
        status: list[int] = []
        try:
            decision = await self._limit(scope)
        except UNREACHABLE as exc:  # an API key's limit needs the database to know the key
            refusal = metadata_unreachable(scope["method"], scope["path"], exc)
            await refusal(scope, receive, self._secured(send, https, extra, status))
            return
        send = self._secured(send, https, extra + decision.headers() if decision else extra,
                             status)
        if decision is not None and decision.refused:
            self._tripped(scope, decision, note)
            await decision.refusal()(scope, receive, send)
            return
        limit = self._body_limit(scope["path"])
        if _declared_length(scope) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        guard = self._deadlines.guard(receive, limit)
        try:
            await self.app(scope, guard, send)
        finally:
            guard.release()
            answered = status[0] if status else 500
            if scope["path"] not in self._unaudited and (
                    scope["method"] in STATE_CHANGING or answered == DENIED):
                self._audit(scope, note, answered)

    def _body_limit(self, path: str) -> int:
        """``body_limits``' entry for ``path``: its own, or a template's whose ``{...}``
        parts stand for one path segment each (``/api/v1/sites/{site_id}/imports``)."""
        found = self._body_limits.get(path)
        if found is not None:
            return found
        parts = path.split("/")
        for template, limit in self._templated:
            if len(template) == len(parts) and all(
                    t == p or (t.startswith("{") and p) for t, p in zip(template, parts,
                                                                        strict=True)):
                return limit
        return self._api_body_limit

    def _audit(self, scope: Scope, note: Note, status: int) -> None:
        svc = getattr(self.app.state, "services", None)
        if svc is None:
            return
        entry = request_entry(scope, svc, note, status)
        if scope["method"] in STATE_CHANGING or self._once(
                f"{entry.actor}|{entry.client}|{entry.action}"):
            svc.audit.record(entry)

    def _once(self, key: str) -> bool:
        """True at most once a minute per ``key`` (a flood must not become a flood of
        records)."""
        now = time.monotonic()
        if now - self._trips.get(key, -60.0) < 60.0:
            return False
        if len(self._trips) >= 10_000:
            self._trips.clear()
        self._trips[key] = now
        return True

    def _tripped(self, scope: Scope, decision: Decision, note: Note) -> None:
        """Record a rate-limit refusal: once a minute per bucket at most."""
        svc = getattr(self.app.state, "services", None)
        if svc is None or not self._once(decision.bucket):
            return
        entry = request_entry(scope, svc, note, 429)
        svc.audit.record(replace(entry, action="ratelimit.tripped",
                                 actor=decision.actor or entry.actor,
                                 details={"limit": decision.who, "rate": decision.rate,
                                          "burst": decision.burst,
                                          "route": f"{scope['method']} {scope['path']}"}))

    async def _limit(self, scope: Scope) -> Decision | None:
        if self._limits is None or not self._limits.applies(scope["path"]):
            return None
        svc = getattr(self.app.state, "services", None)  # None before the lifespan ran
        return None if svc is None else await self._limits.decide(scope, svc)

    async def _to_https(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A plain-HTTP request under ``require_https``: GET and HEAD are redirected (308),
        anything else is refused (403: repeating it over HTTPS is the client's choice, its
        body and credentials have already crossed the network in the clear)."""
        target = None
        if scope["method"] in ("GET", "HEAD"):
            host = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"host"), "")
            target = https_url(host, scope["path"], scope.get("query_string", b"").decode(
                "latin-1"), self._public_url)
        if target is not None:
            response: Response = Response(status_code=308, headers={"location": target})
        else:
            response = error_response(403, "https_required", "this server accepts this "
                                      "request over HTTPS only (require_https); send it to "
                                      "the https:// address")
        await response(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


def _declared_length(scope: Scope) -> int:
    """The request's Content-Length (0 when absent or not a number)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _too_large(limit: int) -> Response:
    return error_response(413, "too_large", f"the request body is larger than {limit} bytes",
                          "body", {"connection": "close"})


async def _respond(response: Response, scope: Scope, receive: Receive, send: Send,
                   policy: SecurityHeaders, https: bool) -> None:
    """Send ``response`` with the security headers: a plain one as two raw ASGI messages
    (what ``Response.__call__`` does, without its per-call dict and background-task
    plumbing), anything else as usual."""
    headers = policy.add(response.raw_headers, https)
    if type(response) is not Response or response.background is not None:
        response.raw_headers = headers
        await response(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
