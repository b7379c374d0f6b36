"""What a notification says: one :class:`Message` per decision of ``decide.plan``."""

from __future__ import annotations

from datetime import datetime

from liveinsight.ops.alerts.channels.protocol import Message
from liveinsight.ops.alerts.decide import Notice
from liveinsight.ops.alerts.rules import Rule

_HEAD = {"firing": "FIRING", "escalated": "ESCALATED", "repeat": "STILL FIRING",
         "resolved": "RESOLVED"}
MAX_SERIES_SHOWN = 20


def _labels(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items()) or "(all)"


def _value(value: float | None) -> str:
    return "no data" if value is None else f"{value:.6g}"


def alert_message(rule_id: int, rule: Rule, notice: Notice, now: datetime,
                  base_url: str | None) -> Message:
    head = _HEAD[notice.kind]
    group = f" [{notice.group}]" if notice.group else ""
    subject = f"[LiveInsight] {head} {rule.severity}: {rule.name}{group}"
    lines = [f"{head}: {rule.name} ({rule.severity})", f"Condition: {rule.condition()}"]
    if rule.description:
        lines.append(rule.description)
    lines.append("")
    for s in notice.series[:MAX_SERIES_SHOWN]:
        since = s.fired_at.isoformat(timespec="seconds") if s.fired_at else "-"
        lines.append(f"- {_labels(s.labels)}: {_value(s.value)} (firing since {since})")
    if len(notice.series) > MAX_SERIES_SHOWN:
        lines.append(f"- ... and {len(notice.series) - MAX_SERIES_SHOWN} more")
    lines.append("")
    lines.append(f"At {now.isoformat(timespec='seconds')}.")
    if notice.kind != "resolved":
        lines.append("Acknowledge to stop escalation: POST /admin/alerts/ack "
                     f'{{"rule_id": {rule_id}, "group": "{notice.group}"}}')
    if base_url:
        lines.append(f"Alerts: {base_url.rstrip('/')}/admin/alerts")
    payload = {
        "event": notice.kind, "rule": {"id": rule_id, "name": rule.name, "kind": rule.kind,
                                       "condition": rule.condition()},
        "group": notice.group, "levels": list(notice.levels), "at": now.isoformat(),
        "series": [{"labels": s.labels, "value": s.value, "state": s.state,
                    "fired_at": s.fired_at.isoformat() if s.fired_at else None}
                   for s in notice.series[:MAX_SERIES_SHOWN]],
    }
    return Message(subject, "\n".join(lines), rule.severity, payload)


def test_message(channel_name: str, now: datetime) -> Message:
    return Message(f"[LiveInsight] Test notification to {channel_name}",
                   f"This is a test of the channel {channel_name!r}, sent at "
                   f"{now.isoformat(timespec='seconds')}. If you read this, it works.",
                   "info", {"event": "test", "at": now.isoformat()})
