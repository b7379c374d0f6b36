"""Weekly and monthly e-mail reports per site, in the manner of Plausible's: visitors,
pageviews, bounce rate and visit duration with their change against the previous period,
and the top pages and sources.

A subscription names a site, a period (``weekly``: Monday to Sunday; ``monthly``: a
calendar month, both in the site's time zone) and up to 20 recipients. The evaluator (under
the lease, so one node sends) calls :meth:`Reports.run_due` each tick: a subscription is due
once its last complete period is not the one it last sent (:func:`last_period`, pure); the
report is built through the stats service (the same queries, time limit and numbers as the
dashboard) and sent through the Mailer, one message per recipient. A new subscription gets
the report of the last complete period at the next tick.

Failures: when no recipient's message was taken (the SMTP server is down, the store cannot
answer), the subscription is tried again ``RETRY`` later, until its period is sent; when
some were taken and others refused, the period counts as sent (the others are not sent
again, so the recipients who got it do not get it twice) and the refusal is logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from liveinsight.errors import Invalid, NotFound, Problem, Unavailable
from liveinsight.meta import models
from liveinsight.meta.db import session_factory
from liveinsight.meta.repo import SiteDirectory, SiteInfo
from liveinsight.ops.mail import Mailer
from liveinsight.query.service import StatsService

log = logging.getLogger("liveinsight.reports")

PERIODS = ("weekly", "monthly")
MAX_RECIPIENTS = 20
MAX_SUBSCRIPTIONS = 500
TOP = 5
_EMAIL = re.compile(r"[^@\s,;<>\"]{1,64}@[^@\s,;<>\"]{1,255}")
RETRY = timedelta(minutes=15)
_METRICS = ("visitors", "pageviews", "bounce_rate", "visit_duration")


def last_period(period: str, today: date) -> tuple[date, date]:
    """The last complete week (Monday-Sunday) or month before ``today``: first and last day."""
    if period == "weekly":
        end = today - timedelta(days=today.weekday() + 1)
        return end - timedelta(days=6), end
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def _pct(change: Any) -> str:
    return "" if change is None else f" ({'+' if change >= 0 else ''}{change}%)"


def render(site: SiteInfo, period: str, first: date, last: date, totals: dict[str, Any],
           pages: list[dict[str, Any]], sources: list[dict[str, Any]]) -> tuple[str, str]:
    """Subject and plain text of a report from the stats answers."""
    word = "Weekly" if period == "weekly" else "Monthly"
    subject = f"[LiveInsight] {word} report for {site.domain}: {first} to {last}"
    row: dict[str, Any] = (totals["results"][0] if totals["results"]
                           else {"metrics": [0] * len(_METRICS)})
    changes = row.get("comparison", {}).get("change", [None] * len(_METRICS))
    v = dict(zip(_METRICS, row["metrics"], strict=True))
    c = dict(zip(_METRICS, changes, strict=True))
    lines = [f"{word} report for {site.name} ({site.domain}), {first} to {last} "
             f"({site.timezone}); changes against the previous {period[:-2]}.", "",
             f"Unique visitors: {v['visitors']}{_pct(c['visitors'])}",
             f"Pageviews:       {v['pageviews']}{_pct(c['pageviews'])}",
             f"Bounce rate:     {v['bounce_rate']}%{_pct(c['bounce_rate'])}",
             f"Visit duration:  {v['visit_duration']} s{_pct(c['visit_duration'])}", "",
             "Top pages:"]
    lines += [f"  {p['dimensions'][0]}  {p['metrics'][0]}" for p in pages] or ["  (none)"]
    lines += ["", "Top sources:"]
    lines += [f"  {s['dimensions'][0]}  {s['metrics'][0]}" for s in sources] or ["  (none)"]
    return subject, "\n".join(lines)


class Reports:
    def __init__(self, engine: Engine, sites: SiteDirectory, stats: StatsService,
                 mailer: Mailer, clock: Callable[[], datetime]) -> None:
        self._sessions = session_factory(engine)
        self._sites = sites
        self._stats = stats
        self._mailer = mailer
        self._clock = clock
        self._retry_at: dict[int, datetime] = {}  # report id -> next try after a failure

    # --- subscriptions ---------------------------------------------------------------
    def subscribe(self, body: Mapping[str, Any], site_id: int) -> dict[str, Any]:
        period = body.get("period")
        if period not in PERIODS:
            raise Invalid("period must be 'weekly' or 'monthly'", field="period")
        to = body.get("recipients")
        if not isinstance(to, list) or not 1 <= len(to) <= MAX_RECIPIENTS or not all(
                isinstance(t, str) and _EMAIL.fullmatch(t) for t in to):
            raise Invalid(f"recipients must be 1 to {MAX_RECIPIENTS} e-mail addresses",
                          field="recipients")
        with self._sessions() as s:
            if (s.scalar(select(func.count()).select_from(models.ReportSubscription))
                    or 0) >= MAX_SUBSCRIPTIONS:
                raise Invalid(f"at most {MAX_SUBSCRIPTIONS} subscriptions", field="site_id")
            row = models.ReportSubscription(site_id=site_id, period=period,
                                            recipients=list(to))
            s.add(row)
            s.commit()
            return self._view(row)

    def _view(self, row: models.ReportSubscription) -> dict[str, Any]:
        site = self._sites.by_id(row.site_id)
        return {"id": row.id, "site_id": site.domain if site else row.site_id,
                "period": row.period, "recipients": list(row.recipients),
                "last_period": row.last_period}

    def subscriptions(self) -> list[dict[str, Any]]:
        with self._sessions() as s:
            return [self._view(r) for r in s.scalars(
                select(models.ReportSubscription).order_by(models.ReportSubscription.id))]

    def unsubscribe(self, report_id: int) -> None:
        with self._sessions() as s:
            row = s.get(models.ReportSubscription, report_id)
            if row is None:
                raise NotFound(f"no report with id {report_id}", field="id")
            s.delete(row)
            s.commit()

    # --- building and sending --------------------------------------------------------
    def build(self, site: SiteInfo, period: str, first: date, last: date) -> tuple[str, str]:
        """Subject and text (blocking: three stats queries)."""
        span = [first.isoformat(), last.isoformat()]
        totals = self._stats.v2_answer(site, {"metrics": list(_METRICS), "date_range": span,
                                       "include": {"comparisons": {"mode": "previous_period"}}})
        top = {"date_range": span, "metrics": ["visitors"],
               "order_by": [["visitors", "desc"]], "pagination": {"limit": TOP}}
        pages = self._stats.v2_answer(site, {**top, "dimensions": ["event:page"]})["results"]
        sources = self._stats.v2_answer(site, {**top, "dimensions": ["visit:source"]})["results"]
        return render(site, period, first, last, totals, pages, sources)

    async def send(self, report_id: int, *, now: datetime | None = None) -> dict[str, Any]:
        """Send a subscription's report for its last complete period (before ``now``, by
        default the clock) and record that period as sent. What was sent."""
        with self._sessions() as s:
            row = s.get(models.ReportSubscription, report_id)
            if row is None:
                raise NotFound(f"no report with id {report_id}", field="id")
            site_id, period, to = row.site_id, row.period, list(row.recipients)
        site = self._sites.by_id(site_id)
        if site is None:
            raise NotFound(f"the report's site {site_id} is gone", field="id")
        first, last = last_period(period, _local_day(now or self._clock(), site))
        if not self._mailer.enabled:
            raise Unavailable("no SMTP server is configured (LIVEINSIGHT_SMTP_HOST)",
                              code="delivery_failed")
        subject, text = await asyncio.to_thread(self.build, site, period, first, last)
        failed = [t for t in to if not await self._mailer.send(t, subject, text)]
        if len(failed) == len(to):
            raise Unavailable("the SMTP server did not take the report (see the log)",
                              code="delivery_failed")
        if failed:
            log.warning("report %d: the SMTP server refused %d of %d recipients",
                        report_id, len(failed), len(to))
        with self._sessions() as s:
            row = s.get(models.ReportSubscription, report_id)
            if row is not None:
                row.last_period = first.isoformat()
                s.commit()
        return {"sent": True, "from": first.isoformat(), "to": last.isoformat(),
                "recipients": len(to) - len(failed), "failed": failed, "subject": subject}

    def due(self, now: datetime) -> list[int]:
        """Subscriptions whose last complete period is not sent yet (and not waiting after
        a failure), in id order."""
        with self._sessions() as s:
            rows = [(r.id, r.site_id, r.period, r.last_period) for r in s.scalars(
                select(models.ReportSubscription).order_by(models.ReportSubscription.id))]
        out = []
        for report_id, site_id, period, sent in rows:
            site = self._sites.by_id(site_id)
            if site is None or self._retry_at.get(report_id, now) > now:
                continue
            if last_period(period, _local_day(now, site))[0].isoformat() != sent:
                out.append(report_id)
        return out

    async def run_due(self, now: datetime) -> None:
        """Send every report that is due (the evaluator's tick)."""
        if not self._mailer.enabled:
            return
        for report_id in await asyncio.to_thread(self.due, now):
            try:
                await self.send(report_id, now=now)
                self._retry_at.pop(report_id, None)
            except Exception as exc:  # one report's failure never stops the others
                self._retry_at[report_id] = now + RETRY
                message = exc.message if isinstance(exc, Problem) else repr(exc)
                log.warning("report %d not sent (tried again in %s): %s", report_id, RETRY,
                            message)


def _local_day(now: datetime, site: SiteInfo) -> date:
    return now.astimezone(ZoneInfo(site.timezone)).date()
