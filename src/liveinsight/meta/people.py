"""Teams, their members and sites' guests: every read and write of who holds which role.

A team owns sites; each of its members holds their team role (owner, admin, editor,
viewer) on every site of the team. A guest holds a role (admin, editor, viewer) on one site.
A person's role on a site is the higher of the two (``security/roles.py``). A team always
keeps at least one owner. Thread-safe; every method is one short transaction, and raises
:class:`MetaError` naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from liveinsight.meta import models
from liveinsight.meta.db import session_factory
from liveinsight.meta.repo import MetaError
from liveinsight.security.roles import GUEST_ROLES, ROLES, Role, effective, parse_role

MAX_TEAM_NAME = 100


@dataclass(frozen=True, slots=True)
class TeamInfo:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Member:
    """Someone holding a role on a team's sites (``via="team"``) or on one site (``"guest"``)."""

    user_id: int
    email: str
    role: Role
    via: Literal["team", "guest"]


def _role(text: str, allowed: tuple[str, ...] = ROLES) -> Role:
    try:
        return parse_role(text, allowed)
    except ValueError as exc:
        raise MetaError(str(exc)) from None


class People:
    """Reads and writes of teams, team members and site guests. ``on_site_change`` runs
    after a site moved to another team (the site directory reloads)."""

    def __init__(self, engine: Engine, on_site_change: Callable[[], None] = lambda: None
                 ) -> None:
        self._sessions = session_factory(engine)
        self._on_site_change = on_site_change

    # --- roles -----------------------------------------------------------------------------

    def site_roles(self, user_id: int) -> dict[int, Role]:
        """Every site the user holds a role on (through a team or as a guest) → that role."""
        with self._sessions() as s:
            team = s.execute(select(models.Site.id, models.TeamMember.role).join(
                models.TeamMember, models.TeamMember.team_id == models.Site.team_id).where(
                models.TeamMember.user_id == user_id)).all()
            guest = s.execute(select(models.SiteMember.site_id, models.SiteMember.role).where(
                models.SiteMember.user_id == user_id)).all()
        roles: dict[int, Role] = {}
        for site_id, name in [*team, *guest]:
            found = effective(roles.get(site_id), Role[name.upper()])
            assert found is not None
            roles[site_id] = found
        return roles

    def team_role(self, user_id: int, team_id: int) -> Role | None:
        with self._sessions() as s:
            name = s.scalar(select(models.TeamMember.role).where(
                models.TeamMember.team_id == team_id, models.TeamMember.user_id == user_id))
            return Role[name.upper()] if name else None

    # --- teams -----------------------------------------------------------------------------

    def create_team(self, name: str, owner_id: int | None = None) -> TeamInfo:
        """A new team; ``owner_id`` (a user) becomes its owner."""
        name = name.strip()
        if not 0 < len(name) <= MAX_TEAM_NAME:
            raise MetaError(f"a team's name is 1 to {MAX_TEAM_NAME} characters")
        with self._sessions() as s:
            team = models.Team(name=name)
            s.add(team)
            s.flush()
            if owner_id is not None:
                if s.get(models.User, owner_id) is None:
                    raise MetaError(f"no user with id {owner_id}")
                s.add(models.TeamMember(team_id=team.id, user_id=owner_id, role="owner"))
            s.commit()
            return TeamInfo(team.id, team.name)

    def team(self, team_id: int) -> TeamInfo | None:
        with self._sessions() as s:
            row = s.get(models.Team, team_id)
            return TeamInfo(row.id, row.name) if row else None

    def teams(self) -> list[TeamInfo]:
        with self._sessions() as s:
            rows = s.scalars(select(models.Team).order_by(models.Team.id)).all()
            return [TeamInfo(t.id, t.name) for t in rows]

    def teams_of(self, user_id: int) -> list[tuple[TeamInfo, Role]]:
        """The user's teams and their role in each, oldest team first."""
        with self._sessions() as s:
            rows = s.execute(select(models.Team, models.TeamMember.role).join(
                models.TeamMember, models.TeamMember.team_id == models.Team.id).where(
                models.TeamMember.user_id == user_id).order_by(models.Team.id)).all()
            return [(TeamInfo(t.id, t.name), Role[r.upper()]) for t, r in rows]

    def rename_team(self, team_id: int, name: str) -> TeamInfo:
        name = name.strip()
        if not 0 < len(name) <= MAX_TEAM_NAME:
            raise MetaError(f"a team's name is 1 to {MAX_TEAM_NAME} characters")
        with self._sessions() as s:
            team = s.get(models.Team, team_id)
            if team is None:
                raise MetaError(f"no team with id {team_id}")
            team.name = name
            s.commit()
            return TeamInfo(team.id, team.name)

    def team_members(self, team_id: int) -> list[Member]:
        with self._sessions() as s:
            rows = s.execute(select(models.TeamMember.user_id, models.User.email,
                                    models.TeamMember.role).join(
                models.User, models.User.id == models.TeamMember.user_id).where(
                models.TeamMember.team_id == team_id).order_by(models.User.email)).all()
            return [Member(u, e, Role[r.upper()], "team") for u, e, r in rows]

    def set_team_role(self, team_id: int, user_id: int, role: str) -> Member:
        """Make the user a member of the team with ``role``, or change their role; refused
        when it would leave the team without an owner."""
        wanted = _role(role)
        with self._sessions() as s:
            if s.get(models.Team, team_id) is None:
                raise MetaError(f"no team with id {team_id}")
            user = s.get(models.User, user_id)
            if user is None:
                raise MetaError(f"no user with id {user_id}")
            row = s.scalar(select(models.TeamMember).where(
                models.TeamMember.team_id == team_id, models.TeamMember.user_id == user_id))
            if row is None:
                row = models.TeamMember(team_id=team_id, user_id=user_id, role=wanted.label)
                s.add(row)
            else:
                if row.role == "owner" and wanted != Role.OWNER:
                    _keep_an_owner(s, team_id)
                row.role = wanted.label
            _commit(s)
            return Member(user.id, user.email, wanted, "team")

    def remove_team_member(self, team_id: int, user_id: int) -> None:
        with self._sessions() as s:
            row = s.scalar(select(models.TeamMember).where(
                models.TeamMember.team_id == team_id, models.TeamMember.user_id == user_id))
            if row is None:
                raise MetaError("that person is not a member of the team")
            if row.role == "owner":
                _keep_an_owner(s, team_id)
            s.delete(row)
            s.commit()

    # --- sites -----------------------------------------------------------------------------

    def site_people(self, site_id: int) -> list[Member]:
        """Who holds a role on the site: its team's members, then its guests."""
        with self._sessions() as s:
            site = s.get(models.Site, site_id)
            if site is None:
                raise MetaError(f"no site with id {site_id}")
            team_id = site.team_id
            guests = s.execute(select(models.SiteMember.user_id, models.User.email,
                                      models.SiteMember.role).join(
                models.User, models.User.id == models.SiteMember.user_id).where(
                models.SiteMember.site_id == site_id).order_by(models.User.email)).all()
        members = self.team_members(team_id) if team_id is not None else []
        return members + [Member(u, e, Role[r.upper()], "guest") for u, e, r in guests]

    def set_guest_role(self, site_id: int, user_id: int, role: str) -> Member:
        """Give the user ``role`` (admin, editor, viewer) on the site, or change it."""
        wanted = _role(role, GUEST_ROLES)
        with self._sessions() as s:
            if s.get(models.Site, site_id) is None:
                raise MetaError(f"no site with id {site_id}")
            user = s.get(models.User, user_id)
            if user is None:
                raise MetaError(f"no user with id {user_id}")
            row = s.scalar(select(models.SiteMember).where(
                models.SiteMember.site_id == site_id, models.SiteMember.user_id == user_id))
            if row is None:
                s.add(models.SiteMember(site_id=site_id, user_id=user_id, role=wanted.label))
            else:
                row.role = wanted.label
            _commit(s)
            return Member(user.id, user.email, wanted, "guest")

    def remove_guest(self, site_id: int, user_id: int) -> None:
        with self._sessions() as s:
            done = s.execute(delete(models.SiteMember).where(
                models.SiteMember.site_id == site_id, models.SiteMember.user_id == user_id))
            s.commit()
        if not done.rowcount:  # type: ignore[attr-defined]
            raise MetaError("that person is not a guest of the site")

    def move_site(self, site_id: int, team_id: int) -> None:
        """Transfer the site to another team: that team's members hold their roles on it,
        the old team's no longer do (its guests stay)."""
        with self._sessions() as s:
            site = s.get(models.Site, site_id)
            if site is None:
                raise MetaError(f"no site with id {site_id}")
            if s.get(models.Team, team_id) is None:
                raise MetaError(f"no team with id {team_id}")
            site.team_id = team_id
            s.commit()
        self._on_site_change()


def _keep_an_owner(s: Session, team_id: int) -> None:
    owners = s.scalar(select(func.count()).select_from(models.TeamMember).where(
        models.TeamMember.team_id == team_id, models.TeamMember.role == "owner"))
    if (owners or 0) <= 1:
        raise MetaError("a team keeps at least one owner: make someone else owner first")


def _commit(s: Session) -> None:
    try:
        s.commit()
    except IntegrityError as exc:  # a concurrent add of the same person
        raise MetaError("that person was just added by someone else; reload") from exc
