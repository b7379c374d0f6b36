"""The password policy: values in, a verdict out.

NIST SP 800-63B's rules, no composition rules: a password is refused when it is shorter than
``min_length`` (or longer than ``MAX_LENGTH``), when it is one of the 10,000 most common
passwords of a breach corpus (case-insensitively, and also once trailing digits and symbols
are dropped: ``Dragon2024!`` is ``dragon``), or when it contains the person's e-mail address
or its name part. The common passwords are the head of the ``passwords`` frequency list that
the ``zxcvbn`` package ships (drawn from leaked password dumps); nothing is fetched at run
time, and the list is loaded on the first check (~30 ms), not at import.

:func:`PasswordPolicy.check` raises :class:`WeakPassword` naming the rule broken
(``length``, ``common``, ``personal``) in its message and ``rule``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from liveinsight.errors import Invalid

COMMON_COUNT = 10_000
MAX_LENGTH = 1000
_TRAILING = "0123456789!@#$%^&*()-_=+.,;:?'\"~`[]{}<>/\\| "


class WeakPassword(Invalid):
    """A password the policy refuses; ``rule`` names which rule (also in the message)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{message} (rule: {rule})", "password", code="weak_password")
        self.rule = rule


@cache
def common_passwords() -> frozenset[str]:
    """The ``COMMON_COUNT`` most common passwords, lowercase."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"][:COMMON_COUNT])


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int = 8

    def check(self, password: str, email: str = "") -> None:
        """Return when ``password`` may be set for the person ``email``; else raise
        :class:`WeakPassword`."""
        if len(password) < self.min_length:
            raise WeakPassword("length", f"the password must be at least {self.min_length} "
                               "characters long")
        if len(password) > MAX_LENGTH:
            raise WeakPassword("length", f"the password must be at most {MAX_LENGTH} "
                               "characters long")
        lowered = password.lower()
        common = common_passwords()
        if lowered in common or lowered.rstrip(_TRAILING) in common:
            raise WeakPassword("common", "this password is among the "
                               f"{COMMON_COUNT:,} most common ones in leaked password lists, "
                               "which attackers try first: choose another (a few unrelated "
                               "words make a strong one)")
        address = email.strip().lower()
        name = address.split("@", 1)[0]
        if address and (address in lowered or (len(name) >= 3 and name in lowered)):
            raise WeakPassword("personal", "the password must not contain your e-mail "
                               "address or its name part")
