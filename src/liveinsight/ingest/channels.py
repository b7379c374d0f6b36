"""Acquisition channels, following GA4's default channel group rules (as Plausible does).

Pure: the caller gives the source's category (from the referrer directory), the UTM medium
and campaign, and the kind of ad click id in the URL, if any. The rules are checked in GA4's
order; the first that matches wins.
"""

from __future__ import annotations

import re
from functools import lru_cache

_PAID_MEDIUM = re.compile(r"^(?:.*cp.*|ppc|retargeting|paid.*)$")
_SHOP_CAMPAIGN = re.compile(r"^.*(?:(?:[^a-df-z]|^)shop|shopping).*$")
_DISPLAY = frozenset({"display", "banner", "expandable", "interstitial", "cpm"})
_SOCIAL = frozenset({"social", "social-network", "social-media", "sm", "social network",
                     "social media"})
_EMAIL = frozenset({"email", "e-mail", "e_mail", "e mail", "newsletter"})
_REFERRAL = frozenset({"referral", "app", "link"})

# Ad click ids appended by ad platforms to landing-page URLs: (parameter, kind, source).
# fbclid is left out on purpose: Facebook adds it to every outbound link, organic posts
# included, so it does not mean "paid".
CLICK_IDS: tuple[tuple[str, str, str], ...] = (
    ("gclid", "search", "Google"),
    ("gbraid", "search", "Google"),
    ("wbraid", "search", "Google"),
    ("msclkid", "search", "Bing"),
    ("ttclid", "social", "TikTok"),
    ("twclid", "social", "Twitter"),
    ("li_fat_id", "social", "LinkedIn"),
)


def click_of(query: dict[str, str]) -> tuple[str, str] | None:
    """``(kind, default source)`` of the first ad click id in ``query``, else None."""
    if not query:
        return None
    for param, kind, source in CLICK_IDS:
        if query.get(param):
            return kind, source
    return None


@lru_cache(maxsize=4096)  # few distinct (category, source, medium, campaign) tuples
def channel_for(*, category: str, source: str, medium: str, campaign: str,
                click: str = "") -> str:
    """The channel name. ``category`` is one of search, social, email, paid (ad networks),
    video, shopping, ai, unknown or ``""``; ``click`` is ``"search"``, ``"social"`` or ``""``.
    """
    medium, campaign, src = medium.lower(), campaign.lower(), source.lower()
    if "cross-network" in campaign:
        return "Cross-network"
    paid = _PAID_MEDIUM.match(medium) is not None
    shop = category == "shopping" or _SHOP_CAMPAIGN.match(campaign) is not None
    if paid and shop:
        return "Paid Shopping"
    if click == "search" or (paid and category == "search"):
        return "Paid Search"
    if click == "social" or (paid and category == "social"):
        return "Paid Social"
    if paid and category == "video":
        return "Paid Video"
    if medium in _DISPLAY or category == "paid":
        return "Display"
    if paid:
        return "Paid Other"
    return _organic(category, src, medium, shop)


def _organic(category: str, src: str, medium: str, shop: bool) -> str:
    if shop:
        return "Organic Shopping"
    if category == "social" or medium in _SOCIAL:
        return "Organic Social"
    if category == "video" or "video" in medium:
        return "Organic Video"
    if category == "search" or medium == "organic":
        return "Organic Search"
    if category == "email" or medium in _EMAIL or src in _EMAIL:
        return "Email"
    if medium == "affiliate":
        return "Affiliates"
    if medium == "audio":
        return "Audio"
    if medium == "sms" or src == "sms":
        return "SMS"
    if medium.endswith("push") or "mobile" in medium or "notification" in medium \
            or src == "firebase":
        return "Mobile Push Notifications"
    if medium in _REFERRAL:
        return "Referral"
    if medium:
        return "Unassigned"
    return "Referral" if src else "Direct"
