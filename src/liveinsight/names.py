"""Names the product reads from people and trackers, in their canonical forms: site domains
and IPv4 addresses. Pure; shared by the collector's parser, the metadata and security."""

from __future__ import annotations

import re

# A plain dotted quad without leading zeros: the usual client address, and already in the
# text form str(IPv4Address) gives.
DOTTED_QUAD = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                         r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")


def domain(value: str) -> str:
    """``https://www.Example.com/`` → ``example.com``; raises ValueError when empty."""
    text = value.strip().lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.split("/", 1)[0].removeprefix("www.")
    if not text or " " in text:
        raise ValueError(f"{value!r} is not a domain")
    return text
