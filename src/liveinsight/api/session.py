"""Dashboard sign-in: who is logged in, logging in and out, sessions kept server-side, roles,
and the login throttle.

Users are created with ``liveinsight create-user`` (argon2 hashes, checked by
``Metadata.authenticate``). A successful login opens a server-side session
(``meta/logins.py``) and sets the signed cookie naming it (:mod:`sessions`): HttpOnly,
SameSite=Lax, and Secure when the dashboard is reached over https. Every request checks the
session (not revoked, within its lifetime and idle limit), so logout, a password change and
``liveinsight end-sessions`` end sessions on every node at once. Roles: ``admin`` may change
sites and their settings, ``viewer`` reads every site. Failed logins are throttled per
account and per address (``security/throttle.py``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from liveinsight.api.deps import services
from liveinsight.api.notes import note_actor
from liveinsight.ingest.ua import parse_agent
from liveinsight.meta.logins import SessionInfo
from liveinsight.meta.repo import UserInfo
from liveinsight.security import sessions
from liveinsight.security.client_ip import ClientIpResolver
from liveinsight.security.throttle import Verdict
from liveinsight.services import Services

log = logging.getLogger("liveinsight.auth")

LOGIN_CSRF_COOKIE = "li_login_csrf"
_BACKGROUND: set[asyncio.Task[bool]] = set()  # mails in flight (a task needs a reference)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in user of a request, their session and the CSRF token their forms carry."""

    user: UserInfo
    session: sessions.SessionData
    csrf: str
    record: SessionInfo

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


def _resolver(request: Request) -> ClientIpResolver:
    return services(request).ips


def client_ip(request: Request) -> str:
    """The client's address, believing forwarding headers from ``trusted_proxies`` only
    (behind a reverse proxy every login would otherwise share the proxy's address)."""
    return _resolver(request).resolve(request.client.host if request.client else None,
                                      request.headers.raw)


def is_https(request: Request) -> bool:
    """Whether the browser reached us over https: the ``public_url`` setting when set, else
    the scheme a trusted proxy reports (``X-Forwarded-Proto``, ``Forwarded: proto=``), else
    the connection's own."""
    public = services(request).settings.public_url
    if public:
        return public.startswith("https://")
    peer = request.client.host if request.client else None
    return _resolver(request).scheme(peer, request.headers.raw, request.url.scheme) == "https"


def _lifetime(svc: Services) -> timedelta:
    return timedelta(days=svc.settings.session_lifetime_days)


def _idle(svc: Services) -> timedelta:
    return timedelta(minutes=svc.settings.session_idle_minutes)


async def current_viewer(request: Request) -> Viewer | None:
    """The logged-in user, or None (no cookie, bad signature, session ended, revoked, idle
    too long or past its lifetime, user deleted)."""
    svc = services(request)
    now = svc.clock()
    data = sessions.decode(svc.secret, request.cookies.get(sessions.COOKIE), now.timestamp(),
                           int(_lifetime(svc).total_seconds()))
    if data is None:
        return None
    found = await run_in_threadpool(svc.logins.session_user, data.nonce, now, _idle(svc))
    if found is None or found[1].id != data.user_id:
        return None
    record, user = found
    note_actor(request, f"user:{user.id} {user.email}")
    return Viewer(user, data, sessions.csrf_token(svc.secret, data), record)


async def authenticate(request: Request, email: str, password: str) -> UserInfo | None:
    return await run_in_threadpool(services(request).meta.authenticate, email, password)


def _client(request: Request) -> str:
    """What the sessions list shows of a sign-in's browser ("Firefox on Linux")."""
    agent = parse_agent(request.headers.get("user-agent", "")[:1000])
    browser, os_name = agent.browser or "A browser", agent.os or "an unknown system"
    return f"{browser} on {os_name}"


async def start_session(request: Request, response: Response, user: UserInfo) -> None:
    svc = services(request)
    now = svc.clock()
    data = sessions.new_session(user.id, now.timestamp())
    await run_in_threadpool(svc.logins.open_session, user.id, data.nonce, now, _lifetime(svc),
                            _client(request))
    response.set_cookie(sessions.COOKIE, sessions.encode(svc.secret, data),
                        max_age=int(_lifetime(svc).total_seconds()), httponly=True,
                        samesite="lax", secure=is_https(request), path="/")


async def end_session(request: Request, response: Response, viewer: Viewer | None) -> None:
    """Revoke the viewer's session server-side and drop the cookie."""
    if viewer is not None:
        svc = services(request)
        await run_in_threadpool(svc.logins.revoke, viewer.session.nonce, svc.clock())
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="lax",
                           secure=is_https(request))


# --- the login throttle ----------------------------------------------------------------------


async def login_allowed(request: Request, email: str) -> Verdict:
    svc = services(request)
    return await run_in_threadpool(svc.throttle.check, email, client_ip(request), svc.clock())


async def login_failed(request: Request, email: str) -> None:
    """Count the failure; when it locks an existing account, tell its owner (a notice at
    their next sign-in, and an e-mail when SMTP is set up)."""
    svc = services(request)
    now = svc.clock()
    locked = await run_in_threadpool(svc.throttle.failed, email, client_ip(request), now)
    if not locked:
        return
    user = await run_in_threadpool(svc.meta.user_by_email, email)
    if user is None:
        return
    until = now + svc.throttle.limits.window
    message = (f"Sign-in to your account was paused at {now:%Y-%m-%d %H:%M} UTC after "
               f"{svc.throttle.limits.account_attempts} failed attempts in "
               f"{svc.settings.login_window_minutes} minutes, until about {until:%H:%M} UTC. "
               "If that was not you, someone may be guessing your password: choose a strong "
               "one on your account page.")
    await run_in_threadpool(svc.logins.add_notice, user.id, "lockout", message, now)
    log.warning("login: an account was locked after %d failed attempts",
                svc.throttle.limits.account_attempts)
    if svc.mailer.enabled:
        task = asyncio.create_task(svc.mailer.send(user.email, "LiveInsight: sign-in paused "
                                                   "after failed attempts", message))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)


async def login_succeeded(request: Request, email: str) -> None:
    svc = services(request)
    await run_in_threadpool(svc.throttle.succeeded, email)


# --- CSRF ------------------------------------------------------------------------------------


def login_csrf_token(request: Request) -> str:
    """A double-submit token for the login form (there is no session yet to bind it to):
    the one in the browser's cookie, or a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf(request: Request, response: Response, token: str, path: str = "/login"
                   ) -> None:
    """The double-submit cookie of a form posted without a session (``path``: the form's,
    so the cookie goes nowhere else)."""
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax",
                        secure=is_https(request), path=path)


def check_login_csrf(request: Request, token: str | None) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(expected and token) and secrets.compare_digest(str(expected), str(token))


def check_csrf(request: Request, viewer: Viewer, token: str | None) -> bool:
    return sessions.check_csrf(services(request).secret, viewer.session, token)


def minutes(seconds: int) -> int:
    """Whole minutes to tell a person to wait (at least 1)."""
    return max(1, -(-seconds // 60))
