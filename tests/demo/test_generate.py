"""Demo data: rows shaped exactly like the pipeline's, realistic mixes, and rows landing in
ClickHouse through the write-ahead log."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np
import pytest

from liveinsight.demo import catalog, generate, live
from liveinsight.demo.rows import DayRows, format_ms
from liveinsight.meta.repo import SiteInfo
from liveinsight.storage.transports import open_store
from liveinsight.types import EventRow, SessionRow, format_ts
from tests.conftest import make_settings

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def _site(domain: str, site_id: int = 1) -> SiteInfo:
    return SiteInfo(site_id, "00000000-0000-0000-0000-000000000001", domain, domain, (),
                    "UTC", "USD", 30, True, False, False, (), (), ())


def _day(domain: str = "shop.example", sessions: int = 1500, back: int = 1,
         spike: int = 0) -> tuple[DayRows, list[EventRow], list[SessionRow]]:
    start = NOW.replace(hour=0, minute=30) - timedelta(days=back, minutes=30)
    rows = generate.generate_day(_site(domain), start, sessions, NOW, np.random.default_rng(3),
                                 spike=spike)
    events, session_rows = rows.rows()
    return rows, events, session_rows


def test_every_line_is_the_msgspec_encoding_of_its_row() -> None:
    rows, events, sessions = _day()
    encoder = msgspec.json.Encoder()
    lines = rows.lines.splitlines()
    assert len(lines) == rows.events + rows.sessions == len(events) + len(sessions)
    for line, row in zip(lines, [*events, *sessions], strict=True):
        assert encoder.encode(row) == line
    assert all(line.startswith(b'{"_k":"e",') for line in lines[:rows.events])
    assert all(line.startswith(b'{"_k":"s",') for line in lines[rows.events:])
    assert b'":""' not in rows.lines and b'"props":{}' not in rows.lines  # omit_defaults


def test_sessions_are_final_versions_consistent_with_their_events() -> None:
    _, events, sessions = _day()
    by_session: dict[int, list[EventRow]] = {}
    for e in events:
        by_session.setdefault(e.session_id, []).append(e)
    assert len(sessions) == len(by_session)
    for s in sessions:
        mine = sorted(by_session[s.session_id], key=lambda e: e.timestamp)
        views = [e for e in mine if e.name == "pageview"]
        counted = [e for e in mine if e.name != "engagement"]  # as the session logic counts
        assert (s.sign, s.version, s.events) == (1, len(mine), len(counted))
        assert s.pageviews == len(views)
        assert s.start == mine[0].timestamp and s.timestamp == mine[-1].timestamp
        assert s.entry_page == views[0].pathname and s.exit_page == views[-1].pathname
        assert s.is_bounce == int(len(counted) == 1)
        assert {e.visitor_id for e in mine} == {s.visitor_id}
        assert (s.channel, s.country_code, s.browser) == (mine[0].channel, mine[0].country_code,
                                                          mine[0].browser)


def test_visit_fields_are_the_catalogs_under_their_own_names() -> None:
    _, events, sessions = _day()
    shop = next(s for s in catalog.SITES if s.domain == "shop.example")
    utms = {s[3:8] for s in shop.sources}
    places = {p[:3] for p in catalog.PLACES}
    techs = {t[:6] for t in catalog.TECH}
    for row in (*events, *sessions):
        assert (row.utm_source, row.utm_medium, row.utm_campaign, row.utm_content,
                row.utm_term) in utms
        assert (row.country_code, row.region, row.city) in places
        assert (row.device, row.browser, row.browser_version, row.os, row.os_version,
                row.screen) in techs


def test_a_day_of_traffic_looks_like_real_traffic() -> None:
    _, events, sessions = _day(sessions=3000)
    bounce = sum(s.is_bounce for s in sessions) / len(sessions)
    assert 0.2 < bounce < 0.5
    views_per_visit = sum(s.pageviews for s in sessions) / len(sessions)
    assert 1.8 < views_per_visit < 4
    channels = Counter(s.channel for s in sessions)
    assert {"Direct", "Organic Search", "Paid Social", "Email"} <= set(channels)
    assert channels.most_common(1)[0][0] in ("Direct", "Organic Search")
    assert len({s.country_code for s in sessions}) > 30
    assert {s.device for s in sessions} == {"Desktop", "Mobile", "Tablet"}
    hours = Counter(int(s.start[11:13]) for s in sessions)
    assert hours[15] > 2 * hours[3]  # afternoons busier than nights
    names = Counter(e.name for e in events)
    assert names["pageview"] > names["Add to Cart"] > names["Purchase"] > 0
    purchases = [e for e in events if e.name == "Purchase"]
    assert all(float(e.revenue) > 0 and e.revenue_currency == "USD" for e in purchases)
    assert all(e.revenue == "0" for e in events if e.name != "Purchase")
    assert all(e.props for e in events if e.name not in ("pageview", "engagement"))
    engaged = [e for e in events if e.name == "engagement"]
    assert 0.9 < len(engaged) / names["pageview"] <= 1.0  # one per page left
    assert all(e.engagement_ms >= 100 and 0 <= e.scroll_depth <= 100 for e in engaged)
    assert all(e.engagement_ms == e.scroll_depth == 0 for e in events
               if e.name != "engagement")
    assert 15 < sum(s.duration for s in sessions) / len(sessions) < 300
    assert all(e.pathname == "/checkout/thank-you" for e in purchases)
    assert sum(1 for e in events if e.utm_campaign == "winter-sale") > 0
    returning = Counter(s.visitor_id for s in sessions)
    assert 0 < sum(1 for n in returning.values() if n > 1) < len(sessions) * 0.15


def test_nothing_is_later_than_now_and_today_is_partial() -> None:
    _, events, _ = _day(back=0)
    assert events and max(e.timestamp for e in events) <= format_ts(NOW)
    plans = generate.plan([_site("blog.example")], 30, NOW, 1.0, random.Random(1))
    assert len(plans) == 30 and plans[-1].day_start.date() == NOW.date()
    weekday = [p.sessions for p in plans if p.day_start.weekday() < 5 and not p.spike]
    weekend = [p.sessions for p in plans if p.day_start.weekday() >= 5]
    assert sum(weekend) / len(weekend) < sum(weekday) / len(weekday)
    assert sum(1 for p in plans if p.spike) == 1


def test_a_viral_day_brings_its_source() -> None:
    _, _, sessions = _day(domain="blog.example", sessions=500, spike=800)
    assert Counter(s.referrer_source for s in sessions).most_common(1)[0][0] == "Reddit"


def test_demo_rows_land_in_clickhouse_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    report = generate.write_demo(settings, days=3, scale=0.05, now=NOW)
    assert not report.skipped and report.events > 1000
    assert [s.domain for s in report.sites] == [s.domain for s in catalog.SITES]
    again = generate.write_demo(settings, days=3, scale=0.05, now=NOW)
    assert again.skipped
    store = open_store(settings)
    try:
        db = store.database
        assert store.query(f"SELECT count() FROM `{db}`.events").scalar() == report.events
        assert store.query(f"SELECT sum(sign) FROM `{db}`.sessions").scalar() == report.sessions
        names = {r[0] for r in store.query(f"SELECT DISTINCT name FROM `{db}`.events").rows}
        assert {"pageview", "Purchase", "Signup", "Newsletter Signup"} <= names
    finally:
        store.close()
    assert not list(settings.wal_dir.glob("*.wal"))


def test_reset_replaces_the_demo_data(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first = generate.write_demo(settings, days=2, scale=0.02, now=NOW)
    again = generate.write_demo(settings, days=2, scale=0.02, seed=8, now=NOW, reset=True)
    assert not again.skipped and again.events != first.events
    store = open_store(settings)
    try:
        db = store.database
        assert store.query(f"SELECT count() FROM `{db}`.events").scalar() == again.events
        assert store.query(f"SELECT sum(sign) FROM `{db}`.sessions").scalar() == again.sessions
        # the rollups were reset too: they total what the tables hold (hour level)
        rolled = store.query(f"SELECT sum(visits) FROM `{db}`.sessions_rollup WHERE level = 0")
        assert rolled.scalar() == again.sessions
        pageviews = store.query(f"SELECT countIf(name = 'pageview') FROM `{db}`.events").scalar()
        rolled = store.query(f"SELECT sum(pageviews) FROM `{db}`.events_rollup WHERE level = 0")
        assert rolled.scalar() == pageviews
    finally:
        store.close()


def test_goals_are_created_with_the_sites(tmp_path: Path) -> None:
    from liveinsight.meta.db import make_engine, upgrade
    from liveinsight.meta.repo import Metadata

    settings = make_settings(tmp_path)
    engine = make_engine(settings.metadata_url)
    upgrade(engine)
    meta = Metadata(engine)
    sites = generate.ensure_sites(meta)
    assert generate.ensure_sites(meta) == sites
    shop = next(s for s in sites if s.domain == "shop.example")
    assert {g.display_name for g in meta.goals(shop.id)} >= {"Purchase", "Add to Cart"}
    engine.dispose()


def test_live_trickle_sends_plausible_events_like_browsers() -> None:
    trickle = live.Trickle(list(catalog.SITES), 2.0, random.Random(5))
    hits = [h for t in range(240) for h in trickle.due(t * 0.5)]
    assert len(hits) > 150
    domains = {h.body["d"] for h in hits}
    assert domains == {s.domain for s in catalog.SITES}
    assert all(str(h.body["u"]).startswith(f"https://{h.body['d']}/") for h in hits)
    assert any("utm_campaign=" in str(h.body["u"]) for h in hits)
    assert any(h.body["n"] != "pageview" and h.body.get("p") for h in hits)
    assert all(h.user_agent.startswith("Mozilla/5.0") for h in hits)
    first_octets = {int(h.ip.split(".")[0]) for h in hits}
    assert not first_octets & {10, 127, 172, 192}


@pytest.mark.parametrize("ms", [0, 86_399_999, 1_763_651_234_567])
def test_timestamps_match_format_ts(ms: int) -> None:
    expected = format_ts(datetime.fromtimestamp(ms / 1000, UTC))
    assert format_ms(np.array([ms], dtype=np.int64)) == [f'"{expected}"'.encode()]
