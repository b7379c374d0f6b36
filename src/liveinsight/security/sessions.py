"""Signed session cookies and the CSRF tokens bound to them. Pure: values in, values out.

A session token is ``<payload>.<signature>``: the payload is base64url JSON
``{"u": user id, "t": issued at (epoch s), "n": random nonce}`` and the signature is
HMAC-SHA256 over the payload with a key derived from the server secret (so the cookie key
differs from every other use of the secret). The nonce (32 random bytes) names the
server-side session (``meta/logins.py``), which is checked on every request: a signature
alone never lets anyone in, so logging out or revoking a session ends it for good. The
user's role is looked up on each request too, so a role change applies at once.

A form's CSRF token is HMAC(key, "csrf:" + nonce): it is bound to one session, and a page
from another origin can neither read it nor compute it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

COOKIE = "li_session"
MAX_AGE_S = 14 * 24 * 3600


@dataclass(frozen=True, slots=True)
class SessionData:
    user_id: int
    issued: int
    nonce: str


def _key(secret: bytes, purpose: bytes) -> bytes:
    return hmac.new(secret, b"liveinsight/" + purpose, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(_key(secret, b"session"), payload.encode(), hashlib.sha256).digest())


def new_session(user_id: int, now: float) -> SessionData:
    return SessionData(user_id, int(now), secrets.token_urlsafe(32))


def encode(secret: bytes, data: SessionData) -> str:
    payload = _b64(json.dumps({"u": data.user_id, "t": data.issued, "n": data.nonce},
                              separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, payload)}"


def decode(secret: bytes, token: str | None, now: float,
           max_age_s: int = MAX_AGE_S) -> SessionData | None:
    """The session in ``token`` if its signature is right and it is younger than
    ``max_age_s``; None for anything else (missing, tampered, expired, malformed)."""
    if not token or token.count(".") != 1:
        return None
    payload, signature = token.split(".")
    if not hmac.compare_digest(signature, _mac(secret, payload)):
        return None
    try:
        doc = json.loads(_unb64(payload))
        data = SessionData(int(doc["u"]), int(doc["t"]), str(doc["n"]))
    except (ValueError, KeyError, TypeError):
        return None
    if not 0 <= now - data.issued <= max_age_s:
        return None
    return data


def csrf_token(secret: bytes, data: SessionData) -> str:
    return _b64(hmac.new(_key(secret, b"csrf"), b"csrf:" + data.nonce.encode(),
                         hashlib.sha256).digest())


def check_csrf(secret: bytes, data: SessionData, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(str(token), csrf_token(secret, data))
