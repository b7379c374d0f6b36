"""Dashboard sign-in: who is logged in, logging in and out, roles, and a login rate limit.

Users are created with ``liveinsight create-user`` (argon2 hashes, checked by
``Metadata.authenticate``). A successful login sets the signed session cookie from
:mod:`liveinsight.security.sessions`: HttpOnly, SameSite=Lax, and Secure when the dashboard
is reached over https. Roles: ``admin`` may change sites and their settings, ``viewer``
reads every site.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from liveinsight.app import Services, services
from liveinsight.meta.repo import UserInfo
from liveinsight.security import sessions
from liveinsight.security.client_ip import ClientIpResolver

LOGIN_CSRF_COOKIE = "li_login_csrf"
_LIMITER = "login_limiter"
_RESOLVER = "login_client_ip"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in user of a request and the CSRF token their forms carry."""

    user: UserInfo
    session: sessions.SessionData
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


class LoginLimiter:
    """At most ``attempts`` failed logins per client IP in any ``window_s`` seconds (kept in
    this process; a restart forgets). Thread-safe."""

    def __init__(self, attempts: int = 10, window_s: float = 600.0) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, ip: str, now: float) -> deque[float]:
        times = self._failures.setdefault(ip, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def retry_after(self, ip: str, now: float) -> int:
        """Seconds until ``ip`` may try again (0: it may now)."""
        with self._lock:
            times = self._recent(ip, now)
            if len(times) < self.attempts:
                return 0
            return max(1, int(self.window_s - (now - times[0])) + 1)

    def failed(self, ip: str, now: float) -> None:
        with self._lock:
            self._recent(ip, now).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of addresses
                self._failures.clear()

    def succeeded(self, ip: str) -> None:
        with self._lock:
            self._failures.pop(ip, None)


def limiter(svc: Services) -> LoginLimiter:
    found = svc.extras.get(_LIMITER)
    if not isinstance(found, LoginLimiter):
        found = svc.extras[_LIMITER] = LoginLimiter()
    return found


def client_ip(request: Request) -> str:
    """The client's address, believing forwarding headers from ``trusted_proxies`` only
    (behind a reverse proxy every login would otherwise share the proxy's address)."""
    svc = services(request)
    resolver = svc.extras.get(_RESOLVER)
    if not isinstance(resolver, ClientIpResolver):
        resolver = svc.extras[_RESOLVER] = ClientIpResolver(svc.settings.trusted_proxies)
    return resolver.resolve(request.client.host if request.client else None,
                            request.headers.raw)


def is_https(request: Request) -> bool:
    public = services(request).settings.public_url
    if public:
        return public.startswith("https://")
    return request.url.scheme == "https"


async def current_viewer(request: Request) -> Viewer | None:
    """The logged-in user, or None (no cookie, bad signature, expired, user deleted)."""
    svc = services(request)
    data = sessions.decode(svc.secret, request.cookies.get(sessions.COOKIE), time.time())
    if data is None:
        return None
    user = await run_in_threadpool(svc.meta.user, data.user_id)
    if user is None:
        return None
    return Viewer(user, data, sessions.csrf_token(svc.secret, data))


async def authenticate(request: Request, email: str, password: str) -> UserInfo | None:
    return await run_in_threadpool(services(request).meta.authenticate, email, password)


def start_session(request: Request, response: Response, user: UserInfo) -> None:
    data = sessions.new_session(user.id, time.time())
    response.set_cookie(sessions.COOKIE, sessions.encode(services(request).secret, data),
                        max_age=sessions.MAX_AGE_S, httponly=True, samesite="lax",
                        secure=is_https(request), path="/")


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="lax",
                           secure=is_https(request))


def login_csrf_token(request: Request) -> str:
    """A double-submit token for the login form (there is no session yet to bind it to):
    the one in the browser's cookie, or a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax",
                        secure=is_https(request), path="/login")


def check_login_csrf(request: Request, token: str | None) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(expected and token) and secrets.compare_digest(str(expected), str(token))


def check_csrf(request: Request, viewer: Viewer, token: str | None) -> bool:
    return sessions.check_csrf(services(request).secret, viewer.session, token)
