"""Login throttling: failed sign-ins counted per account and per address, over every node.

A sign-in is refused (429) while the account or the address has ``attempts`` failures in
the last ``window``: ten wrong passwords for one account from thirty addresses lock that
account, twenty from one address lock that address for every account. Only the account's own
successful sign-in clears its count; an address's count is never cleared by a success (one
account's success must not reset the attempts against another). Counts are kept in the
metadata database, which every node shares, so the limits hold across processes and nodes;
a restart forgets nothing. While locked, even the right password is refused, and nothing in
the answer tells whether the account exists (every e-mail address is counted alike).

Keys are HMACs of the e-mail address and of the IP address under the server secret: neither
is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from liveinsight.meta.logins import LoginStore

ACCOUNT, ADDRESS = "account", "address"


@dataclass(frozen=True, slots=True)
class Limits:
    account_attempts: int = 10
    address_attempts: int = 20
    window: timedelta = timedelta(minutes=15)

    def of(self, scope: str) -> int:
        return self.account_attempts if scope == ACCOUNT else self.address_attempts


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a sign-in may be tried now, and if not for how many seconds."""

    retry_after: int = 0
    locked: str | None = None  # "account" or "address"


class LoginThrottle:
    """Counts failures in ``store``; every method is blocking (run it off the event loop)."""

    def __init__(self, store: LoginStore, secret: bytes, limits: Limits) -> None:
        self._store = store
        self._key = hmac.new(secret, b"liveinsight/login-throttle", hashlib.sha256).digest()
        self.limits = limits

    def _keys(self, email: str, ip: str) -> list[tuple[str, str]]:
        return [(ACCOUNT, self._hash(ACCOUNT, email.strip().lower())), (ADDRESS,
                                                                         self._hash(ADDRESS, ip))]

    def _hash(self, scope: str, value: str) -> str:
        return hmac.new(self._key, f"{scope}:{value}".encode(), hashlib.sha256).hexdigest()

    def check(self, email: str, ip: str, now: datetime) -> Verdict:
        """May ``email`` sign in from ``ip`` at ``now``?"""
        since = now - self.limits.window
        for scope, key in self._keys(email, ip):
            count, oldest = self._store.failures(scope, key, since)
            if count >= self.limits.of(scope) and oldest is not None:
                wait = (oldest + self.limits.window - now).total_seconds()
                return Verdict(max(1, math.ceil(wait)), scope)
        return Verdict()

    def failed(self, email: str, ip: str, now: datetime) -> bool:
        """Count a failure; True when it is the one that locks the account (its owner is
        told: see ``api/session.py``)."""
        locked_now = False
        since = now - self.limits.window
        for scope, key in self._keys(email, ip):
            self._store.add_failure(scope, key, now)
            if scope == ACCOUNT:
                count, _ = self._store.failures(scope, key, since)
                locked_now = count == self.limits.account_attempts
        return locked_now

    def succeeded(self, email: str) -> None:
        scope, key = self._keys(email, "")[0]
        self._store.clear_failures(scope, key)
