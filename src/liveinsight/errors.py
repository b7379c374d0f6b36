"""Domain errors: why a request cannot be answered as asked, apart from HTTP.

Domain modules (parsing, queries, access decisions, the collector) raise a :class:`Problem`
subclass naming the field at fault; one module of the HTTP layer (``api/errors.py``) maps
each kind to a status code and headers and renders the stable JSON shape
``{"error": {"code", "message", "field"?}}``. ``code`` is the kind unless a more precise one
is given (``invalid_scheme``, ``store_unavailable``, ``log_full``...).
"""

from __future__ import annotations

from typing import Any, ClassVar


class Problem(Exception):
    """A request that cannot be answered as asked."""

    kind: ClassVar[str] = "invalid"

    def __init__(self, message: str, field: str | None = None, *, code: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.kind
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        return {"error": err}


class Invalid(Problem):
    """Bad input: ``field`` names what is wrong."""


class TooExpensive(Problem):
    """The question passed a time or memory limit; narrow it."""

    kind = "query_too_expensive"


class Unauthorized(Problem):
    """No valid credentials."""

    kind = "unauthorized"


class Forbidden(Problem):
    """The credentials do not allow this."""

    kind = "forbidden"


class NotFound(Problem):
    kind = "not_found"


class Conflict(Problem):
    """The request conflicts with the current state (work of the same kind running)."""

    kind = "conflict"


class TooLarge(Problem):
    kind = "too_large"


class UnsupportedMedia(Problem):
    kind = "unsupported_media_type"


class RateLimited(Problem):
    """Too many requests; ``retry_after`` seconds to wait."""

    kind = "rate_limited"


class Unavailable(Problem):
    """A dependency cannot serve this now; retrying after ``retry_after`` may succeed."""

    kind = "unavailable"


def bad_request(message: str, field: str | None = None, code: str = "invalid") -> Invalid:
    return Invalid(message, field, code=code)
