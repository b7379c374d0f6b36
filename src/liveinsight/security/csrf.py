"""Short-lived signed ingest tokens bound to a browser session id (``POST /api/csrf-token``).

A token is ``<expiry unix seconds>.<base64url HMAC-SHA256(secret, "csrf|<session>|<expiry>")>``.
It is stateless to verify (any node sharing the secret key can), cannot be moved to another
session id, and stops working at its expiry. Rotating the secret key invalidates every
token at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

MAX_SESSION_ID_CHARS = 128
_SESSION_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_SESSION_ID_CHARS}}}")


class TokenError(Exception):
    """The token is missing, malformed, forged, for another session or expired."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: int  # unix seconds


def valid_session_id(session_id: str) -> bool:
    """1-128 printable ASCII characters (no spaces)."""
    return _SESSION_ID.fullmatch(session_id) is not None


def _signature(secret: bytes, session_id: str, expires_at: int) -> str:
    message = f"csrf|{session_id}|{expires_at}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(secret: bytes, session_id: str, now: float, ttl_seconds: int) -> Token:
    """A token for ``session_id`` valid until ``now + ttl_seconds``. The caller checks the
    session id with :func:`valid_session_id` first."""
    expires_at = int(now) + ttl_seconds
    return Token(f"{expires_at}.{_signature(secret, session_id, expires_at)}", expires_at)


def verify(secret: bytes, session_id: str, token: str, now: float) -> None:
    """Return when ``token`` was issued for ``session_id`` and has not expired at ``now``;
    raise :class:`TokenError` saying why not."""
    expiry, _, signature = token.partition(".")
    if not (expiry.isascii() and expiry.isdigit()) or len(expiry) > 12 or not signature:
        raise TokenError("the CSRF token is malformed")
    expected = _signature(secret, session_id, int(expiry))
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise TokenError("the CSRF token is not valid for this session")
    if int(expiry) <= now:
        raise TokenError("the CSRF token has expired; fetch a new one")
