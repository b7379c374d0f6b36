from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from liveinsight.ingest.context import Context
from liveinsight.ingest.visitor import SaltCache, put_visitor, visitor_id

from .enrich_factories import CHROME, IPHONE, NOW, make_env, make_meta, raw, site_info

SALT = bytes(range(32))


def test_visitor_id_is_a_stable_keyed_64_bit_hash() -> None:
    a = visitor_id(SALT, 1, "81.2.69.160", CHROME)
    assert a == visitor_id(SALT, 1, "81.2.69.160", CHROME)
    assert 0 <= a < 2**64
    others = {
        visitor_id(SALT, 2, "81.2.69.160", CHROME),
        visitor_id(SALT, 1, "81.2.69.161", CHROME),
        visitor_id(SALT, 1, "81.2.69.160", IPHONE),
        visitor_id(bytes(32), 1, "81.2.69.160", CHROME),
    }
    assert a not in others and len(others) == 4


class CountingMeta:
    def __init__(self, meta: object) -> None:
        self.meta = meta
        self.calls: list[object] = []

    def salts(self, today: object) -> tuple[bytes, bytes | None]:
        self.calls.append(today)
        return self.meta.salts(today)  # type: ignore[attr-defined, no-any-return]


def test_salts_are_read_once_per_utc_day_and_rotate(tmp_path: Path) -> None:
    meta = CountingMeta(make_meta(tmp_path))
    now = [NOW]
    cache = SaltCache(meta, lambda: now[0])  # type: ignore[arg-type]
    today, yesterday = cache.current()
    assert yesterday is None and len(today) == 32
    assert cache.current() == (today, None)
    assert len(meta.calls) == 1
    now[0] = NOW + timedelta(days=1)
    tomorrow, previous = cache.current()
    assert previous == today and tomorrow != today
    assert len(meta.calls) == 2


def test_salt_day_follows_utc_not_local_time(tmp_path: Path) -> None:
    meta = CountingMeta(make_meta(tmp_path))
    from zoneinfo import ZoneInfo

    late_evening_new_york = datetime(2026, 11, 22, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    SaltCache(meta, lambda: late_evening_new_york).current()  # type: ignore[arg-type]
    assert meta.calls == [datetime(2026, 11, 23, tzinfo=UTC).date()]


def test_step_sets_todays_and_yesterdays_ids(tmp_path: Path) -> None:
    meta = make_meta(tmp_path)
    now = [NOW - timedelta(days=1)]
    env = make_env(meta, clock=lambda: now[0])
    first = Context(raw(), now[0], site=site_info())
    put_visitor(first, env)
    assert first.previous_salt is None
    now[0] = NOW
    second = Context(raw(), now[0], site=site_info())
    put_visitor(second, env)
    assert second.previous_salt is not None
    raw_ = second.raw
    assert second.site is not None
    assert visitor_id(second.previous_salt, second.site.id, raw_.ip,
                      raw_.user_agent) == first.visitor_id
    assert second.visitor_id != first.visitor_id
