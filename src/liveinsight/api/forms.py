"""The dashboard's state-changing forms: who is posting, with the right CSRF token and role.

Every form handler starts with one of these: :func:`member_form` (any logged-in user, for
their own account), :func:`instance_form` (the instance administrator: users, API keys,
teams) or :func:`site_form` (a role on the site the form changes: ``editor`` for goals,
segments and funnels, ``admin`` for settings, sharing, people and resetting the stats,
``owner`` for delete and transfer); :func:`team_form` (a role in a team). 401 without a
session, 403 for a wrong CSRF token or a role too low, 404 for a site or team the user
holds no role in (as for one that does not exist).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from liveinsight.api import session as auth
from liveinsight.api.access import require_role
from liveinsight.api.deps import services
from liveinsight.api.session import Viewer
from liveinsight.errors import Forbidden, NotFound, Unauthorized
from liveinsight.meta.people import TeamInfo
from liveinsight.meta.repo import SiteInfo
from liveinsight.security.roles import Role


async def member_form(request: Request) -> tuple[Viewer, Any]:
    """The logged-in viewer and their form, whose CSRF token must be right (401, 403)."""
    viewer = await auth.current_viewer(request)
    if viewer is None:
        raise Unauthorized("log in first")
    form = await request.form()
    if not auth.check_csrf(request, viewer, str(form.get("csrf", ""))):
        raise Forbidden("invalid CSRF token", field="csrf")
    return viewer, form


async def instance_form(request: Request) -> tuple[Viewer, Any]:
    """As :func:`member_form`, for the instance administrator only."""
    viewer, form = await member_form(request)
    if not viewer.is_admin:
        raise Forbidden("this needs the instance administrator (admin) role")
    return viewer, form


async def site_form(request: Request, site_id: int, needs: Role
                    ) -> tuple[Viewer, SiteInfo, Role, Any]:
    """As :func:`member_form`, for someone holding at least ``needs`` on the site: the
    viewer, the site, their role on it and the form."""
    viewer, form = await member_form(request)
    site, role = await require_role(request, viewer, site_id, needs)
    return viewer, site, role, form


async def team_role(request: Request, viewer: Viewer, team_id: int) -> tuple[TeamInfo, Role]:
    """The team and the viewer's role in it (an instance administrator: owner of every
    team); 404 when there is no such team or they are not in it (alike)."""
    people = services(request).people
    team = await run_in_threadpool(people.team, team_id)
    role = (Role.OWNER if viewer.is_admin else
            await run_in_threadpool(people.team_role, viewer.user.id, team_id))
    if team is None or role is None:
        raise NotFound(f"no team with id {team_id}")
    return team, role


async def team_form(request: Request, team_id: int, needs: Role
                    ) -> tuple[Viewer, TeamInfo, Role, Any]:
    """As :func:`site_form`, for a role in a team."""
    viewer, form = await member_form(request)
    team, role = await team_role(request, viewer, team_id)
    if role < needs:
        raise Forbidden(f"this needs the {needs.label} role in the team (yours: {role.label})")
    return viewer, team, role, form
