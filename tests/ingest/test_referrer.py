from __future__ import annotations

import pytest

from liveinsight.ingest.channels import channel_for
from liveinsight.ingest.referrer import (
    DATA_DIR,
    put_referrer,
    source_of_host,
    source_of_param,
)
from liveinsight.ingest.urls import parse_url

from .enrich_factories import context, raw


def enrich(url: str = "https://example.com/", referrer: str = "", **site: object):  # type: ignore[no-untyped-def]
    ctx = context(raw(url=url, referrer=referrer), **site)
    parse_url(ctx, None)  # type: ignore[arg-type]
    assert put_referrer(ctx, None) is None  # type: ignore[arg-type]
    return ctx


def test_data_files_name_their_source() -> None:
    head = (DATA_DIR / "referers.txt").read_text().splitlines()[:3]
    assert any("snowplow-referer-parser/referer-parser" in line for line in head)
    assert "2025-03-24" in "\n".join(head)


@pytest.mark.parametrize(
    ("host", "name", "category"),
    [
        ("google.com", "Google", "search"),
        ("www.google.co.uk", "Google", "search"),
        ("news.google.de", "Google News", "search"),
        ("mail.google.com", "Gmail", "email"),
        ("l.facebook.com", "Facebook", "social"),
        ("news.ycombinator.com", "Hacker News", "social"),
        ("m.youtube.com", "Youtube", "video"),
        ("chatgpt.com", "ChatGPT", "ai"),
        ("www.perplexity.ai", "Perplexity", "ai"),
        ("bsky.app", "Bluesky", "social"),
        ("threads.com", "Threads", "social"),
        ("mastodon.social", "Mastodon", "social"),
        ("x.com", "Twitter", "social"),
        ("duckduckgo.com", "DuckDuckGo", "search"),
        ("com.google.android.gm", "Gmail", "email"),
        ("ad.doubleclick.net", "Doubleclick", "paid"),
    ],
)
def test_known_hosts(host: str, name: str, category: str) -> None:
    found = source_of_host(host)
    assert found is not None and (found.name, found.category) == (name, category)


def test_unknown_and_whole_site_hosts() -> None:
    assert source_of_host("someblog.net") is None
    assert source_of_host("edition.cnn.com") is None  # dropped from "Google" on purpose


@pytest.mark.parametrize(
    ("value", "name"),
    [("google", "Google"), ("fb", "Facebook"), ("facebook.com", "Facebook"),
     ("Youtube", "Youtube"), ("newsletter", None)],
)
def test_source_params(value: str, name: str | None) -> None:
    found = source_of_param(value)
    assert (found.name if found else None) == name


def test_referrer_source_and_channel() -> None:
    ctx = enrich(referrer="https://www.google.com/search?q=shoes")
    assert (ctx.referrer, ctx.referrer_source, ctx.channel) == (
        "google.com/search", "Google", "Organic Search")
    ctx = enrich(referrer="https://someblog.net/post/1/")
    assert (ctx.referrer, ctx.referrer_source, ctx.channel) == (
        "someblog.net/post/1", "someblog.net", "Referral")
    ctx = enrich(referrer="https://chatgpt.com/")
    assert (ctx.referrer_source, ctx.channel) == ("ChatGPT", "Referral")
    ctx = enrich(referrer="https://mail.google.com/mail/u/0/")
    assert (ctx.referrer_source, ctx.channel) == ("Gmail", "Email")
    ctx = enrich(referrer="https://m.youtube.com/watch")
    assert (ctx.referrer_source, ctx.channel) == ("Youtube", "Organic Video")


def test_no_referrer_is_direct() -> None:
    ctx = enrich()
    assert (ctx.referrer, ctx.referrer_source, ctx.channel) == ("", "", "Direct")


def test_same_site_referrers_are_ignored() -> None:
    assert enrich(referrer="https://www.example.com/other").referrer == ""
    ctx = enrich(referrer="https://shop.example.org/cart", aliases=("shop.example.org",))
    assert (ctx.referrer, ctx.channel) == ("", "Direct")
    ctx = enrich("https://blog.example.com/", referrer="https://blog.example.com/a")
    assert ctx.referrer == ""


def test_query_source_names_the_source_first() -> None:
    ctx = enrich("https://example.com/?utm_source=newsletter&utm_medium=email",
                 referrer="https://mail.google.com/")
    assert (ctx.referrer, ctx.referrer_source, ctx.channel) == (
        "mail.google.com", "newsletter", "Email")
    assert enrich("https://example.com/?ref=producthunt").referrer_source == "producthunt"
    assert enrich("https://example.com/?source=fb").referrer_source == "Facebook"
    ctx = enrich("https://example.com/?utm_source=google&utm_medium=cpc")
    assert (ctx.referrer_source, ctx.channel) == ("Google", "Paid Search")


@pytest.mark.parametrize(
    ("url", "source", "channel"),
    [
        ("https://example.com/?gclid=abc", "Google", "Paid Search"),
        ("https://example.com/?msclkid=abc", "Bing", "Paid Search"),
        ("https://example.com/?ttclid=abc", "TikTok", "Paid Social"),
        ("https://example.com/?twclid=abc", "Twitter", "Paid Social"),
        ("https://example.com/?li_fat_id=abc", "LinkedIn", "Paid Social"),
        ("https://example.com/?fbclid=abc", "", "Direct"),
    ],
)
def test_click_ids(url: str, source: str, channel: str) -> None:
    ctx = enrich(url)
    assert (ctx.referrer_source, ctx.channel) == (source, channel)


def test_click_id_keeps_the_referrer_source() -> None:
    ctx = enrich("https://example.com/?gclid=abc", referrer="https://www.google.de/")
    assert (ctx.referrer_source, ctx.channel) == ("Google", "Paid Search")


@pytest.mark.parametrize(
    ("category", "source", "medium", "campaign", "channel"),
    [
        ("", "", "", "", "Direct"),
        ("", "partner", "", "", "Referral"),
        ("", "x", "", "summer cross-network", "Cross-network"),
        ("search", "Google", "ppc", "", "Paid Search"),
        ("social", "Facebook", "paid_social", "", "Paid Social"),
        ("video", "Youtube", "cpv", "", "Paid Video"),
        ("shopping", "Amazon", "cpc", "", "Paid Shopping"),
        ("", "x", "cpc", "", "Paid Other"),
        ("", "x", "banner", "", "Display"),
        ("paid", "Doubleclick", "", "", "Display"),
        ("", "x", "", "spring shopping", "Organic Shopping"),
        ("social", "Facebook", "", "", "Organic Social"),
        ("", "x", "social", "", "Organic Social"),
        ("video", "Vimeo", "", "", "Organic Video"),
        ("search", "Bing", "", "", "Organic Search"),
        ("", "x", "organic", "", "Organic Search"),
        ("", "x", "newsletter", "", "Email"),
        ("", "email", "", "", "Email"),
        ("", "x", "affiliate", "", "Affiliates"),
        ("", "x", "audio", "", "Audio"),
        ("", "x", "sms", "", "SMS"),
        ("", "x", "web-push", "", "Mobile Push Notifications"),
        ("", "x", "referral", "", "Referral"),
        ("", "x", "weird", "", "Unassigned"),
    ],
)
def test_channel_rules(category: str, source: str, medium: str, campaign: str,
                       channel: str) -> None:
    assert channel_for(category=category, source=source, medium=medium,
                       campaign=campaign) == channel
