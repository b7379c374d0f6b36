"""What every behaviour analysis shares: the question's range and filters, and the SQL that
selects the events they cover.

The range, filters and breakdown dimension are parsed by the stats parser
(:func:`liveinsight.query.parser.parse_v2`), so they are written, limited and refused (400
naming the field) exactly as for ``POST /api/v2/query``. Filters select *visits*: an
analysis reads the events of the visits that have at least one event matching the filters
(a filter on visit dimensions — source, country, device... — is a filter on the rows
themselves, since every event carries its visit's attributes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from liveinsight.errors import bad_request
from liveinsight.query.filters import Params, compile_filter, goal_condition, match_values
from liveinsight.query.model import (
    ENTRY_EXIT,
    EVENT_COLUMNS,
    GOAL,
    PROPS_PREFIX,
    VISIT_COLUMNS,
    Condition,
    Goal,
    Query,
    conditions,
)
from liveinsight.query.parser import parse_simple, parse_v2
from liveinsight.query.runner import QueryRunner, patterns_of

_TS = "DateTime64(3, 'UTC')"
_SHARED = ("date_range", "date", "filters", "include")
BREAKDOWNS = (*VISIT_COLUMNS, "event:hostname")


def parse_scope(body: dict[str, Any], *, site_id: int, timezone: str,
                goals: tuple[Goal, ...], today: date, breakdown: str | None = None,
                comparisons: bool = True) -> Query:
    """The range (``date_range``, ``date``), ``filters`` and comparison (``include``) of a
    behaviour request as a stats :class:`Query` (default range: 30 days)."""
    part = {k: body[k] for k in _SHARED if k in body}
    part.setdefault("date_range", "30d")
    if not comparisons and "include" in part:
        raise bad_request("this analysis has no comparison", "include")
    dims = []
    if breakdown is not None:
        if not isinstance(breakdown, str) or not (
                breakdown in BREAKDOWNS or breakdown.startswith(PROPS_PREFIX)):
            raise bad_request(f"cannot break down by {str(breakdown)[:60]!r}; use a visit "
                              "dimension (visit:source, visit:country, ...), event:hostname "
                              "or event:props:<name>", "breakdown.dimension")
        dims = [breakdown]
    return parse_v2({**part, "metrics": ["visitors"], "dimensions": dims}, site_id=site_id,
                    timezone=timezone, goals=goals, today=today)


def parse_simple_scope(params: dict[str, str], *, site_id: int, timezone: str,
                       goals: tuple[Goal, ...], today: date) -> Query:
    """The range (``period``, ``date``) and ``filters`` of GET parameters, written as for
    ``/api/stats/*`` (``filters=visit:country==DE;event:page==/blog*``)."""
    part: dict[str, str] = {k: params[k] for k in ("period", "date", "filters") if k in params}
    return parse_simple(part, "aggregate", site_id=site_id, timezone=timezone, goals=goals,
                        today=today)


@dataclass
class Scope:
    """The typed parameters and the event-row predicate of one analysis over ``q``."""

    q: Query
    database: str

    def __post_init__(self) -> None:
        self.p = Params()
        self.db = f"`{self.database}`"
        self.site = self.p.add(self.q.site_id, "UInt32")
        self.start = self.p.add(_instant(self.q.date_range.start), _TS)
        self.end = self.p.add(_instant(self.q.date_range.end), _TS)
        self.tz = self.p.add(self.q.timezone, "String")

    def rows(self) -> str:
        """Events of the site in the range, without engagement events, in the visits the
        filters select."""
        return (f"site_id = {self.site} AND timestamp >= {self.start} AND timestamp < "
                f"{self.end} AND name != 'engagement' AND {self.visits()}")

    def visits(self) -> str:
        node = self.q.filters
        if node is None:
            return "1"
        if all(c.dimension in VISIT_COLUMNS for c in conditions(node)):
            return compile_filter(node, self._leaf)
        return (f"session_id IN (SELECT session_id FROM {self.db}.events WHERE site_id = "
                f"{self.site} AND timestamp >= {self.start} AND timestamp < {self.end}"
                f" AND name != 'engagement' AND {compile_filter(node, self._leaf)})")

    def column(self, dim: str) -> str:
        """A dimension's value on an events row."""
        if dim.startswith(PROPS_PREFIX):
            key = self.p.add(dim[len(PROPS_PREFIX):], "String")
            return f"if(mapContains(props, {key}), props[{key}], '(none)')"
        column = EVENT_COLUMNS.get(dim) or VISIT_COLUMNS[dim]
        if dim in ("visit:source", "visit:referrer"):
            return f"if({column} = '', 'Direct / None', {column})"
        return column

    def _leaf(self, cond: Condition) -> str:
        if cond.dimension == GOAL:
            return goal_condition(cond, self.q.goals, self.p)
        if cond.dimension in ENTRY_EXIT:
            col = f"argMax({ENTRY_EXIT[cond.dimension]}, version)"
            return (f"session_id IN (SELECT session_id FROM {self.db}.sessions"
                    f" WHERE site_id = {self.site} AND start >= {self.start} - INTERVAL 1 DAY"
                    f" AND start < {self.end} GROUP BY session_id"
                    f" HAVING sum(sign) > 0 AND {match_values(col, cond, self.p)})")
        return match_values(self.column(cond.dimension), cond, self.p)


def _instant(value: Any) -> str:
    text: str = value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return text


def check_patterns(runner: QueryRunner, q: Query) -> None:
    """Have ClickHouse compile the filters' ``matches`` patterns (RE2) before the analysis
    runs: one that cannot compile is a 400 naming ``filters`` even over an empty range."""
    patterns = patterns_of(q)
    if patterns:
        p = Params()
        checks = ", ".join(f"match('', {p.add(v, 'String')})" for v in patterns)
        runner.raw(f"SELECT {checks}", p.values, "patterns")
