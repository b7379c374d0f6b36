"""Generic JSON webhooks, signed with HMAC-SHA256.

The body is the message's JSON payload. Two headers let the receiver check it came from us
and is fresh: ``X-LiveInsight-Timestamp`` (Unix seconds) and ``X-LiveInsight-Signature``
(``sha256=`` + the hex HMAC-SHA256, keyed by the channel's secret, of the timestamp, a dot
and the raw body). A receiver recomputes it over the bytes it received, compares in constant
time and refuses timestamps more than a few minutes old (docs/operations.md shows how).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import httpx
import orjson

from liveinsight.ops.alerts.channels import http
from liveinsight.ops.alerts.channels.protocol import Message
from liveinsight.ops.breaker import Breaker

SIGNATURE = "X-LiveInsight-Signature"
TIMESTAMP = "X-LiveInsight-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookChannel:
    def __init__(self, client: httpx.AsyncClient, url: str, secret: str, allow_private: bool,
                 now: Callable[[], float] = time.time, breaker: Breaker | None = None) -> None:
        self._breaker = breaker
        self._client = client
        self._url = url
        self._secret = secret
        self._allow_private = allow_private
        self._now = now

    async def send(self, message: Message) -> None:
        body = orjson.dumps({"subject": message.subject, "text": message.text,
                             "severity": message.severity, **message.payload})
        stamp = str(int(self._now()))
        await http.post(self._client, self._url, allow_private=self._allow_private,
                        breaker=self._breaker, content=body, headers={
                            "content-type": "application/json", TIMESTAMP: stamp,
                            SIGNATURE: signature(self._secret, stamp, body),
                            "user-agent": "LiveInsight-Alerts"})
