"""Traffic rules' question to the event store, built by a pure function and run by the query
runner (``QueryRunner.raw``: its time limit and error mapping).

One query per rule and tick: the site's unique visitors (pageviews and custom events, not
engagement pings) in the window ending now, and, for a ``drop`` rule, in the same window
1, 2, ... ``weeks`` weeks earlier (the same hour and weekday). The rule's value is the
window's visitors (``spike``) or their percentage of the earlier windows' mean (``drop``;
None while the earlier windows saw no visitor: nothing to compare with).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from liveinsight.ops.alerts.rules import Rule

_TS = "DateTime64(3, 'UTC')"


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def windows(rule: Rule, now: datetime) -> list[tuple[datetime, datetime]]:
    """The window ending at ``now``, then (``drop``) the same one each earlier week."""
    span = timedelta(seconds=rule.window_s)
    weeks = rule.weeks if rule.mode == "drop" else 0
    return [(now - span - timedelta(weeks=k), now - timedelta(weeks=k))
            for k in range(weeks + 1)]


def query(rule: Rule, now: datetime, database: str) -> tuple[str, dict[str, Any]]:
    """``SELECT k, visitors`` per window index ``k`` (0: the current one)."""
    params: dict[str, Any] = {"site": rule.site_id}
    cases: list[str] = []
    ranges: list[str] = []
    for k, (start, end) in enumerate(windows(rule, now)):
        params[f"s{k}"], params[f"e{k}"] = _ts(start), _ts(end)
        cond = f"(timestamp >= {{s{k}:{_TS}}} AND timestamp < {{e{k}:{_TS}}})"
        cases.append(f"{cond}, {k}")
        ranges.append(cond)
    which = f"multiIf({', '.join(cases)}, -1)"
    sql = (f"SELECT {which} AS k, uniqCombined(visitor_id) AS visitors "
           f"FROM `{database}`.events WHERE site_id = {{site:UInt32}} "
           f"AND name != 'engagement' AND ({' OR '.join(ranges)}) GROUP BY k ORDER BY k")
    return sql, params


def value(rule: Rule, rows: Sequence[Sequence[Any]]) -> float | None:
    """The rule's value from :func:`query`'s rows (see the module doc)."""
    counts = {int(k): float(v) for k, v in rows if int(k) >= 0}
    current = counts.get(0, 0.0)
    if rule.mode == "spike":
        return current
    earlier = [counts.get(k, 0.0) for k in range(1, rule.weeks + 1)]
    usual = sum(earlier) / len(earlier) if earlier else 0.0
    return None if usual <= 0 else 100.0 * current / usual

