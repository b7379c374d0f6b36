"""Signed, expiring tokens for links sent to people (invitations). Pure: values in, values out.

A token is ``<payload>.<signature>``: the payload is base64url JSON ``{"p": purpose,
"i": record id, "n": random nonce, "e": expiry (epoch s)}`` and the signature HMAC-SHA256
over it with a key derived from the server secret for link tokens only. A token that is
forged, altered, of another purpose or expired is refused here, before any database
lookup; the record it names keeps only the nonce's SHA-256, and refuses a second use, so a
link works once and can be revoked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

MAX_TOKEN = 400  # characters; longer is refused unread


@dataclass(frozen=True, slots=True)
class LinkToken:
    purpose: str
    record_id: int
    nonce: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(secret: bytes, payload: str) -> str:
    key = hmac.new(secret, b"liveinsight/link", hashlib.sha256).digest()
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def sign(secret: bytes, token: LinkToken) -> str:
    payload = _b64(json.dumps({"p": token.purpose, "i": token.record_id, "n": token.nonce,
                               "e": token.expires}, separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, payload)}"


def verify(secret: bytes, text: str | None, purpose: str, now: float) -> LinkToken | None:
    """The token in ``text`` when its signature is right, it is for ``purpose`` and has not
    expired; None for anything else."""
    if not text or len(text) > MAX_TOKEN or text.count(".") != 1:
        return None
    payload, signature = text.split(".")
    if not hmac.compare_digest(signature, _mac(secret, payload)):
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        token = LinkToken(str(doc["p"]), int(doc["i"]), str(doc["n"]), int(doc["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    if token.purpose != purpose or now >= token.expires:
        return None
    return token
