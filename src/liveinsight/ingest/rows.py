"""The ``row`` step: the stored ``EventRow`` from everything the earlier steps found."""

from __future__ import annotations

from datetime import UTC, datetime

from liveinsight.ingest import revenue
from liveinsight.ingest.context import Context, Env
from liveinsight.types import DropReason, EventRow

_MAX_UINT32 = 2**32 - 1
_SECONDS: dict[int, str] = {}  # Unix second → its text up to the "."
_MAX_SECONDS = 4096
_LAST: list[tuple[datetime | None, str]] = [(None, "")]


def row_ts(value: datetime) -> str:
    """``types.format_ts`` of an aware UTC ``value`` (the same text), with the part up to
    the second cached: ``strftime`` costs ~3 µs and the events of one second share it
    (keyed by an integer second, exact and cheaper to look up than a datetime). The events
    of one request usually share one datetime object (the request's arrival): the last
    answer is kept for it (datetimes are immutable, so the same object is the same time)."""
    last = _LAST[0]
    if last[0] is value:
        return last[1]
    second = value.toordinal() * 86400 + value.hour * 3600 + value.minute * 60 + value.second
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= _MAX_SECONDS:
            _SECONDS.clear()  # bounded; events arrive in time order, so few misses follow
        text = _SECONDS[second] = value.strftime("%Y-%m-%d %H:%M:%S.")
    out = f"{text}{value.microsecond // 1000:03d}"
    _LAST[0] = (value, out)  # one tuple swapped in: a reader sees the old pair or the new
    return out


def utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def revenue_of(amount: str | None, currency: str | None, default: str) -> tuple[str, str]:
    """``(decimal text, currency)``: ``("0", "")`` without a usable amount. The amount is
    kept in the currency it came in (``default``, the site's, when none was given)."""
    value = revenue.amount(amount) if amount else None
    if value is None:
        return "0", ""
    return value, (currency or default).strip().upper()[:3]


def build_row(ctx: Context, env: Env) -> DropReason | None:
    site, agent, raw = ctx.site, ctx.agent, ctx.raw
    assert site is not None and agent is not None
    amount, currency = revenue_of(raw.revenue_amount, raw.revenue_currency, site.currency)
    ctx.row = EventRow(
        timestamp=row_ts(utc(raw.timestamp)),
        site_id=site.id,
        name=raw.name,
        visitor_id=ctx.visitor_id,
        session_id=0,  # set by the session step
        hostname=ctx.hostname,
        pathname=ctx.pathname,
        referrer=ctx.referrer,
        referrer_source=ctx.referrer_source,
        channel=ctx.channel,
        utm_source=ctx.utm_source,
        utm_medium=ctx.utm_medium,
        utm_campaign=ctx.utm_campaign,
        utm_content=ctx.utm_content,
        utm_term=ctx.utm_term,
        country_code=ctx.country_code,
        region=ctx.region,
        city=ctx.city,
        device=agent.device,
        browser=agent.browser,
        browser_version=agent.browser_version,
        os=agent.os,
        os_version=agent.os_version,
        screen=raw.screen,
        props=raw.props,
        revenue=amount,
        revenue_currency=currency,
        engagement_ms=min(max(raw.engagement_ms, 0), _MAX_UINT32),
        scroll_depth=min(max(raw.scroll_depth, 0), 100),
        retention_days=site.retention_days,
    )
    return None
