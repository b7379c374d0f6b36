"""User-Agent parsing: browser, OS and device type, from ua-parser's maintained regexes.

ua-parser 1.x with its bundled regexes (``ua-parser-builtins``), run by the Rust resolver
(``ua-parser-rs``, required: a pure-Python resolver is ~50x slower). Results are cached per
User-Agent string (LRU, 10,000 entries): a site's visitors share few distinct strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ua_parser import Domain, Parser, load_lazy_builtins
from ua_parser.regex import Resolver

from liveinsight.ingest.context import Context, Env
from liveinsight.types import DropReason

CACHE_SIZE = 10_000

_MOBILE_OS = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "Symbian OS",
     "HarmonyOS", "Tizen", "Sailfish"}
)
_TABLET = re.compile(r"iPad|Tablet|Kindle|Silk/|PlayBook|Nexus (?:7|9|10)\b", re.IGNORECASE)
_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari (in-app)",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome WebView",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
}
_OS_NAMES = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}


@dataclass(frozen=True, slots=True)
class Agent:
    browser: str
    browser_version: str  # "major.minor" or "major"
    os: str
    os_version: str
    device: str  # "Desktop" | "Mobile" | "Tablet"
    is_spider: bool  # ua-parser's device family "Spider"


@lru_cache(maxsize=1)
def parser() -> Parser:
    """The shared ua-parser instance (built once, with the Rust resolver)."""
    return Parser(Resolver(load_lazy_builtins()))


@lru_cache(maxsize=CACHE_SIZE)
def parse_agent(user_agent: str) -> Agent:
    """Browser, OS and device type of ``user_agent`` (empty strings when unknown)."""
    result = parser()(user_agent, Domain.ALL).complete()
    ua, os = result.user_agent, result.os
    family = result.device.family if result.device else ""
    browser = _BROWSER_NAMES.get(ua.family, ua.family) if ua and ua.family != "Other" else ""
    os_name = _OS_NAMES.get(os.family, os.family) if os and os.family != "Other" else ""
    return Agent(
        browser=browser,
        browser_version=_version(ua.major, ua.minor) if ua and browser else "",
        os=os_name,
        os_version=_version(os.major, os.minor) if os and os_name else "",
        device=_device_type(user_agent, os_name, family),
        is_spider=family == "Spider",
    )


def _version(major: str | None, minor: str | None) -> str:
    if not major:
        return ""
    return f"{major}.{minor}" if minor else major


def _device_type(user_agent: str, os_name: str, family: str) -> str:
    if family == "iPad" or _TABLET.search(user_agent):
        return "Tablet"
    if os_name == "Android" and "Mobile" not in user_agent:
        return "Tablet"  # Android tablets leave "Mobile" out of the UA by convention
    if os_name in _MOBILE_OS or "Mobi" in user_agent:
        return "Mobile"
    return "Desktop"


def parse_ua(ctx: Context, env: Env) -> DropReason | None:
    """Fill browser, OS and device from the User-Agent (parsed once per event)."""
    if ctx.agent is None:
        ctx.agent = parse_agent(ctx.raw.user_agent)
    return None
