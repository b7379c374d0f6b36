"""The behaviour service: a site's behaviour question in, its answer (JSON bytes) out,
through the result cache.

As the stats service does: parse (400 naming the field), then the answer from the cache
(``cache/answers.py``: keyed by the question and the site's data generation, so an answer
over a range reaching "now" is never older than the newest ingested data) or, on a miss,
the SQL of the analysis run by the query runner (its time limit: a 400 naming the limit)
and shaped once. Blocking: the HTTP layer calls it off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial
from typing import Any

import orjson

from liveinsight.behaviour import funnels, journeys, kpi, retention, users
from liveinsight.behaviour.scope import (
    Scope,
    check_patterns,
    parse_scope,
    parse_simple_scope,
)
from liveinsight.cache.answers import Answers
from liveinsight.errors import bad_request
from liveinsight.meta.repo import SiteInfo
from liveinsight.query.model import Query, comparison_range
from liveinsight.query.runner import QueryRunner, query_key
from liveinsight.query.service import StatsService

_FUNNEL_FIELDS = {"funnel", "date_range", "date", "filters", "include", "breakdown"}
_JOURNEY_FIELDS = {"kind", "page", "steps", "limit", "k", "date_range", "date", "filters"}
_RETENTION_FIELDS = {"period", "identity", "date_range", "date", "filters"}
_USERS_FIELDS = {"date_range", "date", "filters"}
_USERS_PARAMS = {"period", "date", "filters"}
KPI_PARALLEL_SITES = 4
"""Sites of a KPI board whose stats are asked at once."""
_JOURNEY_PARAMS = {"kind", "page", "steps", "limit", "k", "period", "date", "filters"}


class BehaviourService:
    def __init__(self, runner: QueryRunner, stats: StatsService, answers: Answers) -> None:
        self._runner = runner
        self._stats = stats
        self._answers = answers

    def _scope(self, site: SiteInfo, body: dict[str, Any], breakdown: str | None = None,
               comparisons: bool = True) -> Query:
        return parse_scope(body, site_id=site.id, timezone=site.timezone,
                           goals=self._stats.goals(site), today=self._stats.today(site),
                           breakdown=breakdown, comparisons=comparisons)

    def _cached(self, site: SiteInfo, q: Query, kind: str, question: Any,
                compute: Callable[[], dict[str, Any]]) -> bytes:
        check_patterns(self._runner, q)
        text = orjson.dumps(question, option=orjson.OPT_SORT_KEYS).decode()
        return self._answers.get(site.id, q.date_range.end, (kind, text, query_key(q)),
                                 lambda: orjson.dumps(compute()))

    # --- funnels -------------------------------------------------------------------------

    def funnel(self, site: SiteInfo, body: dict[str, Any]) -> bytes:
        """A funnel request body (``funnel``, ``date_range``, ``date``, ``filters``,
        ``include.comparisons``, ``breakdown {dimension, limit}``) → the answer's JSON."""
        _known(body, _FUNNEL_FIELDS)
        f = funnels.parse_funnel(body.get("funnel"))
        dimension, limit = _breakdown(body.get("breakdown"))
        q = self._scope(site, body, dimension)

        def compute() -> dict[str, Any]:
            answer = self._funnel_over(f, q, dimension, limit)
            answer["funnel"] = f.doc()
            if q.include.comparison is not None:
                other = q.with_range(comparison_range(q))
                answer["comparison"] = self._funnel_over(f, other, None, 0)
            return answer

        return self._cached(site, q, "funnel", [f.doc(), dimension, limit], compute)

    # --- journeys ------------------------------------------------------------------------

    def journey(self, site: SiteInfo, body: dict[str, Any]) -> bytes:
        """A journey request body (``kind``, ``page``, ``steps``, ``limit``, ``k``,
        ``date_range``, ``date``, ``filters``) → the answer's JSON."""
        _known(body, _JOURNEY_FIELDS)
        j = journeys.parse_journey(body)
        return self._journey(site, j, self._scope(site, body, comparisons=False))

    def journey_params(self, site: SiteInfo, params: dict[str, str]) -> bytes:
        """The same from GET parameters (``period``, ``date``, ``filters`` as for
        ``/api/stats/*``)."""
        _known(params, _JOURNEY_PARAMS)
        j = journeys.parse_journey(params)
        q = parse_simple_scope(params, site_id=site.id, timezone=site.timezone,
                               goals=self._stats.goals(site), today=self._stats.today(site))
        return self._journey(site, j, q)

    def _journey(self, site: SiteInfo, j: journeys.Journey, q: Query) -> bytes:
        def compute() -> dict[str, Any]:
            text, params = journeys.journey_sql(j, Scope(q, self._runner.store.database))
            rows = self._runner.raw(text, params, "journey")
            return {"site_id": site.domain, **j.doc(),
                    "date_range": [q.date_range.first.isoformat(),
                                   q.date_range.last.isoformat()],
                    **journeys.shape(j, rows)}

        return self._cached(site, q, "journey", j.doc(), compute)

    # --- users --------------------------------------------------------------------------

    def users(self, site: SiteInfo, body: dict[str, Any]) -> bytes:
        """A user analysis request body (``date_range`` (default ``30d``), ``date``,
        ``filters`` as for ``POST /api/v2/query``) → the answer's JSON
        (``behaviour/users.py``)."""
        _known(body, _USERS_FIELDS)
        return self._users(site, self._scope(site, body, comparisons=False))

    def users_params(self, site: SiteInfo, params: dict[str, str]) -> bytes:
        """The same from GET parameters (``period``, ``date``, ``filters`` as for
        ``/api/stats/*``)."""
        _known(params, _USERS_PARAMS)
        q = parse_simple_scope(params, site_id=site.id, timezone=site.timezone,
                               goals=self._stats.goals(site), today=self._stats.today(site))
        return self._users(site, q)

    def _users(self, site: SiteInfo, q: Query) -> bytes:
        def compute() -> dict[str, Any]:
            def run(build: Callable[[Scope], tuple[str, dict[str, Any]]]) -> list[list[Any]]:
                text, values = build(Scope(q, self._runner.store.database))
                return self._runner.raw(text, values, "users")

            visits, engagement = run(users.visits_sql)[0], run(users.engagement_sql)[0]
            return {"site_id": site.domain,
                    "date_range": [q.date_range.first.isoformat(),
                                   q.date_range.last.isoformat()],
                    **users.shape(visits, engagement, run(users.heatmap_sql),
                                  run(users.sequences_sql))}

        return self._cached(site, q, "users", [], compute)

    # --- KPI board ------------------------------------------------------------------------

    def kpi(self, sites: Sequence[SiteInfo], period: str, anchor: date | None,
            targets: dict[int | None, dict[str, float]]) -> dict[str, Any]:
        """The KPI board of ``sites`` over ``period`` (a stats period name) ending at
        ``anchor`` (each site's today when None), with the total across them when there
        are several, and each KPI's status against ``targets``."""
        def one(site: SiteInfo) -> dict[str, Any]:
            day = anchor or self._stats.today(site)
            goals = [g.name for g in self._stats.goals(site)]
            board = kpi.site_board(partial(self._stats.v2_answer, site), goals, period,
                                   day.isoformat())
            days = board["days"]
            first = date.fromisoformat(days[0]) if days else day
            last = date.fromisoformat(days[-1]) if days else day
            kpi.with_targets(board, targets.get(site.id, {}), first=first, last=last,
                             today=self._stats.today(site))
            return {"site_id": site.domain, "date_range": [first.isoformat(),
                                                           last.isoformat()], **board}

        # The sites' stats questions are independent: asked a few sites at a time (the
        # engine runs queries side by side), in the sites' order.
        with ThreadPoolExecutor(max_workers=max(1, min(KPI_PARALLEL_SITES, len(sites))),
                                thread_name_prefix="kpi") as pool:
            boards = list(pool.map(one, sites))
        answer: dict[str, Any] = {"period": period, "sites": boards}
        if len(boards) > 1:
            total = kpi.across(boards)
            ranges = [b["date_range"] for b in boards]
            first = min(date.fromisoformat(r[0]) for r in ranges)
            last = max(date.fromisoformat(r[1]) for r in ranges)
            today = max(self._stats.today(site) for site in sites)
            kpi.with_targets(total, targets.get(None, {}), first=first, last=last,
                             today=today)
            answer["total"] = total
        return answer

    # --- retention -----------------------------------------------------------------------

    def retention(self, site: SiteInfo, body: dict[str, Any]) -> bytes:
        """A retention request body (``period``, ``identity``, ``date_range`` (default
        ``91d``), ``date``, ``filters``) → the triangle's JSON."""
        _known(body, _RETENTION_FIELDS)
        q = self._scope(site, {"date_range": "91d", **body}, comparisons=False)
        r = retention.parse_retention(body, q.date_range)
        dr = q.date_range

        def compute() -> dict[str, Any]:
            text, params = retention.retention_sql(r, Scope(q, self._runner.store.database))
            rows = self._runner.raw(text, params, "retention")
            answer = {"site_id": site.domain,
                      "date_range": [dr.first.isoformat(), dr.last.isoformat()],
                      **retention.shape(r, rows, dr.first, dr.last)}
            notes = retention.notes(r, site.salt_rotation)
            if notes:
                answer["notes"] = notes
            return answer

        return self._cached(site, q, "retention", [r.doc(), site.salt_rotation], compute)

    def _funnel_over(self, f: funnels.Funnel, q: Query, dimension: str | None,
                     limit: int) -> dict[str, Any]:
        text, params = funnels.funnel_sql(f, Scope(q, self._runner.store.database),
                                          dimension, limit)
        rows = self._runner.raw(text, params, "funnel")
        total = next((r for r in rows if int(r[0]) == 1), None)
        k = len(f.steps)
        empty = [0] * k + [None] * k
        answer: dict[str, Any] = {
            "date_range": [q.date_range.first.isoformat(), q.date_range.last.isoformat()],
            "counted": f"{f.basis}s",
            **funnels.steps_of(f, total[2:] if total else empty),
        }
        if dimension is not None:
            answer["breakdown"] = {"dimension": dimension, "rows": [
                {"value": r[1], **funnels.steps_of(f, r[2:])}
                for r in rows if int(r[0]) == 0]}
        if f.order != "any":
            answer["notes"] = ["median times follow each unit's earliest chain of the steps "
                               "(see the user guide)"]
        return answer


def _known(body: dict[str, Any], fields: set[str]) -> None:
    for key in body:
        if key not in fields:
            raise bad_request(f"unknown field {str(key)[:40]!r}", str(key)[:40])


def _breakdown(raw: Any) -> tuple[str | None, int]:
    if raw is None:
        return None, 0
    if not isinstance(raw, dict) or not isinstance(raw.get("dimension"), str):
        raise bad_request("breakdown is {dimension, limit}", "breakdown")
    limit = raw.get("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or not (
            1 <= limit <= funnels.MAX_BREAKDOWN_ROWS):
        raise bad_request(f"breakdown.limit is 1 to {funnels.MAX_BREAKDOWN_ROWS}",
                          "breakdown.limit")
    return raw["dimension"], limit
