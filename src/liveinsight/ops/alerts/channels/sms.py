"""SMS through a Twilio-style HTTP API: one ``POST {base}/2010-04-01/Accounts/{sid}/
Messages.json`` (form fields To, From, Body; HTTP basic auth with the account SID and auth
token) per recipient. ``base`` is the ``alerts_sms_base_url`` setting (Twilio's by default;
any provider speaking the same API, or a test receiver)."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from liveinsight.ops.alerts.channels import http
from liveinsight.ops.alerts.channels.protocol import DeliveryError, Message
from liveinsight.ops.breaker import Breaker

MAX_SMS = 320  # two segments


class SmsChannel:
    def __init__(self, client: httpx.AsyncClient, base_url: str, account_sid: str,
                 auth_token: str, sender: str, to: tuple[str, ...], allow_private: bool,
                 breaker: Breaker | None = None) -> None:
        self._breaker = breaker
        self._client = client
        self._url = (f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}"
                     "/Messages.json")
        self._auth = (account_sid, auth_token)
        self._sender = sender
        self._to = to
        self._allow_private = allow_private

    async def send(self, message: Message) -> None:
        body = f"{message.subject}\n{message.text}"[:MAX_SMS]
        errors = []
        for number in self._to:
            try:
                await http.post(self._client, self._url, allow_private=self._allow_private,
                                breaker=self._breaker, auth=self._auth,
                                data={"To": number, "From": self._sender, "Body": body})
            except DeliveryError as exc:
                errors.append(f"{number[-4:]}: {exc}")
        if errors:
            raise DeliveryError("; ".join(errors))
