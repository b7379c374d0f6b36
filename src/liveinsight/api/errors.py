"""The one place domain errors become HTTP answers.

Each :class:`~liveinsight.errors.Problem` kind has its status; 401s carry
``WWW-Authenticate: Bearer`` when the credential was a bearer token, 429s and 503s
``Retry-After``. Handlers installed by :func:`install` give every failure the stable JSON
shape ``{"error": {"code", "message", "field"?}}``: bad input is a 4xx naming what is wrong,
never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from liveinsight.api.deadline import BodyTimeout
from liveinsight.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Problem,
    RateLimited,
    TooExpensive,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMedia,
)
from liveinsight.meta.db import UNREACHABLE
from liveinsight.ops.breaker import refusal_in

log = logging.getLogger("liveinsight.errors")

STATUS: dict[type[Problem], int] = {
    Invalid: 400, TooExpensive: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404,
    Conflict: 409, TooLarge: 413, UnsupportedMedia: 415, RateLimited: 429, Unavailable: 503,
}


def status_of(problem: Problem) -> int:
    for cls in type(problem).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def headers_of(problem: Problem) -> dict[str, str]:
    headers: dict[str, str] = {}
    if isinstance(problem, Unauthorized) and problem.field == "Authorization":
        headers["www-authenticate"] = "Bearer"
    if problem.retry_after is not None:
        headers["retry-after"] = str(problem.retry_after)
    return headers


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.body(), status_of(problem), headers_of(problem))


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message", "field"?}}``."""

    error: ErrorDetail


_MEANINGS = {
    400: "Bad input: `error.field` names what is wrong",
    401: "No valid credentials (see `WWW-Authenticate`)",
    403: "The credentials do not allow this (scope, site or role)",
    409: "Conflicts with the current state (e.g. the same kind of job is running)",
    404: "No such thing",
    408: "The request body did not arrive in time",
    413: "The request body is too large",
    415: "The content type is not accepted",
    429: "Too many requests (see `Retry-After`)",
    503: "Temporarily unavailable (see `Retry-After`)",
}


_RETRY_AFTER = {"description": "Seconds to wait before asking again",
                "schema": {"type": "integer", "minimum": 1}}
_HEADERS: dict[int, dict[str, Any]] = {429: {"Retry-After": _RETRY_AFTER},
                                       503: {"Retry-After": _RETRY_AFTER}}


def error_responses(*statuses: int, headers: Mapping[int, Mapping[str, Any]] | None = None
                    ) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of the given error statuses, each with the error body and
    its headers (``Retry-After`` on 429 and 503, plus what ``headers`` adds: status → header
    name → OpenAPI header object)."""
    extra = headers or {}
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {"model": ErrorBody, "description": _MEANINGS[status]}
        named = {**_HEADERS.get(status, {}), **extra.get(status, {})}
        if named:
            response["headers"] = named
        responses[status] = response
    return responses


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    err: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    return JSONResponse({"error": err}, status, headers)


async def _problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or None
    return error_response(400, "invalid", f"{field or 'request'}: {first.get('msg')}", field)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            408: "timeout", 413: "too_large", 429: "rate_limited"}.get(exc.status_code, "error")
    field = "body" if exc.status_code in (408, 413) else None
    return error_response(exc.status_code, code, str(exc.detail), field, headers=exc.headers)


def _count_aborted(request: Request, reason: str) -> None:
    svc = getattr(request.app.state, "services", None)
    if svc is not None:
        route = request.scope.get("route")
        svc.metrics.requests_aborted.labels(getattr(route, "path", "other"), reason).inc()


async def _body_timeout(request: Request, exc: Exception) -> JSONResponse:
    _count_aborted(request, "body_timeout")
    return await _http(request, exc)


async def _client_gone(request: Request, _: Exception) -> Response:
    """The client went away mid-body: not a server error, counted, not logged."""
    _count_aborted(request, "disconnect")
    return Response(status_code=400)  # nobody reads it


async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    """A number the database cannot hold (a path id of 400 digits): SQLite's driver raises
    OverflowError, PostgreSQL a DataError. Bad input, not a failure of the server."""
    log.info("out-of-range value on %s %s: %s", request.method, request.url.path, exc)
    return error_response(400, "invalid", "a number in the request is out of range")


def metadata_unreachable(method: str, path: str, exc: Exception) -> JSONResponse:
    """503 + ``Retry-After`` for a request that needed the metadata database while it is
    down or out of connections (``meta.db.UNREACHABLE``): a failure of the moment, logged
    as a warning (one line, no traceback). While its circuit breaker is open (nothing was
    tried), the answer says so and ``Retry-After`` is the time to its next trial."""
    log.warning("metadata database unreachable on %s %s: %s", method, path,
                str(exc).splitlines()[0][:300])
    refusal = refusal_in(exc)
    if refusal is not None:
        wait = refusal.retry_after or 1
        return error_response(503, "unavailable", "the metadata database is unavailable "
                              f"(circuit breaker open, next try in {wait} s); retry later",
                              headers={"retry-after": str(wait)})
    return error_response(503, "unavailable", "the metadata database is unavailable; retry "
                          "later", headers={"retry-after": "5"})


async def _metadata_unreachable(request: Request, exc: Exception) -> JSONResponse:
    return metadata_unreachable(request.method, request.url.path, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(BodyTimeout, _body_timeout)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
    for unreachable in UNREACHABLE:
        app.add_exception_handler(unreachable, _metadata_unreachable)
    app.add_exception_handler(Exception, _unexpected)
