"""Dashboard sign-ins kept server-side: sessions, failed attempts and security notices.

Sessions live in the metadata database, which every node shares (SQLite on one machine,
PostgreSQL on many), and nothing caches them: a revoked session stops working on every node
at its next request. The cookie holds a random token; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func, select, update

from liveinsight.meta import models
from liveinsight.meta.db import session_factory
from liveinsight.meta.repo import UserInfo, aware

# A session's last_seen_at is written at most this often (reads otherwise cost no write).
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client: str


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    kind: str
    message: str
    created_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(row: models.UserSession) -> SessionInfo:
    return SessionInfo(row.id, row.user_id, aware(row.created_at), aware(row.last_seen_at),
                       aware(row.expires_at), row.client)


class LoginStore:
    """Reads and writes of sessions, login failures and notices; thread-safe, each method one
    short transaction."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    # --- sessions --------------------------------------------------------------------------

    def open_session(self, user_id: int, token: str, now: datetime, lifetime: timedelta,
                     client: str = "") -> SessionInfo:
        row = models.UserSession(token_hash=token_hash(token), user_id=user_id, created_at=now,
                                 last_seen_at=now, expires_at=now + lifetime,
                                 client=client[:120])
        with self._sessions() as s:
            s.add(row)
            s.commit()
            return _info(row)

    def session_user(self, token: str, now: datetime, idle: timedelta
                     ) -> tuple[SessionInfo, UserInfo] | None:
        """The live session of ``token`` and its user, or None (unknown, revoked, past its
        lifetime, idle longer than ``idle``, user deleted). Marks it seen."""
        with self._sessions() as s:
            found = s.execute(
                select(models.UserSession, models.User)
                .join(models.User, models.User.id == models.UserSession.user_id)
                .where(models.UserSession.token_hash == token_hash(token))).first()
            if found is None:
                return None
            row, user = found
            if (row.revoked_at is not None or aware(row.expires_at) <= now
                    or aware(row.last_seen_at) + idle <= now):
                return None
            if now - aware(row.last_seen_at) >= TOUCH_EVERY:
                row.last_seen_at = now
                s.commit()
            return _info(row), UserInfo(user.id, user.email, user.role)

    def revoke(self, token: str, now: datetime) -> None:
        with self._sessions() as s:
            s.execute(update(models.UserSession)
                      .where(models.UserSession.token_hash == token_hash(token),
                             models.UserSession.revoked_at.is_(None))
                      .values(revoked_at=now))
            s.commit()

    def revoke_id(self, user_id: int, session_id: int, now: datetime) -> bool:
        """End one of ``user_id``'s sessions; False when it is not theirs or already over."""
        with self._sessions() as s:
            done = s.execute(update(models.UserSession)
                             .where(models.UserSession.id == session_id,
                                    models.UserSession.user_id == user_id,
                                    models.UserSession.revoked_at.is_(None))
                             .values(revoked_at=now))
            s.commit()
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def revoke_all(self, user_id: int, now: datetime, keep: str | None = None) -> int:
        """End every session of ``user_id`` (but ``keep``'s); how many were live."""
        query = (update(models.UserSession)
                 .where(models.UserSession.user_id == user_id,
                        models.UserSession.revoked_at.is_(None)))
        if keep is not None:
            query = query.where(models.UserSession.token_hash != token_hash(keep))
        with self._sessions() as s:
            done = s.execute(query.values(revoked_at=now))
            s.commit()
            return int(done.rowcount)  # type: ignore[attr-defined]

    def live_sessions(self, user_id: int, now: datetime, idle: timedelta) -> list[SessionInfo]:
        with self._sessions() as s:
            rows = s.scalars(select(models.UserSession)
                             .where(models.UserSession.user_id == user_id,
                                    models.UserSession.revoked_at.is_(None))
                             .order_by(models.UserSession.last_seen_at.desc())).all()
            return [_info(r) for r in rows
                    if aware(r.expires_at) > now and aware(r.last_seen_at) + idle > now]

    # --- failed sign-ins ---------------------------------------------------------------------

    def add_failure(self, scope: str, key: str, now: datetime) -> None:
        with self._sessions() as s:
            s.add(models.LoginFailure(scope=scope, key=key, at=now))
            s.commit()

    def failures(self, scope: str, key: str, since: datetime) -> tuple[int, datetime | None]:
        """``(count, oldest)`` of the failures of ``key`` at or after ``since``."""
        with self._sessions() as s:
            count, oldest = s.execute(
                select(func.count(), func.min(models.LoginFailure.at))
                .where(models.LoginFailure.scope == scope, models.LoginFailure.key == key,
                       models.LoginFailure.at >= since)).one()
            return int(count), aware(oldest) if oldest is not None else None

    def clear_failures(self, scope: str, key: str) -> None:
        with self._sessions() as s:
            s.execute(delete(models.LoginFailure).where(models.LoginFailure.scope == scope,
                                                        models.LoginFailure.key == key))
            s.commit()

    # --- notices -----------------------------------------------------------------------------

    def add_notice(self, user_id: int, kind: str, message: str, now: datetime) -> None:
        with self._sessions() as s:
            s.add(models.SecurityNotice(user_id=user_id, kind=kind, message=message[:500],
                                        created_at=now))
            s.commit()

    def take_notices(self, user_id: int, now: datetime) -> list[Notice]:
        """The notices ``user_id`` has not seen, marked seen."""
        with self._sessions() as s:
            rows = s.scalars(select(models.SecurityNotice)
                             .where(models.SecurityNotice.user_id == user_id,
                                    models.SecurityNotice.seen_at.is_(None))
                             .order_by(models.SecurityNotice.id)).all()
            for row in rows:
                row.seen_at = now
            s.commit()
            return [Notice(r.id, r.kind, r.message, aware(r.created_at)) for r in rows]

    # --- housekeeping ------------------------------------------------------------------------

    def purge(self, now: datetime, failures_before: datetime) -> None:
        """Delete sessions over for a day and failures older than ``failures_before``."""
        over = now - timedelta(days=1)
        with self._sessions() as s:
            s.execute(delete(models.UserSession).where(
                (models.UserSession.expires_at < over)
                | (models.UserSession.revoked_at < over)
                | (models.UserSession.last_seen_at < now - timedelta(days=30))))
            s.execute(delete(models.LoginFailure).where(
                models.LoginFailure.at < failures_before))
            s.commit()
