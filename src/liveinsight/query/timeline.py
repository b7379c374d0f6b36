"""The buckets a time dimension covers, so timeseries can show empty buckets as zeros."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from liveinsight.query.model import Interval, Query


def time_labels(q: Query) -> list[str]:
    """Every bucket label of ``q``'s time dimension over its range, in order, formatted as the
    SQL formats them (``YYYY-MM-DD`` or local ``YYYY-MM-DD hh:mm:ss``). Empty without a time
    dimension. Local hours repeated by a DST change appear once."""
    dim = q.time_dimension()
    if dim is None:
        return []
    interval = q.bucket(dim)
    dr = q.date_range
    if interval in ("minute", "hour"):
        return _clock_labels(q, interval)
    first = dr.start.astimezone(ZoneInfo(q.timezone)).date()
    last = (dr.end - timedelta(microseconds=1)).astimezone(ZoneInfo(q.timezone)).date()
    return [d.isoformat() for d in _dates(_floor(first, interval), last, interval)]


def _clock_labels(q: Query, interval: Interval) -> list[str]:
    tz = ZoneInfo(q.timezone)
    step = timedelta(minutes=1 if interval == "minute" else 15)
    fmt = "%Y-%m-%d %H:%M:00" if interval == "minute" else "%Y-%m-%d %H:00:00"
    out: list[str] = []
    seen: set[str] = set()
    moment = q.date_range.start
    while moment < q.date_range.end:
        label = moment.astimezone(tz).strftime(fmt)
        if label not in seen:
            seen.add(label)
            out.append(label)
        moment += step
    return out


def _floor(d: date, interval: Interval) -> date:
    if interval == "week":
        return d - timedelta(days=d.weekday())
    if interval == "month":
        return d.replace(day=1)
    return d


def _dates(first: date, last: date, interval: Interval) -> list[date]:
    out = []
    d = first
    while d <= last:
        out.append(d)
        if interval == "day":
            d += timedelta(days=1)
        elif interval == "week":
            d += timedelta(days=7)
        else:
            d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out
