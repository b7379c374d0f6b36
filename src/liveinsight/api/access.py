"""Who may read or change a site.

:func:`stats_access` is the one check every read endpoint (stats, realtime, v2 query)
makes. It accepts an API key with the ``stats`` scope (``Authorization: Bearer``) limited to
the key's sites, or the dashboard's session cookie of a logged-in user, who reads the sites
they hold a role on (any role; ``security/roles.py``; an instance administrator reads every
site), so every read API accepts both without the endpoints changing. A credential limited
to some sites gets the same answer for a site it does not cover as for one that does not
exist: it cannot learn which other sites there are.

:func:`admin_access` is the check of site-scoped API changes (an API key with the
``admin`` scope covering the site); :func:`site_role` and :func:`require_role` decide
the dashboard's site pages and forms by the viewer's role on the site.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from liveinsight.api.deps import services
from liveinsight.api.notes import note_actor, note_site
from liveinsight.api.session import Viewer, current_viewer
from liveinsight.errors import Forbidden, Invalid, NotFound, Unauthorized
from liveinsight.meta.repo import ApiKeyInfo, SiteInfo
from liveinsight.meta.shares import SharedLinkInfo
from liveinsight.ops.logging import note_site as log_site
from liveinsight.security import links, sessions
from liveinsight.security.roles import Role
from liveinsight.services import Services


@dataclass(frozen=True, slots=True)
class Access:
    """A granted read: of which site, and by what credential (for a session, the viewer
    and their role on the site)."""

    site: SiteInfo
    via: Literal["api_key", "session", "shared_link", "public"]
    key: ApiKeyInfo | None = None
    viewer: Viewer | None = None
    role: Role | None = None
    link: SharedLinkInfo | None = None

    @property
    def public(self) -> bool:
        """Read by anyone who has the URL, no password involved: a public site, or a shared
        link without a password (a CDN may keep such answers)."""
        return self.via == "public" or (self.via == "shared_link" and self.link is not None
                                        and not self.link.protected)


@dataclass(frozen=True, slots=True)
class _Reader:
    """Who asks to read: a key, or a session user with their roles (None: every site)."""

    key: ApiKeyInfo | None
    viewer: Viewer | None
    roles: dict[int, Role] | None

    @property
    def limited(self) -> bool:
        return self.roles is not None if self.key is None else self.key.site_ids is not None

    def reads(self, site_id: int) -> bool:
        if self.key is not None:
            return self.key.allows("stats", site_id)
        return self.roles is None or site_id in self.roles

    def grant(self, site: SiteInfo, field: str) -> Access:
        if not self.reads(site.id):
            raise _not_covered(field, self.key is None)
        if self.key is not None:
            return Access(site, "api_key", self.key)
        return Access(site, "session", None, self.viewer,
                      Role.OWNER if self.roles is None else self.roles[site.id])


def resolve_site(svc: Services, raw: object, field: str = "site_id") -> SiteInfo:
    """The site named by domain, numeric id or UUID; 400 naming ``field`` otherwise."""
    site = _lookup(svc, raw, field)
    if site is None:
        raise Invalid(f"no site {str(raw).strip()!r}", field=field)
    log_site(site.id)  # named on the request's log records
    return site


def _lookup(svc: Services, raw: object, field: str) -> SiteInfo | None:
    if not isinstance(raw, str | int) or isinstance(raw, bool) or not str(raw).strip():
        raise Invalid("site_id is required (the site's domain or id)", field=field)
    text = str(raw).strip()
    number = text.isascii() and text.isdigit()  # isdigit alone takes "²", which int() refuses
    return (svc.sites.by_id(int(text)) if number else None) or svc.sites.by_domain(
        text) or svc.sites.by_uuid(text)


async def stats_access(request: Request, raw_site: object, field: str = "site_id", *,
                       shared: bool = False) -> Access:
    """Allow reading the site named by ``raw_site`` (domain, id or UUID; when absent, the one
    site the credential reads) or raise. The credential is checked before the site is looked
    up, so a caller without one cannot learn which sites exist: 401 without valid
    credentials, then 400 for an unknown site (403 for a key limited to some sites, as for
    another site), then 403 when the credential does not cover it.

    ``shared``: a stats read, which a shared link (``?auth=``, without an ``Authorization``
    header; any session cookie is then ignored) reads for its own site (403 for any other,
    401 for a revoked or unknown link), and which anyone may make of a public site (named:
    without credentials, a site that is not public answers 401 as an unknown one does)."""
    svc = services(request)
    anonymous = request.headers.get("authorization") is None
    if shared and anonymous and request.query_params.get("auth") is not None:
        return await _shared_access(request, svc, str(request.query_params["auth"]),
                                    raw_site, field)
    try:
        reader = await _reader(request, svc)
    except Unauthorized:
        site = _public_site(svc, raw_site, field) if shared and anonymous else None
        if site is None:
            raise
        return _granted(request, Access(site, "public"))
    if raw_site is None or (isinstance(raw_site, str) and not raw_site.strip()):
        site = _only_site(svc, reader, field)
    elif reader.limited:
        found = _lookup(svc, raw_site, field)
        if found is None:  # an unknown site answers as another's site does
            raise _not_covered(field, reader.key is None)
        site = found
    else:
        site = resolve_site(svc, raw_site, field)
    if shared and site.public and not reader.reads(site.id):
        return _granted(request, Access(site, "public"))
    note_site(request, site.id)
    log_site(site.id)  # named on the request's log records
    return reader.grant(site, field)


def _granted(request: Request, access: Access) -> Access:
    note_site(request, access.site.id)
    log_site(access.site.id)
    return access


def _public_site(svc: Services, raw: object, field: str) -> SiteInfo | None:
    """The site named by ``raw`` when it is marked public, else None."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    site = _lookup(svc, raw, field)
    return site if site is not None and site.public else None


SHARE_GRANT_SECONDS = 12 * 3600  # a password-protected link's page reads this long


def share_grant(svc: Services, link: SharedLinkInfo) -> str:
    """What a shared link's page sends as ``auth``: the token itself for a link without a
    password (a stable URL a CDN can keep), else a signed grant naming the link, good for
    :data:`SHARE_GRANT_SECONDS` (given once the password was right)."""
    return links.sign(svc.secret, links.LinkToken(
        "share", link.id, links.new_nonce()[:8],
        int(svc.clock().timestamp()) + SHARE_GRANT_SECONDS))


def _link_of(svc: Services, auth: str) -> SharedLinkInfo:
    """The live link ``auth`` stands for (its token, or a grant of its page); 401 else."""
    if "." in auth:  # a signed grant (a token has no dot)
        grant = links.verify(svc.secret, auth, "share", svc.clock().timestamp())
        link = svc.shares.by_id(grant.record_id) if grant is not None else None
    else:
        link = svc.shares.by_token(auth)
        if link is not None and link.protected:
            raise Unauthorized("this shared link has a password: open the link to give it",
                               field="auth")
    if link is None:
        raise Unauthorized("the shared link is not valid (revoked, or its page is too old: "
                           "open the link again)", field="auth")
    return link


async def _shared_access(request: Request, svc: Services, auth: str, raw_site: object,
                         field: str) -> Access:
    link = await run_in_threadpool(_link_of, svc, auth)
    note_actor(request, f"shared-link:{link.id}")
    site = svc.sites.by_id(link.site_id)
    if raw_site is not None and not (isinstance(raw_site, str) and not raw_site.strip()):
        named = _lookup(svc, raw_site, field)
        if named is None or site is None or named.id != site.id:
            raise Forbidden("the shared link does not cover this site", field=field)
    if site is None:
        raise Unauthorized("the shared link's site is gone", field="auth")
    return _granted(request, Access(site, "shared_link", link=link))


def _only_site(svc: Services, reader: _Reader, field: str) -> SiteInfo:
    """Without ``site_id``: the one site the caller can read, else 400 saying it is needed
    (with how many sites the credential covers, never which)."""
    sites = [s for s in svc.sites.all() if reader.reads(s.id)]
    if len(sites) == 1:
        return sites[0]
    raise Invalid(f"site_id is required: these credentials read {len(sites)} sites (give "
                  "the site's domain or id)", field=field)


async def _reader(request: Request, svc: Services) -> _Reader:
    """The API key with the ``stats`` scope, or a logged-in dashboard user with the sites
    they hold a role on; 401/403 otherwise."""
    authorization = request.headers.get("authorization")
    if authorization is None and request.cookies.get(sessions.COOKIE):
        viewer = await current_viewer(request)
        if viewer is not None:
            return _Reader(None, viewer, await site_roles(request, viewer))
    if authorization is None:
        raise Unauthorized("send Authorization: Bearer <API key>", field="Authorization")
    key = await _verified_key(request, svc, authorization)
    if not key.allows("stats"):
        raise Forbidden("the API key lacks the 'stats' scope", field="Authorization")
    return _Reader(key, None, None)


async def readable_sites(request: Request) -> list[SiteInfo]:
    """Every site the caller reads (an API key with the ``stats`` scope, or a session);
    401/403 as :func:`stats_access`."""
    svc = services(request)
    reader = await _reader(request, svc)
    return [s for s in svc.sites.all() if reader.reads(s.id)]


async def site_roles(request: Request, viewer: Viewer) -> dict[int, Role] | None:
    """The viewer's role on each site they reach; None for an instance administrator, who
    holds the owner's rights on every site."""
    if viewer.is_admin:
        return None
    return await run_in_threadpool(services(request).people.site_roles, viewer.user.id)


async def site_role(request: Request, viewer: Viewer, site_id: int
                    ) -> tuple[SiteInfo, Role] | None:
    """The site (read fresh from the metadata database) and the viewer's role on it, or
    None when the site does not exist or they hold no role on it (the two alike)."""
    roles = await site_roles(request, viewer)
    if roles is not None and site_id not in roles:
        return None
    site = await run_in_threadpool(services(request).meta.site, site_id)
    if site is None:
        return None
    note_site(request, site.id)
    return site, Role.OWNER if roles is None else roles[site_id]


async def require_role(request: Request, viewer: Viewer, site_id: int, needs: Role
                       ) -> tuple[SiteInfo, Role]:
    """The site and the viewer's role on it when that is at least ``needs``: 404 when the
    site does not exist or they hold no role on it (alike: they cannot learn of it), 403
    naming the role needed when theirs is lower."""
    found = await site_role(request, viewer, site_id)
    if found is None:
        raise NotFound(f"no site with id {site_id}")
    if found[1] < needs:
        raise Forbidden(f"this needs the {needs.label} role on the site (yours: "
                        f"{found[1].label})")
    return found


async def _verified_key(request: Request, svc: Services, authorization: str) -> ApiKeyInfo:
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
    note_actor(request, f"key:{key.id} {key.name}")
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
    key = await _verified_key(request, svc, authorization)
    if not key.allows("admin"):
        raise Forbidden("the API key lacks the 'admin' scope", field="Authorization")
    site = _lookup(svc, raw_site, field)
    if site is None or not key.allows("admin", site.id):
        raise _not_covered(field)
    note_site(request, site.id)
    return site


async def admin_key(request: Request) -> ApiKeyInfo:
    """An API key with the ``admin`` scope (for some site), or 401/403: the check a route
    makes before reading a body that names the site (then :func:`admin_access`)."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise Unauthorized("send Authorization: Bearer <API key with the admin scope>",
                           field="Authorization")
    key = await _verified_key(request, services(request), authorization)
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
    key = await _verified_key(request, svc, authorization)
    if not key.allows("admin") or key.site_ids is not None:
        raise Forbidden("this needs an API key with the 'admin' scope for every site",
                        field="Authorization")
    return key


def _not_covered(field: str, session: bool = False) -> Forbidden:
    if session:
        return Forbidden("you have no role on this site", field=field)
    return Forbidden("the API key does not cover this site", field=field)
