"""The stats service: a site's question in, its answer (plain JSON values) out.

One call per request: parse the request's parameters (``parser``), run the query
(``runner``, the only I/O, under the query time limit) and shape the answer (``response``).
Blocking: the HTTP layer calls it off the event loop, once. A site's goals come from the
site directory (kept in memory with the sites), so a card costs one query, not two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from liveinsight.meta.repo import SiteDirectory, SiteInfo
from liveinsight.query import model, parser, response
from liveinsight.query.runner import QueryRunner

SimpleKind = Literal["aggregate", "timeseries", "breakdown"]


class StatsService:
    def __init__(self, runner: QueryRunner, sites: SiteDirectory,
                 clock: Callable[[], datetime]) -> None:
        self._runner = runner
        self._sites = sites
        self._clock = clock

    def goals(self, site: SiteInfo) -> tuple[model.Goal, ...]:
        return tuple(model.Goal(g.display_name, event_name=g.event_name, page_path=g.page_path,
                                currency=g.currency)
                     for g in self._sites.goals(site.id))

    def today(self, site: SiteInfo) -> date:
        return self._clock().astimezone(ZoneInfo(site.timezone)).date()

    def v2(self, site: SiteInfo, body: dict[str, Any]) -> dict[str, Any]:
        """A Plausible v2 query body (without ``site_id``) → the v2 answer."""
        q = parser.parse_v2(body, site_id=site.id, timezone=site.timezone,
                            goals=self.goals(site), today=self.today(site))
        return response.v2(self._runner.run(q, "v2"), {"site_id": site.domain, **body})

    def simple(self, site: SiteInfo, kind: SimpleKind,
               params: Mapping[str, str]) -> dict[str, Any]:
        """``GET /api/stats/<kind>`` parameters (without ``site_id``) → the answer."""
        q = parser.parse_simple(params, kind, site_id=site.id, timezone=site.timezone,
                                goals=self.goals(site), today=self.today(site))
        result = self._runner.run(q, kind)
        shape = {"aggregate": response.aggregate, "timeseries": response.timeseries,
                 "breakdown": response.breakdown}[kind]
        return shape(result)
