"""The alert evaluator: one per cluster, a tick every ``alerts_interval_seconds``.

Each node runs :meth:`Evaluator.run` (started in the app's lifespan); a tick first takes or
renews the cluster's lease (``ops/lease.py``) and does nothing more on a node that does not
hold it, so one node evaluates and sends. The holder, each tick:

1. takes a snapshot of its metric registry (under ``serve --workers``, every worker's
   metrics, through their snapshots: ``ops/metricshare.py``; rules' window statistics read
   the snapshots of the last day kept in memory: after the lease moves, the new holder's
   window statistics answer "no data" for one window), asks the store each traffic rule's
   question and the audit log each security rule's (``security_events``: flagged records
   in a window);
2. steps every series of every enabled rule and plans each alert group's notifications
   (``decide.py``, pure), queueing them in the outbox, one per channel (quiet hours hold a
   message in the outbox until they end), and opens or resolves incidents;
3. delivers what the outbox holds (the rate cap per channel drops what passes it; a failed
   delivery is tried again at the next ticks, ``MAX_ATTEMPTS`` in all);
4. sends the e-mail reports that are due (``reports.py``).

Everything is kept in the metadata database (states, history, outbox, incidents), so the
API answers the same on every node and the next holder carries on. The clock is injected;
tests call :meth:`tick` themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from liveinsight.errors import Problem
from liveinsight.ops.alerts import samples, traffic
from liveinsight.ops.alerts.channels.config import Deps, build, held_until
from liveinsight.ops.alerts.channels.protocol import DeliveryError, Message
from liveinsight.ops.alerts.decide import Plan, SeriesState, breached, group_key, plan, step
from liveinsight.ops.alerts.incidents import Incidents
from liveinsight.ops.alerts.messages import alert_message
from liveinsight.ops.alerts.rules import Rule
from liveinsight.ops.alerts.store import AlertStore, OutboxItem, SavedRule
from liveinsight.ops.lease import Lease
from liveinsight.ops.metrics import Metrics
from liveinsight.query.runner import QueryRunner

log = logging.getLogger("liveinsight.alerts")

MAX_ATTEMPTS = 5
HISTORY_KEEP = timedelta(days=1, minutes=5)
"""The most history of samples the evaluator keeps: a day-long window, or two 12-hour ones
compared (``rules.MAX_COMPARED_WINDOW_S``), plus a margin."""
HISTORY_MARGIN = timedelta(minutes=5)


def history_needed(rules: Iterable[Rule], interval_s: float) -> timedelta:
    """How much history of samples ``rules`` read: the longest window of a metric rule
    (twice it for one compared with the window before), plus a margin of at least two
    evaluations. Each evaluation keeps a snapshot of every sample of the rules' metrics (a
    histogram's buckets per label set: ~29 KB for the soak's four rules), so a fixed day of
    them grew a process by ~170 MB over a day at the default 15 s, whatever the rules'
    windows were. A rule saved with a longer window than the others sees no value until it
    has had that much history, as after a restart."""
    longest = max((r.window_s * (2 if r.compare else 1) for r in rules if r.kind == "metric"),
                  default=0)
    margin = max(HISTORY_MARGIN, timedelta(seconds=2 * interval_s))
    return min(HISTORY_KEEP, timedelta(seconds=longest) + margin)


class Reports(Protocol):
    async def run_due(self, now: datetime) -> None: ...


SecurityEvents = Callable[[datetime, datetime, str], int]
"""``(since, until, action prefix)`` → the audit log's security events in that window
(``AuditStore.count_flagged``; blocking, called from the evaluation thread)."""


def series_key(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())[:500]


class Evaluator:
    def __init__(self, *, store: AlertStore, incidents: Incidents, lease: Lease,
                 metrics: Metrics, runner: QueryRunner, database: str, deps: Deps,
                 clock: Callable[[], datetime], holder: str, interval_s: float,
                 base_url: str | None, sites: Callable[[int], str | None],
                 reports: Reports | None = None,
                 security_events: SecurityEvents | None = None,
                 registry: CollectorRegistry | None = None) -> None:
        self.store, self.incidents, self.lease = store, incidents, lease
        self._metrics, self._runner, self._database = metrics, runner, database
        self._registry = registry if registry is not None else metrics.registry
        self.deps, self._clock, self.holder = deps, clock, holder
        self.interval_s = interval_s
        self._ttl = max(10.0, 3 * interval_s)
        self._base_url = base_url
        self._site_name = sites
        self.reports = reports
        self._security_events = security_events
        self.history = samples.History(HISTORY_KEEP)
        self.leader = False
        self._lock = asyncio.Lock()

    @property
    def registry(self) -> CollectorRegistry:
        """The registry rules read: this process's (``ops/metrics.py``), or under ``serve
        --workers`` every worker's, each sample labelled by its worker
        (``MetricsShare.by_worker``)."""
        return self._registry

    # --- the loop --------------------------------------------------------------------
    async def run(self, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """Tick every ``interval_s`` until cancelled; a failing tick is logged."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("alert evaluation failed; it runs again at the next tick")
            await sleep(self.interval_s)

    async def close(self) -> None:
        try:
            if self.leader:
                await self.lease.release(self.holder)
        except Exception as exc:  # the lease expires by itself
            log.warning("could not release the alert lease: %s", exc)
        await self.lease.close()
        await self.deps.client.aclose()

    async def tick(self) -> bool:
        """One evaluation if this node holds (or takes) the lease; whether it did."""
        async with self._lock:
            now = self._clock()
            try:
                held = await self.lease.acquire(self.holder, self._ttl)
            except Exception as exc:
                log.warning("the alert lease cannot be reached: %s", exc)
                held = False
            if not held:
                self.leader = False
                self._metrics.alert_leader.set(0)
                return False
            if not self.leader:
                self.history = samples.History(HISTORY_KEEP)
            self.leader = True
            self._metrics.alert_leader.set(1)
            await asyncio.to_thread(self._evaluate, now)
            await self.deliver(now)
            if self.reports is not None:
                await self.reports.run_due(now)
            return True

    # --- evaluation (blocking: runs in a thread) ---------------------------------------
    def _evaluate(self, now: datetime) -> None:
        saved = [r for r in self.store.rules() if r.rule.enabled]
        registry = self._registry
        names = {r.rule.metric for r in saved if r.rule.kind == "metric"}
        self.history.keep = history_needed((r.rule for r in saved), self.interval_s)
        self.history.add(samples.snapshot(registry, now, names))
        catalogue = samples.catalogue(registry) if names else {}
        states = self.store.states()
        channels = self.store.channels()
        events: list[dict[str, Any]] = []
        firing = 0
        for sr in saved:
            try:
                values = self._values(sr.rule, catalogue, now)
            except Problem as exc:
                log.warning("alert rule %r not evaluated: %s", sr.rule.name, exc.message)
                values = None
            new = self._step_rule(sr, states.get(sr.id, {}), values, now, channels, events)
            firing += sum(1 for s in new if s.state == "firing")
        self._metrics.alerts_firing.set(firing)
        self.store.record(events)

    def _values(self, rule: Rule, catalogue: Mapping[str, samples.MetricInfo], now: datetime
                ) -> dict[str, tuple[dict[str, str], float | None]]:
        if rule.kind == "security":
            if self._security_events is None:
                return {}
            since = now - timedelta(seconds=rule.window_s)
            return {"": ({}, float(self._security_events(since, now, rule.action)))}
        if rule.kind == "traffic":
            sql, params = traffic.query(rule, now, self._database)
            rows = self._runner.raw(sql, params, "alerts")
            site = self._site_name(rule.site_id) or str(rule.site_id)
            return {f"site={site}": ({"site": site}, traffic.value(rule, rows))}
        info = catalogue.get(rule.metric)
        if info is None:  # the metric left the registry (a rule of an older version)
            return {}
        window = timedelta(seconds=rule.window_s)
        by = samples.kept_apart(info, rule.by)
        under = (None if rule.ratio_of is None
                 else samples.Selector(rule.metric, rule.ratio_of, by))
        values = samples.measure(self.history, samples.Selector(rule.metric, rule.labels, by),
                                 rule.stat, info.kind, window, ratio_of=under,
                                 compare=rule.compare)
        if not values and not by:  # nothing matched yet: the sum is 0 (or no data)
            values = {(): 0.0 if rule.stat in ("value", "increase", "rate")
                      and not rule.compare else None}
        return {series_key(dict(k)): (dict(k), v) for k, v in values.items()}

    def _step_rule(self, sr: SavedRule, prev: Mapping[str, SeriesState],
                   values: Mapping[str, tuple[dict[str, str], float | None]] | None,
                   now: datetime, channels: Mapping[int, Mapping[str, Any]],
                   events: list[dict[str, Any]]) -> list[SeriesState]:
        rule = sr.rule
        base = {"rule_id": sr.id, "rule": rule.name, "severity": rule.severity, "at": now}
        stepped: dict[str, SeriesState] = {}
        resolved: dict[str, list[SeriesState]] = {}
        for key in sorted({*prev, *(values or {})}):
            if values is None:  # the rule's question failed: keep every state as it is
                stepped[key] = prev[key]
                continue
            labels, value = values.get(key, (prev[key].labels if key in prev else {}, None))
            old = prev.get(key) or SeriesState(key, group_key(rule, labels), labels, "ok", now)
            breach = False if key not in values else breached(rule, value)
            state, change = step(rule, old, breach, value, now)
            stepped[key] = state
            if change is not None:
                events.append({**base, "group": state.group, "kind": change,
                               "text": f"{series_key(labels) or rule.name}: {change} at "
                                       f"{'no data' if value is None else f'{value:.6g}'}",
                               "detail": {"labels": labels, "value": value}})
            if change == "resolved":
                resolved.setdefault(state.group, []).append(state)
        groups: dict[str, list[SeriesState]] = {}
        for state in stepped.values():
            groups.setdefault(state.group, []).append(state)
        for group, members in groups.items():
            decided = plan(rule, group, members, resolved.get(group, []), now)
            self._act(sr, group, decided, now, channels, events, base)
            for key, state in decided.states.items():
                stepped[key] = state
            if resolved.get(group) and not any(s.state == "firing" for s in members):
                for incident in self.incidents.alert_resolved(sr.id, rule.name, group, now):
                    events.append({**base, "group": group, "kind": "incident_resolved",
                                   "text": f"incident {incident} resolved"})
        self.store.save_states(sr.id, stepped.values())
        return list(stepped.values())

    def _act(self, sr: SavedRule, group: str, decided: Plan, now: datetime,
             channels: Mapping[int, Mapping[str, Any]], events: list[dict[str, Any]],
             base: dict[str, Any]) -> None:
        rule = sr.rule
        for _, reason in decided.suppressed:
            events.append({**base, "group": group, "kind": "suppressed",
                           "text": f"notification suppressed: {reason}",
                           "detail": {"reason": reason}})
        for notice in decided.notices:
            message = alert_message(sr.id, rule, notice, now, self._base_url)
            levels = rule.levels()
            targets = sorted({c for i in notice.levels if i < len(levels)
                              for c in levels[i].channels})
            for cid in targets:
                definition = channels.get(cid)
                if definition is None:
                    continue
                until = held_until(definition, rule.severity, now)
                self.store.enqueue(cid, _outbox(message, sr.id, rule.name, group, until), now)
                if until is not None:
                    events.append({**base, "group": group, "kind": "held",
                                   "text": f"{notice.kind} to {definition['name']} held by "
                                           f"quiet hours until {until.isoformat()}",
                                   "detail": {"channel_id": cid}})
            events.append({**base, "group": group, "kind": f"notify_{notice.kind}",
                           "text": message.subject, "detail": {"channels": targets,
                                                               "levels": list(notice.levels)}})
            if notice.kind == "firing" and rule.incident:
                incident = self.incidents.alert_fired(sr.id, rule.name, group, rule.severity,
                                                      now)
                events.append({**base, "group": group, "kind": "incident",
                               "text": f"linked to incident {incident}",
                               "detail": {"incident_id": incident}})

    # --- delivery --------------------------------------------------------------------
    async def deliver(self, now: datetime) -> None:
        """Send what the outbox holds and may go now."""
        items = await asyncio.to_thread(self.store.pending)
        if not items:
            return
        channels = await asyncio.to_thread(self.store.channels)
        events: list[dict[str, Any]] = []
        for item in items:
            definition = channels.get(item.channel_id)
            if definition is not None:
                await self._deliver_one(item, definition, now, events)
        await asyncio.to_thread(self.store.record, events)

    async def _deliver_one(self, item: OutboxItem, definition: Mapping[str, Any],
                           now: datetime, events: list[dict[str, Any]]) -> None:
        m = item.message
        held = m.get("not_before")
        if held and now < datetime.fromisoformat(held):
            return
        base = {"rule_id": m.get("rule_id"), "rule": m.get("rule", ""),
                "group": m.get("group", ""), "severity": m.get("severity", "info"), "at": now,
                "detail": {"channel_id": item.channel_id, "outbox_id": item.id}}
        name, kind = definition["name"], definition["kind"]
        sent = await asyncio.to_thread(self.store.sent_since, item.channel_id,
                                       now - timedelta(hours=1))
        if sent >= int(definition.get("max_per_hour", 30)):
            await asyncio.to_thread(self.store.finish, item.id, "dropped", now, "rate cap")
            self._metrics.alert_notifications.labels(kind, "rate_limited").inc()
            events.append({**base, "kind": "rate_limited", "text": f"not sent to {name}: "
                           f"{sent} sent within the hour (max_per_hour)"})
            return
        message = Message(m["subject"], m["text"], m.get("severity", "info"),
                          m.get("payload", {}))
        try:
            await build(definition, self.deps).send(message)
        except DeliveryError as exc:
            final = item.attempts + 1 >= MAX_ATTEMPTS
            await asyncio.to_thread(self.store.finish, item.id,
                                    "failed" if final else "pending", now, str(exc))
            self._metrics.alert_notifications.labels(kind, "failed").inc()
            events.append({**base, "kind": "delivery_failed", "text": f"to {name}: {exc}"
                           + (" (given up)" if final else " (will retry)")})
            return
        await asyncio.to_thread(self.store.finish, item.id, "sent", now)
        self._metrics.alert_notifications.labels(kind, "sent").inc()
        events.append({**base, "kind": "sent", "text": f"sent to {name} ({kind})"})


def _outbox(message: Message, rule_id: int, rule: str, group: str,
            until: datetime | None) -> dict[str, Any]:
    return {"subject": message.subject, "text": message.text, "severity": message.severity,
            "payload": message.payload, "rule_id": rule_id, "rule": rule, "group": group,
            "not_before": until.isoformat() if until else None}

