"""Two-factor sign-in state of users in the metadata database (``security/totp.py`` for the
codes). Every method is one short transaction, blocking (run it off the event loop).

Enrolment is two steps: :meth:`TwoFactor.begin` keeps a new secret as pending (sign-in is
unchanged), :meth:`TwoFactor.enable` turns it on once a code from the person's app matches,
and returns the recovery codes (shown once; only hashes are kept). From then on
:meth:`TwoFactor.check` must accept a code (or an unused recovery code) at each sign-in.
The row is locked while a code is checked, so a code (or recovery code) passes once even
when two nodes are asked at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from liveinsight.meta import models
from liveinsight.meta.db import session_factory
from liveinsight.meta.repo import MetaError
from liveinsight.security import totp


@dataclass(frozen=True, slots=True)
class TwoFactorStatus:
    enabled: bool
    pending_secret: str | None  # set up but not yet confirmed
    recovery_left: int


class TwoFactor:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def _user(self, s: object, user_id: int) -> models.User:
        stmt = select(models.User).where(models.User.id == user_id).with_for_update()
        user = s.scalar(stmt)  # type: ignore[attr-defined]
        if user is None:
            raise MetaError(f"no user with id {user_id}")
        assert isinstance(user, models.User)
        return user

    def status(self, user_id: int) -> TwoFactorStatus:
        with self._sessions() as s:
            user = s.get(models.User, user_id)
            if user is None:
                raise MetaError(f"no user with id {user_id}")
            enabled = user.totp_enabled_at is not None
            return TwoFactorStatus(enabled, None if enabled else user.totp_secret,
                                   len(user.recovery_hashes or []))

    def enabled(self, user_id: int) -> bool:
        return self.status(user_id).enabled

    def begin(self, user_id: int) -> str:
        """A new pending secret (replacing a pending one); MetaError when already on."""
        with self._sessions() as s:
            user = self._user(s, user_id)
            if user.totp_enabled_at is not None:
                raise MetaError("two-factor sign-in is already on; turn it off first")
            user.totp_secret = totp.new_secret()
            user.totp_last_step = None
            s.commit()
            return user.totp_secret

    def enable(self, user_id: int, code: str, now: datetime) -> list[str]:
        """Turn it on when ``code`` matches the pending secret; the recovery codes."""
        with self._sessions() as s:
            user = self._user(s, user_id)
            if user.totp_enabled_at is not None or not user.totp_secret:
                raise MetaError("set up two-factor sign-in first")
            step = totp.accepted_step(user.totp_secret, code, now, None)
            if step is None:
                raise MetaError("that code does not match: check the app's clock and enter "
                                "the code it shows now")
            codes = totp.new_recovery_codes()
            user.totp_enabled_at, user.totp_last_step = now, step
            user.recovery_hashes = [totp.recovery_hash(c) for c in codes]
            s.commit()
            return codes

    def check(self, user_id: int, code: str, now: datetime) -> str | None:
        """``"totp"`` or ``"recovery"`` when ``code`` lets the person in (a recovery code is
        used up), else None. True for anyone without two-factor sign-in: ``"none"``."""
        with self._sessions() as s:
            user = self._user(s, user_id)
            if user.totp_enabled_at is None or not user.totp_secret:
                return "none"
            step = totp.accepted_step(user.totp_secret, code, now, user.totp_last_step)
            if step is not None:
                user.totp_last_step = step
                s.commit()
                return "totp"
            hashed = totp.recovery_hash(code)
            left = list(user.recovery_hashes or [])
            if len("".join(code.split())) >= 10 and hashed in left:
                left.remove(hashed)
                user.recovery_hashes = left
                s.commit()
                return "recovery"
            return None

    def disable(self, user_id: int) -> None:
        with self._sessions() as s:
            user = self._user(s, user_id)
            user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
            user.recovery_hashes = None
            s.commit()
