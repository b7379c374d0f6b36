"""The ``drop_spam`` step: referrer spam, from Matomo's community-maintained list.

The list is vendored in ``data/referrer_spam.txt`` (its header names the source commit and
date). A referrer matches when its host or any parent domain is listed, so
``x.semalt.com`` is spam because ``semalt.com`` is.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from liveinsight.ingest.context import Context, Env
from liveinsight.types import DropReason

DATA = Path(__file__).parent / "data" / "referrer_spam.txt"


@lru_cache(maxsize=1)
def spam_domains() -> frozenset[str]:
    lines = DATA.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
    )


@lru_cache(maxsize=4096)  # referrer hosts repeat (search engines, social sites)
def is_spam_host(host: str) -> bool:
    """True when ``host`` or one of its parent domains is a known spam domain."""
    domains = spam_domains()
    labels = host.lower().split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels) - 1))


def drop_spam(ctx: Context, env: Env) -> DropReason | None:
    if ctx.referrer_host and is_spam_host(ctx.referrer_host):
        return DropReason.SPAM_REFERRER
    return None
