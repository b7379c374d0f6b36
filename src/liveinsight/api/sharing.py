"""Shared links: a site's dashboard, read-only, opened without signing in.

``GET /share/{token}`` shows the dashboard of the link's site (no settings, no management
links), or the password form of a link that has one; ``GET /share/{token}/realtime`` its
realtime page (the last 30 minutes and the live events), with the same checks;
``POST /share/{token}`` checks the password. Wrong passwords count against the login
throttle (``security/throttle.py``: per link, as per account, and per client address, shared
with sign-ins), so a link's password cannot be guessed faster than an account's.
``?embed=true`` answers either page without its chrome, for an iframe, with
``frame-ancestors`` the link's allowed origins (none: it cannot be framed).

The page's scripts read the stats APIs with ``auth=``: the token itself for a link
without a password, else a signed grant naming the link (``api/access.py``), handed out
once the password was right (and kept in a cookie scoped to the link's path, so a reload
and its realtime page do not ask again; inside an iframe, where that cookie may never come
back, the pages pass the grant on as ``?auth=`` from one to the other). Only the stats
read APIs accept it, for the link's site only.

Admins of the site (the ``admin`` role) make and revoke links on its settings page:
``POST /sites/{id}/shared-links`` and ``.../{link_id}/revoke``.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from liveinsight.api import session as auth
from liveinsight.api.access import SHARE_GRANT_SECONDS, share_grant
from liveinsight.api.dashboard import dashboard_page, page, settings_page
from liveinsight.api.deps import services
from liveinsight.api.forms import site_form
from liveinsight.api.notes import note_details, record_event
from liveinsight.errors import Conflict, Invalid, NotFound
from liveinsight.meta.shares import SharedLinkInfo
from liveinsight.security import links
from liveinsight.security.headers import embed_csp
from liveinsight.security.roles import Role

router = APIRouter(include_in_schema=False)
COOKIE = "li_share"  # the grant of a password-protected link, on its path only


def share_url(request: Request, token: str) -> str:
    base = (services(request).settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/share/{token}"


def _embed(request: Request) -> bool:
    return request.query_params.get("embed") == "true"


def _frame_headers(link: SharedLinkInfo, embed: bool) -> dict[str, str]:
    return {"content-security-policy": embed_csp(link.allowed_origins)} if embed else {}


async def _link(request: Request, token: str) -> SharedLinkInfo | None:
    return await run_in_threadpool(services(request).shares.by_token, token)


def _gone(request: Request) -> HTMLResponse:
    return page(request, "missing.html", {
        "viewer": None, "message": "This shared link does not exist or was revoked."}, 404)


def _granted(request: Request, link: SharedLinkInfo) -> bool:
    """The link's password was given: its grant in the cookie, or in ``?auth=`` (how an
    embedded page hands it on to the link's other page, as its scripts send it anyway)."""
    svc = services(request)
    now = svc.clock().timestamp()
    for value in (request.cookies.get(COOKIE), request.query_params.get("auth")):
        grant = links.verify(svc.secret, value, "share", now) if value else None
        if grant is not None and grant.record_id == link.id:
            return True
    return False


def _page_urls(token: str, auth_param: str, protected: bool, embed: bool
               ) -> tuple[str, str]:
    """The link's dashboard and realtime URLs, as its pages link to each other: embedded,
    they stay embedded and a protected link's grant goes along."""
    query = []
    if embed:
        query.append("embed=true")
        if protected:
            query.append(f"auth={quote(auth_param, safe='')}")
    tail = "?" + "&".join(query) if query else ""
    base = f"/share/{quote(token, safe='')}"
    return base + tail, base + "/realtime" + tail


async def _dashboard(request: Request, token: str, link: SharedLinkInfo, embed: bool
                     ) -> Response:
    svc = services(request)
    site = svc.sites.by_id(link.site_id)
    if site is None:
        return _gone(request)
    auth_param = share_grant(svc, link) if link.protected else token
    return await dashboard_page(
        request, None, site, None, read_only=True, embed=embed, auth_param=auth_param,
        realtime_url=_page_urls(token, auth_param, link.protected, embed)[1],
        headers=_frame_headers(link, embed))


def _password_page(request: Request, link: SharedLinkInfo, embed: bool, error: str | None,
                   status: int) -> Response:
    response = page(request, "share_password.html", {
        "viewer": None, "label": link.label, "embed": embed, "error": error}, status)
    response.headers.update(_frame_headers(link, embed))
    return response


@router.get("/share/{token}")
async def shared_dashboard(request: Request, token: str) -> Response:
    link = await _link(request, token)
    if link is None:
        return _gone(request)
    embed = _embed(request)
    if link.protected and not _granted(request, link):
        return _password_page(request, link, embed, None, 200)
    return await _dashboard(request, token, link, embed)


@router.get("/share/{token}/realtime")
async def shared_realtime(request: Request, token: str) -> Response:
    """The link's realtime page, read-only; a protected link asks for its password first
    (answered at ``/share/{token}``, whose grant cookie covers this path too)."""
    link = await _link(request, token)
    if link is None:
        return _gone(request)
    embed = _embed(request)
    if link.protected and not _granted(request, link):
        return _password_page(request, link, embed, None, 200)
    svc = services(request)
    site = await run_in_threadpool(svc.sites.by_id, link.site_id)
    if site is None:
        return _gone(request)
    auth_param = share_grant(svc, link) if link.protected else token
    dashboard_url, _ = _page_urls(token, auth_param, link.protected, embed)
    response = page(request, "realtime.html", {
        "viewer": None, "site": site, "role": None, "read_only": True, "embed": embed,
        "auth_param": auth_param, "dashboard_url": dashboard_url})
    response.headers.update(_frame_headers(link, embed))
    return response


@router.post("/share/{token}")
async def shared_password(request: Request, token: str) -> Response:
    """A protected link's password. No CSRF token: the form is posted from inside other
    sites' iframes, where cookies may not be sent; a forged post could only let its victim
    read the dashboard the attacker could read already."""
    link = await _link(request, token)
    if link is None:
        return _gone(request)
    form = await request.form()
    embed = str(form.get("embed", "")) == "true"
    svc = services(request)
    account = f"shared-link:{link.id}"
    verdict = await auth.login_allowed(request, account)
    if verdict.retry_after:
        record_event(request, "share.locked", "refused", target=account,
                     site_id=link.site_id, retry_after=verdict.retry_after)
        refused = _password_page(request, link, embed, "Too many attempts. Try again in "
                                 f"{auth.minutes(verdict.retry_after)} minute(s).", 429)
        refused.headers["retry-after"] = str(verdict.retry_after)
        return refused
    password = str(form.get("password", ""))[:1000]
    if not await run_in_threadpool(svc.shares.check_password, link.id, password):
        await run_in_threadpool(svc.throttle.failed, account, auth.client_ip(request),
                                svc.clock())
        record_event(request, "share.password_failed", "failed", target=account,
                     site_id=link.site_id)
        return _password_page(request, link, embed, "Wrong password.", 401)
    await auth.login_succeeded(request, account)
    if embed:  # inside another site's iframe the cookie may never come back: answer now
        return await _dashboard(request, token, link, embed)
    response = RedirectResponse(f"/share/{token}", status_code=303)
    response.set_cookie(COOKIE, share_grant(svc, link), max_age=SHARE_GRANT_SECONDS,
                        httponly=True, samesite="lax", secure=auth.is_https(request),
                        path=f"/share/{token}")
    return response


# --- the site's settings: make and revoke links ----------------------------------------------


@router.post("/sites/{site_id}/shared-links")
async def create_link(request: Request, site_id: int) -> Response:
    viewer, site, role, form = await site_form(request, site_id, Role.ADMIN)
    svc = services(request)
    try:
        token, link = await run_in_threadpool(
            lambda: svc.shares.create(site.id, str(form.get("label", ""))[:200],
                                      str(form.get("password", ""))[:1000] or None,
                                      str(form.get("allowed_origins", ""))[:8000],
                                      viewer.user.id))
    except (Invalid, Conflict) as exc:
        return await settings_page(request, viewer, site, role, exc.message, 400)
    note_details(request, link_id=link.id, protected=link.protected)
    return await settings_page(request, viewer, site, role, None, 201,
                               new_share_url=share_url(request, token))


@router.post("/sites/{site_id}/shared-links/{link_id}/revoke")
async def revoke_link(request: Request, site_id: int, link_id: int) -> Response:
    _, site, _, _ = await site_form(request, site_id, Role.ADMIN)
    try:
        await run_in_threadpool(services(request).shares.revoke, site.id, link_id)
    except NotFound:
        raise NotFound(f"no shared link {link_id} on this site") from None
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#sharing-title",
                            status_code=303)
