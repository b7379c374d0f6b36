"""E-mail to people (security notices; later invitations and alerts) over SMTP, with
aiosmtplib. Off unless ``smtp_host`` is set: then nothing is sent and callers show the
message in the dashboard instead.

``send`` never raises: a mail server that is down, slow (``smtp_timeout_seconds``) or
refuses the message is logged, and the caller goes on; ``deliver`` raises
:class:`MailError` saying why (the alert channels record it).

With a circuit breaker (``ops/breaker.py``; ``services.open_services`` gives one, registered
as the ``smtp`` dependency) every send goes through it: a server that cannot be reached or
does not answer (connection refused or dropped, a timeout) counts as a failure, and while
the breaker is open nothing is tried (:class:`MailError` at once). A message the server
answered and refused (a bad recipient) is not the server's failure.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

import aiosmtplib

from liveinsight.ops.breaker import Breaker, DependencyDown
from liveinsight.settings import Settings

log = logging.getLogger("liveinsight.mail")


_UNREACHABLE = (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected,
                aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPConnectTimeoutError, OSError,
                TimeoutError)


class MailError(Exception):
    """The message was not sent (its text says why)."""


class Mailer:
    def __init__(self, settings: Settings, breaker: Breaker | None = None) -> None:
        self._settings = settings
        self.breaker = breaker

    @property
    def enabled(self) -> bool:
        return bool(self._settings.smtp_host)

    async def send(self, to: str, subject: str, text: str) -> bool:
        """Send a plain-text message; True once the server accepted it."""
        if not self._settings.smtp_host:
            return False
        try:
            await self.deliver(to, subject, text)
        except MailError as exc:
            log.warning("mail to a user was not sent: %s", exc)
            return False
        return True

    async def deliver(self, to: str, subject: str, text: str) -> None:
        """Send a plain-text message, or raise :class:`MailError` saying why not (no SMTP
        server set, the breaker open, the server unreachable, the message refused)."""
        s = self._settings
        if not s.smtp_host:
            raise MailError("no SMTP server is configured (LIVEINSIGHT_SMTP_HOST)")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.mail_from, to, subject
        message.set_content(text)

        async def attempt() -> aiosmtplib.SMTPException | None:
            try:
                await aiosmtplib.send(
                    message, hostname=s.smtp_host, port=s.smtp_port,
                    username=s.smtp_username or None, password=s.smtp_password or None,
                    use_tls=s.smtp_security == "tls", start_tls=s.smtp_security == "starttls",
                    timeout=s.smtp_timeout_seconds)
            except _UNREACHABLE:
                raise  # the server's failure: the breaker counts it
            except aiosmtplib.SMTPException as exc:
                return exc  # the server answered and refused: not its failure
            return None

        try:
            refused = await (attempt() if self.breaker is None
                             else self.breaker.acall(attempt))
        except DependencyDown as exc:
            raise MailError(f"not tried: {exc.message} (circuit breaker open, next try in "
                            f"{exc.retry_after} s)") from None
        except _UNREACHABLE as exc:
            raise MailError(f"{type(exc).__name__}: {exc}") from None
        if refused is not None:
            raise MailError(f"{type(refused).__name__}: {refused}")


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
