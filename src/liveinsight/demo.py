"""Demo data: a month of realistic traffic for a few sites, written through the real storage
path, and a live trickle of events through the real collector.

Generation is pure: :func:`generate_day` takes a site, a day, a session count, the present
moment and a seeded random source, and returns the ``EventRow``s and final ``SessionRow``s the
enrichment pipeline and session logic would have produced (each session written once, as its
last version with ``sign=1``). :func:`write_demo` does the I/O: it encodes those rows as JSON
lines into write-ahead-log frames and lets the ``BatchWriter`` ingest the segments into
ClickHouse, exactly as collected events travel.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np

from liveinsight import demo_catalog as cat
from liveinsight.ingest.wal import WalUnavailable, WriteAheadLog
from liveinsight.ingest.writer import BatchWriter
from liveinsight.meta.db import make_engine, upgrade
from liveinsight.meta.repo import Metadata, SiteInfo
from liveinsight.settings import Settings
from liveinsight.storage import Store, open_store
from liveinsight.storage.migrate import migrate
from liveinsight.types import EventRow, SessionRow

log = logging.getLogger("liveinsight.demo")

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


def _probs(weights: list[float]) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    out: np.ndarray = p / p.sum()
    return out


@dataclass
class _SiteModel:
    """A catalogue site prepared for vectorised drawing: page popularity, a page-to-page
    transition matrix (the site's flows mixed with popularity), sources (the viral source
    last) and the custom events each page may fire."""

    spec: cat.DemoSite
    pages: list[str]
    popularity: np.ndarray
    entry: np.ndarray  # popularity as a landing page
    next_cum: np.ndarray  # row i: cumulative probabilities of the page after page i
    sources: list[cat.Source]
    source_p: np.ndarray
    spike_entries: list[int]
    customs: list[tuple[int, str, list[dict[str, str]], float, list[str]]]  # page -1: any

    @classmethod
    def of(cls, spec: cat.DemoSite) -> _SiteModel:
        pages = [p for p, _ in spec.pages]
        index = {p: i for i, p in enumerate(pages)}
        pop = _probs([w for _, w in spec.pages])
        trans = np.tile(pop, (len(pages), 1))
        for page, nxt in spec.flows.items():
            flow = np.zeros(len(pages))
            for target, weight in nxt:
                flow[index[target]] += weight
            trans[index[page]] = 0.65 * flow / flow.sum() + 0.35 * pop
        next_cum = np.cumsum(trans, axis=1)
        next_cum[:, -1] = 1.0
        customs = [(index[page] if page != "*" else -1, name, props, chance, revenue)
                   for page, evs in spec.events.items() for name, props, chance, revenue in evs]
        entry = pop * np.array([0.03 if p in cat.DEEP_PAGES else 1.0 for p in pages])
        return cls(
            spec=spec, pages=pages, popularity=pop, entry=entry / entry.sum(),
            next_cum=next_cum,
            sources=[*spec.sources, spec.spike_source or spec.sources[0]],
            source_p=_probs([s[8] for s in spec.sources]),
            spike_entries=[1, 2, 3] if len(pages) > 3 else [0],
            customs=customs,
        )


_PLACE_P = _probs([p[3] for p in cat.PLACES])
_TECH_P = _probs([t[6] for t in cat.TECH])
_HOUR_P = _probs(cat.HOURS_UTC)
_MODELS: dict[str, _SiteModel] = {s.domain: _SiteModel.of(s) for s in cat.SITES}
_MAX_ID = (1 << 63) - 1


_ENCODER = msgspec.json.Encoder()
_VISIT_FIELDS = ("referrer", "referrer_source", "channel", "utm_source", "utm_medium",
                 "utm_campaign", "utm_content", "utm_term", "country_code", "region", "city",
                 "device", "browser", "browser_version", "os", "os_version", "screen")
# Per-row fields, in field order, with stand-in values whose JSON text occurs nowhere else
# in a row; a row's JSON is its template's text with these spans replaced. The visit's
# fields (referrer ... screen) are one span.
_EVENT_SLOTS: list[tuple[str, object]] = [
    ("timestamp", "\x01"), ("name", "\x02"), ("visitor_id", 1111111111111111111),
    ("session_id", 2222222222222222222), ("pathname", "\x03"), ("referrer", "\x07"),
    ("screen", "\x08"), ("props", {"\x04": ""}), ("revenue", "\x05"),
    ("revenue_currency", "\x06"),
]
_SESSION_SLOTS: list[tuple[str, object]] = [
    ("session_id", 3333333333333333333), ("visitor_id", 4444444444444444444),
    ("version", 555555551), ("start", "\x01"), ("timestamp", "\x02"), ("entry_page", "\x03"),
    ("exit_page", "\x04"), ("pageviews", 555555552), ("events", 555555553),
    ("duration", 555555554), ("is_bounce", 555555555), ("referrer", "\x07"),
    ("screen", "\x08"),
]


def _pieces(row: msgspec.Struct, slots: list[tuple[str, object]]) -> list[bytes]:
    text = _ENCODER.encode(_replace(row, **dict(slots)))
    pieces = []
    for _, value in slots:
        head, text = text.split(_ENCODER.encode(value), 1)
        pieces.append(head)
    return [*pieces, text]


class Templates:
    """The JSON text of rows, pre-split: per site the constant pieces of its event and
    session rows, per source, place and device their part of a visit's span.

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
            text = _ENCODER.encode(dict(zip(fields, values, strict=True)))[1:-1]
            hit = self._parts[(fields[0], values)] = text
        return hit

    def visits(self, sources: list[cat.Source], source: np.ndarray, place: np.ndarray,
               tech: np.ndarray) -> list[bytes]:
        """Per visit, the JSON text from the referrer's value to the screen's value."""
        skip = len(b'"referrer":')
        src = [self._part(_VISIT_FIELDS[:8], s[:8])[skip:] for s in sources]
        places = [self._part(_VISIT_FIELDS[8:11], p[:3]) for p in cat.PLACES]
        techs = [self._part(_VISIT_FIELDS[11:], t[:6]) for t in cat.TECH]
        return [b"".join((src[a], b",", places[b], b",", techs[c])) for a, b, c in
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
class _Visits:
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


def _draw_visits(model: _SiteModel, day_ms: int, sessions: int, spike: int,
                 rng: np.random.Generator) -> _Visits:
    n = sessions + spike
    hour = rng.choice(24, size=n, p=_HOUR_P)
    hour[sessions:] = 13 + rng.integers(0, 10, spike)
    source = rng.choice(len(model.sources) - 1, size=n, p=model.source_p)
    source[sessions:] = len(model.sources) - 1
    visitor = rng.integers(1, _MAX_ID, n, dtype=np.int64)
    returning = np.flatnonzero(rng.random(n) < 0.08)
    returning = returning[returning > 0]
    visitor[returning] = visitor[(rng.random(len(returning)) * returning).astype(np.int64)]
    bounce = np.full(n, model.spec.bounce_rate)
    bounce[sessions:] = min(model.spec.bounce_rate * 1.25, 0.95)
    pageviews = np.where(rng.random(n) < bounce, 1,
                         np.minimum(1 + rng.geometric(0.45, n), 14)).astype(np.int64)
    width = int(pageviews.max()) if n else 1
    pages = np.zeros((n, width), dtype=np.int64)
    pages[:, 0] = rng.choice(len(model.pages), size=n, p=model.entry)
    pages[sessions:, 0] = np.asarray(model.spike_entries)[np.arange(spike) % 3 % len(
        model.spike_entries)]
    for k in range(1, width):
        active = np.flatnonzero(pageviews > k)
        u = rng.random(len(active))
        nxt = (model.next_cum[pages[active, k - 1]] < u[:, None]).sum(axis=1)
        pages[active, k] = np.minimum(nxt, len(model.pages) - 1)
    gaps = (np.clip(np.exp(rng.normal(3.6, 0.9, (n, width))), 2.0, 1200.0) * 1000).astype(
        np.int64)
    gaps[:, 0] = 0
    return _Visits(
        start=day_ms + hour * 3_600_000 + rng.integers(0, 3_600_000, n),
        source=source,
        place=rng.choice(len(cat.PLACES), size=n, p=_PLACE_P),
        tech=rng.choice(len(cat.TECH), size=n, p=_TECH_P),
        visitor=visitor,
        session=rng.integers(1, _MAX_ID, n, dtype=np.int64),
        pageviews=pageviews, pages=pages, gaps=gaps,
    )


@dataclass
class _Events:
    """Per-event arrays for one site-day, sorted by visit then time."""

    visit: np.ndarray
    time: np.ndarray
    page: np.ndarray
    kind: np.ndarray  # 0: pageview, i > 0: model.customs[i - 1]
    choice: np.ndarray  # which props / revenue value of the custom event


def _draw_events(model: _SiteModel, v: _Visits, now_ms: int,
                 rng: np.random.Generator) -> _Events:
    total = int(v.pageviews.sum())
    visit = np.repeat(np.arange(len(v.start)), v.pageviews)
    step = np.arange(total) - np.repeat(np.cumsum(v.pageviews) - v.pageviews, v.pageviews)
    offsets = np.cumsum(v.gaps, axis=1)
    time_ = v.start[visit] + offsets[visit, step]
    page = v.pages[visit, step]
    parts = [(visit, time_, page, np.zeros(total, np.int64), np.zeros(total, np.int64))]
    last_step = v.gaps.shape[1] - 1
    for i, (on_page, _name, props, chance, revenue) in enumerate(model.customs, start=1):
        hit = (rng.random(total) < chance) & ((page == on_page) if on_page >= 0 else True)
        idx = np.flatnonzero(hit)
        nxt = np.minimum(step[idx] + 1, last_step)
        room = np.where(step[idx] + 1 < v.pageviews[visit[idx]], v.gaps[visit[idx], nxt], 30_000)
        delay = 500 + (rng.random(len(idx)) * np.minimum(room * 0.8, 20_000)).astype(np.int64)
        options = max(len(props), len(revenue), 1)
        parts.append((visit[idx], time_[idx] + delay, page[idx], np.full(len(idx), i),
                      rng.integers(0, options, len(idx))))
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    keep = cols[1] <= now_ms
    cols = [c[keep] for c in cols]
    order = np.lexsort((cols[1], cols[0]))
    return _Events(*(c[order] for c in cols))


def generate_day(
    site: SiteInfo,
    day_start: datetime,
    sessions: int,
    now: datetime,
    rng: np.random.Generator,
    *,
    spike: int = 0,
    templates: Templates | None = None,
) -> DayRows:
    """The rows of ``sessions`` visits (plus ``spike`` visits from the site's viral source)
    to ``site`` starting on the UTC day ``day_start``, in visit then time order. No event is
    later than ``now``.

    Visits follow the hourly rhythm, walk the site's pages (entry → linked pages → exit, a
    share of them bouncing), fire the site's custom events with props and revenue, and carry
    one source, place and device each. About one visit in twelve is a same-day return of an
    earlier visitor (same ``visitor_id``, new session). Each visit has one ``SessionRow``:
    its final version, ``sign=1``.
    """
    model = _MODELS[site.domain]
    templates = templates or Templates()
    v = _draw_visits(model, int(day_start.timestamp() * 1000), sessions, spike, rng)
    e = _draw_events(model, v, int(now.timestamp() * 1000), rng)
    if not len(e.visit):
        return DayRows(b"", 0, 0)
    stamps = format_ms(e.time)
    ev_p, se_p = templates.site(site)
    chunks = templates.visits(model.sources, v.source, v.place, v.tech)
    vids = [b"%d" % x for x in v.visitor.tolist()]
    sids = [b"%d" % x for x in v.session.tolist()]
    enc = _ENCODER.encode
    paths = [enc(p) for p in model.pages]
    p = ev_p
    # A row is p0 stamp p1 name p2 vid p3 sid p4 path p5 visit p7 props p8 revenue p9
    # currency p10; per visit, the parts around the path are fixed for its pageviews.
    heads = [b"".join((vid, p[3], sid, p[4])) for vid, sid in zip(vids, sids, strict=True)]
    pv_mid = b"".join((p[1], enc("pageview"), p[2]))
    pv_tail = b"".join((p[7], b"{}", p[8], enc("0"), p[9], enc(""), p[10]))
    tails = [b"".join((p[5], chunk, pv_tail)) for chunk in chunks]
    is_pv = e.kind == 0
    pv = np.flatnonzero(is_pv)
    lines = [b"".join((p[0], stamps[i], pv_mid, heads[visit], paths[page], tails[visit]))
             for i, visit, page in zip(pv.tolist(), e.visit[pv].tolist(), e.page[pv].tolist(),
                                       strict=True)]
    customs = [(enc(name), [enc(p) for p in props], [enc(r) for r in revenue] or [enc("0")],
                enc(site.currency if revenue else "")) for _, name, props, _, revenue in
               model.customs]
    other = np.flatnonzero(~is_pv)
    for i, visit, kind, page, choice in zip(other.tolist(), e.visit[other].tolist(),
                                            e.kind[other].tolist(), e.page[other].tolist(),
                                            e.choice[other].tolist(), strict=True):
        name, props, revenues, currency = customs[kind - 1]
        lines.append(b"".join((
            p[0], stamps[i], p[1], name, p[2], heads[visit], paths[page], p[5], chunks[visit],
            p[7], props[choice % len(props)], p[8], revenues[choice % len(revenues)], p[9],
            currency, p[10])))
    lines.extend(_session_lines(e, se_p, stamps, chunks, vids, sids, paths))
    lines.append(b"")
    return DayRows(b"\n".join(lines), len(e.visit), len(lines) - 1 - len(e.visit))


_INTS = [b"%d" % i for i in range(20_000)]


def _int(value: int) -> bytes:
    return _INTS[value] if 0 <= value < 20_000 else b"%d" % value


def _session_lines(e: _Events, q: list[bytes], stamps: list[bytes], chunks: list[bytes],
                   vids: list[bytes], sids: list[bytes], paths: list[bytes]) -> list[bytes]:
    """One line per visit: its final ``SessionRow`` (``sign=1``, ``version`` = its events)."""
    bounds = np.flatnonzero(np.diff(e.visit)) + 1
    firsts = np.concatenate(([0], bounds))
    lasts = np.concatenate((bounds - 1, [len(e.visit) - 1]))
    is_pv = e.kind == 0
    pv_idx = np.flatnonzero(is_pv)
    last_pv = pv_idx[np.concatenate((np.flatnonzero(np.diff(e.visit[pv_idx])),
                                     [len(pv_idx) - 1]))]
    counts = lasts - firsts + 1
    pageviews = np.add.reduceat(is_pv.astype(np.int64), firsts)
    durations = (e.time[lasts] - e.time[firsts]) // 1000
    return [b"".join((
        q[0], sids[visit], q[1], vids[visit], q[2], _int(count), q[3], stamps[first], q[4],
        stamps[last], q[5], paths[entry], q[6], paths[exit_page], q[7], _int(pvs), q[8],
        _int(count), q[9], _int(duration), q[10], b"1" if count == 1 else b"0", q[11],
        chunks[visit], q[13]))
        for visit, first, last, count, pvs, duration, entry, exit_page in zip(
            e.visit[firsts].tolist(), firsts.tolist(), lasts.tolist(), counts.tolist(),
            pageviews.tolist(), durations.tolist(), e.page[firsts].tolist(),
            e.page[last_pv].tolist(), strict=True)]


@dataclass(frozen=True, slots=True)
class DayPlan:
    site: SiteInfo
    day_start: datetime
    sessions: int
    spike: int


def plan(sites: list[SiteInfo], days: int, now: datetime, scale: float,
         rng: random.Random) -> list[DayPlan]:
    """How many visits each site gets each day: its base volume, a weekly rhythm (weekends
    differ per site), slow growth over the month, day-to-day noise, and one viral day for
    sites that have a spike source. Today gets only the share of the day already past."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for site in sites:
        spec = _MODELS[site.domain].spec
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            volume = spec.visitors_per_day * scale
            volume *= spec.weekend_factor if day.weekday() >= 5 else 1.0
            volume *= 0.82 + 0.18 * (days - back) / days
            volume *= math.exp(rng.gauss(0, 0.07))
            spike = int(volume * 1.6) if spec.spike_day == back else 0
            out.append(DayPlan(site, day, max(int(volume), 1), spike))
    return out


# --- writing through the storage path -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoReport:
    sites: list[SiteInfo]
    skipped: bool
    events: int = 0
    sessions: int = 0
    seconds: float = 0.0  # generated, logged and stored in ClickHouse
    logged_seconds: float = 0.0  # generated and appended to the write-ahead log

    @property
    def events_per_second(self) -> float:
        """End to end: until ClickHouse confirmed the last segment."""
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def logged_per_second(self) -> float:
        """Generation and write-ahead-log appends (ingest runs alongside, on the writer's
        thread)."""
        return self.events / self.logged_seconds if self.logged_seconds else 0.0


def ensure_sites(meta: Metadata) -> list[SiteInfo]:
    """The demo sites, created (with their goals) when missing."""
    existing = {s.domain: s for s in meta.sites()}
    out = []
    for spec in cat.SITES:
        site = existing.get(spec.domain)
        if site is None:
            site = meta.create_site(spec.domain, name=spec.name, timezone=spec.timezone)
            for event_name, page_path in spec.goals:
                meta.create_goal(site.id, event_name=event_name, page_path=page_path)
        out.append(site)
    return out


def stored_events(store: Store, site_ids: list[int]) -> int:
    sql = f"SELECT count() FROM `{store.database}`.events WHERE has({{ids:Array(UInt32)}}, site_id)"
    return int(store.query(sql, {"ids": site_ids}).scalar() or 0)


def _delete(store: Store, site_ids: list[int]) -> None:
    for table in ("events", "sessions"):
        store.command(
            f"ALTER TABLE `{store.database}`.{table} DELETE WHERE has({{ids:Array(UInt32)}}, "
            "site_id) SETTINGS mutations_sync = 2", {"ids": site_ids})


def frames(plans: list[DayPlan], now: datetime, seed: int) -> Iterator[tuple[bytes, int, int]]:
    """``(payload, events, sessions)``: one site-day of rows as JSON lines, ready to append."""
    templates = Templates()
    for i, day in enumerate(plans):
        rng = np.random.default_rng([seed, i])
        rows = generate_day(day.site, day.day_start, day.sessions, now, rng,
                            spike=day.spike, templates=templates)
        if rows.events:
            yield rows.lines, rows.events, rows.sessions


def _append(wal: WriteAheadLog, writer: BatchWriter, payload: bytes, rows: int) -> None:
    while True:
        try:
            wal.append(payload, rows)
            return
        except WalUnavailable:  # the quota is full while the store catches up
            writer.nudge()
            time.sleep(0.2)


Progress = Callable[[int, int, float], None]  # (events generated, events expected, share stored)


def write_demo(
    settings: Settings,
    *,
    days: int = 30,
    scale: float = 1.0,
    seed: int = 7,
    reset: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> DemoReport:
    """Create the demo sites and, unless their data is already stored (and ``reset`` is not
    set), generate ``days`` days of traffic and ingest it through the write-ahead log and the
    batch writer. Opens and closes the store (chDB allows one open data path per process), so
    it must not run while a server holds the same data directory.

    Raises ``RuntimeError`` when the store did not take every segment in time (what it did
    not take stays in the log and is ingested at the next start)."""
    now = now or datetime.now(UTC)
    engine = make_engine(settings.metadata_url)
    upgrade(engine)
    meta = Metadata(engine)
    try:
        sites = ensure_sites(meta)
    finally:
        engine.dispose()
    store = open_store(settings)
    try:
        migrate(store)
        ids = [s.id for s in sites]
        if stored_events(store, ids) and not reset:
            return DemoReport(sites, skipped=True)
        if reset:
            _delete(store, ids)
        return _generate(settings, store, sites, days, scale, seed, now, progress)
    finally:
        store.close()


def _generate(settings: Settings, store: Store, sites: list[SiteInfo], days: int, scale: float,
              seed: int, now: datetime, progress: Progress | None) -> DemoReport:
    report = progress or (lambda _e, _x, _s: None)
    plans = plan(sites, days, now, scale, random.Random(seed))
    expected = int(sum((p.sessions + p.spike) * 2.3 for p in plans))
    wal = WriteAheadLog(settings.wal_dir, fsync=settings.wal_fsync,
                        interval_s=settings.wal_fsync_interval_ms / 1000,
                        max_bytes=settings.wal_max_bytes)
    writer = BatchWriter(wal, store, node_id=f"demo{seed}", batch_rows=60_000, flush_s=0.5,
                         retry_max_s=settings.writer_retry_max_seconds)
    started = time.perf_counter()
    n_events = n_sessions = appended = 0
    backlog = wal.total_bytes  # segments left by an earlier run are ingested first
    # The writer starts once generation is done (or the log is half full): on a small
    # machine both compete for the same cores, and ingest is the slower of the two.
    running = False
    try:
        for payload, events, sessions in frames(plans, now, seed):
            if not running and wal.total_bytes > wal.max_bytes // 2:
                writer.start()
                running = True
            _append(wal, writer, payload, events)
            n_events += events
            n_sessions += sessions
            appended += len(payload)
            report(n_events, max(expected, n_events), _stored(wal, appended, backlog))
        logged = time.perf_counter() - started
        if not running:
            writer.start()
        deadline = time.monotonic() + 300
        while wal.total_bytes and time.monotonic() < deadline:
            writer.nudge()
            time.sleep(0.1)
            report(n_events, n_events, _stored(wal, appended, backlog))
    finally:
        writer.stop(flush=True, timeout=60)
        wal.close()
    seconds = time.perf_counter() - started
    if wal.total_bytes:
        raise RuntimeError(f"demo data is still in the write-ahead log: {writer.last_error}")
    report(n_events, n_events, 1.0)
    return DemoReport(sites, skipped=False, events=n_events, sessions=n_sessions,
                      seconds=seconds, logged_seconds=logged)


def _stored(wal: WriteAheadLog, appended: int, backlog: int) -> float:
    total = appended + backlog
    return 1.0 - wal.total_bytes / total if total else 1.0
