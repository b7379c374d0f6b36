"""The dashboard's pages: login, sites, a site's live dashboard and its settings.

Pages are server-rendered (Jinja2) and carry no data beyond the site's identity: the page's
own scripts load every number from the stats and realtime APIs, which accept the session
cookie set here. A user sees the sites they hold a role on (``security/roles.py``); another
site's pages answer 404 as a missing one does. Forms carry a CSRF token bound to the
session and check the role they need (``api/forms.py``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from liveinsight import __version__
from liveinsight.api import session as auth
from liveinsight.api.access import site_role, site_roles
from liveinsight.api.deps import services
from liveinsight.api.forms import instance_form, member_form, site_form
from liveinsight.api.notes import note_details, record_event
from liveinsight.api.session import Viewer
from liveinsight.dashboard import assets
from liveinsight.demo.catalog import SITES as DEMO_SITES
from liveinsight.errors import Forbidden, NotFound
from liveinsight.ingest.citydb import credit
from liveinsight.meta.people import TeamInfo
from liveinsight.meta.repo import SCOPES, MetaError, SiteInfo, UserInfo
from liveinsight.security import links
from liveinsight.security.roles import Role
from liveinsight.storage import StoreError

router = APIRouter(include_in_schema=False)
DEMO_DOMAINS = frozenset(s.domain for s in DEMO_SITES)

log = logging.getLogger("liveinsight.dashboard")

_HERE = Path(__file__).resolve().parent.parent / "dashboard"
templates = Jinja2Templates(directory=str(_HERE / "templates"))
templates.env.globals["version"] = __version__
templates.env.globals["static"] = assets.url

# The security headers (CSP, framing, nosniff, referrer...) are added to every answer by
# the front door (security/headers.py); a page is never cached.
_HEADERS = {"cache-control": "no-store"}
PENDING_2FA = "li_2fa"  # the first step of a sign-in passed: the user, signed, 5 minutes
_ZONES = sorted(z for z in available_timezones() if "/" in z or z == "UTC")


def page(request: Request, name: str, context: dict[str, Any], status: int = 200
          ) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(_HEADERS)
    return response


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/sites"


async def site_or_page(request: Request, viewer: Viewer, site_id: int
                       ) -> tuple[SiteInfo, Role] | HTMLResponse:
    """The site and the viewer's role on it, or the 404 page (a site they hold no role on
    answers as a missing one does)."""
    found = await site_role(request, viewer, site_id)
    if found is None:
        return page(request, "missing.html", {
            "viewer": viewer, "message": f"There is no site with id {site_id}."}, 404)
    return found


# --- login ---------------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    viewer = await auth.current_viewer(request)
    return RedirectResponse("/sites" if viewer else "/login", status_code=303)


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    if await auth.current_viewer(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, next, None, 200)


def _login_page(request: Request, next_url: str | None, error: str | None, status: int,
                email: str = "") -> Response:
    token = auth.login_csrf_token(request)
    response = page(request, "login.html", {"next": _safe_next(next_url), "error": error,
                                             "email": email, "csrf": token}, status)
    auth.set_login_csrf(request, response, token)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    email, password = str(form.get("email", ""))[:320], str(form.get("password", ""))[:1000]
    next_url = _safe_next(str(form.get("next", "")))
    verdict = await auth.login_allowed(request, email)
    if verdict.retry_after:
        record_event(request, "login.locked", "refused", target=email,
                     locked=verdict.locked or "", retry_after=verdict.retry_after)
        refused = _login_page(request, next_url, "Too many attempts. Try again in "
                              f"{auth.minutes(verdict.retry_after)} minute(s).", 429, email)
        refused.headers["retry-after"] = str(verdict.retry_after)
        return refused
    if not auth.check_login_csrf(request, str(form.get("csrf", ""))):
        return _login_page(request, next_url, "The form expired. Please try again.", 400, email)
    user = await auth.authenticate(request, email, password)
    if user is None:
        await auth.login_failed(request, email)
        record_event(request, "login.failed", "failed", target=email)
        return _login_page(request, next_url, "Wrong e-mail or password.", 401, email)
    svc = services(request)
    if await run_in_threadpool(svc.two_factor.enabled, user.id):
        # the password was right: the code is asked for before anything else happens
        record_event(request, "login.password_ok", "ok", actor=_actor(user), target=email)
        response = _code_page(request, next_url, None, 200)
        response.set_cookie(PENDING_2FA, links.sign(svc.secret, links.LinkToken(
            "2fa", user.id, links.new_nonce(), int(svc.clock().timestamp()) + 300)),
            max_age=300, httponly=True, samesite="strict", secure=auth.is_https(request),
            path="/login")
        return response
    return await _signed_in(request, user, email, next_url, "password")


def _actor(user: UserInfo) -> str:
    return f"user:{user.id} {user.email}"


def _code_page(request: Request, next_url: str, error: str | None, status: int) -> Response:
    return page(request, "login_code.html", {
        "next": next_url, "error": error, "csrf": auth.login_csrf_token(request)}, status)


async def _signed_in(request: Request, user: UserInfo, email: str, next_url: str,
                     factor: str) -> Response:
    """Both factors passed: the session starts."""
    await auth.login_succeeded(request, email)
    record_event(request, "login.ok", "ok", actor=_actor(user), target=email, factor=factor)
    svc = services(request)
    notices = await run_in_threadpool(svc.logins.take_notices, user.id, svc.clock())
    if notices:  # a lockout happened since the last sign-in: say so before going on
        response: Response = page(request, "notices.html", {
            "viewer": None, "notices": notices, "next": next_url})
    else:
        response = RedirectResponse(next_url, status_code=303)
    await auth.start_session(request, response, user)
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/login")
    response.delete_cookie(PENDING_2FA, path="/login")
    return response


@router.post("/login/code")
async def login_code(request: Request) -> Response:
    """The second step of a sign-in with two-factor sign-in on: a code from the app, or a
    recovery code. The first step's cookie (signed, 5 minutes) names the user; failures
    count against the account like wrong passwords."""
    form = await request.form()
    next_url = _safe_next(str(form.get("next", "")))
    svc = services(request)
    signed = links.verify(svc.secret, request.cookies.get(PENDING_2FA), "2fa",
                          svc.clock().timestamp())
    user = await run_in_threadpool(svc.meta.user, signed.record_id) if signed else None
    if user is None:
        return _login_page(request, next_url, "The sign-in took too long. Please start "
                           "again.", 400)
    verdict = await auth.login_allowed(request, user.email)
    if verdict.retry_after:
        record_event(request, "login.locked", "refused", target=user.email,
                     locked=verdict.locked or "", retry_after=verdict.retry_after)
        refused = _login_page(request, next_url, "Too many attempts. Try again in "
                              f"{auth.minutes(verdict.retry_after)} minute(s).", 429)
        refused.headers["retry-after"] = str(verdict.retry_after)
        return refused
    if not auth.check_login_csrf(request, str(form.get("csrf", ""))):
        return _code_page(request, next_url, "The form expired. Please try again.", 400)
    code = str(form.get("code", ""))[:40]
    factor = await run_in_threadpool(svc.two_factor.check, user.id, code, svc.clock())
    if factor is None:
        await auth.login_failed(request, user.email)
        record_event(request, "login.code_failed", "failed", actor=_actor(user),
                     target=user.email)
        return _code_page(request, next_url, "That code is not valid (or was used "
                          "already).", 401)
    return await _signed_in(request, user, user.email, next_url, factor)


@router.post("/logout")
async def logout(request: Request) -> Response:
    viewer = await auth.current_viewer(request)
    form = await request.form()
    if viewer is not None and not auth.check_csrf(request, viewer, str(form.get("csrf", ""))):
        raise Forbidden("invalid CSRF token", field="csrf")
    response = RedirectResponse("/login", status_code=303)
    await auth.end_session(request, response, viewer)
    return response


# --- account: password and sessions ------------------------------------------------------


@router.get("/account")
async def account(request: Request, done: str = "") -> Response:
    viewer = await auth.current_viewer(request)
    if viewer is None:
        return to_login(request)
    return await _account_page(request, viewer, None, 200, done)


async def _account_page(request: Request, viewer: Viewer, error: str | None, status: int,
                        done: str = "", new_key: str | None = None) -> Response:
    svc = services(request)
    now = svc.clock()
    live = await run_in_threadpool(svc.logins.live_sessions, viewer.user.id, now,
                                   timedelta(minutes=svc.settings.session_idle_minutes))
    users = await run_in_threadpool(svc.meta.users) if viewer.is_admin else []
    keys = await run_in_threadpool(svc.meta.api_keys) if viewer.is_admin else []
    teams = ([(t, Role.OWNER) for t in await run_in_threadpool(svc.people.teams)]
             if viewer.is_admin else
             await run_in_threadpool(svc.people.teams_of, viewer.user.id))
    messages = {"password": "Your password was changed and your other sessions ended.",
                "ended": "The session was ended.", "users": "That user's sessions were ended.",
                "revoked": "The API key was revoked: it stops working within a second.",
                "two-factor-off": "Two-factor sign-in is off."}
    two_factor = await run_in_threadpool(svc.two_factor.status, viewer.user.id)
    return page(request, "account.html", {
        "viewer": viewer, "sessions": live, "users": users, "error": error,
        "done": messages.get(done), "keys": keys, "sites": svc.sites.all(),
        "new_key": new_key, "scopes": SCOPES, "teams": teams, "two_factor": two_factor},
        status)


@router.post("/account/keys")
async def create_key(request: Request) -> Response:
    """An admin creates an API key; its secret is shown once, on the page answering."""
    viewer, form = await instance_form(request)
    svc = services(request)
    try:
        days = int(str(form.get("expires_days", "") or 0))
        if not 0 <= days <= 3650:
            raise ValueError("expiry is between 0 (never) and 3650 days")
        sites = [int(v) for v in form.getlist("site") if str(v).isascii() and str(v).isdigit()]
        scopes = [str(v) for v in form.getlist("scope")]
        if not scopes:
            raise ValueError("choose at least one scope")
        plaintext, key = await run_in_threadpool(lambda: svc.meta.create_api_key(
            str(form.get("name", "")).strip()[:255] or "unnamed", scopes, sites or None,
            viewer.user.id, svc.clock() + timedelta(days=days) if days else None))
    except (MetaError, ValueError) as exc:
        return await _account_page(request, viewer, str(exc), 400)
    note_details(request, key_id=key.id, name=key.name, scopes=",".join(key.scopes),
                 sites=",".join(map(str, key.site_ids)) if key.site_ids else "all")
    return await _account_page(request, viewer, None, 201, new_key=plaintext)


@router.post("/account/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: int) -> Response:
    await instance_form(request)
    svc = services(request)
    try:
        await run_in_threadpool(svc.meta.revoke_api_key, key_id)
    except MetaError as exc:
        raise NotFound(str(exc)) from None
    svc.keys.clear()  # this node at once; the others within api_key_cache_seconds
    return RedirectResponse("/account?done=revoked", status_code=303)


@router.post("/account/password")
async def change_password(request: Request) -> Response:
    viewer, form = await member_form(request)
    svc = services(request)
    current, new = str(form.get("current", ""))[:1000], str(form.get("new", ""))[:1000]
    if await auth.authenticate(request, viewer.user.email, current) is None:
        return await _account_page(request, viewer, "The current password is wrong.", 400)
    if new != str(form.get("confirm", "")):
        return await _account_page(request, viewer, "The two new passwords differ.", 400)
    try:
        await run_in_threadpool(svc.meta.set_password, viewer.user.email, new)
    except MetaError as exc:
        return await _account_page(request, viewer, str(exc), 400)
    await run_in_threadpool(svc.logins.revoke_all, viewer.user.id, svc.clock(),
                            viewer.session.nonce)
    return RedirectResponse("/account?done=password", status_code=303)


@router.post("/account/sessions/{session_id}/end")
async def end_one_session(request: Request, session_id: int) -> Response:
    viewer, _ = await member_form(request)
    svc = services(request)
    if not await run_in_threadpool(svc.logins.revoke_id, viewer.user.id, session_id,
                                   svc.clock()):
        raise NotFound("no such session of yours")
    if session_id == viewer.record.id:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/account?done=ended", status_code=303)


@router.post("/account/sessions/end-all")
async def end_all_sessions(request: Request) -> Response:
    """Log out everywhere, this browser included."""
    viewer, _ = await member_form(request)
    svc = services(request)
    await run_in_threadpool(svc.logins.revoke_all, viewer.user.id, svc.clock())
    response = RedirectResponse("/login", status_code=303)
    await auth.end_session(request, response, None)
    return response


@router.post("/users/{user_id}/end-sessions")
async def end_user_sessions(request: Request, user_id: int) -> Response:
    """An admin ends every session of a user (say, a lost laptop)."""
    await instance_form(request)
    svc = services(request)
    if await run_in_threadpool(svc.meta.user, user_id) is None:
        raise NotFound(f"no user with id {user_id}")
    await run_in_threadpool(svc.logins.revoke_all, user_id, svc.clock())
    return RedirectResponse("/account?done=users", status_code=303)


# --- sites ---------------------------------------------------------------------------------


@router.get("/sites")
async def sites(request: Request, deleted: str = "") -> Response:
    viewer = await auth.current_viewer(request)
    if viewer is None:
        return to_login(request)
    return await _sites_page(request, viewer, None, 200, deleted=deleted[:300])


async def _sites_page(request: Request, viewer: Viewer, error: str | None, status: int,
                      deleted: str = "") -> Response:
    """The sites the viewer holds a role on, and the add-site form when they may add one."""
    svc = services(request)
    roles = await site_roles(request, viewer)
    listed = [s for s in await run_in_threadpool(svc.meta.sites)
              if roles is None or s.id in roles]
    return page(request, "sites.html", {
        "viewer": viewer, "sites": listed, "zones": _ZONES, "error": error,
        "deleted": deleted,
        "roles": {s.id: Role.OWNER if roles is None else roles[s.id] for s in listed},
        "teams": await _site_teams(request, viewer)}, status)


async def _site_teams(request: Request, viewer: Viewer) -> list[TeamInfo]:
    """The teams the viewer may add sites to: those they own or administer (every team for
    an instance administrator)."""
    people = services(request).people
    if viewer.is_admin:
        return await run_in_threadpool(people.teams)
    mine = await run_in_threadpool(people.teams_of, viewer.user.id)
    return [team for team, role in mine if role >= Role.ADMIN]


@router.post("/sites")
async def add_site(request: Request) -> Response:
    """Add a site to one of the viewer's teams (an owner or admin of it; an instance
    administrator adds to any team, and without any team one is made for them)."""
    viewer, form = await member_form(request)
    svc = services(request)
    teams = await _site_teams(request, viewer)
    if not teams and not viewer.is_admin:
        raise Forbidden("adding a site needs the owner or admin role in a team")
    try:
        chosen = str(form.get("team", "") or (teams[0].id if teams else ""))
        if chosen and not any(str(t.id) == chosen for t in teams):
            raise ValueError("team: choose one of your teams")
        team_id = int(chosen) if chosen else (await run_in_threadpool(
            svc.people.create_team, "Default team", viewer.user.id)).id
        site = await run_in_threadpool(lambda: svc.meta.create_site(
            str(form.get("domain", "")), name=str(form.get("name", "")).strip(),
            timezone=_zone(str(form.get("timezone", "UTC"))), team_id=team_id))
    except (MetaError, ValueError) as exc:
        return await _sites_page(request, viewer, str(exc), 400)
    return RedirectResponse(f"/sites/{site.id}/settings?created=1", status_code=303)


async def _dashboard_reader(request: Request, site_id: int
                            ) -> tuple[Viewer | None, SiteInfo, Role | None] | Response:
    """Who may read the site's dashboard pages: the people holding a role on it (their
    role), and anyone when the site is marked public (no role: read-only); otherwise the
    sign-in or the 404 page."""
    viewer = await auth.current_viewer(request)
    found = await site_role(request, viewer, site_id) if viewer is not None else None
    if found is not None:
        return viewer, *found
    public = services(request).sites.by_id(site_id)
    if public is not None and public.public:
        return viewer, public, None
    if viewer is None:
        return to_login(request)
    return page(request, "missing.html", {
        "viewer": viewer, "message": f"There is no site with id {site_id}."}, 404)


@router.get("/sites/{site_id}")
async def dashboard(request: Request, site_id: int) -> Response:
    """A site's dashboard: for the people holding a role on it, and read-only for anyone
    when the site is marked public (signed in or not)."""
    found = await _dashboard_reader(request, site_id)
    if isinstance(found, Response):
        return found
    viewer, site, role = found
    return await dashboard_page(request, viewer, site, role, read_only=role is None)


@router.get("/sites/{site_id}/realtime")
async def realtime(request: Request, site_id: int) -> Response:
    """The site's realtime page (the last 30 minutes and the live events), readable as its
    dashboard is; its script reads ``/api/v2/query`` and ``/api/realtime/stream``."""
    found = await _dashboard_reader(request, site_id)
    if isinstance(found, Response):
        return found
    viewer, site, role = found
    return page(request, "realtime.html", {"viewer": viewer, "site": site, "role": role,
                                           "read_only": role is None, "embed": False,
                                           "auth_param": "",
                                           "dashboard_url": f"/sites/{site.id}"})


async def dashboard_page(request: Request, viewer: Viewer | None, site: SiteInfo,
                         role: Role | None, *, read_only: bool = False, embed: bool = False,
                         auth_param: str = "", realtime_url: str = "",
                         headers: dict[str, str] | None = None) -> HTMLResponse:
    """The dashboard of ``site``; ``read_only`` (a public site, a shared link): no links to
    settings or management; ``embed``: without the page's chrome, for an iframe;
    ``auth_param``: what its scripts send as ``auth`` (a shared link's); ``realtime_url``:
    where its Realtime choice leads (a shared link's own realtime page; the site's else)."""
    props = await run_in_threadpool(_prop_keys, request, site)
    segments = ([s.doc() for s in await run_in_threadpool(services(request).segments.of_site,
                                                           site.id)]
                if role is not None else [])  # the site's members' (not a link's, public)
    has_imports = bool(await run_in_threadpool(services(request).imports.imports.ranges,
                                               site.id))
    response = page(request, "site.html", {
        "viewer": viewer, "site": site, "role": role, "prop_keys": props,
        "has_imports": has_imports,
        "revenue_goals": _revenue_goals(request, site), "read_only": read_only,
        "embed": embed, "auth_param": auth_param, "segments": segments,
        "realtime_url": realtime_url or f"/sites/{site.id}/realtime",
        "edit_segments": role is not None and role >= Role.EDITOR, "geo": _geo(request, site)})
    response.headers.update(headers or {})
    return response


def _geo(request: Request, site: SiteInfo) -> dict[str, Any]:
    """What the Regions and Cities tabs say beside their rows: whether this server looks up
    cities (else a site without stored places gets a note, not an empty list), the credit
    the city database's licence asks for, and whether the site's places are the demo's."""
    cities = services(request).cities
    found = credit(str(cities.info()["type"])) if cities is not None else None
    return {"cities": cities is not None, "credit": list(found) if found else None,
            "demo": site.domain in DEMO_DOMAINS}


def _revenue_goals(request: Request, site: SiteInfo) -> dict[str, str]:
    """Revenue goal names → currencies: the dashboard shows revenue when there are any."""
    return {g.display_name: g.currency for g in services(request).sites.goals(site.id)
            if g.currency}


def _prop_keys(request: Request, site: SiteInfo) -> dict[str, list[str]]:
    """Custom event names → the property keys seen on them in the last 90 days, so the
    events card can offer a breakdown by each."""
    svc = services(request)
    try:
        rows = svc.store.query(
            f"SELECT name, arraySort(groupUniqArrayArray(50)(mapKeys(props))) FROM "
            f"`{svc.store.database}`.events WHERE site_id = {{site:UInt32}} AND name NOT IN "
            "('pageview', 'engagement') AND timestamp >= now() - INTERVAL 90 DAY GROUP BY name "
            "ORDER BY count() DESC LIMIT 100", {"site": site.id},
            timeout=svc.settings.query_timeout_seconds).rows
    except StoreError:
        log.warning("dashboard: could not list event properties of site %d", site.id,
                    exc_info=True)
        return {}  # the page still works; the properties view says there are none
    return {str(name): list(keys) for name, keys in rows if keys}


# --- site settings ---------------------------------------------------------------------------


@router.get("/sites/{site_id}/settings")
async def site_settings(request: Request, site_id: int, saved: int = 0, created: int = 0
                        ) -> Response:
    viewer = await auth.current_viewer(request)
    if viewer is None:
        return to_login(request)
    found = await site_or_page(request, viewer, site_id)
    if isinstance(found, HTMLResponse):
        return found
    return await settings_page(request, viewer, *found, None, 200, saved=bool(saved),
                               created=bool(created))


async def settings_page(request: Request, viewer: Viewer, site: SiteInfo, role: Role,
                        error: str | None, status: int, *, saved: bool = False,
                        created: bool = False, **extra: Any) -> Response:
    """The site's settings page: what the viewer's role may see and change (``extra`` is
    added to the template's context)."""
    from liveinsight.api.tracker import tracker_url

    svc = services(request)
    base = (svc.settings.public_url or str(request.base_url)).rstrip("/")
    people = (await run_in_threadpool(svc.people.site_people, site.id)
              if role >= Role.ADMIN else [])
    invitations = (await run_in_threadpool(lambda: svc.invitations.pending(
        svc.clock(), site_id=site.id)) if role >= Role.ADMIN else [])
    team = (await run_in_threadpool(svc.people.team, site.team_id)
            if site.team_id is not None else None)
    return page(request, "settings.html", {
        "viewer": viewer, "site": site, "role": role, "Role": Role, "zones": _ZONES,
        "error": error, "saved": saved, "created": created,
        "script_url": tracker_url(request), "base_url": base,
        "goals": svc.sites.goals(site.id), "people": people, "team": team,
        "funnels": await run_in_threadpool(svc.funnels.of_site, site.id),
        "shared_links": (await run_in_threadpool(svc.shares.of_site, site.id)
                         if role >= Role.ADMIN else []),
        "new_share_url": None,
        "invitations": invitations, "invited": None,
        "imports": (await run_in_threadpool(svc.imports.listed, site.id)
                    if role >= Role.ADMIN else []),
        "transfer_teams": (await _site_teams(request, viewer)
                           if role >= Role.OWNER else []), **extra,
    }, status)


@router.post("/sites/{site_id}/goals")
async def add_goal(request: Request, site_id: int) -> Response:
    viewer, site, role, form = await site_form(request, site_id, Role.EDITOR)
    target = str(form.get("target", ""))[:2100]
    on_page = form.get("kind") == "page"
    try:
        await run_in_threadpool(lambda: services(request).meta.create_goal(
            site.id, event_name=None if on_page else target,
            page_path=target if on_page else None,
            display_name=str(form.get("display_name", ""))[:300],
            currency=str(form.get("currency", ""))[:10]))
    except MetaError as exc:
        return await settings_page(request, viewer, site, role, str(exc), 400)
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#goals-title", status_code=303)


@router.post("/sites/{site_id}/goals/{goal_id}/delete")
async def delete_goal(request: Request, site_id: int, goal_id: int) -> Response:
    _, site, _, _ = await site_form(request, site_id, Role.EDITOR)
    try:
        await run_in_threadpool(services(request).meta.delete_goal, site.id, goal_id)
    except MetaError as exc:
        raise NotFound(str(exc)) from None
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1#goals-title", status_code=303)


@router.post("/sites/{site_id}/settings")
async def save_settings(request: Request, site_id: int) -> Response:
    viewer, site, role, form = await site_form(request, site_id, Role.ADMIN)
    aliases = [a.strip() for a in str(form.get("aliases", "")).replace(",", "\n").splitlines()
               if a.strip()]
    try:
        retention = int(str(form.get("retention_days", "0")) or 0)
        if not 0 <= retention <= 36500:
            raise ValueError("retention must be between 0 (keep) and 36500 days")
        fields = {
            "name": str(form.get("name", "")).strip() or site.domain,
            "domain": str(form.get("domain", site.domain)),
            "aliases": aliases,
            "timezone": _zone(str(form.get("timezone", site.timezone))),
            "retention_days": retention,
            "enabled": form.get("enabled") == "on",
            "require_signed_ingest": form.get("require_signed_ingest") == "on",
            "public": form.get("public") == "on",
            "currency": str(form.get("currency", site.currency))[:10],
            "salt_rotation": str(form.get("salt_rotation", site.salt_rotation))[:10],
            "blocked_ips": _lines(form.get("blocked_ips")),
            "blocked_paths": _lines(form.get("blocked_paths")),
            "blocked_hosts": _lines(form.get("blocked_hosts")),
        }
        await run_in_threadpool(lambda: services(request).meta.update_site(site.id, **fields))
    except (MetaError, ValueError) as exc:
        return await settings_page(request, viewer, site, role, str(exc), 400)
    return RedirectResponse(f"/sites/{site.id}/settings?saved=1", status_code=303)


def _lines(value: object) -> list[str]:
    """A textarea's non-blank lines (bounded: a form is at most max_api_body_bytes)."""
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America")
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


# --- static files ----------------------------------------------------------------------------


@router.get("/static/{path:path}")
async def static(path: str) -> Response:
    """A static file; a versioned name (``app.<digest>.css``) is immutable (see
    ``dashboard/assets.py``)."""
    found = assets.resolve(path)
    if found is None:
        raise NotFound("no such file")
    target, cache = found
    return FileResponse(target, headers={"cache-control": cache,
                                         "x-content-type-options": "nosniff"})
