"""Error tracking with Sentry (sentry-sdk), on only when ``sentry_dsn`` is set.

What is sent: errors (unhandled exceptions, and records logged at ``error`` or above, by
the SDK's logging integration), and with ``sentry_traces_sample_rate`` > 0 a sample of
requests as performance transactions. What never is: the client's IP, cookies, request
bodies or other personal data (the SDK leaves personal data out by default; no request
body: ``max_request_body_size="never"``), and :func:`scrub_event` passes every text of
an event through the logs' scrubbing (``ops/logging.scrub_text``: IPs, bearer tokens, API
keys, URL passwords) and drops the
request's headers and the user before it leaves, so a DSN pointing anywhere learns no
visitor's address.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sentry_sdk

from liveinsight import __version__
from liveinsight.ops.logging import scrub_text, secret_name
from liveinsight.settings import Settings

MAX_DEPTH = 20
"""Deeper parts of an event than this are dropped (an event is a tree the SDK built)."""


def init(settings: Settings) -> bool:
    """Start the SDK when ``sentry_dsn`` is set; True when it was started."""
    if not settings.sentry_dsn:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        release=f"liveinsight@{__version__}",
        environment=settings.sentry_environment,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        max_request_body_size="never",
        include_local_variables=False,  # locals may hold an IP or a key
        before_send=scrub_event,
        before_send_transaction=scrub_event,
    )
    return True


def scrub_event(event: Any, _hint: Any) -> Any:
    """``event`` without the user, the request's headers, cookies and body, any key named
    like a secret, and any IP, token or key in its texts."""
    if isinstance(event, dict):
        event.pop("user", None)
        request = event.get("request")
        if isinstance(request, dict):
            for key in ("headers", "cookies", "data", "env"):
                request.pop(key, None)
    return _clean(event, 0)


def _clean(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: ("[redacted]" if isinstance(k, str) and secret_name(k)
                    else _clean(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, depth + 1) for v in value]
    return value
