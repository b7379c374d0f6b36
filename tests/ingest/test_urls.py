from __future__ import annotations

import pytest

from liveinsight.ingest.urls import parse_url
from liveinsight.types import DropReason

from .enrich_factories import context, raw


def parsed(**event: object):  # type: ignore[no-untyped-def]
    ctx = context(raw(**event))
    assert parse_url(ctx, None) is None  # type: ignore[arg-type]
    return ctx


@pytest.mark.parametrize(
    ("url", "hash_mode", "host", "path"),
    [
        ("https://www.Example.COM/Blog/", False, "example.com", "/Blog/"),
        ("https://example.com", False, "example.com", "/"),
        ("https://example.com/caf%C3%A9%20menu", False, "example.com", "/café menu"),
        ("https://example.com/app#/settings", False, "example.com", "/app"),
        ("https://example.com/app#/settings", True, "example.com", "/app#/settings"),
        ("https://example.com#/a", True, "example.com", "/#/a"),
        ("https://example.com/#", True, "example.com", "/"),
        ("http://blog.example.com:8080/x?y=1", False, "blog.example.com", "/x"),
        ("example.com/no-scheme", False, "example.com", "/no-scheme"),
        ("https://user:pw@Example.com:8443/p?q=1#f", False, "example.com", "/p"),
        ("//example.com/relative-scheme", False, "example.com", "/relative-scheme"),
        ("example.com?next=http://other.net/x", False, "example.com", "/"),
        ("https://[2001:db8::1]:8080/v6", False, "2001:db8::1", "/v6"),
        ("android-app://com.example.app/screen", False, "com.example.app", "/screen"),
    ],
)
def test_hostname_and_pathname(url: str, hash_mode: bool, host: str, path: str) -> None:
    ctx = parsed(url=url, hash_mode=hash_mode)
    assert (ctx.hostname, ctx.pathname) == (host, path)


def test_url_without_host_falls_back_to_the_site_domain() -> None:
    ctx = parsed(url="/just/a/path")
    assert (ctx.hostname, ctx.pathname) == ("example.com", "/just/a/path")


def test_unparseable_url_is_invalid() -> None:
    ctx = context(raw(url="http://[::1/broken"))
    assert parse_url(ctx, None) is DropReason.INVALID  # type: ignore[arg-type]


def test_utm_tags_and_first_value_wins() -> None:
    ctx = parsed(url="https://example.com/?utm_source=Newsletter&UTM_MEDIUM=email"
                     "&utm_campaign=black+friday&utm_content=hero&utm_term=shoes"
                     "&utm_source=second&ref=ignored")
    assert (ctx.utm_source, ctx.utm_medium, ctx.utm_campaign, ctx.utm_content,
            ctx.utm_term) == ("Newsletter", "email", "black friday", "hero", "shoes")
    assert ctx.query["ref"] == "ignored"


def test_referrer_parts() -> None:
    ctx = parsed(referrer="https://www.News.ycombinator.com/item/?id=1")
    assert (ctx.referrer_host, ctx.referrer_path) == ("news.ycombinator.com", "/item")
    assert parsed(referrer="not a url at all").referrer_host == ""
    assert parsed(referrer="").referrer_host == ""


def test_query_decoding() -> None:
    ctx = parsed(url="https://example.com/?utm_campaign=spring%20sale&utm_term=a+b&empty="
                     "&utm_source=&utm_source=%20x%20&=novalue&novalue")
    assert (ctx.utm_campaign, ctx.utm_term, ctx.utm_source) == ("spring sale", "a b", "x")
    assert "empty" not in ctx.query and "novalue" not in ctx.query
