"""The front door: answers the collector's POSTs before FastAPI's middleware and router.

The collector is the hot path (every pageview of every tracked site). Under wrk, FastAPI's
middleware stack and route matching cost more per request than parsing, enrichment and the
write-ahead log together (see docs/performance.md), so those POSTs are dispatched here by
exact path to the same Starlette endpoints the app also registers (where they stay in the
OpenAPI document). Everything else, lifespan included, goes to the FastAPI app unchanged.

Every HTTP request is counted here, by route template, method and status, with its
duration (``Metrics.observe_request``): the collector's by their exact path, the others by
the template of the route FastAPI matched (``unmatched`` when none did).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from liveinsight.api.deadline import BodyDeadlines
from liveinsight.api.errors import error_response

log = logging.getLogger("liveinsight.frontdoor")

Endpoint = Callable[[Request], Awaitable[Response]]
Observe = Callable[[str, str, int, float], None]
"""``(route template, method, status, seconds)`` of one answered request."""
CLIENT_GONE = 499
"""The status a request is counted with when its client went away before an answer (nginx's
convention); nothing is sent."""


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
                 body_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self._routes = dict(routes)
        self._deadlines = deadlines
        self._api_body_limit = api_body_limit
        self._body_limits = dict(body_limits or {})
        app.state.body_deadlines = deadlines  # the collector's read_body uses them
        self.observe: Observe | None = None
        """Where each answered request is counted; set by the lifespan once the services
        are open (None: not counted)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = self._routes.get(scope["path"]) if scope["method"] == "POST" else None
        if endpoint is None:
            await self._watched(scope, receive, send)
            return
        started = time.perf_counter()
        # The collector's endpoints keep their own body deadline (see api/deadline.py).
        scope["app"] = self.app
        try:
            response = await endpoint(Request(scope, receive))
        except ClientDisconnect:
            # counted by the endpoint; nobody is left to answer
            self._count(scope["path"], "POST", CLIENT_GONE, started)
            return
        except Exception as exc:  # the endpoints answer every expected failure
            log.exception("unhandled error on POST %s", scope["path"], exc_info=exc)
            response = error_response(500, "internal", "internal error; it has "
                                      "been logged")
        await _respond(response, scope, receive, send)
        self._count(scope["path"], "POST", response.status_code, started)

    def _count(self, route: str, method: str, status: int, started: float) -> None:
        if self.observe is not None:
            self.observe(route, method, status, time.perf_counter() - started)

    async def _watched(self, scope: Scope, receive: Receive, send: Send) -> None:
        """:meth:`_other`, counted under the template of the route that answered."""
        if self.observe is None:
            await self._other(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        failed = True
        try:
            await self._other(scope, receive, send_watched)
            failed = False
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self._count(route, scope["method"],
                        status or (500 if failed else CLIENT_GONE), started)

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Any other request, its body under the deadline and the size limit."""
        limit = self._body_limits.get(scope["path"], self._api_body_limit)
        if _declared_length(scope) > limit:
            await _respond(_too_large(limit), scope, receive, send)
            return
        guard = self._deadlines.guard(receive, limit)
        try:
            await self.app(scope, guard, send)
        finally:
            guard.release()

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


async def _respond(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    """Send ``response``: a plain one as two raw ASGI messages (what ``Response.__call__``
    does, without its per-call dict and background-task plumbing), anything else as usual."""
    if type(response) is not Response or response.background is not None:
        await response(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
