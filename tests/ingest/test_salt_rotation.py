"""A site's salt rotation: with ``weekly`` or ``monthly`` its visitors keep one id for the
week (from Monday, UTC) or the calendar month; the previous period's salt is given on a
period's first day only (visits crossing the boundary), then deleted."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from liveinsight.ingest.context import Context
from liveinsight.ingest.visitor import put_visitor, visitor_id
from liveinsight.meta.repo import period_starts

from .enrich_factories import make_env, make_meta, raw, site_info


def _ids(tmp_path: Path, rotation: str, days: list[str]) -> list[tuple[int, bytes | None]]:
    meta = make_meta(tmp_path)
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    env = make_env(meta, clock=lambda: now[0])
    out = []
    for day in days:
        now[0] = datetime.fromisoformat(f"{day}T10:00:00+00:00")
        ctx = Context(raw(timestamp=now[0]), now[0], site=site_info(salt_rotation=rotation))
        put_visitor(ctx, env)
        out.append((ctx.visitor_id, ctx.previous_salt))
    return out


def test_weekly_ids_last_from_monday_to_sunday(tmp_path: Path) -> None:
    mon, wed, sun, next_mon, next_tue = _ids(tmp_path, "weekly", [
        "2026-11-23", "2026-11-25", "2026-11-29", "2026-11-30", "2026-12-01"])
    assert mon[0] == wed[0] == sun[0]
    assert next_mon[0] != mon[0] and next_tue[0] == next_mon[0]
    # On the new week's first day the previous week's salt continues its visits...
    previous = next_mon[1]
    assert previous is not None
    assert visitor_id(previous, 1, raw().ip, raw().user_agent) == mon[0]
    assert next_tue[1] is None  # ... and is gone the day after


def test_monthly_ids_and_the_daily_default(tmp_path: Path) -> None:
    first, late, next_month = _ids(tmp_path / "m", "monthly",
                                   ["2026-11-02", "2026-11-30", "2026-12-01"])
    assert first[0] == late[0] != next_month[0] and next_month[1] is not None
    day1, day2 = _ids(tmp_path / "d", "daily", ["2026-11-23", "2026-11-24"])
    assert day1[0] != day2[0]


def test_old_period_salts_are_deleted(tmp_path: Path) -> None:
    meta = make_meta(tmp_path)
    week1, _ = meta.period_salts("weekly", date(2026, 11, 23))
    week2, before = meta.period_salts("weekly", date(2026, 11, 30))
    assert before == week1 != week2
    assert meta.delete_old_salts(date(2026, 12, 1)) >= 1  # the week of 11-23 is over
    assert meta.period_salts("weekly", date(2026, 11, 30)) == (week2, None)


def test_period_starts() -> None:
    assert period_starts("weekly", date(2026, 11, 29)) == (date(2026, 11, 23),
                                                           date(2026, 11, 16))
    assert period_starts("monthly", date(2026, 1, 15)) == (date(2026, 1, 1),
                                                           date(2025, 12, 1))
