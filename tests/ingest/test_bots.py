from __future__ import annotations

import pytest

from liveinsight.ingest.bots import drop_bots, is_bot
from liveinsight.types import DropReason

from .enrich_factories import CHROME, IPHONE, context, raw


@pytest.mark.parametrize(
    "ua",
    [
        "",
        "   ",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "curl/8.4.0",
        "python-requests/2.31.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
        "PhantomJS/2.1.1 Safari/538.1",
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Playwright/1.40",
    ],
)
def test_bots(ua: str) -> None:
    assert is_bot(ua)
    assert drop_bots(context(raw(user_agent=ua)), None) is DropReason.BOT  # type: ignore[arg-type]


@pytest.mark.parametrize("ua", [CHROME, IPHONE,
                                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:120.0) "
                                "Gecko/20100101 Firefox/120.0"])
def test_browsers_are_not_bots(ua: str) -> None:
    assert not is_bot(ua)
    assert drop_bots(context(raw(user_agent=ua)), None) is None  # type: ignore[arg-type]


def test_ua_parser_spider_family_counts() -> None:
    # Matched by ua-parser's device rules ("Spider") even if a crawler list misses it.
    assert is_bot("Mozilla/5.0 (compatible; SomeNewSpider/1.0; +http://spider.example)")
