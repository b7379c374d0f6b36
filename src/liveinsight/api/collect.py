"""The collector: ``POST /api/event`` (Plausible), ``/api/send`` and ``/api/batch`` (Umami),
``/api/events`` (native), ``/api/csrf-token``, and their CORS preflights.

Each handler: read the body (bounded), parse it (``ingest/parse.py``), check who may send it,
hand the events to the ingestor, answer. A 2xx is sent only once the events are in the
write-ahead log; when the log cannot take them the answer is 503 with ``Retry-After``.
Dropped events (bots, unknown sites...) get the same answer as accepted ones. Every refusal
is JSON ``{"error": {"code", "message", "field"?}}`` with CORS headers (so a browser tracker
can read it) and is counted in ``liveinsight_ingest_rejected_total{endpoint,status}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from liveinsight.api.deadline import BodyDeadlines, BodyTimeout
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses, headers_of, status_of
from liveinsight.api.limits import quota_message
from liveinsight.api.notes import note_key_network
from liveinsight.errors import Forbidden, Invalid, Problem, RateLimited, TooLarge, Unauthorized
from liveinsight.ingest.parse import (
    Client,
    parse_native,
    parse_plausible,
    parse_umami,
    parse_umami_batch,
)
from liveinsight.ingest.wal import WalFull, WalUnavailable
from liveinsight.meta.repo import ApiKeyInfo
from liveinsight.security import csrf
from liveinsight.security.ratelimit import retry_after
from liveinsight.services import Services
from liveinsight.types import RawEvent

router = APIRouter(tags=["collector"])

ALLOWED_HEADERS = "Content-Type, Authorization, X-CSRF-Token, X-Session-ID, X-Umami-Cache"
_CORS = {"access-control-allow-origin": "*"}
_PREFLIGHT = {
    **_CORS,
    "access-control-allow-methods": "POST, OPTIONS",
    "access-control-allow-headers": ALLOWED_HEADERS,
    "access-control-max-age": "86400",
}
_JSON = "application/json"


# --- plumbing ----------------------------------------------------------------------------


def _header_map(request: Request) -> dict[bytes, bytes]:
    """The request's raw headers by (lowercase) name, the first of a repeated one: one dict
    built in C, where each ``Request.headers.get`` scans the header list in Python (four of
    them cost more than the dict)."""
    return dict(reversed(request.scope["headers"]))


async def read_body(request: Request, limit: int, headers: Mapping[bytes, bytes],
                    deadlines: BodyDeadlines) -> bytes:
    """The body, refusing (413) past ``limit`` bytes without reading the rest: first by
    ``Content-Length``, then while streaming (a chunked or lying sender); 408
    (:class:`BodyTimeout`) when it does not arrive within ``deadlines.timeout``."""
    raw = headers.get(b"content-length")
    declared = None if raw is None else raw.decode("latin-1")
    if declared is not None:
        if not (declared.strip().isascii() and declared.strip().isdigit()):
            raise Invalid("Content-Length is not a number", field="content-length")
        if int(declared) > limit:
            raise _too_large(limit)
    # Straight from ``receive``: ``Request.stream()`` is an async generator, which costs
    # more than the usual one-message body is worth.
    receive = request.receive
    body = b""
    task = deadlines.enter()
    try:
        while True:
            try:
                message = await receive()
            except asyncio.CancelledError:
                if deadlines.timed_out(task):
                    raise BodyTimeout(deadlines.timeout) from None
                raise
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk: bytes = message.get("body", b"")
            body = body + chunk if body else chunk
            if len(body) > limit:
                raise _too_large(limit)
            if not message.get("more_body", False):
                return body
    finally:
        deadlines.leave(task)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the request body is larger than {limit} bytes", field="body")


def _client(request: Request, svc: Services,
            headers: Mapping[bytes, bytes]) -> Client:
    peer = request.scope.get("client")
    return Client(svc.ips.resolve(peer[0] if peer else None, request.scope["headers"]),
                  headers.get(b"user-agent", b"")[:1000].decode("latin-1"), svc.clock())


async def _read(request: Request, svc: Services) -> tuple[bytes, str, Client]:
    """The body (bounded), its content type and who sent it, from one pass over the
    headers."""
    headers = _header_map(request)
    body = await read_body(request, svc.settings.max_body_bytes, headers,
                           request.app.state.body_deadlines)
    content_type = headers.get(b"content-type", b"").decode("latin-1")
    return body, content_type, _client(request, svc, headers)


async def _ingest(svc: Services, raws: Sequence[RawEvent], endpoint: str,
                  now: datetime) -> None:
    """Enrich and append with the requests of the same moment (``ingest/group.py``);
    returns once the events are in the log."""
    if raws:
        await svc.group.ingest(raws, now, endpoint)


def _json(status: int, value: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(value), status, {**_CORS, **(headers or {})}, _JSON)


Work = Callable[[Request, Services], Awaitable[Response]]


async def _answer(request: Request, endpoint: str, work: Work) -> Response:
    """Run ``work``; turn refusals into JSON errors with CORS headers and count them."""
    svc = services(request)
    try:
        return await work(request, svc)
    except Problem as exc:
        status, body, headers = status_of(exc), exc.body(), headers_of(exc)
    except ClientDisconnect:
        svc.metrics.requests_aborted.labels(endpoint, "disconnect").inc()
        raise  # the front door answers nobody
    except BodyTimeout as exc:
        svc.metrics.requests_aborted.labels(endpoint, "body_timeout").inc()
        status, headers = exc.status_code, dict(exc.headers or {})
        body = {"error": {"code": "timeout", "message": exc.detail, "field": "body"}}
    except WalUnavailable as exc:
        status, headers = 503, {"retry-after": str(exc.retry_after)}
        code = "log_full" if isinstance(exc, WalFull) else "unavailable"
        body = {"error": {"code": code, "message": f"{exc}; retry later"}}
    svc.metrics.requests_rejected.labels(endpoint, str(status)).inc()
    return _json(status, body, headers)


def _endpoint(name: str) -> Callable[[Work], Callable[[Request], Awaitable[Response]]]:
    """``work(request, svc)`` → a ``(request) -> Response`` endpoint counted as
    ``name`` in the metrics."""

    def wrap(work: Work) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await _answer(request, name, work)

        endpoint.__name__, endpoint.__doc__ = work.__name__, work.__doc__
        return endpoint

    return wrap


def _check_token(request: Request, svc: Services) -> None:
    """Return when ``X-CSRF-Token`` is valid for ``X-Session-ID``; else 403 naming which."""
    session_id = request.headers.get("x-session-id", "")
    token = request.headers.get("x-csrf-token", "")
    if not csrf.valid_session_id(session_id):
        raise Forbidden("a signed request needs X-Session-ID (1-128 "
                       "printable characters) and its X-CSRF-Token", field="X-Session-ID")
    try:
        csrf.verify(svc.secret, session_id, token, svc.clock().timestamp())
    except csrf.TokenError as exc:
        raise Forbidden(str(exc), field="X-CSRF-Token") from None


def _require_signed(request: Request, svc: Services, raws: Sequence[RawEvent]) -> None:
    """Sites with ``require_signed_ingest`` accept tracker events only with a valid token."""
    for raw in raws:
        site = (svc.sites.by_domain(raw.domain) if raw.domain else
                svc.sites.by_uuid(raw.site_uuid) if raw.site_uuid else None)
        if site is not None and site.require_signed_ingest:
            _check_token(request, svc)
            return


# --- tracker endpoints -------------------------------------------------------------------


@_endpoint("event")
async def plausible_event(request: Request, svc: Services) -> Response:
    """Body as Plausible's tracker sends it (``n, u, d, r, p/m, h, i, e, sd, revenue``),
    ``text/plain`` or ``application/json``. 202 ``ok`` once stored (or dropped)."""
    body, content_type, client = await _read(request, svc)
    raws = parse_plausible(body, content_type, client)
    _require_signed(request, svc, raws)
    await _ingest(svc, raws, "event", client.now)
    return _ACCEPTED


# Built once: the answers that never vary are sent by every tracker request (a Response is
# only read when sent, so one object serves them all).
_ACCEPTED = Response(b"ok", 202, _CORS, "text/plain")
_UMAMI_OK = Response(orjson.dumps({"disabled": False}), 200, _CORS, _JSON)


@_endpoint("send")
async def umami_send(request: Request, svc: Services) -> Response:
    """``{type: "event" | "identify", payload: {website, hostname, url, ...}}``. Answers
    ``{"disabled": false}``, which Umami's tracker reads after each send."""
    body, content_type, client = await _read(request, svc)
    raws = parse_umami(body, content_type, client)
    _require_signed(request, svc, raws)
    await _ingest(svc, raws, "send", client.now)
    return _UMAMI_OK


@_endpoint("batch")
async def umami_batch(request: Request, svc: Services) -> Response:
    """A JSON array of ``/api/send`` bodies (at most ``max_batch_events``). As Umami does,
    valid items are stored and invalid ones reported: ``{size, processed, errors, details:
    [{index, error}]}``."""
    body, content_type, client = await _read(request, svc)
    batch = parse_umami_batch(body, content_type, client, svc.settings.max_batch_events)
    _require_signed(request, svc, batch.events)
    await _ingest(svc, batch.events, "batch", client.now)
    if batch.errors:
        svc.metrics.requests_rejected.labels("batch_item", "400").inc(len(batch.errors))
    details = [{"index": e.index, **e.error.body()} for e in batch.errors]
    return _json(200, {"size": batch.size, "processed": batch.size - len(batch.errors),
                       "errors": len(batch.errors), "details": details})


# --- native endpoint ---------------------------------------------------------------------


async def _authenticate(request: Request, svc: Services) -> ApiKeyInfo | None:
    """The API key (``Authorization: Bearer``), None for a valid signed browser request;
    401 without credentials or with an unknown key, 403 for a forged or expired token."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        if "x-csrf-token" not in request.headers:
            raise Unauthorized("send Authorization: Bearer <API key>, or "
                           "X-CSRF-Token with X-Session-ID", field="Authorization")
        _check_token(request, svc)
        return None
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("Authorization must be 'Bearer <API key>'", field="Authorization")
    hit, info = svc.keys.cached(key)
    if not hit:
        info = await run_in_threadpool(svc.keys.verify, key)
    if info is None:
        raise Unauthorized("the API key is not valid", field="Authorization")
    if not info.allows("ingest"):
        raise Forbidden("the API key lacks the 'ingest' scope", field="Authorization")
    return info


def _check_sites(svc: Services, key: ApiKeyInfo, raws: Sequence[RawEvent], batch: bool) -> None:
    if key.site_ids is None:
        return
    for index, raw in enumerate(raws):
        site = svc.sites.by_id(raw.site_id) if raw.site_id else (
            svc.sites.by_domain(raw.domain) if raw.domain else None)
        if site is None or not key.allows("ingest", site.id):
            field = "site_id" if raw.site_id else "domain"
            raise Forbidden("the API key may not send events for this site",
                            field=f"[{index}].{field}" if batch else field)


@_endpoint("events")
async def native_events(request: Request, svc: Services) -> Response:
    """Authenticated by ``Authorization: Bearer <API key>`` (scope ``ingest``; rate limited
    per key) or by ``X-CSRF-Token`` + ``X-Session-ID``. 202 ``{"received": n}``."""
    key = await _authenticate(request, svc)
    body, content_type, client = await _read(request, svc)
    raws = parse_native(body, content_type, client,
                        max_events=svc.settings.max_batch_events, trusted=key is not None)
    if key is not None:
        await note_key_network(request.scope, svc, key)
        _check_sites(svc, key, raws, body.lstrip().startswith(b"["))
        quota = key.daily_quota or svc.settings.api_key_daily_quota
        allowance = await svc.limiter.acquire(
            f"key:{key.id}", key.rate or svc.settings.api_key_rate,
            key.burst or svc.settings.api_key_burst, len(raws), quota=quota)
        if allowance.over_quota:
            wait = retry_after(allowance.wait)
            raise RateLimited(quota_message(quota, wait, "events"), code="quota_exceeded",
                              retry_after=int(wait))
        if allowance.wait:
            raise RateLimited("this API key is sending too fast",
                              retry_after=int(retry_after(allowance.wait)))
    await _ingest(svc, raws, "events", client.now)
    return _json(202, {"received": len(raws)})


@_endpoint("csrf-token")
async def csrf_token(request: Request, svc: Services) -> Response:
    """Send ``X-Session-ID`` (1-128 printable characters, e.g. a random id the page keeps in
    sessionStorage). Answers ``{token, expires_at, expires_in}``; send the token back as
    ``X-CSRF-Token`` with the same ``X-Session-ID``."""
    session_id = request.headers.get("x-session-id", "")
    if not csrf.valid_session_id(session_id):
        raise Invalid("X-Session-ID must be 1-128 printable characters", field="X-Session-ID")
    ttl = svc.settings.csrf_token_ttl_seconds
    token = csrf.issue(svc.secret, session_id, svc.clock().timestamp(), ttl)
    expires = datetime.fromtimestamp(token.expires_at, UTC).isoformat()
    return _json(200, {"token": token.value, "expires_at": expires, "expires_in": ttl},
                 {"cache-control": "no-store"})


async def preflight(_: Request) -> Response:
    """CORS preflight: any origin may POST with the collector's headers."""
    return Response(None, 204, _PREFLIGHT)


# --- routes ------------------------------------------------------------------------------


def _body_doc(media: str | tuple[str, ...], example: Any) -> dict[str, Any]:
    """The request body in the OpenAPI document, under each content type the endpoint
    takes (the tracker sends ``text/plain``; a JSON body may come as either)."""
    types = (media,) if isinstance(media, str) else media
    kind = "array" if isinstance(example, list) else "object"
    return {"requestBody": {"required": True, "content": {
        m: {"schema": {"type": kind, "example": example}} for m in types}}}


_TRACKER_TYPES = ("text/plain", "application/json")
_TRACKER_ERRORS = error_responses(400, 403, 408, 413, 415, 503)


_DOCS: dict[str, dict[str, Any]] = {
    "/api/event": {"summary": "Record an event (Plausible-compatible)", "status_code": 202,
                   # Plausible's answer, `ok` in text/plain: a response class without a
                   # media type keeps the error bodies under application/json.
                   "responses": _TRACKER_ERRORS, "response_class": Response,
                   "openapi_extra": {**_body_doc(_TRACKER_TYPES, {
                       "n": "pageview", "u": "https://example.com/pricing",
                       "d": "example.com", "r": "https://www.google.com/",
                       "p": {"plan": "pro"}}), "responses": {"202": {"content": {
                           "text/plain": {"schema": {"type": "string", "example": "ok"}}}}}}},
    "/api/send": {"summary": "Record an event (Umami-compatible)",
                  "responses": _TRACKER_ERRORS,
                  "openapi_extra": _body_doc(_TRACKER_TYPES, {"type": "event", "payload": {
                      "website": "6f1c2a4e-8b1d-4c3e-9f20-1a2b3c4d5e6f",
                      "hostname": "example.com", "url": "/pricing",
                      "referrer": "https://www.google.com/", "title": "Pricing",
                      "screen": "1920x1080", "language": "en-GB"}})},
    "/api/batch": {"summary": "Record several events (Umami v2 batch)",
                   "responses": _TRACKER_ERRORS,
                   "openapi_extra": _body_doc(_TRACKER_TYPES, [{"type": "event", "payload": {
                       "website": "6f1c2a4e-8b1d-4c3e-9f20-1a2b3c4d5e6f",
                       "hostname": "example.com", "url": "/"}}])},
    "/api/events": {"summary": "Record events (native; one object or a list)",
                    "status_code": 202,
                    "responses": error_responses(400, 401, 403, 408, 413, 415, 429, 503),
                    "openapi_extra": _body_doc(_TRACKER_TYPES, {
                        "event_type": "purchase", "page_url": "https://example.com/checkout",
                        "domain": "example.com", "props": {"plan": "pro"},
                        "revenue": {"amount": "49.00", "currency": "EUR"},
                        "timestamp": "2026-11-20T12:00:00Z"})},
    "/api/csrf-token": {"summary": "Issue a signed ingest token for a session id",
                        "responses": error_responses(400)},
}
POST_ROUTES = {"/api/event": plausible_event, "/api/send": umami_send, "/api/batch": umami_batch,
          "/api/events": native_events, "/api/csrf-token": csrf_token}

# The hot path: ``create_app`` puts ``api/frontdoor.py`` in front of FastAPI, which answers
# these POSTs by exact path before FastAPI's middleware and router (bench/collector_routes.py
# measured a FastAPI route at 0.21 and a Starlette route inside FastAPI at 0.29 of a bare
# app's rate, raw ASGI at 0.63). The plain Starlette routes below serve the same endpoints
# when the FastAPI app is mounted without the front door; the FastAPI routes added after
# them only describe the endpoints in the OpenAPI document.
for _path, _post in POST_ROUTES.items():
    router.add_route(_path, _post, methods=["POST"], include_in_schema=False)
    router.add_route(_path, preflight, methods=["OPTIONS"], include_in_schema=False)
for _path, _post in POST_ROUTES.items():
    router.add_api_route(_path, _post, methods=["POST"], **_DOCS[_path])
