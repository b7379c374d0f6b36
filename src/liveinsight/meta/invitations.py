"""Invitations by e-mail: to a role on a site (a guest), to a site's ownership (its transfer)
or to a role in a team. Every read and write of them.

An invitation is accepted once, by the user whose e-mail it names (an existing one, or one
made from it as they accept), before it expires, unless revoked. Accepting applies its role
in the same transaction as marking it used, so two acceptances of one link cannot both
count. A role already held that is higher than the invited one is kept. Accepting a site's
ownership moves the site to a team the new owner owns (one is made for them when they own
none); whoever invited them keeps the site as a guest admin. Methods raise
:class:`MetaError` naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Engine, func, select, update
from sqlalchemy.orm import Session

from liveinsight.meta import models
from liveinsight.meta.db import session_factory
from liveinsight.meta.repo import MetaError, aware
from liveinsight.security.links import new_nonce, nonce_hash
from liveinsight.security.roles import GUEST_ROLES, ROLES, Role, parse_role

MAX_PENDING = 100  # pending invitations per site or team
MAX_EMAIL = 320
Status = Literal["pending", "accepted", "revoked", "expired"]


@dataclass(frozen=True, slots=True)
class InvitationInfo:
    id: int
    email: str
    role: str
    site_id: int | None
    team_id: int | None
    invited_by: str | None  # the inviter's e-mail
    created_at: datetime
    expires_at: datetime
    status: Status


def _email(value: str) -> str:
    email = value.strip().lower()
    local, _, domain = email.partition("@")
    if (not local or "." not in domain or len(email) > MAX_EMAIL or any(
            c.isspace() or c in "<>,;\"" for c in email)):
        raise MetaError(f"email: {value[:80]!r} is not an e-mail address")
    return email


def _status(row: models.Invitation, now: datetime) -> Status:
    if row.accepted_at is not None:
        return "accepted"
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if aware(row.expires_at) <= now else "pending"


class Invitations:
    """Reads and writes of invitations; ``on_site_change`` runs after an accepted transfer
    moved a site to another team."""

    def __init__(self, engine: Engine, on_site_change: Callable[[], None] = lambda: None
                 ) -> None:
        self._sessions = session_factory(engine)
        self._on_site_change = on_site_change

    def create(self, email: str, role: str, *, invited_by: int | None, now: datetime,
               ttl: timedelta, site_id: int | None = None, team_id: int | None = None
               ) -> tuple[InvitationInfo, str]:
        """A pending invitation of ``email`` to ``role`` on the site or in the team, and the
        nonce its link carries (kept only hashed). An earlier pending invitation of the
        same person to the same place is revoked."""
        if (site_id is None) == (team_id is None):
            raise MetaError("an invitation is to a site or to a team")
        address = _email(email)
        try:
            parse_role(role, (*GUEST_ROLES, "owner") if site_id else ROLES)
        except ValueError as exc:
            raise MetaError(str(exc)) from None
        nonce = new_nonce()
        with self._sessions() as s:
            place = (s.get(models.Site, site_id) if site_id is not None
                     else s.get(models.Team, team_id))
            if place is None:
                raise MetaError(f"no {'site' if site_id else 'team'} with id {site_id or team_id}")
            same_place = _where_place(site_id, team_id)
            pending = s.scalar(select(func.count()).select_from(models.Invitation).where(
                *same_place, models.Invitation.accepted_at.is_(None),
                models.Invitation.revoked_at.is_(None), models.Invitation.expires_at > now))
            if (pending or 0) >= MAX_PENDING:
                raise MetaError(f"at most {MAX_PENDING} pending invitations: revoke some first")
            s.execute(update(models.Invitation).where(
                *same_place, models.Invitation.email == address,
                models.Invitation.accepted_at.is_(None),
                models.Invitation.revoked_at.is_(None)).values(revoked_at=now).execution_options(
                synchronize_session=False))
            row = models.Invitation(email=address, site_id=site_id, team_id=team_id,
                                    role=role.strip().lower(), nonce_hash=nonce_hash(nonce),
                                    invited_by=invited_by, created_at=now,
                                    expires_at=now + ttl)
            s.add(row)
            s.commit()
            return self._info(s, row, now), nonce

    def get(self, invite_id: int, now: datetime) -> InvitationInfo | None:
        with self._sessions() as s:
            row = s.get(models.Invitation, invite_id)
            return self._info(s, row, now) if row else None

    def pending(self, now: datetime, *, site_id: int | None = None,
                team_id: int | None = None) -> list[InvitationInfo]:
        with self._sessions() as s:
            rows = s.scalars(select(models.Invitation).where(
                *_where_place(site_id, team_id), models.Invitation.accepted_at.is_(None),
                models.Invitation.revoked_at.is_(None), models.Invitation.expires_at > now
            ).order_by(models.Invitation.id)).all()
            return [self._info(s, r, now) for r in rows]

    def revoke(self, invite_id: int, now: datetime, *, site_id: int | None = None,
               team_id: int | None = None) -> None:
        """Revoke a pending invitation to the site or team; MetaError when there is none."""
        with self._sessions() as s:
            done = s.execute(update(models.Invitation).where(
                models.Invitation.id == invite_id, *_where_place(site_id, team_id),
                models.Invitation.accepted_at.is_(None),
                models.Invitation.revoked_at.is_(None)).values(revoked_at=now).execution_options(
                synchronize_session=False))
            s.commit()
        if not done.rowcount:  # type: ignore[attr-defined]
            raise MetaError("no pending invitation with that id")

    def check(self, invite_id: int, nonce: str, now: datetime) -> InvitationInfo:
        """The invitation the link names, when it may still be accepted; MetaError saying
        why not (unknown, used, revoked, expired)."""
        with self._sessions() as s:
            row = s.get(models.Invitation, invite_id)
            if row is None or row.nonce_hash != nonce_hash(nonce):
                raise MetaError("this invitation link is not valid")
            info = self._info(s, row, now)
        if info.status != "pending":
            raise MetaError({"accepted": "this invitation was already accepted",
                             "revoked": "this invitation was withdrawn",
                             "expired": "this invitation has expired"}[info.status])
        return info

    def accept(self, invite_id: int, nonce: str, user_id: int, now: datetime
               ) -> InvitationInfo:
        """Accept the invitation for ``user_id`` (whose e-mail must be the invited one) and
        apply its role, once; MetaError otherwise."""
        moved = False
        with self._sessions() as s:
            user = s.get(models.User, user_id)
            row = s.get(models.Invitation, invite_id)
            if user is None or row is None or row.nonce_hash != nonce_hash(nonce):
                raise MetaError("this invitation link is not valid")
            if user.email != row.email:
                raise MetaError(f"this invitation is for {row.email}: sign in as them")
            done = s.execute(update(models.Invitation).where(
                models.Invitation.id == invite_id, models.Invitation.accepted_at.is_(None),
                models.Invitation.revoked_at.is_(None), models.Invitation.expires_at > now
            ).values(accepted_at=now, accepted_by=user_id).execution_options(
                synchronize_session=False))
            if not done.rowcount:  # type: ignore[attr-defined]
                s.rollback()
                self.check(invite_id, nonce, now)  # raises saying why
                raise MetaError("this invitation can no longer be accepted")
            if row.team_id is not None:
                _grant_team(s, row.team_id, user_id, Role[row.role.upper()])
            elif row.role == "owner":
                assert row.site_id is not None
                _take_over(s, row.site_id, user, row.invited_by)
                moved = True
            else:
                assert row.site_id is not None
                _grant_guest(s, row.site_id, user_id, Role[row.role.upper()])
            s.commit()
            s.refresh(row)
            info = self._info(s, row, now)
        if moved:
            self._on_site_change()
        return info

    @staticmethod
    def _info(s: Session, row: models.Invitation, now: datetime) -> InvitationInfo:
        inviter = s.get(models.User, row.invited_by) if row.invited_by else None
        return InvitationInfo(row.id, row.email, row.role, row.site_id, row.team_id,
                              inviter.email if inviter else None, aware(row.created_at),
                              aware(row.expires_at), _status(row, now))


def _where_place(site_id: int | None, team_id: int | None) -> list[ColumnElement[bool]]:
    if site_id is not None:
        return [models.Invitation.site_id == site_id]
    return [models.Invitation.team_id == team_id]


def _grant_team(s: Session, team_id: int, user_id: int, role: Role) -> None:
    row = s.scalar(select(models.TeamMember).where(models.TeamMember.team_id == team_id,
                                                   models.TeamMember.user_id == user_id))
    if row is None:
        s.add(models.TeamMember(team_id=team_id, user_id=user_id, role=role.label))
    elif Role[row.role.upper()] < role:
        row.role = role.label


def _grant_guest(s: Session, site_id: int, user_id: int, role: Role) -> None:
    row = s.scalar(select(models.SiteMember).where(models.SiteMember.site_id == site_id,
                                                   models.SiteMember.user_id == user_id))
    if row is None:
        s.add(models.SiteMember(site_id=site_id, user_id=user_id, role=role.label))
    elif Role[row.role.upper()] < role:
        row.role = role.label


def _take_over(s: Session, site_id: int, user: models.User, inviter: int | None) -> None:
    """Move the site to a team ``user`` owns (a new one when they own none); the inviter
    stays on as a guest admin unless the new team already gives them as much."""
    site = s.get(models.Site, site_id)
    if site is None:
        raise MetaError("the site no longer exists")
    team_id = s.scalar(select(models.TeamMember.team_id).where(
        models.TeamMember.user_id == user.id, models.TeamMember.role == "owner"
    ).order_by(models.TeamMember.team_id).limit(1))
    if team_id is None:
        team = models.Team(name=f"{user.email}'s team"[:100])
        s.add(team)
        s.flush()
        s.add(models.TeamMember(team_id=team.id, user_id=user.id, role="owner"))
        team_id = team.id
    site.team_id = team_id
    if inviter is not None and inviter != user.id:
        held = s.scalar(select(models.TeamMember.role).where(
            models.TeamMember.team_id == team_id, models.TeamMember.user_id == inviter))
        if held is None or Role[held.upper()] < Role.ADMIN:
            _grant_guest(s, site_id, inviter, Role.ADMIN)
