"""Uploaded images: ``POST /api/v1/assets/upload``, ``GET /api/v1/assets/optimized/{id}``,
a site's list and deletion.

Uploading and deleting take an API key with the ``admin`` scope covering the site (as the
goals API). Reading an optimised variant needs no credential: the id is the SHA-256 of the
image (unguessable), and logos appear on shared and public dashboards. Variants are
computed once per node and kept under ``<data_dir>/asset-cache`` (derived: safe to delete),
served as images only (``nosniff``, a CSP of ``default-src 'none'``), immutable for a year.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight import images
from liveinsight.api.access import admin_access, admin_key
from liveinsight.api.deps import services
from liveinsight.api.errors import error_responses
from liveinsight.dashboard.assets import IMMUTABLE
from liveinsight.errors import Invalid, NotFound, TooLarge
from liveinsight.meta.assets import AssetInfo
from liveinsight.settings import Settings

router = APIRouter(tags=["assets"])
UPLOAD = "/api/v1/assets/upload"
_ID = re.compile(r"^[0-9a-f]{64}$")
_MULTIPART_OVERHEAD = 16 << 10


def body_limits(settings: Settings) -> dict[str, int]:
    """The upload's body limit for the front door (the image plus the form's own bytes)."""
    return {UPLOAD: settings.asset_max_bytes + _MULTIPART_OVERHEAD}


class Asset(BaseModel):
    id: str
    site_id: int
    name: str
    mime: str
    width: int
    height: int
    size: int
    created_at: str
    url: str


def _shown(info: AssetInfo) -> dict[str, Any]:
    return {"id": info.id, "site_id": info.site_id, "name": info.name, "mime": info.mime,
            "width": info.width, "height": info.height, "size": info.size,
            "created_at": info.created_at.isoformat(),
            "url": f"/api/v1/assets/optimized/{info.id}"}


@router.post(UPLOAD, summary="Upload an image (a site's logo, a report's picture)",
             status_code=201, response_model=Asset,
             responses=error_responses(400, 401, 403, 409, 413, 415),
             dependencies=[Depends(admin_key)])
async def upload(request: Request, site_id: str = Form(...),
                 file: UploadFile = File(...)) -> Response:  # noqa: B008
    """``multipart/form-data`` with ``site_id`` and ``file`` (PNG, JPEG, WebP, GIF or AVIF,
    recognised by its bytes; at most ``LIVEINSIGHT_ASSET_MAX_BYTES``). 201 with the image's
    id (its SHA-256) and URL; 200 when this site already has it; 409 when another site has
    it or the site has 200 images."""
    site = await admin_access(request, site_id)
    svc = services(request)
    data = await file.read(svc.settings.asset_max_bytes + 1)
    if len(data) > svc.settings.asset_max_bytes:
        raise TooLarge(f"the image is larger than {svc.settings.asset_max_bytes} bytes",
                       field="file")
    if not data:
        raise Invalid("the file is empty", field="file")
    info = await run_in_threadpool(images.sniff, data, file.content_type)
    asset, created = await run_in_threadpool(svc.assets.put, site.id, data, info,
                                             os.path.basename(file.filename or ""))
    return Response(Asset(**_shown(asset)).model_dump_json(), status_code=201 if created else 200,
                    media_type="application/json")


@router.get("/api/v1/assets/optimized/{asset_id}", summary="An image, optimised",
            response_class=Response, responses={
                200: {"content": {m: {} for _, m in images.FORMATS.values()},
                      "description": "The image"}, **error_responses(400, 404)})
async def optimized(request: Request, asset_id: str,
                    format: str | None = Query(None, description="webp, avif, png or jpeg "
                                               "(default: the best the browser accepts)"),
                    w: int | None = Query(None, description=f"Width, one of {images.SIZES}"),
                    h: int | None = Query(None, description="Height, from the same sizes")
                    ) -> Response:
    """Fitted inside ``w`` by ``h`` (never enlarged), re-encoded without metadata."""
    if not _ID.match(asset_id):
        raise NotFound("no such image")
    for name, value in (("w", w), ("h", h)):
        if value is not None and value not in images.SIZES:
            raise Invalid(f"{name} must be one of {', '.join(map(str, images.SIZES))}",
                          field=name)
    fmt = format or _preferred(request.headers.get("accept", ""))
    if fmt not in images.FORMATS:
        raise Invalid(f"format must be one of {', '.join(images.FORMATS)}", field="format")
    svc = services(request)
    body = await run_in_threadpool(_variant, svc.assets, svc.settings.data_dir, asset_id, fmt,
                                   w, h)
    return Response(body, media_type=images.FORMATS[fmt][1], headers={
        "cache-control": IMMUTABLE, "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'", "vary": "Accept",
        "cross-origin-resource-policy": "cross-origin"})


def _preferred(accept: str) -> str:
    return "avif" if "image/avif" in accept else "webp" if "image/webp" in accept else "png"


def _variant(store: Any, data_dir: Path, asset_id: str, fmt: str, w: int | None,
             h: int | None) -> bytes:
    if not store.exists(asset_id):  # deleted: its variants on disk are not served
        raise NotFound("no such image")
    cached = data_dir / "asset-cache" / asset_id / f"{w or 0}x{h or 0}.{fmt}"
    if cached.is_file():
        return cached.read_bytes()
    found = store.get(asset_id)
    if found is None:
        raise NotFound("no such image")
    body = images.variant(found[1], fmt, w, h)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_bytes(body)
    partial.replace(cached)
    return body


@router.get("/api/v1/sites/{site_id}/assets", summary="A site's images",
            response_model=list[Asset], responses=error_responses(400, 401, 403))
async def site_assets(request: Request, site_id: str) -> list[dict[str, Any]]:
    site = await admin_access(request, site_id)
    return [_shown(a) for a in await run_in_threadpool(services(request).assets.of_site,
                                                       site.id)]


@router.delete("/api/v1/sites/{site_id}/assets/{asset_id}", summary="Delete an image",
               status_code=204, responses=error_responses(400, 401, 403, 404))
async def delete_asset(request: Request, site_id: str, asset_id: str) -> Response:
    site = await admin_access(request, site_id)
    svc = services(request)
    await run_in_threadpool(svc.assets.delete, site.id, asset_id)
    return Response(status_code=204)
