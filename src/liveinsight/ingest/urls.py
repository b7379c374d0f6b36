"""The ``url`` step: page hostname, pathname, UTM tags and the referrer's parts.

Follows Plausible: the hostname is lowercased without ``www.``; the pathname is URL-decoded,
``/`` when empty, and keeps the fragment only in hash mode (``https://a.com/#/b`` → ``/#/b``).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

from liveinsight.ingest.context import Context, Env
from liveinsight.types import DropReason

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
_MAX_VALUE = 2000
_HOST = re.compile(r"[\w.:-]*")  # letters (IDN too), digits, dots, hyphens, IPv6 colons


def parse_url(ctx: Context, env: Env) -> DropReason | None:
    """Fill hostname, pathname, query and UTM fields from the page URL, and the referrer's
    host and path. A page URL without a host falls back to the site's domain."""
    raw = ctx.raw
    parts = _split(raw.url)
    if parts is None:
        return DropReason.INVALID
    host, path, query, fragment = parts
    ctx.hostname = host or (ctx.site.domain if ctx.site else "")
    pathname = unquote(path).strip() or "/"
    if raw.hash_mode and fragment:
        pathname += "#" + unquote(fragment)
    ctx.pathname = pathname[:_MAX_VALUE]
    if query:
        ctx.query = _first_values(query)
        q = ctx.query
        ctx.utm_source = q.get("utm_source", "")
        ctx.utm_medium = q.get("utm_medium", "")
        ctx.utm_campaign = q.get("utm_campaign", "")
        ctx.utm_content = q.get("utm_content", "")
        ctx.utm_term = q.get("utm_term", "")
    if raw.referrer:
        ref = _split(raw.referrer)
        if ref is not None and ref[0]:
            ctx.referrer_host = ref[0]
            ctx.referrer_path = ref[1].rstrip("/")
    return None


def _split(url: str) -> tuple[str, str, str, str] | None:
    """``(host, path, query, fragment)`` with the host lowercased and ``www.`` stripped, or
    None when the text is not a URL at all."""
    url = url.strip()
    if url and "://" not in url and not url.startswith("/"):
        url = "http://" + url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    if not _HOST.fullmatch(host):
        return None
    return host.removeprefix("www."), parts.path, parts.query, parts.fragment


def _first_values(query: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=False):
        key = key.lower()
        if key not in out:
            out[key] = value.strip()[:_MAX_VALUE]
    return out
