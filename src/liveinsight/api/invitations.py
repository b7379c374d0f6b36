"""Invitations: sent from a site's settings page, a team's page or the API; accepted at
``/invitations/{token}`` by a new or an existing user.

The link's token is signed and expiring (``security/links.py``) and names an invitation kept
in the metadata database (``meta/invitations.py``), which is used once. When SMTP is set up
the link is e-mailed (``ops/mail.py``); else, or when the mail server refuses it, the page
(or the API's answer) shows it to the person inviting, to pass on.

Who may invite: a site's admins to a guest role, its owners to its ownership (a transfer);
a team's admins to a team role, its owners to the team's ownership; an API key with the
``admin`` scope covering the site, to any of these on the site.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from liveinsight.api import session as auth
from liveinsight.api.access import admin_access
from liveinsight.api.dashboard import page, settings_page
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.api.forms import site_form, team_form
from liveinsight.api.people import team_page_for
from liveinsight.errors import Forbidden, Invalid, NotFound
from liveinsight.meta.invitations import InvitationInfo
from liveinsight.meta.repo import MetaError, UserInfo
from liveinsight.security import links
from liveinsight.security.roles import Role

router = APIRouter()
PURPOSE = "invite"


async def invite(request: Request, email: str, role: str, inviter: UserInfo | None, *,
                 site_id: int | None = None, team_id: int | None = None
                 ) -> tuple[InvitationInfo, str, bool]:
    """Make the invitation and send its link: (the invitation, the link, whether it was
    e-mailed). MetaError naming what is wrong."""
    svc = services(request)
    now = svc.clock()
    info, nonce = await run_in_threadpool(lambda: svc.invitations.create(
        email, role, invited_by=inviter.id if inviter else None, now=now,
        ttl=timedelta(days=svc.settings.invitation_days), site_id=site_id, team_id=team_id))
    token = links.sign(svc.secret, links.LinkToken(PURPOSE, info.id, nonce,
                                                   int(info.expires_at.timestamp())))
    base = (svc.settings.public_url or str(request.base_url)).rstrip("/")
    link = f"{base}/invitations/{token}"
    emailed = False
    if svc.mailer.enabled:
        place = await _place(request, info)
        by = f"{inviter.email} invited you" if inviter else "You are invited"
        emailed = await svc.mailer.send(info.email, f"LiveInsight: invitation to {place}", (
            f"{by} to {place} on LiveInsight, as {info.role}.\n\nAccept the invitation "
            f"(the link works once, until {info.expires_at:%Y-%m-%d %H:%M} UTC):\n{link}\n\n"
            "If you did not expect this, ignore this message."))
    return info, link, emailed


async def _place(request: Request, info: InvitationInfo) -> str:
    svc = services(request)
    if info.site_id is not None:
        site = svc.sites.by_id(info.site_id)
        what = "the ownership of" if info.role == "owner" else "the site"
        return f"{what} {site.domain if site else 'a site'}"
    assert info.team_id is not None
    team = await run_in_threadpool(svc.people.team, info.team_id)
    return f"the team {team.name if team else ''}".rstrip()


def _sent(info: InvitationInfo, link: str, emailed: bool) -> dict[str, Any]:
    return {"invited": {"email": info.email, "role": info.role, "link": link,
                        "emailed": emailed, "expires_at": info.expires_at}}


# --- sending, from the dashboard ------------------------------------------------------------


@router.post("/sites/{site_id}/invitations", include_in_schema=False)
async def invite_to_site(request: Request, site_id: int) -> Response:
    viewer, site, role, form = await site_form(request, site_id, Role.ADMIN)
    wanted = str(form.get("role", "viewer"))[:20].strip().lower()
    if wanted == "owner" and role < Role.OWNER:
        raise Forbidden("only an owner transfers the site")
    try:
        info, link, emailed = await invite(request, str(form.get("email", ""))[:400], wanted,
                                           viewer.user, site_id=site.id)
    except MetaError as exc:
        return await settings_page(request, viewer, site, role, str(exc), 400)
    return await settings_page(request, viewer, site, role, None, 200,
                               **_sent(info, link, emailed))


@router.post("/sites/{site_id}/invitations/{invite_id}/revoke", include_in_schema=False)
async def revoke_site_invitation(request: Request, site_id: int, invite_id: int) -> Response:
    _, site, _, _ = await site_form(request, site_id, Role.ADMIN)
    svc = services(request)
    try:
        await run_in_threadpool(lambda: svc.invitations.revoke(invite_id, svc.clock(),
                                                               site_id=site.id))
    except MetaError as exc:
        raise NotFound(str(exc)) from None
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#people-title", status_code=303)


@router.post("/teams/{team_id}/invitations", include_in_schema=False)
async def invite_to_team(request: Request, team_id: int) -> Response:
    viewer, team, role, form = await team_form(request, team_id, Role.ADMIN)
    wanted = str(form.get("role", "viewer"))[:20].strip().lower()
    if wanted == "owner" and role < Role.OWNER:
        raise Forbidden("only an owner invites an owner")
    try:
        info, link, emailed = await invite(request, str(form.get("email", ""))[:400], wanted,
                                           viewer.user, team_id=team.id)
    except MetaError as exc:
        return await team_page_for(request, viewer, team, role, error=str(exc), status=400)
    return await team_page_for(request, viewer, team, role, **_sent(info, link, emailed))


@router.post("/teams/{team_id}/invitations/{invite_id}/revoke", include_in_schema=False)
async def revoke_team_invitation(request: Request, team_id: int, invite_id: int) -> Response:
    _, team, _, _ = await team_form(request, team_id, Role.ADMIN)
    svc = services(request)
    try:
        await run_in_threadpool(lambda: svc.invitations.revoke(invite_id, svc.clock(),
                                                               team_id=team.id))
    except MetaError as exc:
        raise NotFound(str(exc)) from None
    return RedirectResponse(f"/teams/{team.id}?done=1", status_code=303)


# --- accepting -------------------------------------------------------------------------------


@router.get("/invitations/{token}", include_in_schema=False)
async def invitation(request: Request, token: str) -> Response:
    """What the link's recipient sees: accept (signed in as the invited person), sign in
    first (they have an account), or choose a password (they have none)."""
    found = await _invitation(request, token)
    if isinstance(found, HTMLResponse):
        return found
    return await _invitation_page(request, token, found, None, 200)


async def _invitation(request: Request, token: str) -> InvitationInfo | HTMLResponse:
    svc = services(request)
    now = svc.clock()
    signed = links.verify(svc.secret, token, PURPOSE, now.timestamp())
    if signed is None:
        return _gone(request, "This invitation link is not valid, or it has expired.", 404)
    try:
        return await run_in_threadpool(svc.invitations.check, signed.record_id, signed.nonce,
                                       now)
    except MetaError as exc:
        return _gone(request, f"Sorry: {exc}.", 410)


def _gone(request: Request, message: str, status: int) -> HTMLResponse:
    return page(request, "invitation.html", {"viewer": None, "message": message}, status)


async def _invitation_page(request: Request, token: str, info: InvitationInfo,
                           error: str | None, status: int) -> Response:
    svc = services(request)
    viewer = await auth.current_viewer(request)
    if viewer is not None:
        mode = "accept" if viewer.user.email == info.email else "other"
    else:
        known = await run_in_threadpool(svc.meta.user_by_email, info.email)
        mode = "signin" if known else "signup"
    csrf = viewer.csrf if viewer else auth.login_csrf_token(request)
    response = page(request, "invitation.html", {
        "viewer": viewer, "info": info, "place": await _place(request, info), "mode": mode,
        "token": token, "csrf": csrf, "error": error, "message": None}, status)
    if viewer is None:
        auth.set_login_csrf(request, response, csrf, path="/invitations")
    return response


@router.post("/invitations/{token}", include_in_schema=False)
async def accept(request: Request, token: str) -> Response:
    """Accept: signed in as the invited person (their session's CSRF token), or as a new
    user choosing a password (the form's double-submit token); then to the site or team."""
    found = await _invitation(request, token)
    if isinstance(found, HTMLResponse):
        return found
    info = found
    svc = services(request)
    form = await request.form()
    viewer = await auth.current_viewer(request)
    response: Response
    if viewer is not None:
        if not auth.check_csrf(request, viewer, str(form.get("csrf", ""))):
            raise Forbidden("invalid CSRF token", field="csrf")
        user = viewer.user
    else:
        if await run_in_threadpool(svc.meta.user_by_email, info.email) is not None:
            return await _invitation_page(request, token, info, "You have an account: sign "
                                          "in, then open the link again.", 400)
        if not auth.check_login_csrf(request, str(form.get("csrf", ""))):
            return await _invitation_page(request, token, info,
                                          "The form expired. Please try again.", 400)
        password = str(form.get("password", ""))[:1000]
        if password != str(form.get("confirm", ""))[:1000]:
            return await _invitation_page(request, token, info, "The two passwords differ.",
                                          400)
        try:
            user = await run_in_threadpool(svc.meta.create_user, info.email, password)
        except MetaError as exc:
            return await _invitation_page(request, token, info, str(exc), 400)
    signed = links.verify(svc.secret, token, PURPOSE, svc.clock().timestamp())
    assert signed is not None  # checked by _invitation
    try:
        await run_in_threadpool(svc.invitations.accept, signed.record_id, signed.nonce,
                                user.id, svc.clock())
    except MetaError as exc:
        return await _invitation_page(request, token, info, str(exc), 400)
    target = f"/sites/{info.site_id}" if info.site_id is not None else f"/teams/{info.team_id}"
    response = RedirectResponse(target, status_code=303)
    if viewer is None:
        await auth.start_session(request, response, user)
        response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/invitations")
    return response


# --- the API ---------------------------------------------------------------------------------


class NewInvitation(BaseModel):
    email: str = Field(description="Whom to invite.")
    role: str = Field("viewer", description="admin, editor or viewer (a guest), or owner: "
                      "the site's ownership (a transfer, once they accept).")


class InvitationOut(BaseModel):
    id: int
    email: str
    role: str
    invited_by: str | None = None
    created_at: str
    expires_at: str
    status: str


class SentInvitation(InvitationOut):
    url: str = Field(description="The link to accept it (works once).")
    emailed: bool = Field(description="Whether the link was e-mailed (SMTP set up).")


def _shown(info: InvitationInfo) -> dict[str, Any]:
    doc = asdict(info)
    for name in ("site_id", "team_id"):
        doc.pop(name)
    return {**doc, "created_at": info.created_at.isoformat(),
            "expires_at": info.expires_at.isoformat()}


@router.post("/api/v1/sites/{site_id}/invitations", summary="Invite someone to a site",
             status_code=201, response_model=SentInvitation, tags=["management"],
             responses=error_responses(400, 401, 403, 413))
async def api_invite(request: Request, site_id: str, body: NewInvitation) -> dict[str, Any]:
    site = await admin_access(request, site_id)
    try:
        info, link, emailed = await invite(request, body.email[:400], body.role[:20], None,
                                           site_id=site.id)
    except MetaError as exc:
        field = "email" if str(exc).startswith("email") else "role"
        raise Invalid(str(exc), field=field) from None
    return {**_shown(info), "url": link, "emailed": emailed}


@router.get("/api/v1/sites/{site_id}/invitations", summary="A site's pending invitations",
            response_model=list[InvitationOut], tags=["management"],
            responses=error_responses(400, 401, 403))
async def api_pending(request: Request, site_id: str) -> list[dict[str, Any]]:
    site = await admin_access(request, site_id)
    svc = services(request)
    return [_shown(i) for i in await run_in_threadpool(
        lambda: svc.invitations.pending(svc.clock(), site_id=site.id))]


@router.delete("/api/v1/sites/{site_id}/invitations/{invite_id}",
               summary="Withdraw an invitation", status_code=204, tags=["management"],
               responses=error_responses(400, 401, 403, 404))
async def api_revoke(request: Request, site_id: str, invite_id: int) -> Response:
    site = await admin_access(request, site_id)
    svc = services(request)
    try:
        await run_in_threadpool(lambda: svc.invitations.revoke(invite_id, svc.clock(),
                                                               site_id=site.id))
    except MetaError as exc:
        raise NotFound(str(exc)) from None
    return Response(status_code=204)
