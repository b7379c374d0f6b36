"""Who may read a site's stats.

:func:`require_stats_access` is the one check every read endpoint (stats, realtime, v2 query)
makes. It accepts an API key with the ``stats`` scope (``Authorization: Bearer``) limited to
the key's sites, or the dashboard's session cookie of a logged-in user (who reads every
site), so every read API accepts both without the endpoints changing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from liveinsight.app import Services, services
from liveinsight.errors import ApiError
from liveinsight.meta.repo import ApiKeyInfo, SiteInfo
from liveinsight.security import sessions
from liveinsight.security.key_cache import ApiKeyCache

_KEYS = "stats_api_keys"
_BEARER = {"www-authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Access:
    """A granted read: of which site, and by what credential."""

    site: SiteInfo
    via: Literal["api_key", "session"]
    key: ApiKeyInfo | None = None


def resolve_site(svc: Services, raw: object, field: str = "site_id") -> SiteInfo:
    """The site named by domain, numeric id or UUID; 400 naming ``field`` otherwise."""
    if not isinstance(raw, str | int) or isinstance(raw, bool) or not str(raw).strip():
        raise ApiError(400, "invalid", "site_id is required (the site's domain or id)",
                       field=field)
    text = str(raw).strip()
    site = (svc.sites.by_id(int(text)) if text.isdigit() else None) or svc.sites.by_domain(
        text) or svc.sites.by_uuid(text)
    if site is None:
        raise ApiError(400, "invalid", f"no site {text!r}", field=field)
    return site


async def require_stats_access(request: Request, site: SiteInfo) -> Access:
    """Allow reading ``site``'s stats or raise: 401 without valid credentials, 403 when the
    credential does not cover this site or lacks the ``stats`` scope."""
    svc = services(request)
    authorization = request.headers.get("authorization")
    if authorization is None and request.cookies.get(sessions.COOKIE):
        # The dashboard's logged-in user (any role) reads every site.
        from liveinsight.security.auth import current_viewer

        if await current_viewer(request) is not None:
            return Access(site, "session")
    if authorization is None:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <API key>",
                       field="Authorization", headers=_BEARER)
    scheme, _, plaintext = authorization.partition(" ")
    plaintext = plaintext.strip()
    if scheme.lower() != "bearer" or not plaintext:
        raise ApiError(401, "unauthorized", "Authorization must be 'Bearer <API key>'",
                       field="Authorization", headers=_BEARER)
    cache = _cache(svc)
    hit, key = cache.cached(plaintext)
    if not hit:
        key = await run_in_threadpool(cache.verify, plaintext)
    if key is None:
        raise ApiError(401, "unauthorized", "the API key is not valid", field="Authorization",
                       headers=_BEARER)
    if not key.allows("stats"):
        raise ApiError(403, "forbidden", "the API key lacks the 'stats' scope",
                       field="Authorization")
    if not key.allows("stats", site.id):
        raise ApiError(403, "forbidden", "the API key does not cover this site",
                       field="site_id")
    return Access(site, "api_key", key)


def _cache(svc: Services) -> ApiKeyCache:
    cache = svc.extras.get(_KEYS)
    if cache is None:
        cache = ApiKeyCache(svc.meta.verify_api_key, svc.settings.api_key_cache_seconds)
        svc.extras[_KEYS] = cache
    assert isinstance(cache, ApiKeyCache)
    return cache
