"""What the HTTP layer asks of alerting: one call per request, each validating its input
(``Invalid`` naming the field) and doing its blocking work off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from liveinsight.errors import Invalid, Unavailable
from liveinsight.ops.alerts import samples
from liveinsight.ops.alerts.channels.config import build, parse_channel, public
from liveinsight.ops.alerts.channels.protocol import DeliveryError
from liveinsight.ops.alerts.channels.targets import check_reachable
from liveinsight.ops.alerts.evaluator import Evaluator
from liveinsight.ops.alerts.messages import test_message
from liveinsight.ops.alerts.rules import Rule, parse_rule
from liveinsight.ops.alerts.store import SavedRule

_NO_BODY: Mapping[str, Any] = {}


class AlertService:
    def __init__(self, evaluator: Evaluator, clock: Callable[[], datetime],
                 site_id: Callable[[object], int]) -> None:
        self.evaluator = evaluator
        self.store = evaluator.store
        self.incidents = evaluator.incidents
        self._clock = clock
        self._site_id = site_id

    # --- rules -----------------------------------------------------------------------
    def _parse(self, body: Mapping[str, Any]) -> Rule:
        return parse_rule(body, metrics=samples.catalogue(self.evaluator.registry),
                          channel_ids=set(self.store.channels()), site_id=self._site_id)

    def _view(self, saved: SavedRule) -> dict[str, Any]:
        return {"id": saved.id, **saved.rule.as_json(), "condition": saved.rule.condition(),
                "created_at": saved.created_at.isoformat(),
                "updated_at": saved.updated_at.isoformat()}

    def _save(self, body: Mapping[str, Any], rule_id: int | None) -> dict[str, Any]:
        if rule_id is not None:
            self.store.rule(rule_id)  # 404 before 400
        rule = self._parse(body)
        return self._view(self.store.rule(self.store.save_rule(rule, rule_id, self._clock())))

    async def save_rule(self, body: Mapping[str, Any], rule_id: int | None = None
                        ) -> dict[str, Any]:
        return await asyncio.to_thread(self._save, body, rule_id)

    async def set_threshold(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A metric rule by name: created, or replaced when one has that name."""
        if not isinstance(body, Mapping):
            raise Invalid("the body must be a JSON object", field="body")
        body = {**body, "kind": "metric"}
        if not body.get("name") and isinstance(body.get("metric"), str):
            given = body.get("labels")
            labels = given if isinstance(given, dict) else {}
            parts = [str(body.get("stat", "value")), body["metric"],
                     *(f"{k}={v}" for k, v in sorted(labels.items()))]
            body["name"] = " ".join(parts)[:100]
        name = body.get("name")
        existing = await asyncio.to_thread(self.store.rule_id_by_name, str(name))
        return await self.save_rule(body, existing)

    async def rules(self) -> list[dict[str, Any]]:
        return [self._view(r) for r in await asyncio.to_thread(self.store.rules)]

    async def rule(self, rule_id: int) -> dict[str, Any]:
        return self._view(await asyncio.to_thread(self.store.rule, rule_id))

    async def delete_rule(self, rule_id: int) -> None:
        await asyncio.to_thread(self.store.delete_rule, rule_id)

    # --- channels --------------------------------------------------------------------
    async def save_channel(self, body: Mapping[str, Any], channel_id: int | None = None
                           ) -> dict[str, Any]:
        previous = (await asyncio.to_thread(self.store.channel, channel_id)
                    if channel_id is not None else None)
        definition = parse_channel(body, previous)
        if "url" in definition:
            await check_reachable(definition["url"], "url", self.evaluator.deps.allow_private)
        cid = await asyncio.to_thread(self.store.save_channel, definition, channel_id,
                                      self._clock())
        shown = {"id": cid, **public(definition)}
        if definition["kind"] == "webhook" and not (previous and previous.get("secret")
                                                    == definition["secret"]):
            shown["secret"] = definition["secret"]  # shown once, when set
        return shown

    async def channels(self) -> list[dict[str, Any]]:
        found = await asyncio.to_thread(self.store.channels)
        return [{"id": cid, **public(d)} for cid, d in found.items()]

    async def delete_channel(self, channel_id: int) -> None:
        await asyncio.to_thread(self.store.delete_channel, channel_id)

    async def test_channel(self, channel_id: int) -> dict[str, Any]:
        """Send a test message now (not through the outbox, its quiet hours or its cap)."""
        definition = await asyncio.to_thread(self.store.channel, channel_id)
        now = self._clock()
        try:
            await build(definition, self.evaluator.deps).send(
                test_message(definition["name"], now))
        except DeliveryError as exc:
            raise Unavailable(f"the test message was not delivered: {exc}",
                              code="delivery_failed") from None
        await asyncio.to_thread(self.store.record, [{
            "at": now, "rule": "", "group": "", "kind": "test_sent", "severity": "info",
            "text": f"test message sent to {definition['name']}",
            "detail": {"channel_id": channel_id}}])
        return {"sent": True, "channel_id": channel_id, "at": now.isoformat()}

    # --- state, history, acknowledgement ------------------------------------------------
    def _alerts(self) -> dict[str, Any]:
        saved = self.store.rules()
        states = self.store.states()
        out = []
        for sr in saved:
            series = sorted(states.get(sr.id, {}).values(), key=lambda s: s.series)
            worst = ("firing" if any(s.state == "firing" for s in series) else
                     "pending" if any(s.state == "pending" for s in series) else "ok")
            out.append({
                "id": sr.id, "name": sr.rule.name, "kind": sr.rule.kind,
                "severity": sr.rule.severity, "enabled": sr.rule.enabled,
                "condition": sr.rule.condition(), "state": worst if sr.rule.enabled
                else "disabled",
                "series": [{
                    "series": s.series, "group": s.group, "labels": s.labels,
                    "state": s.state, "value": s.value, "since": s.since.isoformat(),
                    "fired_at": s.fired_at.isoformat() if s.fired_at else None,
                    "acknowledged_at": s.acknowledged_at.isoformat()
                    if s.acknowledged_at else None, "acknowledged_by": s.acknowledged_by,
                    "escalation_level": max(s.level, 0) if s.state == "firing" else None,
                    "flapping": s.flapping} for s in series]})
        return {"evaluator": {"this_node_evaluates": self.evaluator.leader,
                              "interval_seconds": self.evaluator.interval_s},
                "rules": out}

    async def alerts(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._alerts)

    async def history(self, **filters: Any) -> list[dict[str, Any]]:
        return await asyncio.to_thread(lambda: self.store.history(**filters))

    async def acknowledge(self, body: Mapping[str, Any], by: str) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise Invalid("the body must be a JSON object", field="body")
        rule_id = body.get("rule_id")
        if isinstance(rule_id, bool) or not isinstance(rule_id, int):
            raise Invalid("rule_id must be a rule's id", field="rule_id")
        group = body.get("group")
        if group is not None and not isinstance(group, str):
            raise Invalid("group must be text (the alert group, '' for the whole rule)",
                          field="group")
        saved = await asyncio.to_thread(self.store.rule, rule_id)
        now = self._clock()
        count = await asyncio.to_thread(self.store.acknowledge, rule_id, group, by, now)
        await asyncio.to_thread(self.store.record, [{
            "at": now, "rule_id": rule_id, "rule": saved.rule.name, "group": group or "",
            "kind": "acknowledged", "severity": saved.rule.severity,
            "text": f"acknowledged by {by} ({count} series)"}])
        return {"acknowledged": count}

    # --- incidents -------------------------------------------------------------------
    async def create_incident(self, body: Mapping[str, Any], by: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.incidents.create, body, by, self._clock())

    async def incident_list(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.incidents.recent, status, limit)

    async def incident(self, incident_id: int) -> dict[str, Any]:
        return await asyncio.to_thread(self.incidents.get, incident_id)

    async def update_incident(self, incident_id: int, body: Mapping[str, Any], by: str
                              ) -> dict[str, Any]:
        view, ack = await asyncio.to_thread(self.incidents.update, incident_id, body, by,
                                            self._clock())
        for alert in ack:
            await asyncio.to_thread(self.store.acknowledge, alert["rule_id"],
                                    alert.get("group", ""), by, self._clock())
        return view
