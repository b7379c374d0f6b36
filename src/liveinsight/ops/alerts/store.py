"""The alerting tables of the metadata database: channels, rules, series states, history
and the outbox. Blocking (SQLAlchemy): callers on the event loop go through a thread.

Every node reads and writes the same rows, so the API answers the same on every node and a
new evaluator (after the lease moved) carries on from the states the last one kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError

from liveinsight.errors import Invalid, NotFound
from liveinsight.meta import models
from liveinsight.meta.db import session_factory
from liveinsight.meta.repo import aware
from liveinsight.ops.alerts.decide import SeriesState
from liveinsight.ops.alerts.rules import MAX_RULES, Rule, rule_from_json

MAX_CHANNELS = 100
HISTORY_LIMIT = 500


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _opt(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class SavedRule:
    id: int
    rule: Rule
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    channel_id: int
    created_at: datetime
    message: dict[str, Any]
    attempts: int


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    # --- channels --------------------------------------------------------------------
    def channels(self) -> dict[int, dict[str, Any]]:
        with self._sessions() as s:
            return {c.id: dict(c.definition) for c in s.scalars(
                select(models.AlertChannel).order_by(models.AlertChannel.id))}

    def channel(self, channel_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            row = s.get(models.AlertChannel, channel_id)
            if row is None:
                raise NotFound(f"no channel with id {channel_id}", field="id")
            return dict(row.definition)

    def save_channel(self, definition: Mapping[str, Any], channel_id: int | None,
                     now: datetime) -> int:
        with self._sessions() as s:
            if channel_id is None:
                if (s.scalar(select(func.count()).select_from(models.AlertChannel))
                        or 0) >= MAX_CHANNELS:
                    raise Invalid(f"at most {MAX_CHANNELS} channels", field="name")
                row = models.AlertChannel(created_at=utc(now))
                s.add(row)
            else:
                found = s.get(models.AlertChannel, channel_id)
                if found is None:
                    raise NotFound(f"no channel with id {channel_id}", field="id")
                row = found
            row.name, row.kind, row.definition = (definition["name"], definition["kind"],
                                                  dict(definition))
            try:
                s.commit()
            except IntegrityError:
                raise Invalid(f"a channel named {definition['name']!r} exists",
                              field="name") from None
            return row.id

    def delete_channel(self, channel_id: int) -> None:
        with self._sessions() as s:
            row = s.get(models.AlertChannel, channel_id)
            if row is None:
                raise NotFound(f"no channel with id {channel_id}", field="id")
            used = [r.name for r in s.scalars(select(models.AlertRule))
                    if channel_id in rule_from_json(r.definition).channels or any(
                        channel_id in lv.channels for lv in rule_from_json(
                            r.definition).escalation)]
            if used:
                raise Invalid(f"the channel is used by rule(s): {', '.join(used[:5])}",
                              field="id")
            s.delete(row)
            s.commit()

    # --- rules -----------------------------------------------------------------------
    def rules(self) -> list[SavedRule]:
        with self._sessions() as s:
            return [self._saved(r) for r in s.scalars(
                select(models.AlertRule).order_by(models.AlertRule.id))]

    def rule(self, rule_id: int) -> SavedRule:
        with self._sessions() as s:
            row = s.get(models.AlertRule, rule_id)
            if row is None:
                raise NotFound(f"no rule with id {rule_id}", field="id")
            return self._saved(row)

    def rule_id_by_name(self, name: str) -> int | None:
        with self._sessions() as s:
            return s.scalar(select(models.AlertRule.id).where(models.AlertRule.name == name))

    @staticmethod
    def _saved(row: models.AlertRule) -> SavedRule:
        return SavedRule(row.id, rule_from_json(row.definition), aware(row.created_at),
                         aware(row.updated_at))

    def save_rule(self, rule: Rule, rule_id: int | None, now: datetime) -> int:
        """Create (``rule_id`` None) or replace a rule. Replacing one forgets its series'
        states only when what it watches changed (so editing channels keeps a firing alert
        firing)."""
        with self._sessions() as s:
            if rule_id is None:
                if (s.scalar(select(func.count()).select_from(models.AlertRule)) or 0) >= MAX_RULES:
                    raise Invalid(f"at most {MAX_RULES} rules", field="name")
                row = models.AlertRule(created_at=utc(now))
                s.add(row)
            else:
                found = s.get(models.AlertRule, rule_id)
                if found is None:
                    raise NotFound(f"no rule with id {rule_id}", field="id")
                row = found
                old = rule_from_json(row.definition)
                if _watched(old) != _watched(rule):
                    s.execute(delete(models.AlertState).where(
                        models.AlertState.rule_id == rule_id))
            row.name, row.kind, row.enabled = rule.name, rule.kind, rule.enabled
            row.definition, row.updated_at = rule.as_json(), utc(now)
            try:
                s.commit()
            except IntegrityError:
                raise Invalid(f"a rule named {rule.name!r} exists", field="name") from None
            return row.id

    def delete_rule(self, rule_id: int) -> None:
        with self._sessions() as s:
            row = s.get(models.AlertRule, rule_id)
            if row is None:
                raise NotFound(f"no rule with id {rule_id}", field="id")
            s.execute(delete(models.AlertState).where(models.AlertState.rule_id == rule_id))
            s.delete(row)
            s.commit()

    # --- series states ---------------------------------------------------------------
    def states(self, rule_id: int | None = None) -> dict[int, dict[str, SeriesState]]:
        """States by rule id, then by series."""
        query = select(models.AlertState)
        if rule_id is not None:
            query = query.where(models.AlertState.rule_id == rule_id)
        out: dict[int, dict[str, SeriesState]] = {}
        with self._sessions() as s:
            for r in s.scalars(query):
                out.setdefault(r.rule_id, {})[r.series] = SeriesState(
                    series=r.series, group=r.group_key, labels=dict(r.labels), state=r.state,
                    since=aware(r.since), value=r.value, fired_at=_opt(r.fired_at),
                    notified_at=_opt(r.notified_at), level=r.level,
                    acknowledged_at=_opt(r.acknowledged_at),
                    acknowledged_by=r.acknowledged_by,
                    flips=tuple(aware(datetime.fromisoformat(t)) for t in r.flips),
                    flapping=r.flapping)
        return out

    def save_states(self, rule_id: int, states: Iterable[SeriesState]) -> None:
        with self._sessions() as s:
            rows = {r.series: r for r in s.scalars(
                select(models.AlertState).where(models.AlertState.rule_id == rule_id))}
            for st in states:
                row = rows.get(st.series)
                if row is None:
                    row = models.AlertState(rule_id=rule_id, series=st.series)
                    s.add(row)
                row.group_key, row.labels, row.state = st.group, dict(st.labels), st.state
                row.value, row.since, row.level = st.value, utc(st.since), st.level
                row.fired_at = st.fired_at and utc(st.fired_at)
                row.notified_at = st.notified_at and utc(st.notified_at)
                row.acknowledged_at = st.acknowledged_at and utc(st.acknowledged_at)
                row.acknowledged_by = st.acknowledged_by
                row.flips = [utc(t).isoformat() for t in st.flips]
                row.flapping = st.flapping
            s.commit()

    def acknowledge(self, rule_id: int, group: str | None, by: str, now: datetime) -> int:
        """Acknowledge the firing series of a rule (of one group when given): their
        escalation and repeats stop until they resolve. How many were acknowledged."""
        with self._sessions() as s:
            query = select(models.AlertState).where(models.AlertState.rule_id == rule_id,
                                                    models.AlertState.state == "firing")
            if group is not None:
                query = query.where(models.AlertState.group_key == group)
            rows = list(s.scalars(query))
            for row in rows:
                row.acknowledged_at, row.acknowledged_by = utc(now), by[:255]
            s.commit()
            return len(rows)

    # --- history ---------------------------------------------------------------------
    def record(self, events: Iterable[Mapping[str, Any]]) -> None:
        with self._sessions() as s:
            for e in events:
                s.add(models.AlertEvent(
                    at=utc(e["at"]), rule_id=e.get("rule_id"), rule_name=e.get("rule", "")[:100],
                    group_key=e.get("group", "")[:500], kind=e["kind"],
                    severity=e.get("severity", "info"), text=e.get("text", "")[:2000],
                    detail=dict(e.get("detail", {}))))
            s.commit()

    def history(self, *, rule_id: int | None = None, kind: str | None = None,
                since: datetime | None = None, until: datetime | None = None,
                before_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first; ``before_id`` pages on (the last id of the previous page)."""
        e = models.AlertEvent
        query = select(e).order_by(e.id.desc()).limit(max(1, min(limit, HISTORY_LIMIT)))
        if rule_id is not None:
            query = query.where(e.rule_id == rule_id)
        if kind is not None:
            query = query.where(e.kind == kind)
        if since is not None:
            query = query.where(e.at >= utc(since))
        if until is not None:
            query = query.where(e.at < utc(until))
        if before_id is not None:
            query = query.where(e.id < before_id)
        with self._sessions() as s:
            return [{"id": r.id, "at": aware(r.at).isoformat(), "rule_id": r.rule_id,
                     "rule": r.rule_name, "group": r.group_key, "kind": r.kind,
                     "severity": r.severity, "text": r.text, "detail": r.detail}
                    for r in s.scalars(query)]

    # --- outbox ----------------------------------------------------------------------
    def enqueue(self, channel_id: int, message: Mapping[str, Any], now: datetime) -> None:
        with self._sessions() as s:
            s.add(models.AlertOutbox(channel_id=channel_id, created_at=utc(now),
                                     status="pending", message=dict(message), attempts=0))
            s.commit()

    def pending(self) -> list[OutboxItem]:
        o = models.AlertOutbox
        with self._sessions() as s:
            return [OutboxItem(r.id, r.channel_id, aware(r.created_at), dict(r.message),
                               r.attempts)
                    for r in s.scalars(select(o).where(o.status == "pending").order_by(o.id))]

    def finish(self, item_id: int, status: str, now: datetime, error: str | None = None
               ) -> None:
        """Mark a message ``sent``, ``failed`` (for good), ``dropped`` or still ``pending``
        after a failed attempt."""
        with self._sessions() as s:
            row = s.get(models.AlertOutbox, item_id)
            if row is None:
                return
            row.status, row.error = status, error and error[:500]
            row.attempts += 0 if status == "dropped" else 1
            if status == "sent":
                row.sent_at = utc(now)
            s.commit()

    def sent_since(self, channel_id: int, since: datetime) -> int:
        o = models.AlertOutbox
        with self._sessions() as s:
            return int(s.scalar(select(func.count()).select_from(o).where(
                o.channel_id == channel_id, o.status == "sent", o.sent_at >= utc(since))) or 0)


def _watched(rule: Rule) -> tuple[Any, ...]:
    return (rule.kind, rule.metric, tuple(sorted(rule.labels.items())), rule.by, rule.stat,
            rule.site_id, rule.mode, rule.group_by, rule.action)
