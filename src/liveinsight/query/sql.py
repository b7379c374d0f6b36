"""Query → ClickHouse SQL, a pure function.

Event metrics (visitors, pageviews, events, scroll depth, time on page, conversions) are read
from ``events``; session metrics (visits, bounce rate, visit duration, views per visit) from
``sessions``, whose VersionedCollapsingMergeTree rows are summed with their ``sign`` so the
answer is right before merges. When both are asked for, the two grouped subqueries are
joined on the dimension columns ``d0, d1, ...``.

Session counting rule: a visit belongs to the range its first event (``start``) falls in.
Filters on event dimensions restrict sessions with ``session_id IN (SELECT session_id FROM
events WHERE ...)``; filters on entry/exit pages restrict events the other way round.
Every user value is a typed parameter; the SQL text holds only names from the allow-lists in
``model``.
"""

from __future__ import annotations

from typing import Any

from liveinsight.query import imported, revenue, rollup
from liveinsight.query.filters import (
    Params,
    compile_filter,
    goal_condition,
    goal_predicate,
    match_values,
    without_goals,
)
from liveinsight.query.model import (
    ENTRY_EXIT,
    EVENT_COLUMNS,
    GOAL,
    PROPS_PREFIX,
    REVENUE_METRICS,
    SESSION_METRICS,
    VISIT_COLUMNS,
    And,
    Condition,
    Filter,
    Query,
    conditions,
    is_event_dimension,
    is_time_dimension,
)

_TS = "DateTime64(3, 'UTC')"
# Time buckets group on numbers (cheap) and are formatted once per result row. Minutes and
# hours are local wall-clock numbers (YYYYMMDDhhmm), so the hour repeated when clocks go back
# is one bucket.
_WALL = "toYYYYMMDDhhmmss({t})"
_BUCKETS = {
    "minute": f"intDiv({_WALL}, 100)",
    "hour": f"intDiv({_WALL}, 10000)",
    "day": "toDate({t})",
    "week": "toMonday({t})",
    "month": "toStartOfMonth({t})",
}
_CLOCK = ("concat(substring({s}, 1, 4), '-', substring({s}, 5, 2), '-', substring({s}, 7, 2),"
          " ' ', substring({s}, 9, 2), ':', {minute}, ':00')")
_LABELS = {
    "minute": _CLOCK.format(s="toString({k})", minute="substring(toString({k}), 11, 2)"),
    "hour": _CLOCK.format(s="toString({k})", minute="'00'"),
    "day": "toString({k})",
    "week": "toString({k})",
    "month": "toString({k})",
}
_DIRECT = "if({k} = '', 'Direct / None', {k})"
_IMPORTED_BUCKETS = {"day": "date", "week": "toMonday(date)", "month": "toStartOfMonth(date)"}
_DAY_BUCKETS = ("day", "week", "month")
_EVENT_METRICS = {
    "visitors": "uniqCombined(visitor_id)",
    "pageviews": "countIf(name = 'pageview')",
    "events": "countIf(name != 'engagement')",
    "scroll_depth": "avgIf(scroll_depth, name = 'engagement' AND scroll_depth > 0)",
    "time_on_page": "sumIf(engagement_ms, name = 'engagement') / 1000"
                    " / nullIf(uniqCombinedIf(visitor_id, name = 'engagement'), 0)",
}
# ``{w}`` weighs a row 1 when its visit started in the range (always so, except in overlap
# mode, where sessions that started the day before are read for their visitors only).
_SESSION_METRICS = {
    # Cancelled rows never add a visitor (see _session_source).
    "visitors": "uniqCombined(visitor_id)",
    "pageviews": "sum(sign{w} * pageviews)",
    "visits": "sum(sign{w})",
    "bounce_rate": "sum(sign{w} * is_bounce) * 100 / nullIf(sum(sign{w}), 0)",
    "visit_duration": "sum(sign{w} * duration) / nullIf(sum(sign{w}), 0)",
    "views_per_visit": "sum(sign{w} * pageviews) / nullIf(sum(sign{w}), 0)",
    # components, summed with imported ones (``query/imported.py``)
    "bounces": "sum(sign{w} * is_bounce)",
    "seconds": "sum(sign{w} * duration)",
    "vpages": "sum(sign{w} * pageviews)",
}
_SESSION_COMPONENTS = frozenset({"visits", "bounces", "seconds", "vpages"})
# A metric from the summed components of native and imported rows.
_MIXED = {
    "visitors": "sum(u_visitors)", "visits": "sum(u_visits)", "pageviews": "sum(u_pageviews)",
    "events": "sum(u_events)",
    "bounce_rate": "sum(u_bounces) * 100 / nullIf(sum(u_visits), 0)",
    "visit_duration": "sum(u_seconds) / nullIf(sum(u_visits), 0)",
    "views_per_visit": "sum(u_vpages) / nullIf(sum(u_visits), 0)",
}
_OUTER = {
    "visitors": "toUInt64(m_visitors)",
    "visits": "toInt64(m_visits)",
    "pageviews": "toInt64(m_pageviews)",
    "events": "toUInt64(m_events)",
    "bounce_rate": "toUInt32(round(ifNull(m_bounce_rate, 0)))",
    "visit_duration": "toUInt32(round(ifNull(m_visit_duration, 0)))",
    "views_per_visit": "round(ifNull(m_views_per_visit, 0), 2)",
    "scroll_depth": "if(isNaN(m_scroll_depth), NULL, toUInt32(round(m_scroll_depth)))",
    "time_on_page": "if(isNull(m_time_on_page), NULL, toUInt32(round(m_time_on_page)))",
    "percentage": "round(m_visitors * 100 / nullIf({total}, 0), 1)",
    "conversion_rate": "round(m_visitors * 100 / nullIf({total}, 0), 2)",
    # Decimals as text: exact, read back as Decimal by the runner.
    "total_revenue": "toString(m_total_revenue)",
    "average_revenue": "toString(m_average_revenue)",
}
# Metrics an events-table sample answers (counts scaled by ``_sample_factor``; averages and
# ratios as they are). Revenue is never estimated: a query asking for it is exact.
SAMPLED_METRICS = frozenset({"visitors", "pageviews", "events", "scroll_depth", "time_on_page",
                             "percentage", "conversion_rate"})
_SCALED = {"visitors", "pageviews", "events"}
_COLLAPSED = ("visitor_id", "entry_page", "exit_page", "pageviews", "events", "duration",
              "is_bounce", "hostname", *VISIT_COLUMNS.values())


def build(q: Query, database: str, rollups: bool = True) -> tuple[str, dict[str, Any]]:
    """The SQL answering ``q`` and its parameters; it reads the rollups when ``rollups`` and
    ``rollup.usable(q)`` (the same answer, fewer rows), the raw tables otherwise.

    Result columns: ``d0..dN`` (one per dimension, as strings), then one column per metric
    named after it, then ``_total_rows`` when ``q.include.total_rows``, then
    ``_sample_factor`` when the events were read from a sample (``q.sample_rows``; 1 when
    the range held fewer rows). Rows are ordered and paginated as ``q`` asks.
    """
    builder = _Builder(q, database)
    if rollups and rollup.usable(q) and builder.mix is None:
        return builder.rollup_sql()
    return builder.sql()


class _Builder:
    def __init__(self, q: Query, database: str) -> None:
        self.q = q
        self.db = f"`{database}`"
        self.p = Params()
        self.site = self.p.add(q.site_id, "UInt32")
        self.start = self.p.add(q.date_range.start.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], _TS)
        self.end = self.p.add(q.date_range.end.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], _TS)
        self.tz = self.p.add(q.timezone, "String")
        self.keys = [f"k{i}" for i in range(len(q.dimensions))]
        self.revenue = revenue.plan(q)
        decision = imported.decide(q)
        self.mix = decision.group if decision is not None and decision.included else None
        """The imported table group mixed in (None: native data only)."""
        self.sample = (q.sample_rows > 0 and set(q.metrics) <= SAMPLED_METRICS
                       and self.mix is None)
        self.sampled_events = False  # set by the plan: the answer carries _sample_factor
        leaves = conditions(q.filters)
        time_dim = q.time_dimension()
        self.day_buckets = time_dim is not None and q.bucket(time_dim) in _DAY_BUCKETS
        visit_only = (
            not q.date_range.exact
            and (time_dim is None or self.day_buckets)
            and not any(is_event_dimension(d) for d in q.dimensions)
            and not any(is_event_dimension(c.dimension) for c in leaves)
        )
        # Visitors from sessions: far fewer rows than events. A visitor counts when one of
        # their visits overlaps the range (started before its end, last event after its
        # start), the same visitors the events table holds for day-aligned ranges.
        self.overlap = visit_only
        self.entry_exit = any(d in ENTRY_EXIT for d in q.dimensions)
        self.from_sessions = self.overlap or self.entry_exit
        self.weight = ""
        if self.overlap:
            # A visit counts once: in the range only if it started there, and in the bucket
            # holding its start.
            started = f"start >= {self.start}"
            if time_dim is not None:
                key = f"k{q.dimensions.index(time_dim)}"
                started += f" AND {key} = {self._bucket(time_dim, 'start')}"
            self.weight = f" * toInt8({started})"

    # --- plan ------------------------------------------------------------------------------

    def sql(self) -> tuple[str, dict[str, Any]]:
        if self.mix is not None:
            return self._outer_query(self._mixed_source())
        q = self.q
        inner = {"percentage", "conversion_rate"}
        wanted = {m for m in q.metrics if m not in inner}
        if self.revenue.default is None and not self.revenue.by_goal:
            wanted -= REVENUE_METRICS  # answered as null (see query/revenue.py)
        if inner & set(q.metrics):
            wanted.add("visitors")
        session_side = {m for m in wanted if m in SESSION_METRICS}
        if self.entry_exit:  # only sessions know entry and exit pages
            session_side = wanted
        elif self.from_sessions:
            session_side |= wanted & {"visitors"}
        event_side = wanted - session_side
        self.sampled_events = self.sample and bool(event_side)
        parts = []
        if event_side:
            parts.append(self._events_query(sorted(event_side)))
        if session_side or not parts:
            parts.append(self._sessions_query(sorted(session_side)))
        return self._outer_query(self._join(parts))

    def _outer_query(self, source: str) -> tuple[str, dict[str, Any]]:
        q = self.q
        outer = [*(f"{self._label(d, f'k{i}')} AS d{i}" for i, d in enumerate(q.dimensions)),
                 *(self._outer(m) + f" AS {m}" for m in q.metrics)]
        if q.include.total_rows:
            outer.append("count() OVER () AS _total_rows")
        if self.sampled_events:
            # 1 when the range held fewer rows than the sample size (or only sessions
            # answered a group); above 1 the counts are estimates.
            outer.append("max(ifNull(m__sample_factor, 1)) OVER () AS _sample_factor")
        sql = (
            f"SELECT {', '.join(outer)} FROM {source}"
            f" ORDER BY {self._order()}"
            f" LIMIT {self.p.add(q.limit, 'UInt64')} OFFSET {self.p.add(q.offset, 'UInt64')}"
        )
        return sql, self.p.values

    def _join(self, parts: list[str]) -> str:
        if len(parts) == 1:
            return f"({parts[0]})"
        if not self.keys:
            return f"({parts[0]}) AS e CROSS JOIN ({parts[1]}) AS s"
        return f"({parts[0]}) AS e FULL OUTER JOIN ({parts[1]}) AS s USING ({', '.join(self.keys)})"

    def _label(self, dim: str, key: str) -> str:
        """A dimension's value as answered, from its grouping key."""
        if dim in ("visit:source", "visit:referrer"):
            return _DIRECT.format(k=key)
        if is_time_dimension(dim):
            return _LABELS[self.q.bucket(dim)].format(k=key)
        return key

    def _outer(self, metric: str) -> str:
        if metric in REVENUE_METRICS and self.revenue.default is None \
                and not self.revenue.by_goal:
            return "NULL"
        expr = _OUTER[metric]
        if metric == "percentage":
            return expr.format(total=self._total_visitors(self.q.filters))
        if metric == "conversion_rate":
            return expr.format(total=self._total_visitors(without_goals(self.q.filters)))
        return expr

    def _order(self) -> str:
        q = self.q
        names = {d: f"d{i}" for i, d in enumerate(q.dimensions)}
        if self.revenue.default or self.revenue.by_goal:  # sort the numbers, not their text
            names.update({m: f"m_{m}" for m in REVENUE_METRICS})
        keys = [f"{names.get(k, k)} {d.upper()}" for k, d in q.order_by]
        if not keys:
            time_dim = q.time_dimension()
            if time_dim is not None:
                keys.append(f"{names[time_dim]} ASC")
            elif q.metrics:
                first = "visitors" if "visitors" in q.metrics else q.metrics[0]
                keys.append(f"{names.get(first, first)} DESC")
        dims = [f"d{i}" for i in range(len(q.dimensions))]
        keys.extend(f"{d} ASC" for d in dims if not any(k.startswith(d + " ") for k in keys))
        return ", ".join(keys) or "1"

    # --- native + imported (see ``imported``) -------------------------------------------------

    def _components(self) -> list[str]:
        return sorted({c for m in self.q.metrics for c in imported.COMPONENTS[m]})

    def _mixed_source(self) -> str:
        """Native components (as ``sql`` splits them between events and sessions) and the
        imported ones, unioned, summed per group, then the metrics from the sums."""
        comps = set(self._components())
        session_side = comps & _SESSION_COMPONENTS
        if self.entry_exit:
            session_side = comps
        elif self.from_sessions:
            session_side |= comps & {"visitors"}
        event_side = comps - session_side
        parts = []
        if event_side:
            parts.append(self._events_query(sorted(event_side)))
        if session_side or not parts:
            parts.append(self._sessions_query(sorted(session_side or {"visits"})))
        keys = [self._union_key(d, f"k{i}") for i, d in enumerate(self.q.dimensions)]
        native = [*keys, *(f"toInt64({'m_' + c if c in event_side | session_side else 0})"
                           f" AS u_{c}" for c in sorted(comps))]
        union = [f"SELECT {', '.join(native)} FROM {self._join(parts)}"]
        union += self._imported_parts(sorted(comps))
        group = f" GROUP BY {', '.join(self.keys)}" if self.keys else ""
        sums = [*self.keys, *(f"{_MIXED[m]} AS m_{m}" for m in self.q.metrics if m in _MIXED)]
        if {"percentage", "conversion_rate"} & set(self.q.metrics) \
                and "visitors" not in self.q.metrics:
            sums.append(f"{_MIXED['visitors']} AS m_visitors")
        return (f"(SELECT {', '.join(sums)} FROM ({' UNION ALL '.join(union)}){group})")

    def _union_key(self, dim: str, key: str) -> str:
        return f"{key} AS {key}" if is_time_dimension(dim) else f"CAST({key}, 'String') AS {key}"

    def _imported_where(self, node: Filter | None) -> str:
        first = self.p.add(self.q.date_range.first.isoformat(), "Date")
        last = self.p.add(self.q.date_range.last.isoformat(), "Date")
        ids = self.p.add(imported.ids(self.q), "Array(UInt64)")
        return (f"site_id = {self.site} AND has({ids}, import_id) AND date >= {first}"
                f" AND date <= {last} AND {compile_filter(node, self._imported_leaf)}")

    def _imported_leaf(self, cond: Condition) -> str:
        if cond.dimension == GOAL:
            return goal_condition(cond, self.q.goals, self.p)
        return match_values(self._column(cond.dimension), cond, self.p)

    def _imported_parts(self, comps: list[str]) -> list[str]:
        assert self.mix is not None
        out = []
        for source in imported.sources(self.db, self.mix):
            cols = []
            for i, d in enumerate(self.q.dimensions):
                expr = _IMPORTED_BUCKETS[self.q.bucket(d)] if is_time_dimension(d) \
                    else f"CAST({self._event_dim(d, group=True)}, 'String')"
                cols.append(f"{expr} AS k{i}")
            cols += [f"toInt64(sum(c_{c})) AS u_{c}" for c in comps]
            out.append(f"SELECT {', '.join(cols)} FROM ({source})"
                       f" WHERE {self._imported_where(self.q.filters)}{self._group()}")
        return out

    def _imported_total(self, node: Filter | None) -> str:
        """The imported visitors a percentage (``node``: the query's filters) or a
        conversion rate (``node``: none; read from the site totals) is of."""
        group = self.mix if node is not None else "visitors"
        assert group is not None
        parts = [f"SELECT toInt64(sum(c_visitors)) AS v FROM ({source})"
                 f" WHERE {self._imported_where(node)}"
                 for source in imported.sources(self.db, group)]
        return f"(SELECT sum(v) FROM ({' UNION ALL '.join(parts)}))"

    # --- rollups (see ``rollup``) ------------------------------------------------------------

    def rollup_sql(self) -> tuple[str, dict[str, Any]]:
        """The events rollup (visitors, pageviews, events; it also holds every group the raw
        path answers), left-joined with the sessions rollup when session metrics are asked.
        Never sampled (a rollup is already small)."""
        self.sampled_events = False
        return self._outer_query(self._rollup_source())

    def _rollup_source(self) -> str:
        q = self.q
        metrics = set(q.metrics)
        dim = rollup.rollup_dim(q)
        time_dim = q.time_dimension()
        key = "value" if time_dim is None else self._bucket(time_dim, "bucket")
        cover = rollup.cover_sql(q.date_range, time_dim is not None, self.p)
        where = f"site_id = {self.site} AND dim = {self.p.add(dim, 'String')} AND ({cover})"
        group = " GROUP BY k0" if self.keys else ""
        cols = [f"{key} AS k0"] if self.keys else []
        events = [*cols, *(f"{rollup.EVENT_SQL[m]} AS m_{m}"
                           for m in sorted(metrics & rollup.EVENT_METRICS) or ["events"])]
        parts = [f"SELECT {', '.join(events)} FROM {self.db}.events_rollup WHERE {where}{group}"]
        if metrics & SESSION_METRICS:
            sessions = [*cols, *(f"{rollup.SESSION_SQL[m]} AS m_{m}"
                                 for m in sorted(metrics & SESSION_METRICS))]
            parts.append(f"SELECT {', '.join(sessions)} FROM {self.db}.sessions_rollup"
                         f" WHERE {where}{group}")
        if len(parts) == 1:
            return f"({parts[0]})"
        if not self.keys:
            return f"({parts[0]}) AS e CROSS JOIN ({parts[1]}) AS s"
        return f"({parts[0]}) AS e LEFT JOIN ({parts[1]}) AS s USING (k0)"

    # --- events side -----------------------------------------------------------------------

    def _events_where(self, node: Filter | None) -> str:
        where = (f"site_id = {self.site} AND timestamp >= {self.start}"
                 f" AND timestamp < {self.end}{self._skip_engagement()}")
        return f"{where} AND {compile_filter(node, self._event_leaf)}"

    def _skip_engagement(self) -> str:
        """Engagement events only feed scroll depth and time on page; every one follows a
        pageview of the same visitor, so leaving them out changes no other metric and halves
        the rows read."""
        if {"scroll_depth", "time_on_page"} & set(self.q.metrics):
            return ""
        return " AND name != 'engagement'"

    def _events_table(self) -> str:
        """The events table, sampled when the query may be (``SAMPLE n``: about ``n`` rows
        of whole visitors when the range holds more; every row, factor 1, otherwise)."""
        if not self.sample:
            return f"{self.db}.events"
        return f"{self.db}.events SAMPLE {int(self.q.sample_rows)}"

    def _events_query(self, metrics: list[str]) -> str:
        cols = [f"{self._event_dim(d, group=True)} AS k{i}"
                for i, d in enumerate(self.q.dimensions)]
        cols += [f"{self._event_metric(m)} AS m_{m}" for m in metrics]
        if self.sample:
            cols.append("any(_sample_factor) AS m__sample_factor")
        return (f"SELECT {', '.join(cols)} FROM {self._events_table()}"
                f" WHERE {self._events_where(self.q.filters)}{self._group()}")

    def _event_metric(self, metric: str) -> str:
        if metric not in REVENUE_METRICS:
            expr = _EVENT_METRICS[metric]
            if self.sample and metric in _SCALED:
                return f"round({expr} * any(_sample_factor))"
            return expr
        counted = self._revenue_counted()
        total = f"sumIf(revenue, {counted})"
        if metric == "total_revenue":
            return total
        return f"{total} / nullIf(countIf({counted}), 0)"

    def _revenue_counted(self) -> str:
        """SQL true for the event rows whose amount is revenue of the row's goal(s): they
        convert a revenue goal in play and carry an amount in its currency."""
        plan = self.revenue
        if plan.default is not None:
            goals = " OR ".join(goal_predicate(g, self.p) for g in plan.goals) or "0"
            return f"revenue_currency = {self.p.add(plan.default, 'String')} AND ({goals})"
        key = f"k{self.q.dimensions.index(GOAL)}"  # the row's goal: its own currency
        names = self.p.add(list(plan.by_goal), "Array(String)")
        codes = self.p.add(list(plan.by_goal.values()), "Array(String)")
        return (f"revenue_currency != '' AND revenue_currency = transform({key}, {names},"
                f" {codes}, '')")

    def _total_visitors(self, node: Filter | None) -> str:
        if self.mix is not None:
            native = self._native_total_visitors(node)
            return f"({native} + {self._imported_total(node)})"
        return self._native_total_visitors(node)

    def _native_total_visitors(self, node: Filter | None) -> str:
        if self.from_sessions:
            return (f"(SELECT {self._session_metric('visitors')} FROM {self._session_source()}"
                    f" WHERE {self._sessions_where(node)})")
        return (f"(SELECT {self._event_metric('visitors')} FROM {self._events_table()}"
                f" WHERE {self._events_where(node)})")

    def _event_dim(self, dim: str, group: bool = False) -> str:
        if group and dim in ("visit:source", "visit:referrer"):
            return VISIT_COLUMNS[dim]
        if is_time_dimension(dim):
            return self._bucket(dim, "timestamp")
        if dim == GOAL:
            goals = self.q.goals
            items = ", ".join(
                f"if({goal_predicate(g, self.p)}, {self.p.add(g.name, 'String')}, '')"
                for g in goals
            )
            return f"arrayJoin(arrayFilter(x -> x != '', [{items}]))" if goals else \
                "arrayJoin(CAST([], 'Array(String)'))"
        return self._column(dim)

    def _column(self, dim: str) -> str:
        """A dimension's value on a row of either table (``events`` or ``sessions``)."""
        if dim.startswith(PROPS_PREFIX):
            key = self.p.add(dim[len(PROPS_PREFIX):], "String")
            return f"if(mapContains(props, {key}), props[{key}], '(none)')"
        column = EVENT_COLUMNS.get(dim) or VISIT_COLUMNS.get(dim) or ENTRY_EXIT[dim]
        if dim in ("visit:source", "visit:referrer"):
            return f"if({column} = '', 'Direct / None', {column})"
        return column

    def _event_leaf(self, cond: Condition) -> str:
        if cond.dimension == GOAL:
            return goal_condition(cond, self.q.goals, self.p)
        if cond.dimension in ENTRY_EXIT:
            col = f"argMax({ENTRY_EXIT[cond.dimension]}, version)"
            return (f"session_id IN (SELECT session_id FROM {self.db}.sessions"
                    f" WHERE site_id = {self.site} AND start >= {self.start} - INTERVAL 1 DAY"
                    f" AND start < {self.end} GROUP BY session_id"
                    f" HAVING sum(sign) > 0 AND {match_values(col, cond, self.p)})")
        return match_values(self._column(cond.dimension), cond, self.p)

    # --- sessions side ---------------------------------------------------------------------

    def _session_source(self) -> str:
        """``sessions``, or its collapsed form (one row per live session, ``sign = 1``) when
        visitors are counted from sessions: a cancelled row must not count a visitor."""
        changing = "visit:exit_page"  # the only visit attribute that changes as a visit goes on
        exit_used = changing in self.q.dimensions or any(
            c.dimension == changing for c in conditions(self.q.filters))
        counted = {"visitors", "percentage"} & set(self.q.metrics)
        if not (counted and self.from_sessions and exit_used):
            return f"{self.db}.sessions"
        cols = ", ".join(f"argMax({c}, version) AS {c}" for c in _COLLAPSED)
        return (f"(SELECT session_id, any(site_id) AS site_id, toInt8(1) AS sign,"
                f" min(start) AS start, max(timestamp) AS timestamp, {cols}"
                f" FROM (SELECT * FROM {self.db}.sessions WHERE {self._session_range()})"
                f" GROUP BY session_id HAVING sum(sign) > 0)")

    def _sessions_where(self, node: Filter | None) -> str:
        return f"{self._session_range()} AND {compile_filter(node, self._session_leaf)}"

    def _session_range(self) -> str:
        if not self.overlap:
            return f"site_id = {self.site} AND start >= {self.start} AND start < {self.end}"
        return (f"site_id = {self.site} AND start >= {self.start} - INTERVAL 1 DAY"
                f" AND start < {self.end} AND (start >= {self.start} OR timestamp >= {self.start})")

    def _sessions_query(self, metrics: list[str]) -> str:
        q = self.q
        event_dims = [d for d in q.dimensions if is_event_dimension(d)]
        cols = [
            (f"_e.k{i}" if is_event_dimension(d) else self._session_dim(d)) + f" AS k{i}"
            for i, d in enumerate(q.dimensions)
        ]
        cols += [f"{self._session_metric(m)} AS m_{m}" for m in metrics or ["visits"]]
        source = self._session_source()
        if event_dims:
            source += f" INNER JOIN ({self._session_event_dims()}) AS _e ON session_id = _e._sid"
        having = " HAVING sum(sign) > 0" if self.keys else ""
        return (f"SELECT {', '.join(cols)} FROM {source}"
                f" WHERE {self._sessions_where(q.filters)}{self._group()}{having}")

    def _session_metric(self, metric: str) -> str:
        if metric == "visitors" and self.overlap:
            return f"uniqCombinedIf(visitor_id, timestamp >= {self.start})"
        return _SESSION_METRICS[metric].format(w=self.weight)

    def _session_event_dims(self) -> str:
        """Distinct (session, event-dimension values): a visit counts once under every page
        (goal, event name, ...) it had. Conditions on event dimensions that are required
        (the whole filter, or top-level AND members) narrow the values too."""
        q = self.q
        cols = [f"{self._event_dim(d)} AS k{i}" for i, d in enumerate(q.dimensions)
                if is_event_dimension(d)]
        node = q.filters
        members = list(node.children) if isinstance(node, And) else [node] if node else []
        narrowing = tuple(
            m for m in members if all(is_event_dimension(c.dimension) for c in conditions(m))
        )
        where = (f"site_id = {self.site} AND timestamp >= {self.start}"
                 f" AND timestamp < {self.end} + INTERVAL 1 DAY{self._skip_engagement()}"
                 f" AND {compile_filter(And(narrowing), self._event_leaf)}")
        return (f"SELECT DISTINCT session_id AS _sid, {', '.join(cols)}"
                f" FROM {self.db}.events WHERE {where}")

    def _session_dim(self, dim: str) -> str:
        if is_time_dimension(dim) and self.overlap:
            return self._days_touched(dim)
        if is_time_dimension(dim):
            return self._bucket(dim, "start")
        if dim in ("visit:source", "visit:referrer"):
            return VISIT_COLUMNS[dim]
        return self._column(dim)

    def _session_leaf(self, cond: Condition) -> str:
        if not is_event_dimension(cond.dimension):
            return match_values(self._column(cond.dimension), cond, self.p)
        if cond.dimension == GOAL:
            pred = goal_condition(cond, self.q.goals, self.p)
        else:
            pred = match_values(self._column(cond.dimension), cond, self.p)
        return (f"session_id IN (SELECT session_id FROM {self.db}.events"
                f" WHERE site_id = {self.site} AND timestamp >= {self.start}"
                f" AND timestamp < {self.end} + INTERVAL 1 DAY AND name != 'engagement'"
                f" AND {pred})")

    def _days_touched(self, dim: str) -> str:
        """Every day (week, month) of the range a visit touched, one row each. A visit has
        an event on every day between its first and last (events of a visit are at most a
        session timeout apart), so its visitor counts in each of those buckets."""
        first = self.p.add(self.q.date_range.first.isoformat(), "Date")
        last = self.p.add(self.q.date_range.last.isoformat(), "Date")
        begin = f"toDate(toTimeZone(start, {self.tz}))"
        finish = f"toDate(toTimeZone(timestamp, {self.tz}))"
        days = (f"arrayFilter(d -> d >= {first} AND d <= {last}, arrayMap(i -> {begin} + i,"
                f" range(toUInt32(greatest(dateDiff('day', {begin}, {finish}), 0) + 1))))")
        interval = self.q.bucket(dim)
        if interval == "day":
            return f"arrayJoin({days})"
        fn = "toMonday" if interval == "week" else "toStartOfMonth"
        return f"arrayJoin(arrayDistinct(arrayMap(d -> {fn}(d), {days})))"

    # --- shared ----------------------------------------------------------------------------

    def _bucket(self, dim: str, column: str) -> str:
        return _BUCKETS[self.q.bucket(dim)].format(t=f"toTimeZone({column}, {self.tz})")

    def _group(self) -> str:
        return f" GROUP BY {', '.join(self.keys)}" if self.keys else ""
