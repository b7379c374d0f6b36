"""The sites API: list, create, read and change a site's settings (Plausible's Sites API in
spirit).

- ``GET /api/v1/sites`` — the sites the caller reads (an API key with the ``stats`` scope:
  the sites it covers; a dashboard session: the sites the user holds a role on).
- ``POST /api/v1/sites`` — add a site (an instance administrator: a logged-in admin or an
  API key with the ``admin`` scope for every site), to a team named by ``team`` or the first.
- ``GET /api/v1/sites/{site_id}`` and ``PATCH /api/v1/sites/{site_id}`` — every setting of
  the site's settings page (exclusions, allowed hostnames, signed ingest, currency, time
  zone, retention…); an API key with the ``admin`` scope covering the site.

Resetting and deleting a site are in ``api/site_data.py``. Every bad value answers 400
naming its field (``domain``, ``blocked_ips``, ``timezone``…), checked before anything is
saved: a request changes all its fields or none.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from liveinsight.api.access import admin_access, instance_admin, readable_sites
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.api.notes import note_details, note_site
from liveinsight.errors import Invalid
from liveinsight.meta.repo import (
    MAX_EXCLUSIONS,
    SALT_ROTATIONS,
    MetaError,
    SiteInfo,
    check_site_fields,
)

router = APIRouter(tags=["management"])

MAX_ALIASES = 50
_M = TypeVar("_M", bound=BaseModel)


class Site(BaseModel):
    id: int
    uuid: str
    domain: str
    name: str
    timezone: str
    currency: str
    public: bool
    enabled: bool


class SiteSettings(Site):
    aliases: list[str]
    retention_days: int
    require_signed_ingest: bool
    salt_rotation: str
    blocked_ips: list[str]
    blocked_paths: list[str]
    blocked_hosts: list[str]
    team_id: int | None


_Text = Annotated[str, Field(max_length=300)]


class SiteChanges(BaseModel):
    """The fields to change; those left out keep their value."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=255, description="Display name.")
    domain: str | None = Field(None, max_length=253, description="The site's domain.")
    aliases: list[_Text] | None = Field(
        None, max_length=MAX_ALIASES, description="Other domains (hostnames) of the site.")
    timezone: str | None = Field(None, max_length=64, description="IANA time zone.")
    currency: str | None = Field(None, max_length=3, description="ISO 4217 code.")
    retention_days: int | None = Field(None, ge=0, le=36500,
                                       description="Keep events this long (0: keep).")
    enabled: bool | None = Field(None, description="Off: events are refused.")
    public: bool | None = Field(None, description="A public dashboard, without login.")
    require_signed_ingest: bool | None = Field(
        None, description="Accept only signed events (`POST /api/events` with a token).")
    salt_rotation: str | None = Field(None, description=" / ".join(SALT_ROTATIONS))
    blocked_ips: list[_Text] | None = Field(None, max_length=MAX_EXCLUSIONS,
                                            description="Addresses or CIDR ranges.")
    blocked_paths: list[_Text] | None = Field(None, max_length=MAX_EXCLUSIONS,
                                              description="Paths (`*`, `**` wildcards).")
    blocked_hosts: list[_Text] | None = Field(None, max_length=MAX_EXCLUSIONS,
                                              description="Hostnames whose events are dropped.")


class NewSite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: str = Field(max_length=253, description="The site's domain, e.g. example.com.")
    name: str | None = Field(None, max_length=255, description="Default: the domain.")
    timezone: str = Field("UTC", max_length=64, description="IANA time zone.")
    team: int | str | None = Field(None, description="The owning team (id or name; "
                                   "default: the first team, made when there is none).")


def _parsed(model: type[_M], body: dict[str, Any]) -> _M:
    """``body`` as ``model`` (read after the caller's rights are checked, so a caller
    without them learns nothing from a bad body); 400 naming the first bad field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise Invalid(f"{field}: {first.get('msg')}", field=field) from None


def _site(site: SiteInfo) -> dict[str, Any]:
    return {name: getattr(site, name) for name in Site.model_fields}


def _settings(site: SiteInfo) -> dict[str, Any]:
    doc = asdict(site)
    for name in ("aliases", "blocked_ips", "blocked_paths", "blocked_hosts"):
        doc[name] = list(doc[name])
    return doc


def _zone(name: str, field: str = "timezone") -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America")
        raise Invalid(f"unknown time zone {name[:64]!r}", field=field) from None
    return name


@router.get("/api/v1/sites", summary="The sites the caller reads", response_model=list[Site],
            responses=error_responses(401, 403))
async def list_sites(request: Request) -> list[dict[str, Any]]:
    return [_site(s) for s in await readable_sites(request)]


@router.post("/api/v1/sites", summary="Add a site", status_code=201,
             response_model=SiteSettings, responses=error_responses(400, 401, 403, 413))
async def create_site(request: Request, raw: Annotated[dict[str, Any], Body(
        description="`domain` (required), `name`, `timezone` (default UTC), `team` (id or "
        "name)", examples=[{"domain": "example.org", "timezone": "Europe/Berlin"}])]
        ) -> dict[str, Any]:
    await instance_admin(request)
    body = _parsed(NewSite, raw)
    svc = services(request)
    zone = _zone(body.timezone)
    teams = await run_in_threadpool(svc.people.teams)
    if body.team is not None:
        wanted = str(body.team).strip()
        team = next((t for t in teams if str(t.id) == wanted or t.name == wanted), None)
        if team is None:
            raise Invalid(f"no team {wanted[:100]!r}", field="team")
    else:
        team = teams[0] if teams else await run_in_threadpool(svc.people.create_team,
                                                              "Default team")
    try:
        site = await run_in_threadpool(lambda: svc.meta.create_site(
            body.domain, name=body.name or "", timezone=zone, team_id=team.id))
    except MetaError as exc:
        raise Invalid(str(exc), field="domain") from None
    note_site(request, site.id)
    return _settings(site)


@router.get("/api/v1/sites/{site_id}", summary="A site's settings",
            response_model=SiteSettings, responses=error_responses(400, 401, 403))
async def get_site(request: Request, site_id: str) -> dict[str, Any]:
    return _settings(await admin_access(request, site_id))


@router.patch("/api/v1/sites/{site_id}", summary="Change a site's settings",
              response_model=SiteSettings, responses=error_responses(400, 401, 403, 413))
async def change_site(request: Request, site_id: str, raw: Annotated[dict[str, Any], Body(
        description="The fields to change (see `SiteSettings`; `id`, `uuid` and `team_id` "
        "cannot be changed here)", examples=[{
            "blocked_ips": ["203.0.113.0/24"], "blocked_paths": ["/admin/**"],
            "timezone": "Europe/Paris", "currency": "EUR"}])]) -> dict[str, Any]:
    site = await admin_access(request, site_id)
    body = _parsed(SiteChanges, raw)
    fields = body.model_dump(exclude_unset=True)
    for name, value in fields.items():
        if value is None:
            raise Invalid(f"{name} cannot be null (leave it out to keep it)", field=name)
    if "timezone" in fields:
        _zone(fields["timezone"])
    if "name" in fields:
        fields["name"] = fields["name"].strip() or site.domain
    try:
        fields = check_site_fields(fields)
    except MetaError as exc:
        raise Invalid(str(exc), field=exc.field) from None
    try:
        changed = await run_in_threadpool(lambda: services(request).meta.update_site(
            site.id, **fields))
    except MetaError as exc:  # another site has the domain
        raise Invalid(str(exc), field=exc.field or "domain") from None
    note_details(request, changed=sorted(fields))
    return _settings(changed)
