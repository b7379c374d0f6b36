"""The front door: answers the collector's POSTs before FastAPI's middleware and router.

The collector is the hot path (every pageview of every tracked site). Under wrk, FastAPI's
middleware stack and route matching cost more per request than parsing, enrichment and the
write-ahead log together (see docs/performance.md), so those POSTs are dispatched here by
exact path to the same Starlette endpoints the app also registers (where they stay in the
OpenAPI document). Everything else, lifespan included, goes to the FastAPI app unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from liveinsight.errors import error_response

log = logging.getLogger("liveinsight.frontdoor")

Endpoint = Callable[[Request], Awaitable[Response]]


class FrontDoor:
    """An ASGI app: ``routes`` (exact path → endpoint, POST only) here, the rest to ``app``.

    Attribute access falls through to the FastAPI app (``state``, ``openapi()``...), so code
    holding the front door can treat it as the app.
    """

    def __init__(self, app: FastAPI, routes: Mapping[str, Endpoint]) -> None:
        self.app = app
        self._routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._routes.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self.app
                try:
                    response = await endpoint(Request(scope, receive))
                except Exception as exc:  # the endpoints answer every expected failure
                    log.exception("unhandled error on POST %s", scope["path"], exc_info=exc)
                    response = error_response(500, "internal", "internal error; it has "
                                              "been logged")
                await _respond(response, scope, receive, send)
                return
        await self.app(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


async def _respond(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    """Send ``response``: a plain one as two raw ASGI messages (what ``Response.__call__``
    does, without its per-call dict and background-task plumbing), anything else as usual."""
    if type(response) is not Response or response.background is not None:
        await response(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
