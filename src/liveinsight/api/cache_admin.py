"""Cache administration: ``GET /admin/cache/stats``, ``POST /admin/cache/invalidate``,
``POST /admin/cache/warmup``, ``POST /admin/cdn/purge``. Instance administrators only: the
router's dependency checks the caller before anything of the request is read (so a caller
without the right gets 401/403, never a validation error)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from liveinsight.api.access import instance_admin, resolve_site
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.cache.protocol import CacheStats
from liveinsight.errors import Invalid
from liveinsight.query import model
from liveinsight.query.service import default_requests

router = APIRouter(tags=["admin"], dependencies=[Depends(instance_admin)])

MAX_WARM_SITES = 50
MAX_WARM_PERIODS = 5
WARM_PERIODS = tuple(p for p in model.PERIODS if p != "custom")


class LayerStats(BaseModel):
    hits: int
    misses: int
    hit_ratio: float | None = Field(description="hits / (hits + misses), null before any")
    evictions: int
    bytes: int
    keys: int


class CacheStatsAnswer(BaseModel):
    layers: dict[str, LayerStats] = Field(
        description="`l1`: this node's memory; `l2`: Redis (when configured), whose hits and "
        "misses are this node's and whose keys and bytes are the whole cache's.")
    warmup: dict[str, int] = Field(description="Requests replayed by warm-up, and failed.")


def _layer(stats: CacheStats) -> dict[str, Any]:
    asked = stats.hits + stats.misses
    return {"hits": stats.hits, "misses": stats.misses,
            "hit_ratio": round(stats.hits / asked, 4) if asked else None,
            "evictions": stats.evictions, "bytes": stats.bytes, "keys": stats.keys}


@router.get("/admin/cache/stats", summary="Answer cache numbers per layer",
            response_model=CacheStatsAnswer, responses=error_responses(401, 403))
async def cache_stats(request: Request) -> dict[str, Any]:
    svc = services(request)
    layers = await run_in_threadpool(svc.answers.layers)
    return {"layers": {name: _layer(s) for name, s in layers.items()},
            "warmup": {"replayed": svc.warmer.replayed, "failed": svc.warmer.failed}}


class Invalidate(BaseModel):
    """Exactly one of the three."""

    all: bool = Field(False, description="Every answer of every site, on every node.")
    site_id: str | None = Field(None, description="Every answer of this site (domain, id or "
                                "UUID), on every node.")
    pattern: str | None = Field(None, description="Keys starting with a prefix, written "
                                "`prefix*` (site 12's are `s12:*`).", max_length=200)


class Invalidated(BaseModel):
    scope: str
    invalidated: int = Field(description="Entries dropped (in Redis when configured, else in "
                             "this node's memory); site and all also make every node's "
                             "entries unreachable at once.")


@router.post("/admin/cache/invalidate", summary="Drop cached answers",
             response_model=Invalidated, responses=error_responses(400, 401, 403, 413))
async def invalidate(request: Request, body: Invalidate) -> dict[str, Any]:
    svc = services(request)
    chosen = [name for name, given in (("all", body.all), ("site_id", body.site_id),
                                       ("pattern", body.pattern)) if given]
    if len(chosen) != 1:
        raise Invalid("give exactly one of all, site_id and pattern", field="body")
    if body.all:
        return {"scope": "all", "invalidated": await run_in_threadpool(
            svc.answers.invalidate_all)}
    if body.site_id is not None:
        site = resolve_site(svc, body.site_id)
        return {"scope": f"site {site.domain}", "invalidated": await run_in_threadpool(
            svc.answers.invalidate_site, site.id)}
    pattern = body.pattern or ""
    prefix = pattern[:-1]
    if not pattern.endswith("*") or any(c in prefix for c in "*?[]\\") or not prefix:
        raise Invalid("pattern must be a non-empty key prefix followed by one * (e.g. s12:*)",
                      field="pattern")
    return {"scope": f"pattern {pattern}", "invalidated": await run_in_threadpool(
        svc.answers.invalidate_prefix, prefix)}


class Warmup(BaseModel):
    sites: list[str] | None = Field(None, description=f"Domains, ids or UUIDs (at most "
                                    f"{MAX_WARM_SITES}); default: every site.")
    periods: list[str] | None = Field(None, description="Recompute each site's most viewed "
                                      "requests over these periods instead of their own "
                                      f"(at most {MAX_WARM_PERIODS} of "
                                      f"{', '.join(WARM_PERIODS)}).")


class Warmed(BaseModel):
    sites: int
    requests: int
    failed: int
    seconds: float


@router.post("/admin/cache/warmup", summary="Recompute the most viewed answers now",
             response_model=Warmed, responses=error_responses(400, 401, 403, 413))
async def warmup(request: Request, body: Warmup) -> dict[str, Any]:
    """For each site, its most viewed stats requests (``cache_warmup_top``; a site nobody has
    viewed gets the dashboard's first requests over 30 days), over ``periods`` when given.
    Blocking until done."""
    svc = services(request)
    if body.sites is None:
        sites = [s.id for s in svc.sites.all()][:MAX_WARM_SITES]
    elif len(body.sites) > MAX_WARM_SITES:
        raise Invalid(f"at most {MAX_WARM_SITES} sites at once", field="sites")
    else:
        sites = [resolve_site(svc, raw, "sites").id for raw in body.sites]
    periods = body.periods or None
    if periods is not None:
        if len(periods) > MAX_WARM_PERIODS:
            raise Invalid(f"at most {MAX_WARM_PERIODS} periods", field="periods")
        bad = [p for p in periods if p not in WARM_PERIODS]
        if bad:
            raise Invalid(f"unknown period {bad[0][:20]!r}; periods are "
                          f"{', '.join(WARM_PERIODS)}", field="periods")
    began = time.perf_counter()
    report = await run_in_threadpool(svc.warmer.warm, sites, periods, default_requests)
    return {"sites": report.sites, "requests": report.requests, "failed": report.failed,
            "seconds": round(time.perf_counter() - began, 3)}


MAX_PURGE_URLS = 500


class Purge(BaseModel):
    urls: list[str] = Field([], description=f"At most {MAX_PURGE_URLS}: absolute http(s) URLs, "
                            "or paths (`/share/...`) taken relative to LIVEINSIGHT_PUBLIC_URL.")
    everything: bool = Field(False, description="Everything the CDN holds for the zone.")


class PurgeDone(BaseModel):
    purger: str
    urls: int
    everything: bool
    calls: int = Field(description="Requests made to the CDN (Cloudflare takes 30 URLs each).")


@router.post("/admin/cdn/purge", summary="Ask the CDN to drop cached URLs",
             response_model=PurgeDone, responses=error_responses(400, 401, 403, 413, 503))
async def cdn_purge(request: Request, body: Purge) -> dict[str, Any]:
    """Through the configured purger (``LIVEINSIGHT_CDN_PURGER``: Cloudflare's API or a signed
    webhook); 503 with what the CDN said when it refuses, or when no purger is configured."""
    svc = services(request)
    if body.everything == bool(body.urls):
        raise Invalid("give urls or everything (one of the two)", field="body")
    if len(body.urls) > MAX_PURGE_URLS:
        raise Invalid(f"at most {MAX_PURGE_URLS} URLs at once", field="urls")
    urls = [_absolute(url, svc.settings.public_url) for url in body.urls]
    done = await svc.purger.purge(urls, body.everything)
    return {"purger": done.purger, "urls": done.urls, "everything": done.everything,
            "calls": done.calls}


def _absolute(url: str, public_url: str | None) -> str:
    if len(url) > 2048:
        raise Invalid("a URL is longer than 2048 characters", field="urls")
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    if url.startswith("/") and not url.startswith("//"):
        if not public_url:
            raise Invalid(f"{url[:60]!r} is a path: set LIVEINSIGHT_PUBLIC_URL or give "
                          "absolute URLs", field="urls")
        return public_url.rstrip("/") + url
    raise Invalid(f"{url[:60]!r} is not an http(s) URL or a path", field="urls")
