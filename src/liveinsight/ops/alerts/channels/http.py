"""One POST to a checked target (``targets.py``), as every HTTP channel sends it."""

from __future__ import annotations

from typing import Any

import httpx

from liveinsight.errors import Invalid
from liveinsight.ops.alerts.channels.protocol import DeliveryError
from liveinsight.ops.alerts.channels.targets import check_reachable

TIMEOUT_S = 10.0


async def post(client: httpx.AsyncClient, url: str, *, allow_private: bool,
               **kwargs: Any) -> httpx.Response:
    """POST and return the 2xx answer; :class:`DeliveryError` for any other outcome."""
    try:
        await check_reachable(url, "url", allow_private)
    except Invalid as exc:
        raise DeliveryError(exc.message) from None
    try:
        response = await client.post(url, timeout=TIMEOUT_S, follow_redirects=False, **kwargs)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"answered {response.status_code}: {response.text[:200]}")
    return response
