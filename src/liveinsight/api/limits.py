"""Request rate limits for everything but the collector: per client address, or per API key
by the key's usage plan.

A request carrying a valid API key (``Authorization: Bearer li_...``) spends a token of that
key's bucket: its own plan (``rate`` requests a second, ``burst`` at once, kept with the
key), else ``api_key_rate`` / ``api_key_burst``, and its daily quota (``daily_quota``
requests a UTC day, else ``api_key_daily_quota``; 0: none), counted in the same atomic
step. Any other request (the dashboard's, with a session cookie, anonymous ones, a wrong
key) spends a token of its client address's bucket:
``rate_limit_per_minute`` a minute, bursts of ``rate_limit_burst``; the address is the one
``security/client_ip.py`` resolves (trusted proxies), keyed by an HMAC under the server
secret (never the address itself, in memory or in Redis). Buckets live in the request
limiter (``svc.request_limiter``: in process, or in Redis so every node shares them).

Exempt: the collector's endpoints (their own body limits and per-key event rates), the
tracker, static files and uploaded images (cacheable files a page pulls in), ``/health`` and
``/metrics`` (monitoring must see a node that is being flooded).

Every limited answer carries ``RateLimit-Limit`` (the burst), ``RateLimit-Remaining``,
``RateLimit-Reset`` (seconds until the bucket is full) and ``RateLimit-Policy``; a refused
request is answered 429 with ``Retry-After`` and a JSON body naming the limit (past a daily
quota: code ``quota_exceeded``, ``Retry-After`` the seconds to the next UTC midnight, and
``RateLimit-Policy`` lists the quota as ``<quota>;w=86400``). Every limited
route declares that 429 in the OpenAPI document (:meth:`RequestLimits.responses`, applied by
``create_app`` to each route it includes).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Scope

from liveinsight.api.errors import error_response, error_responses
from liveinsight.api.notes import note_key_network
from liveinsight.meta.repo import ApiKeyInfo
from liveinsight.security.ratelimit import DAY, Allowance, retry_after
from liveinsight.services import Services

EXEMPT_PREFIXES = ("/static/", "/js/", "/api/v1/assets/optimized/")
EXEMPT_PATHS = frozenset({"/health", "/metrics"})
ADDRESS, KEY = "address", "key"


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


RATE_LIMIT_HEADERS: dict[str, dict[str, Any]] = {
    "RateLimit-Limit": _header("The bucket's size (the plan's burst)"),
    "RateLimit-Remaining": _header("Requests left in the bucket (0 when refused)"),
    "RateLimit-Reset": _header("Seconds until the bucket is full again"),
    "RateLimit-Policy": {"description": "`<burst>;w=<seconds to refill the bucket>`",
                         "schema": {"type": "string"}},
}
RATE_LIMITED = error_responses(429, headers={429: RATE_LIMIT_HEADERS})
"""The OpenAPI answer of a route the request limits apply to."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request's token: whose bucket (``ADDRESS`` or ``KEY``), its plan,
    and what the limiter said."""

    who: str
    rate: float
    burst: int
    allowance: Allowance
    bucket: str = ""
    actor: str = ""  # the key's actor (``key:5 name``); "" for an address
    quota: int = 0  # the key's daily quota (0: none)

    @property
    def refused(self) -> bool:
        return self.allowance.wait > 0

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``RateLimit-*`` of the bucket, or of the daily quota once it refused."""
        left = max(0.0, self.allowance.remaining)
        full_in = math.ceil((self.burst - left) / self.rate) if left < self.burst else 0
        window = math.ceil(self.burst / self.rate)
        policy = f"{self.burst};w={window}"
        if self.quota:
            policy += f", {self.quota};w={DAY}"
        pairs = [("ratelimit-limit", str(self.burst)),
                 ("ratelimit-remaining", str(math.floor(left))),
                 ("ratelimit-reset", str(full_in)),
                 ("ratelimit-policy", policy)]
        if self.allowance.over_quota:
            pairs[:3] = [("ratelimit-limit", str(self.quota)), ("ratelimit-remaining", "0"),
                         ("ratelimit-reset", retry_after(self.allowance.wait))]
        return [(n.encode(), v.encode()) for n, v in pairs]

    def refusal(self) -> Response:
        """The 429 (the ``RateLimit-*`` headers are added with the security headers)."""
        wait = retry_after(self.allowance.wait)
        if self.allowance.over_quota:
            return error_response(429, "quota_exceeded", quota_message(self.quota, wait),
                                  headers={"retry-after": wait})
        if self.who == KEY:
            what = (f"this API key's plan allows {self.rate:g} requests a second, bursts "
                    f"of {self.burst}")
        else:
            what = (f"this address may make {self.rate * 60:g} requests a minute, bursts "
                    f"of {self.burst}")
        return error_response(429, "rate_limited", f"too many requests: {what}; retry in "
                              f"{wait} s", headers={"retry-after": wait})


def quota_message(quota: int, wait: str, what: str = "requests") -> str:
    """The 429 message of a spent daily quota."""
    return (f"this API key's daily quota of {quota} {what} is spent for today (UTC); it "
            f"starts again at 00:00 UTC, in {wait} s")


class RequestLimits:
    """Decides each request's token; built once per app from the collector's paths."""

    def __init__(self, collector_paths: Iterable[str]) -> None:
        self._exempt = EXEMPT_PATHS | set(collector_paths)

    def applies(self, path: str) -> bool:
        return path not in self._exempt and not path.startswith(EXEMPT_PREFIXES)

    def responses(self, path: str) -> dict[int | str, dict[str, Any]]:
        """The OpenAPI answers the limits add to the route at ``path`` (a template)."""
        return RATE_LIMITED if self.applies(path) else {}

    async def decide(self, scope: Scope, svc: Services) -> Decision | None:
        """Take one token for the request (None: the limits are off)."""
        settings = svc.settings
        key = await _api_key(scope, svc)
        if key is not None:
            await note_key_network(scope, svc, key)
            rate = key.rate or settings.api_key_rate
            burst = key.burst or settings.api_key_burst
            quota = key.daily_quota or settings.api_key_daily_quota
            bucket, who = f"key:{key.id}", KEY
        elif settings.rate_limit_per_minute > 0:
            rate, burst = settings.rate_limit_per_minute / 60.0, settings.rate_limit_burst
            bucket, who, quota = f"ip:{_address_key(scope, svc)}", ADDRESS, 0
        else:
            return None
        allowance = await svc.request_limiter.acquire(bucket, rate, burst, quota=quota)
        if allowance.wait > 0:
            svc.metrics.rate_limited.labels("quota" if allowance.over_quota else who).inc()
        actor = f"key:{key.id} {key.name}" if key is not None else ""
        return Decision(who, rate, burst, allowance, bucket, actor, quota)


async def _api_key(scope: Scope, svc: Services) -> ApiKeyInfo | None:
    """The request's valid API key, or None (no key, another kind of token, a wrong one)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            if kind.lower() != "bearer" or not token.startswith("li_"):
                return None
            hit, info = svc.keys.cached(token)
            if not hit:
                info = await run_in_threadpool(svc.keys.verify, token)
            return info
    return None


def _address_key(scope: Scope, svc: Services) -> str:
    client = scope.get("client")
    address = svc.ips.resolve(client[0] if client else None, scope["headers"])
    digest = hmac.new(svc.secret, f"rate-limit:{address}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
