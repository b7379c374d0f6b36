"""The ``url`` step: page hostname, pathname, UTM tags and the referrer's parts.

Follows Plausible: the hostname is lowercased without ``www.``; the pathname is URL-decoded,
``/`` when empty, and keeps the fragment only in hash mode (``https://a.com/#/b`` → ``/#/b``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote, unquote_plus

from liveinsight.ingest.context import Context, Env
from liveinsight.types import DropReason

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
_MAX_VALUE = 2000
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_HOST = re.compile(r"[\w.:-]*")  # letters (IDN too), digits, dots, hyphens, IPv6 colons


def parse_url(ctx: Context, env: Env) -> DropReason | None:
    """Fill hostname, pathname, query and UTM fields from the page URL, and the referrer's
    host and path. A page URL without a host falls back to the site's domain."""
    raw = ctx.raw
    page = _page(raw.url, raw.hash_mode)
    if page is None:
        return DropReason.INVALID
    host, ctx.pathname, query = page
    ctx.hostname = host or (ctx.site.domain if ctx.site else "")
    if query:
        ctx.query = query
        ctx.utm_source = query.get("utm_source", "")
        ctx.utm_medium = query.get("utm_medium", "")
        ctx.utm_campaign = query.get("utm_campaign", "")
        ctx.utm_content = query.get("utm_content", "")
        ctx.utm_term = query.get("utm_term", "")
    if raw.referrer:
        ref = _referrer(raw.referrer)
        if ref is not None:
            ctx.referrer_host, ctx.referrer_path = ref
    return None


# Pages and referrers repeat across events, and splitting and decoding them is the step's
# whole cost. The cached query dicts are shared between events: read them, never write.
@lru_cache(maxsize=8192)
def _page(url: str, hash_mode: bool) -> tuple[str, str, dict[str, str]] | None:
    """``(host, pathname, query)`` of a page URL, None when it is not a URL."""
    parts = _split(url)
    if parts is None:
        return None
    host, path, query, fragment = parts
    pathname = unquote(path).strip() or "/"
    if hash_mode and fragment:
        pathname += "#" + unquote(fragment)
    return host, pathname[:_MAX_VALUE], _first_values(query) if query else {}


@lru_cache(maxsize=4096)
def _referrer(url: str) -> tuple[str, str] | None:
    """``(host, path without trailing /)`` of a referrer with a host, else None."""
    parts = _split(url)
    if parts is None or not parts[0]:
        return None
    return parts[0], parts[1].rstrip("/")


def _split(url: str) -> tuple[str, str, str, str] | None:
    """``(host, path, query, fragment)`` with the host lowercased and ``www.`` stripped, or
    None when the text is not a URL at all. Hand-rolled: ``urllib.parse.urlsplit`` costs
    ~8 µs per call, this ~1 µs, and the pipeline splits two URLs per event."""
    url = url.strip()
    scheme_end = url.find("://")
    if scheme_end != -1 and _SCHEME.fullmatch(url, 0, scheme_end):
        rest = url[scheme_end + 3 :]
    elif url.startswith("//"):
        rest = url[2:]
    elif url.startswith("/"):
        return ("", *_tail(url))
    else:
        rest = url
    cut = len(rest)
    for mark in "/?#":
        at = rest.find(mark, 0, cut)
        if at != -1:
            cut = at
    host = _host(rest[:cut])
    if host is None:
        return None
    return (host, *_tail(rest[cut:]))


def _host(netloc: str) -> str | None:
    netloc = netloc.rpartition("@")[2]  # drop user:password@
    if netloc.startswith("["):
        closing = netloc.find("]")
        if closing == -1:
            return None
        host = netloc[1:closing]
    else:
        host = netloc.partition(":")[0]
    host = host.lower()
    if not _HOST.fullmatch(host):
        return None
    return host.removeprefix("www.")


def _tail(text: str) -> tuple[str, str, str]:
    text, _, fragment = text.partition("#")
    path, _, query = text.partition("?")
    return path, query, fragment


def _first_values(query: str) -> dict[str, str]:
    """Query parameters, keys lowercased, the first non-empty value of each (``+`` and
    ``%xx`` decoded, as ``parse_qsl`` does, at a third of its cost)."""
    out: dict[str, str] = {}
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if not key or not value:
            continue
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        key = key.lower()
        if key not in out:
            if "%" in value or "+" in value:
                value = unquote_plus(value)
            value = value.strip()[:_MAX_VALUE]
            if value:
                out[key] = value
    return out
