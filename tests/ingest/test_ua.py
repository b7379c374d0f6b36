from __future__ import annotations

import pytest

from liveinsight.ingest import ua as ua_module
from liveinsight.ingest.ua import Agent, parse_agent, parse_ua

from .enrich_factories import CHROME, IPHONE, context, raw

IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
ANDROID_PHONE = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
                 "Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36")
ANDROID_TABLET = ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/119.0.0.0 Safari/537.36")
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:120.0) Gecko/20100101 Firefox/120.0"


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (CHROME, Agent("Chrome", "120.0", "Windows", "10", "Desktop", False)),
        (IPHONE, Agent("Safari", "17.1", "iOS", "17.1", "Mobile", False)),
        (IPAD, Agent("Safari", "17.0", "iOS", "17.0", "Tablet", False)),
        (ANDROID_PHONE, Agent("Chrome", "120.0", "Android", "14", "Mobile", False)),
        (ANDROID_TABLET, Agent("Chrome", "119.0", "Android", "13", "Tablet", False)),
        (FIREFOX_MAC, Agent("Firefox", "120.0", "macOS", "14.1", "Desktop", False)),
        ("something unknown", Agent("", "", "", "", "Desktop", False)),
    ],
)
def test_parse_agent(ua: str, expected: Agent) -> None:
    assert parse_agent(ua) == expected


def test_uses_the_rust_resolver_and_caches() -> None:
    from ua_parser.regex import Resolver

    assert isinstance(ua_module.parser().resolver, Resolver)
    parse_agent.cache_clear()
    parse_agent(CHROME)
    parse_agent(CHROME)
    info = parse_agent.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (1, 1, 10_000)


def test_step_reuses_an_agent_parsed_by_drop_bots() -> None:
    ctx = context(raw(user_agent=IPHONE))
    assert parse_ua(ctx, None) is None  # type: ignore[arg-type]
    assert ctx.agent is not None and ctx.agent.device == "Mobile"
