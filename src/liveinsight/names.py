"""Names the product reads from people and trackers, in their canonical forms: site domains
and IPv4 addresses. Pure; shared by the collector's parser, the metadata and security."""

from __future__ import annotations

import re

# A plain dotted quad without leading zeros: the usual client address, and already in the
# text form str(IPv4Address) gives.
DOTTED_QUAD = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                         r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")


# ``[\w-]+`` with the length checked apart: ``{1,63}`` over Unicode ``\w`` takes ~65 ms to
# compile, paid by every process at start.
_LABEL = re.compile(r"[\w-]+")


def domain(value: str) -> str:
    """``https://www.Example.com/`` → ``example.com``; raises ValueError for anything that
    is not a host name (empty, an empty label as in ``bad..domain``, spaces, over 253
    characters)."""
    text = value.strip().lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.split("/", 1)[0].removeprefix("www.")
    labels = text.split(".")
    if not text or len(text) > 253 or not all(
            len(label) <= 63 and _LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{value[:100]!r} is not a domain")
    return text
