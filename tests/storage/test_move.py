"""``storage/move.py``: a node's events and sessions copied from its embedded engine to a
ClickHouse server over HTTP (a real server when LIVEINSIGHT_TEST_CLICKHOUSE_URL is set, else
the HTTP interface emulated over chDB), chunk by chunk, resumable, and checked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from liveinsight.errors import Invalid
from liveinsight.storage import move, schema
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.http import HttpStore
from liveinsight.storage.migrate import migrate

# Four days of events (split by hour when CHUNK_ROWS is lowered) with props, revenue and
# every kind of column; sessions with a version, its cancel row and a second version.
EVENTS = """
INSERT INTO `{db}`.events (timestamp, site_id, name, visitor_id, session_id, hostname,
    pathname, props, revenue, revenue_currency, engagement_ms, scroll_depth, country_code, channel)
SELECT toDateTime64('2026-11-30 22:00:00', 3, 'UTC') + toIntervalMinute(number * 37),
       1 + number % 2, if(number % 5 = 0, 'Signup', 'pageview'), 1000 + number % 13,
       500 + number % 17, 'example.com', concat('/p/', toString(number % 7)),
       map('plan', if(number % 3 = 0, 'pro', 'free')), toDecimal64(number % 4 * 2.5, 4),
       if(number % 4 = 0, '', 'EUR'), number * 11, number % 101, 'DE', 'Direct'
FROM numbers(120)
"""
SESSIONS = """
INSERT INTO `{db}`.sessions (site_id, session_id, visitor_id, sign, version, start,
    timestamp, hostname, entry_page, exit_page, pageviews, events, duration, is_bounce)
SELECT 1, 500 + number, 1000 + number, {sign}, {version},
       toDateTime64('2026-12-01 08:00:00', 3, 'UTC') + toIntervalHour(number * 7),
       toDateTime64('2026-12-01 08:10:00', 3, 'UTC') + toIntervalHour(number * 7),
       'example.com', '/', '/p/1', {version}, {version}, 600 * {version}, 0
FROM numbers(4)
"""


@pytest.fixture
def source(tmp_path: Path) -> Iterator[EmbeddedStore]:
    store = EmbeddedStore(tmp_path / "chdb", "liveinsight")
    try:
        migrate(store)
        store.command(EVENTS.format(db=store.database))
        # each session's first version, then (another insert, so nothing collapses on
        # insert) its cancel row and second version
        store.command(SESSIONS.format(db=store.database, sign=1, version=1))
        store.command(SESSIONS.format(db=store.database, sign=-1, version=1))
        store.command(SESSIONS.format(db=store.database, sign=1, version=2))
        yield store
    finally:
        store.close()


@pytest.fixture
def target(clickhouse_url: str) -> Iterator[HttpStore]:
    store = HttpStore(clickhouse_url, f"move_{uuid.uuid4().hex[:10]}")
    try:
        migrate(store)
        yield store
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.close()


def _rows(store: EmbeddedStore | HttpStore, table: str) -> list[tuple[str, ...]]:
    cols = ", ".join(f"toString(`{name}`)" for name, _ in dict(
        (t, c) for t, _, c in schema.SEGMENT_TARGETS)[table])
    # sessions FINAL: a chunk is one insert, where a version and its cancel row collapse
    final = " FINAL" if table == "sessions" else ""
    return [tuple(map(str, r)) for r in store.query(
        f"SELECT {cols} FROM `{store.database}`.{table}{final} ORDER BY ALL").rows]


def test_every_row_is_copied_with_every_column_and_checked(
        source: EmbeddedStore, target: HttpStore, tmp_path: Path) -> None:
    steps: list[str] = []
    outcome = move.copy(source, target, progress=steps.append, scratch=tmp_path)
    sessions = source.query(f"SELECT count() FROM `{source.database}`.sessions").scalar()
    assert outcome.as_dict() == {"rows": {"events": 120, "sessions": int(sessions)},
                                 "chunks": {"events": 4, "sessions": 2},
                                 "verified": True, "mismatched": []}
    for table in ("events", "sessions"):
        assert _rows(target, table) == _rows(source, table)
    assert steps[-1] == "checked every chunk on the target"
    # the target's materialized views filled its rollups from the copied rows
    db = target.database
    assert target.query(f"SELECT count() FROM `{db}`.events_rollup").scalar() > 0


def test_a_second_run_stores_nothing_twice(source: EmbeddedStore, target: HttpStore,
                                           tmp_path: Path) -> None:
    move.copy(source, target, scratch=tmp_path)
    again = move.copy(source, target, scratch=tmp_path)
    assert again.as_dict()["verified"] is True
    db = target.database
    assert target.query(f"SELECT count() FROM `{db}`.events").scalar() == 120
    assert target.query(f"SELECT sum(sign) FROM `{db}`.sessions").scalar() == 4


def test_big_days_go_hour_by_hour(source: EmbeddedStore, target: HttpStore, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(move, "CHUNK_ROWS", 10)
    chunks = list(move.chunks(source, "events"))
    assert sum(c.rows for c in chunks) == 120
    hourly = [c for c in chunks if c.end - c.start == move.timedelta(hours=1)]
    assert hourly and all(c.rows <= 10 for c in chunks if c not in hourly)
    assert len({c.token for c in chunks}) == len(chunks)
    outcome = move.copy(source, target, scratch=tmp_path)
    assert outcome.rows["events"] == 120 and not outcome.mismatched
    assert _rows(target, "events") == _rows(source, "events")


def test_a_chunk_that_differs_on_the_target_is_named(source: EmbeddedStore, target: HttpStore,
                                                    tmp_path: Path) -> None:
    db = target.database
    target.command(f"INSERT INTO `{db}`.events (timestamp, site_id, name) "
                   "VALUES ('2026-12-01 12:00:00', 1, 'pageview')")
    outcome = move.copy(source, target, scratch=tmp_path)
    assert outcome.mismatched == ["events 2026-12-01 00:00–00:00"]
    assert outcome.as_dict()["verified"] is False


def test_only_the_embedded_engine_is_a_source(target: HttpStore) -> None:
    with pytest.raises(Invalid, match="embedded engine"):
        move.copy(target, target)
