"""Demo rows as write-ahead-log JSON lines, assembled fast.

Rows are written as exactly the JSON text ``msgspec`` gives for their ``EventRow`` and
``SessionRow`` (a test decodes and re-encodes every line), but assembled from pre-encoded
pieces (per site, per source, place and device, per visit) instead of building a Struct per
row: this is what lets ``liveinsight demo`` generate a few hundred thousand events a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np

from liveinsight.demo import catalog as cat
from liveinsight.meta.repo import SiteInfo
from liveinsight.storage.schema import VISIT_NAMES
from liveinsight.types import EventRow, SessionRow

_DAY_MS = 86_400_000
_replace = msgspec.structs.replace
_HMS = [f"{h:02d}:{m:02d}:{s:02d}".encode() for h in range(24) for m in range(60)
        for s in range(60)]
_MS = [f'.{i:03d}"'.encode() for i in range(1000)]


def format_ms(values: np.ndarray) -> list[bytes]:
    """Epoch milliseconds → ``"YYYY-MM-DD hh:mm:ss.fff"`` (UTC, as a JSON string), the text
    ``types.format_ts`` writes."""
    day = values // _DAY_MS
    rest = values - day * _DAY_MS
    days = {int(d): f'"{np.datetime64(int(d), "D")} '.encode() for d in np.unique(day)}
    return [days[d] + _HMS[s] + _MS[m] for d, s, m in
            zip(day.tolist(), (rest // 1000).tolist(), (rest % 1000).tolist(), strict=True)]


_ENCODER = msgspec.json.Encoder()
# The catalog's tuples hold the visit columns in schema order, each followed by its weight:
# a Source the first eight (referrer ... utm_term), a Place the next three (country_code,
# region, city), a Tech the last six (device ... screen).
_SOURCE_FIELDS, _PLACE_FIELDS, _TECH_FIELDS = VISIT_NAMES[:8], VISIT_NAMES[8:11], VISIT_NAMES[11:]
# The fields every row has that vary per row, in field order, with stand-in values whose JSON
# text occurs nowhere else in a row; a row's JSON is its template's text with these spans
# replaced and its optional fields (each ``,"name":value``, left out at its default, as
# ``omit_defaults`` does) inserted before the last piece, which is ``retention_days`` (when
# set) and ``}``. ``encode_day`` puts the pieces together by position; ``_pieces`` fails on
# slots out of field order.
_EVENT_SLOTS: list[tuple[str, object]] = [
    ("timestamp", "\x01"), ("name", "\x02"), ("visitor_id", 1111111111111111111),
    ("session_id", 2222222222222222222), ("pathname", "\x03"),
]
_SESSION_SLOTS: list[tuple[str, object]] = [
    ("session_id", 3333333333333333333), ("visitor_id", 4444444444444444444),
    ("version", 555555551), ("start", "\x01"), ("timestamp", "\x02"), ("entry_page", "\x03"),
    ("exit_page", "\x04"), ("pageviews", 555555552), ("events", 555555553),
    ("duration", 555555554), ("is_bounce", 555555555),
]
_DEFAULTS = EventRow(timestamp="", site_id=0, name="", visitor_id=0, session_id=0,
                     hostname="", pathname="")


def _pieces(row: msgspec.Struct, slots: list[tuple[str, object]]) -> list[bytes]:
    text = _ENCODER.encode(_replace(row, **dict(slots)))
    pieces = []
    for _, value in slots:
        head, text = text.split(_ENCODER.encode(value), 1)
        pieces.append(head)
    return [*pieces, text]


def _field(name: str, value: object) -> bytes:
    """``,"name":value`` as msgspec writes it, or nothing when ``value`` equals the field's
    default: a line without it decodes to the default itself, which msgspec leaves out."""
    if value == getattr(_DEFAULTS, name):
        return b""
    return b',"%s":%s' % (name.encode(), _ENCODER.encode(value))


class Templates:
    """The JSON text of rows, pre-split: per site the constant pieces of its event and
    session rows, per source, place and device their part of a visit's fields.

    Rows are written as exactly the JSON ``msgspec`` gives for their ``EventRow`` and
    ``SessionRow`` (a test decodes and re-encodes every line), assembled from these pieces
    and the per-row values, so no Struct is built per row."""

    def __init__(self) -> None:
        self._sites: dict[int, tuple[list[bytes], list[bytes]]] = {}
        self._parts: dict[tuple[str, tuple[str, ...]], bytes] = {}

    def site(self, site: SiteInfo) -> tuple[list[bytes], list[bytes]]:
        hit = self._sites.get(site.id)
        if hit is None:
            event = EventRow(timestamp="", site_id=site.id, name="", visitor_id=0,
                             session_id=0, hostname=site.domain, pathname="",
                             retention_days=site.retention_days)
            session = SessionRow(site_id=site.id, session_id=0, visitor_id=0, sign=1,
                                 version=1, start="", timestamp="", hostname=site.domain,
                                 entry_page="", exit_page="", pageviews=0, events=0,
                                 duration=0, is_bounce=0, retention_days=site.retention_days)
            hit = self._sites[site.id] = (_pieces(event, _EVENT_SLOTS),
                                          _pieces(session, _SESSION_SLOTS))
        return hit

    def _part(self, fields: tuple[str, ...], values: tuple[str, ...]) -> bytes:
        hit = self._parts.get((fields[0], values))
        if hit is None:
            text = b"".join(_field(f, v) for f, v in zip(fields, values, strict=True))
            hit = self._parts[(fields[0], values)] = text
        return hit

    def visits(self, sources: list[cat.Source], source: np.ndarray, place: np.ndarray,
               tech: np.ndarray) -> list[bytes]:
        """Per visit, the JSON text of its fields (``referrer`` ... ``screen``) that are not
        at their default, each with its leading comma."""
        src = [self._part(_SOURCE_FIELDS, s[:8]) for s in sources]
        places = [self._part(_PLACE_FIELDS, p[:3]) for p in cat.PLACES]
        techs = [self._part(_TECH_FIELDS, t[:6]) for t in cat.TECH]
        return [b"".join((src[a], places[b], techs[c])) for a, b, c in
                zip(source.tolist(), place.tolist(), tech.tolist(), strict=True)]


@dataclass(frozen=True, slots=True)
class DayRows:
    """One site-day as write-ahead-log JSON lines: ``events`` event rows (each the encoding
    of an ``EventRow``), then ``sessions`` session rows (each a ``SessionRow``)."""

    lines: bytes
    events: int
    sessions: int

    def rows(self) -> tuple[list[EventRow], list[SessionRow]]:
        text = self.lines.splitlines()
        return ([msgspec.json.decode(line, type=EventRow) for line in text[:self.events]],
                [msgspec.json.decode(line, type=SessionRow) for line in text[self.events:]])


@dataclass
class Visits:
    """Per-visit draws for one site-day (arrays of length n)."""

    start: np.ndarray
    source: np.ndarray
    place: np.ndarray
    tech: np.ndarray
    visitor: np.ndarray
    session: np.ndarray
    pageviews: np.ndarray
    pages: np.ndarray  # visits x max pageviews: the page of each pageview
    gaps: np.ndarray  # visits x max pageviews: ms since the previous pageview


@dataclass
class Events:
    """Per-event arrays for one site-day, sorted by visit then time."""

    visit: np.ndarray
    time: np.ndarray
    page: np.ndarray
    kind: np.ndarray  # 0: pageview, i > 0: the site's customs[i - 1], -1: engagement
    choice: np.ndarray  # which props / revenue value of the custom event
    engaged: np.ndarray  # engagement: ms on the page (0 for other rows)
    scroll: np.ndarray  # engagement: scroll depth in percent (0 for other rows)


Custom = tuple[int, str, list[dict[str, str]], float, list[str]]  # page (-1: any), name, ...


def encode_day(site: SiteInfo, templates: Templates, pages: list[str],
               sources: list[cat.Source], customs: list[Custom], v: Visits, e: Events
               ) -> DayRows:
    """The JSON lines of one site-day: a line per event of ``e``, then a line per visit
    that has events (its final session version). Engagement rows (``kind`` -1) are what the
    tracker sends as a page is left: they extend the visit's duration but are not counted
    as its events, as the session logic does."""
    if not len(e.visit):
        return DayRows(b"", 0, 0)
    stamps = format_ms(e.time)
    p, se_p = templates.site(site)
    chunks = templates.visits(sources, v.source, v.place, v.tech)
    vids = [b"%d" % x for x in v.visitor.tolist()]
    sids = [b"%d" % x for x in v.session.tolist()]
    enc = _ENCODER.encode
    paths = [enc(p) for p in pages]
    # A row is p0 stamp p1 name p2 vid p3 sid p4 path, the visit's fields, the row's other
    # fields that are not at their default, p5; per visit, the parts around the path are
    # fixed for its pageviews.
    heads = [b"".join((vid, p[3], sid, p[4])) for vid, sid in zip(vids, sids, strict=True)]
    pv_mid = b"".join((p[1], enc("pageview"), p[2]))
    engaged_mid = b"".join((p[1], enc("engagement"), p[2]))
    tails = [chunk + p[5] for chunk in chunks]
    is_pv = e.kind == 0
    pv = np.flatnonzero(is_pv)
    lines = [b"".join((p[0], stamps[i], pv_mid, heads[visit], paths[page], tails[visit]))
             for i, visit, page in zip(pv.tolist(), e.visit[pv].tolist(), e.page[pv].tolist(),
                                       strict=True)]
    encoded = [(enc(name), [_field("props", p) for p in props],
                [_field("revenue", r) for r in revenue] or [b""],
                _field("revenue_currency", site.currency if revenue else ""))
               for _, name, props, _, revenue in customs]
    engaged = np.flatnonzero(e.kind < 0)
    lines.extend(b"".join((
        p[0], stamps[i], engaged_mid, heads[visit], paths[page], chunks[visit],
        b',"engagement_ms":' + _int(ms) if ms else b"",
        b',"scroll_depth":' + _int(depth) if depth else b"", p[5]))
        for i, visit, page, ms, depth in zip(
            engaged.tolist(), e.visit[engaged].tolist(), e.page[engaged].tolist(),
            e.engaged[engaged].tolist(), e.scroll[engaged].tolist(), strict=True))
    other = np.flatnonzero(e.kind > 0)
    for i, visit, kind, page, choice in zip(other.tolist(), e.visit[other].tolist(),
                                            e.kind[other].tolist(), e.page[other].tolist(),
                                            e.choice[other].tolist(), strict=True):
        name, props, revenues, currency = encoded[kind - 1]
        lines.append(b"".join((
            p[0], stamps[i], p[1], name, p[2], heads[visit], paths[page], chunks[visit],
            props[choice % len(props)], revenues[choice % len(revenues)], currency, p[5])))
    lines.extend(_session_lines(e, se_p, stamps, chunks, vids, sids, paths))
    lines.append(b"")
    return DayRows(b"\n".join(lines), len(e.visit), len(lines) - 1 - len(e.visit))


_INTS = [b"%d" % i for i in range(20_000)]


def _int(value: int) -> bytes:
    return _INTS[value] if 0 <= value < 20_000 else b"%d" % value


def _session_lines(e: Events, q: list[bytes], stamps: list[bytes], chunks: list[bytes],
                   vids: list[bytes], sids: list[bytes], paths: list[bytes]) -> list[bytes]:
    """One line per visit: its final ``SessionRow`` (``sign=1``; ``version`` counts every
    row, as each one made a new version; ``events`` leaves engagement rows out)."""
    bounds = np.flatnonzero(np.diff(e.visit)) + 1
    firsts = np.concatenate(([0], bounds))
    lasts = np.concatenate((bounds - 1, [len(e.visit) - 1]))
    is_pv = e.kind == 0
    pv_idx = np.flatnonzero(is_pv)
    last_pv = pv_idx[np.concatenate((np.flatnonzero(np.diff(e.visit[pv_idx])),
                                     [len(pv_idx) - 1]))]
    versions = lasts - firsts + 1
    counts = np.add.reduceat((e.kind >= 0).astype(np.int64), firsts)
    pageviews = np.add.reduceat(is_pv.astype(np.int64), firsts)
    durations = (e.time[lasts] - e.time[firsts]) // 1000
    return [b"".join((
        q[0], sids[visit], q[1], vids[visit], q[2], _int(version), q[3], stamps[first], q[4],
        stamps[last], q[5], paths[entry], q[6], paths[exit_page], q[7], _int(pvs), q[8],
        _int(count), q[9], _int(duration), q[10], b"1" if count == 1 else b"0",
        chunks[visit], q[11]))
        for visit, first, last, version, count, pvs, duration, entry, exit_page in zip(
            e.visit[firsts].tolist(), firsts.tolist(), lasts.tolist(), versions.tolist(),
            counts.tolist(), pageviews.tolist(), durations.tolist(), e.page[firsts].tolist(),
            e.page[last_pv].tolist(), strict=True)]


