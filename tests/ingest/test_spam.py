from __future__ import annotations

from liveinsight.ingest.spam import DATA, drop_spam, is_spam_host, spam_domains
from liveinsight.ingest.urls import parse_url
from liveinsight.types import DropReason

from .enrich_factories import context, raw


def test_vendored_list_has_a_source_header_and_many_domains() -> None:
    header = DATA.read_text().splitlines()[0]
    assert header.startswith("#") and "matomo-org/referrer-spam-list" in header
    assert len(spam_domains()) > 2000
    assert "semalt.com" in spam_domains() and "qiwi.xyz" in spam_domains()


def test_host_and_parent_domains_match() -> None:
    assert is_spam_host("semalt.com")
    assert is_spam_host("best.SEMALT.com")
    assert not is_spam_host("com")
    assert not is_spam_host("notsemalt.com")
    assert not is_spam_host("google.com")


def test_step_drops_spam_referrers_only() -> None:
    spam = context(raw(referrer="http://www.semalt.com/crawler.php?u=x"))
    parse_url(spam, None)  # type: ignore[arg-type]
    assert drop_spam(spam, None) is DropReason.SPAM_REFERRER  # type: ignore[arg-type]
    fine = context(raw(referrer="https://duckduckgo.com/"))
    parse_url(fine, None)  # type: ignore[arg-type]
    assert drop_spam(fine, None) is None  # type: ignore[arg-type]
