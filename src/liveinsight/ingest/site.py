"""The ``site`` step: which site an event belongs to."""

from __future__ import annotations

from liveinsight.ingest.context import Context, Env
from liveinsight.types import DropReason


def resolve_site(ctx: Context, env: Env) -> DropReason | None:
    """Find the site by the first identifier the sender gave: native ``site_id``, Umami
    ``site_uuid``, else Plausible ``domain`` (case-insensitive, ``www.`` ignored, aliases
    included). A given but unknown identifier is not retried with the next one."""
    raw = ctx.raw
    if raw.site_id is not None:
        site = env.sites.by_id(raw.site_id)
    elif raw.site_uuid:
        site = env.sites.by_uuid(raw.site_uuid.strip())
    elif raw.domain:
        site = env.sites.by_domain(raw.domain.strip())
    else:
        site = None
    if site is None:
        return DropReason.UNKNOWN_SITE
    if not site.enabled:
        return DropReason.SITE_DISABLED
    ctx.site = site
    return None
