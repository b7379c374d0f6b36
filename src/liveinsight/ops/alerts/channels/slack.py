"""Slack incoming webhooks: ``{"text": ...}`` POSTed to the webhook's URL (mrkdwn: the
subject in bold, then the lines of the message)."""

from __future__ import annotations

import httpx

from liveinsight.ops.alerts.channels import http
from liveinsight.ops.alerts.channels.protocol import Message
from liveinsight.ops.breaker import Breaker

_ICONS = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}


class SlackChannel:
    def __init__(self, client: httpx.AsyncClient, url: str, allow_private: bool,
                 breaker: Breaker | None = None) -> None:
        self._client = client
        self._url = url
        self._allow_private = allow_private
        self._breaker = breaker

    async def send(self, message: Message) -> None:
        icon = _ICONS.get(message.severity, "")
        text = f"{icon} *{message.subject}*\n{message.text}".strip()
        await http.post(self._client, self._url, allow_private=self._allow_private,
                        breaker=self._breaker, json={"text": text})
