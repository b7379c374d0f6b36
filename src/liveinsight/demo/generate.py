"""Demo data: a month of realistic traffic for a few sites, written through the real storage
path, and a live trickle of events through the real collector.

Generation is pure: :func:`generate_day` takes a site, a day, a session count, the present
moment and a seeded random source, draws the visits with numpy, and returns the JSON lines of
the ``EventRow``s and final ``SessionRow``s the enrichment pipeline and session logic would
have produced (each session written once, as its last version with ``sign=1``; the lines
are assembled by ``demo.rows``). :func:`write_demo` does the I/O: it appends those lines to
the write-ahead log as frames and lets the ``BatchWriter`` ingest the segments into
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
from urllib.parse import urlsplit

import numpy as np

from liveinsight.demo import catalog as cat
from liveinsight.demo.rows import DayRows, Events, Templates, Visits, encode_day
from liveinsight.ingest.channels import channel_for
from liveinsight.ingest.referrer import source_of_host, source_of_param
from liveinsight.ingest.wal import WalUnavailable, WriteAheadLog
from liveinsight.ingest.writer import BatchWriter
from liveinsight.meta.db import make_engine, pool_of, upgrade
from liveinsight.meta.repo import Metadata, SiteInfo
from liveinsight.settings import Settings
from liveinsight.storage import Store
from liveinsight.storage.migrate import migrate
from liveinsight.storage.schema import SITE_DATA_TABLES
from liveinsight.storage.transports import open_store

log = logging.getLogger("liveinsight.demo")

_DAY_MS = 86_400_000


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
            sources=[_as_collected(s) for s in (*spec.sources,
                                                spec.spike_source or spec.sources[0])],
            source_p=_probs([s[8] for s in spec.sources]),
            spike_entries=[1, 2, 3] if len(pages) > 3 else [0],
            customs=customs,
        )


def _as_collected(src: cat.Source) -> cat.Source:
    """A catalogue source as the pipeline stores it: the referrer as host and path, the
    source and channel named by the pipeline's own referrer and channel rules."""
    url, _, _, utm_source, utm_medium, utm_campaign, content, term, weight = src
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    referrer = host + (parts.path if parts.path not in ("", "/") else "") if host else ""
    known = source_of_param(utm_source) if utm_source else source_of_host(host) if host else None
    source = known.name if known else utm_source or host
    channel = channel_for(category=known.category if known else "", source=source,
                          medium=utm_medium, campaign=utm_campaign)
    return (referrer, source, channel, utm_source, utm_medium, utm_campaign, content, term,
            weight)


_PLACE_P = _probs([p[3] for p in cat.PLACES])
_TECH_P = _probs([t[6] for t in cat.TECH])
_HOUR_P = _probs(cat.HOURS_UTC)
_MODELS: dict[str, _SiteModel] = {s.domain: _SiteModel.of(s) for s in cat.SITES}
_MAX_ID = (1 << 63) - 1


def _draw_visits(model: _SiteModel, day_ms: int, sessions: int, spike: int,
                 rng: np.random.Generator) -> Visits:
    n = sessions + spike
    hour = rng.choice(24, size=n, p=_HOUR_P)
    hour[sessions:] = 13 + rng.integers(0, 10, spike)
    source = rng.choice(len(model.sources) - 1, size=n, p=model.source_p)
    source[sessions:] = len(model.sources) - 1
    # The whole UInt64 range, as the collector's hashes: sampling (SAMPLE BY visitor_id)
    # assumes it.
    visitor = rng.integers(1, np.iinfo(np.uint64).max, n, dtype=np.uint64)
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
    return Visits(
        start=day_ms + hour * 3_600_000 + rng.integers(0, 3_600_000, n),
        source=source,
        place=rng.choice(len(cat.PLACES), size=n, p=_PLACE_P),
        tech=rng.choice(len(cat.TECH), size=n, p=_TECH_P),
        visitor=visitor,
        session=rng.integers(1, _MAX_ID, n, dtype=np.int64),
        pageviews=pageviews, pages=pages, gaps=gaps,
    )


def _draw_events(model: _SiteModel, v: Visits, now_ms: int,
                 rng: np.random.Generator) -> Events:
    total = int(v.pageviews.sum())
    visit = np.repeat(np.arange(len(v.start)), v.pageviews)
    step = np.arange(total) - np.repeat(np.cumsum(v.pageviews) - v.pageviews, v.pageviews)
    offsets = np.cumsum(v.gaps, axis=1)
    time_ = v.start[visit] + offsets[visit, step]
    page = v.pages[visit, step]
    zeros = np.zeros(total, np.int64)
    parts = [(visit, time_, page, zeros, zeros, zeros, zeros)]
    last_step = v.gaps.shape[1] - 1
    is_last = step + 1 >= v.pageviews[visit]
    # ms until the visitor leaves the page: the next pageview, or reading the last page
    reading = (np.clip(np.exp(rng.normal(3.3, 1.0, total)), 1.0, 1800.0) * 1000).astype(
        np.int64)
    room = np.where(is_last, reading, v.gaps[visit, np.minimum(step + 1, last_step)])
    for i, (on_page, _name, props, chance, revenue) in enumerate(model.customs, start=1):
        hit = (rng.random(total) < chance) & ((page == on_page) if on_page >= 0 else True)
        idx = np.flatnonzero(hit)
        delay = 200 + (rng.random(len(idx)) * np.minimum(room[idx] * 0.8, 20_000)).astype(
            np.int64)
        options = max(len(props), len(revenue), 1)
        none = np.zeros(len(idx), np.int64)
        parts.append((visit[idx], time_[idx] + delay, page[idx], np.full(len(idx), i),
                      rng.integers(0, options, len(idx)), none, none))
    # The tracker's engagement event as each page is left: time on it and how far it was
    # scrolled.
    engaged = np.maximum(room - rng.integers(100, 900, total), 100)
    scroll = (rng.beta(2.2, 1.4, total) * 100).astype(np.int64)
    parts.append((visit, time_ + engaged, page, np.full(total, -1), zeros, engaged, scroll))
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    keep = cols[1] <= now_ms
    cols = [c[keep] for c in cols]
    order = np.lexsort((cols[1], cols[0]))
    return Events(*(c[order] for c in cols))


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
    return encode_day(site, templates, model.pages, model.sources, model.customs, v, e)


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
            paid = {name for evs in spec.events.values() for name, _, _, amounts in evs
                    if amounts}
            for event_name, page_path in spec.goals:
                # Goals whose events carry amounts are revenue goals in the site's currency.
                meta.create_goal(site.id, event_name=event_name, page_path=page_path,
                                 currency=site.currency if event_name in paid else None)
        out.append(site)
    return out


def stored_events(store: Store, site_ids: list[int]) -> int:
    sql = f"SELECT count() FROM `{store.database}`.events WHERE has({{ids:Array(UInt32)}}, site_id)"
    return int(store.query(sql, {"ids": site_ids}).scalar() or 0)


def _delete(store: Store, site_ids: list[int]) -> None:
    for table in SITE_DATA_TABLES:  # the rollups too: a DELETE on events does not reach them
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
    engine = make_engine(settings.metadata_url, pool_of(settings))
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
