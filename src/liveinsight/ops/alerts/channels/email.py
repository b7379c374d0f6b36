"""E-mail over SMTP (``ops/mail.py``'s Mailer: aiosmtplib, TLS or STARTTLS as set)."""

from __future__ import annotations

from liveinsight.ops.alerts.channels.protocol import DeliveryError, Message
from liveinsight.ops.mail import Mailer, MailError


class EmailChannel:
    def __init__(self, mailer: Mailer, to: tuple[str, ...]) -> None:
        self._mailer = mailer
        self._to = to

    async def send(self, message: Message) -> None:
        if not self._mailer.enabled:
            raise DeliveryError("no SMTP server is configured (LIVEINSIGHT_SMTP_HOST)")
        failed = []
        for to in self._to:
            try:
                await self._mailer.deliver(to, message.subject, message.text)
            except MailError as exc:
                failed.append(str(exc))
        if failed:
            raise DeliveryError(f"the message was not sent to {len(failed)} of "
                                f"{len(self._to)} recipients: {failed[0]}")
