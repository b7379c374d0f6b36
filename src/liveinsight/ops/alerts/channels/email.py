"""E-mail over SMTP (``ops/mail.py``'s Mailer: aiosmtplib, TLS or STARTTLS as set)."""

from __future__ import annotations

from liveinsight.ops.alerts.channels.protocol import DeliveryError, Message
from liveinsight.ops.mail import Mailer


class EmailChannel:
    def __init__(self, mailer: Mailer, to: tuple[str, ...]) -> None:
        self._mailer = mailer
        self._to = to

    async def send(self, message: Message) -> None:
        if not self._mailer.enabled:
            raise DeliveryError("no SMTP server is configured (LIVEINSIGHT_SMTP_HOST)")
        failed = [to for to in self._to
                  if not await self._mailer.send(to, message.subject, message.text)]
        if failed:
            raise DeliveryError(f"the SMTP server did not take the message for "
                                f"{len(failed)} of {len(self._to)} recipients")
