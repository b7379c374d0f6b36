"""The dashboard's people pages and forms: a site's guests, its transfer, and teams.

A site's settings page lists who holds a role on it (its team's members, managed on the
team's page, and its guests, managed there); its admins change or remove guests, its owners
transfer it to another team. A team's page lists its members and sites; its admins change
roles and remove members (only an owner touches an owner). Instance administrators create
teams. Role checks: ``api/forms.py``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from liveinsight.api import session as auth
from liveinsight.api.dashboard import page, settings_page, to_login
from liveinsight.api.deps import services
from liveinsight.api.forms import instance_form, site_form, team_form, team_role
from liveinsight.api.notes import note_details
from liveinsight.errors import Forbidden, Invalid, NotFound
from liveinsight.meta.people import TeamInfo
from liveinsight.meta.repo import MetaError
from liveinsight.security.roles import GUEST_ROLES, ROLES, Role, parse_role

router = APIRouter(include_in_schema=False)


def _role(text: object, allowed: tuple[str, ...] = ROLES) -> Role:
    try:
        return parse_role(str(text or ""), allowed)
    except ValueError as exc:
        raise Invalid(str(exc), field="role") from None


# --- a site's guests and transfer ------------------------------------------------------------


@router.post("/sites/{site_id}/people/{user_id}/role")
async def change_guest(request: Request, site_id: int, user_id: int) -> Response:
    """A site admin changes a guest's role (admin, editor, viewer)."""
    _, site, _, form = await site_form(request, site_id, Role.ADMIN)
    wanted = _role(form.get("role"), GUEST_ROLES)
    people = services(request).people
    guests = {m.user_id for m in await run_in_threadpool(people.site_people, site.id)
              if m.via == "guest"}
    if user_id not in guests:
        raise NotFound("that person is not a guest of the site")
    before = next((m.role for m in await run_in_threadpool(people.site_people, site.id)
                   if m.user_id == user_id and m.via == "guest"), None)
    await run_in_threadpool(people.set_guest_role, site.id, user_id, wanted.label)
    note_details(request, user_id=user_id, role_before=before.label if before else "",
                 role_after=wanted.label)
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#people-title", status_code=303)


@router.post("/sites/{site_id}/people/{user_id}/remove")
async def remove_guest(request: Request, site_id: int, user_id: int) -> Response:
    """A site admin removes a guest (a team member leaves through the team's page)."""
    _, site, _, _ = await site_form(request, site_id, Role.ADMIN)
    try:
        await run_in_threadpool(services(request).people.remove_guest, site.id, user_id)
    except MetaError as exc:
        raise NotFound(str(exc)) from None
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#people-title", status_code=303)


@router.post("/sites/{site_id}/transfer")
async def transfer_site(request: Request, site_id: int) -> Response:
    """An owner moves the site to another team they own or administer (an instance
    administrator: to any team). The new team's members hold their roles on it at once;
    the old team's no longer do; guests stay."""
    viewer, site, role, form = await site_form(request, site_id, Role.OWNER)
    people = services(request).people
    raw = str(form.get("team", ""))
    if not (raw.isascii() and raw.isdigit()):
        raise Invalid("team: choose the team to transfer the site to", field="team")
    team_id = int(raw)
    if not viewer.is_admin:
        mine = await run_in_threadpool(people.team_role, viewer.user.id, team_id)
        if mine is None or mine < Role.ADMIN:
            return await settings_page(request, viewer, site, role, "team: you can transfer "
                                       "the site only to a team you own or administer", 400)
    try:
        await run_in_threadpool(people.move_site, site.id, team_id)
    except MetaError as exc:
        return await settings_page(request, viewer, site, role, f"team: {exc}", 400)
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1", status_code=303)


# --- teams -----------------------------------------------------------------------------------


@router.get("/teams/{team_id}")
async def team_page(request: Request, team_id: int, done: str = "") -> Response:
    viewer = await auth.current_viewer(request)
    if viewer is None:
        return to_login(request)
    try:
        team, role = await team_role(request, viewer, team_id)
    except NotFound:
        return page(request, "missing.html", {
            "viewer": viewer, "message": f"There is no team with id {team_id}."}, 404)
    return await team_page_for(request, viewer, team, role, done="Saved." if done else None)


async def team_page_for(request: Request, viewer: auth.Viewer, team: TeamInfo, role: Role,
                        error: str | None = None, status: int = 200, **extra: Any
                        ) -> Response:
    """The team's page as ``viewer`` sees it (``extra`` is added to the context)."""
    svc = services(request)
    members = await run_in_threadpool(svc.people.team_members, team.id)
    sites = [s for s in svc.sites.all() if s.team_id == team.id]
    pending = (await run_in_threadpool(lambda: svc.invitations.pending(
        svc.clock(), team_id=team.id)) if role >= Role.ADMIN else [])
    return page(request, "team.html", {
        "viewer": viewer, "team": team, "role": role, "Role": Role, "members": members,
        "sites": sites, "roles": ROLES, "invitations": pending, "error": error,
        "done": None, **extra}, status)


@router.post("/teams")
async def create_team(request: Request) -> Response:
    """An instance administrator creates a team; its owner is them or the user named."""
    viewer, form = await instance_form(request)
    svc = services(request)
    email = str(form.get("owner", "")).strip()[:320]
    owner = await run_in_threadpool(svc.meta.user_by_email, email) if email else viewer.user
    if owner is None:
        raise Invalid(f"owner: no user {email!r} (invite them to the team once it exists)",
                      field="owner")
    try:
        team = await run_in_threadpool(svc.people.create_team, str(form.get("name", ""))[:200],
                                       owner.id)
    except MetaError as exc:
        raise Invalid(str(exc), field="name") from None
    return RedirectResponse(f"/teams/{team.id}", status_code=303)


@router.post("/teams/{team_id}/members/{user_id}/role")
async def change_member(request: Request, team_id: int, user_id: int) -> Response:
    """A team admin changes a member's role; only an owner makes or unmakes an owner."""
    _, team, role, form = await team_form(request, team_id, Role.ADMIN)
    wanted = _role(form.get("role"))
    people = services(request).people
    current = await run_in_threadpool(people.team_role, user_id, team.id)
    if current is None:
        raise NotFound("that person is not a member of the team")
    if Role.OWNER in (wanted, current) and role < Role.OWNER:
        raise Forbidden("only an owner makes or unmakes an owner")
    note_details(request, user_id=user_id, role_before=current.label,
                 role_after=wanted.label)
    try:
        await run_in_threadpool(people.set_team_role, team.id, user_id, wanted.label)
    except MetaError as exc:
        raise Invalid(str(exc), field="role") from None
    return RedirectResponse(f"/teams/{team.id}?done=1", status_code=303)


@router.post("/teams/{team_id}/members/{user_id}/remove")
async def remove_member(request: Request, team_id: int, user_id: int) -> Response:
    """A team admin removes a member (an owner only by an owner); anyone may leave."""
    viewer = await _leave_or_admin(request, team_id, user_id)
    people = services(request).people
    try:
        await run_in_threadpool(people.remove_team_member, team_id, user_id)
    except MetaError as exc:
        raise Invalid(str(exc), field="user") from None
    if user_id == viewer.user.id and not viewer.is_admin:
        return RedirectResponse("/sites", status_code=303)
    return RedirectResponse(f"/teams/{team_id}?done=1", status_code=303)


async def _leave_or_admin(request: Request, team_id: int, user_id: int) -> auth.Viewer:
    viewer, team, role, _ = await team_form(request, team_id, Role.VIEWER)
    if user_id == viewer.user.id:
        return viewer
    if role < Role.ADMIN:
        raise Forbidden(f"this needs the admin role in the team (yours: {role.label})")
    current = await run_in_threadpool(services(request).people.team_role, user_id, team.id)
    if current is None:
        raise NotFound("that person is not a member of the team")
    if current == Role.OWNER and role < Role.OWNER:
        raise Forbidden("only an owner removes an owner")
    return viewer
