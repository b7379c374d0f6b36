"""The rollups give exactly the raw tables' answers, on a generated set of a few hundred
visits over four weeks (a clock change, visits across midnight, returning visitors,
engagement events), in zones with whole-hour offsets and in one without (read raw)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from liveinsight.ops.metrics import Metrics
from liveinsight.query import sql
from liveinsight.query.parser import parse_v2
from liveinsight.query.runner import QueryRunner, Result
from liveinsight.storage.migrate import migrate
from liveinsight.storage.protocol import Store
from tests.query.rows import ingest, visit

SITE = 3
TODAY = date(2026, 11, 12)
PAGES = ["/", "/pricing", "/blog", "/blog/a", "/docs"]
_ATTRS = {"referrer_source": ["", "Google", "Twitter"], "channel": ["Direct", "Organic Search"],
          "country_code": ["DE", "US", "IN", "FR"], "device": ["Desktop", "Mobile"],
          "browser": ["Chrome", "Safari", "Firefox"], "os": ["Windows", "iOS", "Linux"]}


def _visits(n: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    first = datetime(2026, 10, 14, tzinfo=UTC)
    out = []
    for _ in range(n):
        at = first + timedelta(minutes=rng.randrange(29 * 24 * 60))
        if rng.random() < 0.1:  # just before midnight UTC / local
            at = at.replace(hour=rng.choice([21, 22, 23]), minute=50)
        events = []
        for _ in range(rng.choice([1, 1, 2, 3, 4])):
            page = rng.choice(PAGES)
            events.append((at.isoformat(), rng.choice(["pageview"] * 4 + ["Signup"]), page))
            if rng.random() < 0.5:
                events.append(((at + timedelta(seconds=20)).isoformat(), "engagement", page,
                               {"engagement_ms": 20000, "scroll_depth": 50}))
            at += timedelta(minutes=rng.randrange(1, 25))
        attrs = {k: rng.choice(v) for k, v in _ATTRS.items()}
        out.append(visit(SITE, rng.randrange(1, n // 2), events, **attrs))
    return out


@pytest.fixture(scope="module")
def stored(store: Store, segments: Path) -> Store:
    # Two segments and a replay of the first: the replay is deduplicated in the rollups too.
    ingest(store, segments, _visits(250, 1))
    ingest(store, segments, _visits(250, 2))
    first = sorted(segments.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)[0]
    store.ingest_segment(first, first.stem)
    return store


def _ask(runner: QueryRunner, tz: str, **body: Any) -> Result:
    return runner.run(parse_v2(body, site_id=SITE, timezone=tz, goals=(), today=TODAY))


def _uses_rollups(tz: str, body: dict[str, Any]) -> bool:
    text, _ = sql.build(parse_v2(body, site_id=SITE, timezone=tz, goals=(), today=TODAY), "db")
    return "_rollup" in text


_COMPARE = {"comparisons": {"mode": "previous_period"}}
BODIES: list[dict[str, Any]] = [
    {"metrics": ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
                 "visit_duration", "events"], "include": _COMPARE},
    {"metrics": ["visitors", "visits", "pageviews"], "dimensions": ["time:day"],
     "include": _COMPARE},
    {"metrics": ["visitors", "visits"], "dimensions": ["time:week"]},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["time:month"], "date_range": "91d"},
    {"metrics": ["visitors", "visits", "bounce_rate"], "dimensions": ["time:hour"],
     "date_range": ["2026-10-25", "2026-10-26"]},
    {"metrics": ["visitors", "pageviews", "events"], "dimensions": ["event:page"],
     "include": _COMPARE},
    *({"metrics": ["visitors", "visits", "bounce_rate", "visit_duration", "views_per_visit",
                   "pageviews"], "dimensions": [dim]}
      for dim in ("visit:source", "visit:channel", "visit:country", "visit:device",
                  "visit:browser", "visit:os")),
    {"metrics": ["visits"], "dimensions": ["visit:country"], "date_range": "7d"},
    {"metrics": ["visitors"], "dimensions": ["visit:source"],
     "date_range": ["2026-11-05", "2026-11-05"]},
    {"metrics": ["visitors", "visits"], "date_range": ["2026-10-20", "2026-11-09"]},
    {"metrics": ["visitors"], "dimensions": ["visit:os"],
     "filters": [["is", "visit:country", ["DE"]]]},  # filters: raw
]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("body", BODIES, ids=lambda b: "-".join(b.get("dimensions", ["agg"])))
def test_rollups_give_the_raw_answer(stored: Store, tz: str, body: dict[str, Any]) -> None:
    body = {"date_range": "28d", **body}
    raw = _ask(QueryRunner(stored, Metrics(), timeout_s=30, rollups=False), tz, **body)
    fast = _ask(QueryRunner(stored, Metrics(), timeout_s=30), tz, **body)
    assert raw.rows, "the data set answers every query"
    assert fast.rows == raw.rows
    assert fast.comparison == raw.comparison
    totals = all(d.startswith("time:") for d in body.get("dimensions", []))
    assert _uses_rollups(tz, body) == (totals and tz != "Asia/Kolkata" and "filters" not in body)


def test_migration_backfills_the_rollups(stored: Store) -> None:
    """Re-running the rollup migration rebuilds them from the stored rows: same contents."""
    db = stored.database
    sums = (f"SELECT dim, sum(pageviews), sum(events), uniqCombinedMerge(visitors)"
            f" FROM `{db}`.events_rollup GROUP BY dim ORDER BY dim")
    visits = f"SELECT dim, sum(visits), sum(seconds) FROM `{db}`.sessions_rollup GROUP BY dim"
    before = stored.query(sums).rows, sorted(stored.query(visits).rows)
    stored.command(f"DELETE FROM `{db}`.schema_migrations WHERE version = 3")
    assert migrate(stored) == [3]
    assert (stored.query(sums).rows, sorted(stored.query(visits).rows)) == before
    pageviews = stored.query(f"SELECT countIf(name = 'pageview') FROM `{db}`.events"
                             f" WHERE site_id = {SITE}").scalar()
    total = stored.query(f"SELECT sum(pageviews) FROM `{db}`.events_rollup"
                         f" WHERE site_id = {SITE} AND dim = '' AND level = 0").scalar()
    assert int(total) == int(pageviews) > 0


def test_an_engagement_ping_alone_counts_no_visitor_in_the_rollups(stored: Store,
                                                                    segments: Path) -> None:
    """The session tracker moves a visit's ``timestamp`` for an engagement event; the raw
    visit-only path then counts the visitor on the ping's day, the rollups (the documented
    rule: a pageview or custom event in the range) do not."""
    events, sessions = visit(4, 7, [("2026-11-01T23:59:00", "pageview", "/"),
                                    ("2026-11-02T00:00:30", "engagement", "/",
                                     {"engagement_ms": 30000})])
    moved = msgspec.structs.replace(sessions[0], sign=-1)
    last = msgspec.structs.replace(sessions[0], version=2, timestamp="2026-11-02 00:00:30.000",
                                   duration=90)
    ingest(stored, segments, [(events, [sessions[0], moved, last])])
    body: dict[str, Any] = {"metrics": ["visitors"], "date_range": ["2026-11-02", "2026-11-02"]}
    q = parse_v2(body, site_id=4, timezone="UTC", goals=(), today=TODAY)
    raw = QueryRunner(stored, Metrics(), timeout_s=30, rollups=False).run(q)
    fast = QueryRunner(stored, Metrics(), timeout_s=30).run(q)
    assert [r.metrics for r in raw.rows] == [(1,)]
    assert [r.metrics for r in fast.rows] == [(0,)]
