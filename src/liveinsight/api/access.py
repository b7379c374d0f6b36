"""Who may read a site's stats.

:func:`stats_access` is the one check every read endpoint (stats, realtime, v2 query)
makes. It accepts an API key with the ``stats`` scope (``Authorization: Bearer``) limited to
the key's sites, or the dashboard's session cookie of a logged-in user (who reads every
site), so every read API accepts both without the endpoints changing.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from liveinsight.api.deps import services
from liveinsight.api.session import current_viewer
from liveinsight.errors import Forbidden, Invalid, Unauthorized
from liveinsight.meta.repo import ApiKeyInfo, SiteInfo
from liveinsight.security import sessions
from liveinsight.services import Services


@dataclass(frozen=True, slots=True)
class Access:
    """A granted read: of which site, and by what credential."""

    site: SiteInfo
    via: Literal["api_key", "session"]
    key: ApiKeyInfo | None = None


def resolve_site(svc: Services, raw: object, field: str = "site_id") -> SiteInfo:
    """The site named by domain, numeric id or UUID; 400 naming ``field`` otherwise."""
    site = _lookup(svc, raw, field)
    if site is None:
        raise Invalid(f"no site {str(raw).strip()!r}", field=field)
    return site


def _lookup(svc: Services, raw: object, field: str) -> SiteInfo | None:
    if not isinstance(raw, str | int) or isinstance(raw, bool) or not str(raw).strip():
        raise Invalid("site_id is required (the site's domain or id)", field=field)
    text = str(raw).strip()
    return (svc.sites.by_id(int(text)) if text.isdigit() else None) or svc.sites.by_domain(
        text) or svc.sites.by_uuid(text)


async def stats_access(request: Request, raw_site: object, field: str = "site_id") -> Access:
    """Allow reading the site named by ``raw_site`` (domain, id or UUID; when absent, the one
    site the credential reads) or raise. The credential is checked before the site is looked
    up, so a caller without one cannot learn which sites exist: 401 without valid
    credentials, then 400 for an unknown site (403 for a key limited to some sites, as for
    another site), then 403 when the credential does not cover it."""
    svc = services(request)
    key = await _credential(request, svc)
    if raw_site is None or (isinstance(raw_site, str) and not raw_site.strip()):
        return _grant(_only_site(svc, key, field), key, field)
    if key is not None and key.site_ids is not None:
        site = _lookup(svc, raw_site, field)
        if site is None:  # an unknown site answers as another's site does
            raise _not_covered(field)
        return _grant(site, key, field)
    return _grant(resolve_site(svc, raw_site, field), key, field)


def _only_site(svc: Services, key: ApiKeyInfo | None, field: str) -> SiteInfo:
    """Without ``site_id``: the one site the caller can read, else 400 saying it is needed
    (with how many sites the credential covers, never which)."""
    sites = [s for s in svc.sites.all() if key is None or key.allows("stats", s.id)]
    if len(sites) == 1:
        return sites[0]
    raise Invalid(f"site_id is required: these credentials read {len(sites)} sites (give "
                  "the site's domain or id)", field=field)


async def _credential(request: Request, svc: Services) -> ApiKeyInfo | None:
    """The API key with the ``stats`` scope, or None for a logged-in dashboard user (who
    reads every site); 401/403 otherwise."""
    authorization = request.headers.get("authorization")
    if (authorization is None and request.cookies.get(sessions.COOKIE)
            and await current_viewer(request) is not None):
        return None
    if authorization is None:
        raise Unauthorized("send Authorization: Bearer <API key>", field="Authorization")
    key = await _verified_key(svc, authorization)
    if not key.allows("stats"):
        raise Forbidden("the API key lacks the 'stats' scope", field="Authorization")
    return key


async def _verified_key(svc: Services, authorization: str) -> ApiKeyInfo:
    """The API key in ``Authorization: Bearer``; 401 when malformed, unknown or revoked."""
    scheme, _, plaintext = authorization.partition(" ")
    plaintext = plaintext.strip()
    if scheme.lower() != "bearer" or not plaintext:
        raise Unauthorized("Authorization must be 'Bearer <API key>'", field="Authorization")
    cache = svc.keys
    hit, key = cache.cached(plaintext)
    if not hit:
        key = await run_in_threadpool(cache.verify, plaintext)
    if key is None:
        raise Unauthorized("the API key is not valid", field="Authorization")
    return key


async def admin_access(request: Request, raw_site: object, field: str = "site_id"
                       ) -> SiteInfo:
    """Allow changing the site named by ``raw_site`` through the API or raise: an API key
    with the ``admin`` scope covering it (401 without one, 403 for another scope, another
    site or an unknown one alike)."""
    svc = services(request)
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise Unauthorized("send Authorization: Bearer <API key with the admin scope>",
                           field="Authorization")
    key = await _verified_key(svc, authorization)
    if not key.allows("admin"):
        raise Forbidden("the API key lacks the 'admin' scope", field="Authorization")
    site = _lookup(svc, raw_site, field)
    if site is None or not key.allows("admin", site.id):
        raise _not_covered(field)
    return site


async def admin_key(request: Request) -> ApiKeyInfo:
    """An API key with the ``admin`` scope (for some site), or 401/403: the check a route
    makes before reading a body that names the site (then :func:`admin_access`)."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise Unauthorized("send Authorization: Bearer <API key with the admin scope>",
                           field="Authorization")
    key = await _verified_key(services(request), authorization)
    if not key.allows("admin"):
        raise Forbidden("the API key lacks the 'admin' scope", field="Authorization")
    return key


async def ops_access(request: Request) -> None:
    """Allow reading ``/metrics`` and ``/health/detailed`` (node id, error texts) or raise:
    the ``metrics_token`` setting as a Bearer token (for Prometheus), or what
    :func:`instance_admin` accepts. 401 without credentials, 403 with others."""
    svc = services(request)
    authorization = request.headers.get("authorization")
    token = svc.settings.metrics_token
    if authorization is not None and token:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode()):
            return
    await instance_admin(request)


async def instance_admin(request: Request) -> ApiKeyInfo | None:
    """Allow an instance-wide administrative call (every ``/admin/...`` route) or raise: a
    logged-in user with the admin role (None is returned), or an API key with the ``admin``
    scope for every site (the key is returned). 401 without credentials, 403 with others
    (a viewer, a key limited to some sites or without the scope)."""
    svc = services(request)
    authorization = request.headers.get("authorization")
    if authorization is None and request.cookies.get(sessions.COOKIE):
        viewer = await current_viewer(request)
        if viewer is not None:
            if not viewer.is_admin:
                raise Forbidden("this needs the admin role")
            return None
    if authorization is None:
        raise Unauthorized("send Authorization: Bearer <admin API key>", field="Authorization")
    key = await _verified_key(svc, authorization)
    if not key.allows("admin") or key.site_ids is not None:
        raise Forbidden("this needs an API key with the 'admin' scope for every site",
                        field="Authorization")
    return key


def _grant(site: SiteInfo, key: ApiKeyInfo | None, field: str) -> Access:
    if key is None:
        return Access(site, "session")
    if not key.allows("stats", site.id):
        raise _not_covered(field)
    return Access(site, "api_key", key)


def _not_covered(field: str) -> Forbidden:
    return Forbidden("the API key does not cover this site", field=field)
