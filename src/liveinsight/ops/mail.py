"""E-mail to people (security notices; later invitations and alerts) over SMTP, with
aiosmtplib. Off unless ``smtp_host`` is set: then nothing is sent and callers show the
message in the dashboard instead.

``send`` never raises: a mail server that is down, slow (``smtp_timeout_seconds``) or
refuses the message is logged, and the caller goes on.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

import aiosmtplib

from liveinsight.settings import Settings

log = logging.getLogger("liveinsight.mail")


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def enabled(self) -> bool:
        return bool(self._settings.smtp_host)

    async def send(self, to: str, subject: str, text: str) -> bool:
        """Send a plain-text message; True once the server accepted it."""
        s = self._settings
        if not s.smtp_host:
            return False
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.mail_from, to, subject
        message.set_content(text)
        try:
            await aiosmtplib.send(
                message, hostname=s.smtp_host, port=s.smtp_port,
                username=s.smtp_username or None, password=s.smtp_password or None,
                use_tls=s.smtp_security == "tls", start_tls=s.smtp_security == "starttls",
                timeout=s.smtp_timeout_seconds)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning("mail to a user was not sent: %s", exc)
            return False
        return True


def ping(settings: Settings, timeout: float = 2.0) -> None:
    """A round-trip to the SMTP server (connect, TLS with ``smtp_security=tls``, EHLO, NOOP,
    QUIT): the dependency check of ``/health/dependencies``. Sends no mail, does not log in.
    Raises ``OSError`` or ``smtplib.SMTPException`` when the server does not answer well.
    Blocking (the registry runs checks in its own threads)."""
    host = settings.smtp_host or ""
    limit = min(timeout, settings.smtp_timeout_seconds)
    client = (smtplib.SMTP_SSL(host, settings.smtp_port, timeout=limit)
              if settings.smtp_security == "tls"
              else smtplib.SMTP(host, settings.smtp_port, timeout=limit))
    try:
        client.ehlo()
        code, answer = client.noop()
        if code != 250:
            raise smtplib.SMTPResponseException(code, answer)
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
