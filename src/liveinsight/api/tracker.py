"""Serving the tracker script.

``GET /js/script.js`` is cached for an hour and revalidated with its ETag; the
content-addressed ``GET /js/script.<hash>.js`` (what :func:`tracker_url` puts in snippets) is
immutable for a year. Plausible's file names keep working so a site migrates by changing only
the script host: ``/js/plausible.js`` and ``/js/script.<variants>.js`` such as
``script.hash.outbound-links.js``; variants that change behaviour (``hash``, ``local``,
``manual``) are served with a one-statement prefix that sets the matching ``data-`` attribute
on the script's own tag, the rest are always on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import zopfli.gzip
from fastapi import APIRouter, Request
from starlette.responses import Response

from liveinsight.dashboard import assets

router = APIRouter(tags=["tracker"])


class JavaScript(Response):
    """The script's content type, so the OpenAPI document declares it (the routes build
    their answers in ``_serve``)."""

    media_type = "text/javascript"


SHORT_CACHE = assets.REVALIDATE
IMMUTABLE_CACHE = assets.IMMUTABLE
# Plausible script-name variants that change behaviour, and the attribute each one sets.
VARIANT_ATTRIBUTES = {"hash": "data-hash", "local": "data-allow-local", "manual": "data-manual"}


@dataclass(frozen=True, slots=True)
class Asset:
    """One servable body: plain and gzipped bytes, and its content hash (the ETag)."""

    body: bytes
    gzipped: bytes
    digest: str

    @classmethod
    def of(cls, body: bytes) -> Asset:
        """``body`` with its gzip form made by Zopfli: a standard gzip stream some 1% smaller
        than zlib's best, which keeps the tracker and its variants in the 1536-byte budget;
        made once per asset, so its slowness (milliseconds here) does not matter."""
        return cls(body, zopfli.gzip.compress(body), hashlib.sha256(body).hexdigest()[:16])

    def etag(self, gzipped: bool) -> str:
        """Each content coding has its own strong ETag, as HTTP requires."""
        return f'"{self.digest}-gz"' if gzipped else f'"{self.digest}"'


@cache
def tracker_asset() -> Asset:
    """The built tracker shipped in the package (read once)."""
    path = resources.files("liveinsight.dashboard") / "tracker" / "script.js"
    return Asset.of(path.read_bytes())


@cache
def variant_asset(flags: frozenset[str]) -> Asset:
    """The tracker with the attributes of Plausible's variant ``flags`` set (cached)."""
    prefix = "".join(
        f'document.currentScript.setAttribute("{VARIANT_ATTRIBUTES[f]}","");' for f in sorted(flags)
    )
    return Asset.of(prefix.encode() + tracker_asset().body)


def tracker_path() -> str:
    """The content-addressed path of the current tracker: ``/js/script.<16 hex>.js``."""
    return f"/js/script.{tracker_asset().digest}.js"


def tracker_url(request_or_base: Request | str) -> str:
    """Absolute URL of the versioned tracker for tracking snippets.

    ``request_or_base`` is a base URL (``https://stats.example.com``) or a request: then the
    ``public_url`` setting when the app has one, else the URL the request reached us at.
    """
    if isinstance(request_or_base, str):
        base = request_or_base
    else:
        svc = getattr(request_or_base.app.state, "services", None)
        public = svc.settings.public_url if svc is not None else None
        base = public or str(request_or_base.base_url)
    return base.rstrip("/") + tracker_path()


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=").strip()
            try:
                return not q or float(q) > 0
            except ValueError:
                return False
    return False


def _holds(if_none_match: str, asset: Asset) -> bool:
    """Whether the client already holds ``asset`` in either coding."""
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or asset.etag(False) in tags or asset.etag(True) in tags


def _serve(request: Request, asset: Asset, cache_control: str) -> Response:
    gzipped = _accepts_gzip(request.headers.get("accept-encoding", ""))
    headers = {
        "Cache-Control": cache_control,
        "ETag": asset.etag(gzipped),
        "Vary": "Accept-Encoding",
        # Sites sending Cross-Origin-Embedder-Policy: require-corp may still load it.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if _holds(request.headers.get("if-none-match", ""), asset):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(asset.gzipped if gzipped else asset.body,
                    media_type="text/javascript; charset=utf-8", headers=headers)


# GET is described in the OpenAPI document; HEAD (same answer, no body) is served too but
# left out of it, since one operation id per path cannot name both methods.
@router.get("/js/script.js", summary="The tracker script", response_class=JavaScript)
@router.head("/js/script.js", include_in_schema=False)
@router.api_route("/js/plausible.js", methods=["GET", "HEAD"], include_in_schema=False)
async def script(request: Request) -> Response:
    return _serve(request, tracker_asset(), SHORT_CACHE)


@router.get("/js/script.{variant}.js", response_class=JavaScript,
            summary="The tracker script, versioned (immutable) or a Plausible variant name")
@router.head("/js/script.{variant}.js", include_in_schema=False)
@router.api_route("/js/plausible.{variant}.js", methods=["GET", "HEAD"], include_in_schema=False)
async def script_variant(request: Request, variant: str) -> Response:
    """``variant`` is the current content hash (immutable for a year), or dot-separated
    Plausible variant names. Anything else, such as the hash of an earlier release that a
    cached page still names, gets the current script with the short cache lifetime."""
    asset = tracker_asset()
    if variant == asset.digest:
        return _serve(request, asset, IMMUTABLE_CACHE)
    flags = frozenset(variant.lower().split(".")).intersection(VARIANT_ATTRIBUTES)
    return _serve(request, variant_asset(flags) if flags else asset, SHORT_CACHE)
