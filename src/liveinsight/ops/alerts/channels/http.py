"""One POST to a checked target (``targets.py``), as every HTTP channel sends it, through
the channel kind's circuit breaker when it has one (``services.open_services`` gives Slack,
webhooks and SMS one each, registered in ``/health/dependencies`` as ``alerts_slack``,
``alerts_webhook``, ``alerts_sms``): a target that cannot be reached, times out or answers
5xx counts as a failure; while the breaker is open nothing is POSTed and the delivery fails
at once (recorded and retried as any failed delivery). One breaker per kind: webhook
channels pointing at different servers share theirs (a dead one that keeps failing holds the
others back for the breaker's pause)."""

from __future__ import annotations

from typing import Any

import httpx

from liveinsight.errors import Invalid
from liveinsight.ops.alerts.channels.protocol import DeliveryError
from liveinsight.ops.alerts.channels.targets import check_reachable
from liveinsight.ops.breaker import Breaker, DependencyDown

TIMEOUT_S = 10.0


async def post(client: httpx.AsyncClient, url: str, *, allow_private: bool,
               breaker: Breaker | None = None, **kwargs: Any) -> httpx.Response:
    """POST and return the 2xx answer; :class:`DeliveryError` for any other outcome."""
    try:
        await check_reachable(url, "url", allow_private)
    except Invalid as exc:
        raise DeliveryError(exc.message) from None

    async def attempt() -> httpx.Response:
        try:
            answer = await client.post(url, timeout=TIMEOUT_S, follow_redirects=False,
                                       **kwargs)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        if answer.status_code >= 500:
            raise DeliveryError(f"answered {answer.status_code}: {answer.text[:200]}")
        return answer

    try:
        response = await (attempt() if breaker is None else breaker.acall(attempt))
    except DependencyDown as exc:
        raise DeliveryError(f"not tried: {exc.message} (circuit breaker open, next try in "
                            f"{exc.retry_after} s)") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"answered {response.status_code}: {response.text[:200]}")
    return response
