"""The ``referrer`` step: cleaned referrer, its source name and the acquisition channel.

Source names come from snowplow's referer-parser data (``data/referers.txt``, vendored with
its source and date) plus LiveInsight's own list for newer sources
(``data/referers_extra.txt``: ChatGPT, Perplexity, Bluesky, Threads, Mastodon, …). A host
matches itself or its closest listed parent domain (``m.youtube.com`` → Youtube).

As in Plausible, a ``utm_source`` / ``source`` / ``ref`` query parameter names the source
ahead of the Referer (a tagged link says more than the page it was clicked on); known names
and hosts are normalised (``utm_source=facebook.com`` → ``Facebook``), others kept as given.
Referrers from the page's own host or the site's domain and aliases are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from liveinsight.ingest.channels import channel_for, click_of
from liveinsight.ingest.context import Context, Env
from liveinsight.types import DropReason

DATA_DIR = Path(__file__).parent / "data"
FILES = ("referers.txt", "referers_extra.txt")  # later files win

# When several entries share a name (Google is search, ad network and "unknown" site), a
# utm_source naming it means the first category in this order.
_NAME_PRIORITY = ("search", "social", "video", "shopping", "email", "ai", "unknown", "paid")

# Short forms seen in utm_source values.
_ALIASES = {
    "fb": "facebook", "ig": "instagram", "yt": "youtube", "tw": "twitter", "x": "twitter",
    "li": "linkedin", "hn": "hacker news", "ddg": "duckduckgo", "gh": "github",
}


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    category: str


@dataclass(frozen=True, slots=True)
class _Directory:
    by_host: dict[str, Source]
    by_name: dict[str, Source]


@lru_cache(maxsize=1)
def _directory() -> _Directory:
    by_host: dict[str, Source] = {}
    by_name: dict[str, Source] = {}
    for index, name in enumerate(FILES):
        text = (DATA_DIR / name).read_text(encoding="utf-8")
        _load(text, by_host, by_name, own=index > 0)
    return _Directory(by_host, by_name)


def _load(
    text: str, by_host: dict[str, Source], by_name: dict[str, Source], *, own: bool
) -> None:
    macros: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("@"):
            key, _, values = line[1:].partition("=")
            macros[key] = values.split()
            continue
        category, name, hosts = line.split("|", 2)
        source = Source(name, category)
        current = by_name.get(name.lower())
        if current is None or own or _rank(category) <= _rank(current.category):
            by_name[name.lower()] = source
        for host in hosts.split():
            for expanded in _expand(host.lower(), macros):
                by_host[expanded] = source


def _rank(category: str) -> int:
    return _NAME_PRIORITY.index(category) if category in _NAME_PRIORITY else len(_NAME_PRIORITY)


def _expand(host: str, macros: dict[str, list[str]]) -> list[str]:
    for key, values in macros.items():
        marker = "{" + key.lower() + "}"
        if marker in host:
            return [host.replace(marker, value) for value in values]
    return [host]


@lru_cache(maxsize=4096)  # referrer hosts repeat
def source_of_host(host: str) -> Source | None:
    """The listed source for ``host`` or its closest listed parent domain."""
    by_host = _directory().by_host
    labels = host.lower().removeprefix("www.").split(".")
    for i in range(len(labels) - 1):
        found = by_host.get(".".join(labels[i:]))
        if found is not None:
            return found
    return None


@lru_cache(maxsize=4096)  # utm_source values repeat
def source_of_param(value: str) -> Source | None:
    """A ``utm_source``-style value as a known source: by name, alias or host."""
    key = value.strip().lower()
    key = _ALIASES.get(key, key)
    found = _directory().by_name.get(key)
    if found is None and "." in key:
        found = source_of_host(key.split("/", 1)[0])
    return found


@lru_cache(maxsize=1024)
def _own_hosts(domain: str, aliases: tuple[str, ...]) -> frozenset[str]:
    return frozenset((domain, *aliases))


def put_referrer(ctx: Context, env: Env) -> DropReason | None:
    host = ctx.referrer_host
    site = ctx.site
    if host and (host == ctx.hostname
                 or (site is not None and host in _own_hosts(site.domain, site.aliases))):
        host = ""
    if host:
        ctx.referrer = host + ctx.referrer_path
    param = ctx.utm_source or ctx.query.get("source", "") or ctx.query.get("ref", "")
    click = click_of(ctx.query)
    category = ""
    if param:
        known = source_of_param(param)
        ctx.referrer_source = known.name if known else param
        category = known.category if known else ""
    elif host:
        listed = source_of_host(host)
        ctx.referrer_source = listed.name if listed else host
        category = listed.category if listed else ""
    elif click is not None:
        ctx.referrer_source = click[1]
    ctx.channel = channel_for(
        category=category, source=ctx.referrer_source, medium=ctx.utm_medium,
        campaign=ctx.utm_campaign, click=click[0] if click else "",
    )
    return None
