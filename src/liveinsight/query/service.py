"""The stats service: a site's question in, its answer (JSON bytes) out, through the cache.

One call per request: parse the request's parameters (``parser``), then the answer from the
result cache (``cache/answers.py``: keyed by the question and the site's data generation) or,
on a miss, run the query (``runner``, the only I/O, under the query time limit), shape it
(``response``) and serialise it once (orjson). Blocking: the HTTP layer calls it off the
event loop, once. A site's goals come from the site directory (kept in memory with the
sites), so a card costs one query, not two. Each request is counted in the popularity that
warm-up replays (``cache/warmup.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

from liveinsight.cache.answers import Answers
from liveinsight.cache.warmup import Asked, Popularity
from liveinsight.meta.repo import SiteDirectory, SiteInfo
from liveinsight.query import model, parser, response
from liveinsight.query.realtime import snapshot
from liveinsight.query.runner import QueryRunner, query_key

SimpleKind = Literal["aggregate", "timeseries", "breakdown"]
_SHAPES = {"aggregate": response.aggregate, "timeseries": response.timeseries,
           "breakdown": response.breakdown}
SUMMARY = "visitors,visits,pageviews,views_per_visit,bounce_rate,visit_duration"


class StatsService:
    def __init__(self, runner: QueryRunner, sites: SiteDirectory,
                 clock: Callable[[], datetime], answers: Answers,
                 popularity: Popularity, sample_rows: int = 0,
                 imported: Callable[[int], tuple[tuple[int, date, date], ...]] | None = None
                 ) -> None:
        """``sample_rows``: event reads over more rows are sampled (0: always exact).
        ``imported(site_id)``: the site's completed imports (id, first day, last day), read
        when a query asks for imports."""
        self._imported = imported or (lambda _site_id: ())
        self._runner = runner
        self._sample_rows = sample_rows
        self._sites = sites
        self._clock = clock
        self._answers = answers
        self.popularity = popularity

    def goals(self, site: SiteInfo) -> tuple[model.Goal, ...]:
        return tuple(model.Goal(g.display_name, event_name=g.event_name, page_path=g.page_path,
                                currency=g.currency)
                     for g in self._sites.goals(site.id))

    def today(self, site: SiteInfo) -> date:
        return self._clock().astimezone(ZoneInfo(site.timezone)).date()

    def v2(self, site: SiteInfo, body: dict[str, Any], *, track: bool = True) -> bytes:
        """A Plausible v2 query body (without ``site_id``) → the v2 answer's JSON."""
        q = parser.parse_v2(body, site_id=site.id, timezone=site.timezone,
                            goals=self.goals(site), today=self.today(site),
                            sample_rows=self._sample_rows, now=self._clock())
        q = self._with_imports(q)
        asked = Asked.of("v2", body)
        if track:
            self.popularity.seen(site.id, asked)
        echo = {"site_id": site.domain, **body}
        return self._answers.get(
            site.id, q.date_range.end, ("v2", site.domain, str(asked.params), query_key(q)),
            lambda: orjson.dumps(response.v2(self._runner.run(q, "v2"), echo)))

    def v2_answer(self, site: SiteInfo, body: dict[str, Any]) -> dict[str, Any]:
        """The v2 answer as values, for the server's own use (e-mail reports): cached like
        a request's, not counted as a view."""
        answer: dict[str, Any] = orjson.loads(self.v2(site, body, track=False))
        return answer

    def simple(self, site: SiteInfo, kind: SimpleKind, params: Mapping[str, str], *,
               track: bool = True) -> bytes:
        """``GET /api/stats/<kind>`` parameters (without ``site_id``) → the answer's JSON."""
        q = parser.parse_simple(params, kind, site_id=site.id, timezone=site.timezone,
                                goals=self.goals(site), today=self.today(site),
                                sample_rows=self._sample_rows, now=self._clock())
        q = self._with_imports(q)
        asked = Asked.of(kind, dict(params))
        if track:
            self.popularity.seen(site.id, asked)
        shape = _SHAPES[kind]
        return self._answers.get(
            site.id, q.date_range.end, (kind, str(asked.params), query_key(q)),
            lambda: orjson.dumps(shape(self._runner.run(q, kind))))

    def _with_imports(self, q: model.Query) -> model.Query:
        """``q`` with the site's completed imports, when it asks for them: a new import
        (or a deleted one) makes a new question, never a stale cached answer."""
        if not q.include.imports:
            return q
        return replace(q, include=replace(q.include, imported=self._imported(q.site_id)))

    def realtime(self, site: SiteInfo, window: int) -> bytes:
        """``GET /api/realtime``'s document as of this second, through the cache: every
        viewer polling a site within one second and one data generation shares one snapshot
        (the snapshot's range ends a second after its whole-second time, so it holds every
        event ingested before the request)."""
        now = self._clock().replace(microsecond=0)
        return self._answers.get(
            site.id, now, ("realtime", site.domain, str(window), now.isoformat()),
            lambda: orjson.dumps(snapshot(self._runner, site, now, window)), lag=False)

    def replay(self, site_id: int, asked: Asked) -> None:
        """Run a tracked request again through the cache (warm-up); not counted as a view.
        A site deleted meanwhile is skipped."""
        site = self._sites.by_id(site_id)
        if site is None:
            return
        args = asked.arguments()
        if asked.kind == "v2":
            self.v2(site, args, track=False)
        elif asked.kind in _SHAPES:
            self.simple(site, asked.kind, {k: str(v) for k, v in args.items()},  # type: ignore[arg-type]
                        track=False)


def default_requests(site_id: int) -> list[Asked]:
    """What a dashboard first asks for a site (its summary, visitors over time, top pages,
    sources and countries over 30 days): warm-up's choice for a site nobody has viewed."""
    base = {"period": "30d"}
    return [Asked.of("aggregate", {**base, "metrics": SUMMARY}),
            Asked.of("timeseries", {**base, "metrics": "visitors"}),
            *(Asked.of("breakdown", {**base, "property": p, "metrics": "visitors",
                                     "limit": "9"})
              for p in ("event:page", "visit:source", "visit:country"))]
