"""Incidents: opened by hand or by a rule marked ``incident`` when it fires (by default the
critical ones), with a status (open → acknowledged → resolved), an assignee, the alerts
linked to it and a timeline of what happened.

An incident opened by an alert gathers that alert group's later firings while it is not
resolved; once every alert linked to it has resolved it resolves itself (its timeline says
so). Acknowledging an incident acknowledges its firing alerts (their escalation stops).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from liveinsight.errors import Invalid, NotFound
from liveinsight.meta import models
from liveinsight.meta.db import session_factory
from liveinsight.meta.repo import aware
from liveinsight.ops.alerts.rules import SEVERITIES
from liveinsight.ops.alerts.store import utc

STATUSES = ("open", "acknowledged", "resolved")
MAX_TIMELINE = 500
LIST_LIMIT = 200


def _view(row: models.Incident) -> dict[str, Any]:
    return {"id": row.id, "title": row.title, "status": row.status, "severity": row.severity,
            "assignee": row.assignee, "source": row.source, "alerts": list(row.alerts),
            "timeline": list(row.timeline), "created_at": aware(row.created_at).isoformat(),
            "updated_at": aware(row.updated_at).isoformat(),
            "resolved_at": aware(row.resolved_at).isoformat() if row.resolved_at else None}


def _entry(row: models.Incident, now: datetime, kind: str, text: str, actor: str) -> None:
    row.timeline = [*row.timeline, {"at": utc(now).isoformat(), "kind": kind,
                                    "text": text[:1000], "actor": actor[:255]}][-MAX_TIMELINE:]
    row.updated_at = utc(now)


def _text(body: Mapping[str, Any], key: str, limit: int, required: bool) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Invalid(f"{key} must be text of 1 to {limit} characters", field=key)
    return value.strip()


class Incidents:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def create(self, body: Mapping[str, Any], actor: str, now: datetime) -> dict[str, Any]:
        """A hand-made incident from ``{"title", "severity"?, "assignee"?, "note"?,
        "alerts"?: [{"rule_id", "group"}]}``; ``Invalid`` naming the field."""
        if not isinstance(body, Mapping):
            raise Invalid("the body must be a JSON object", field="body")
        title = _text(body, "title", 200, True) or ""
        severity = body.get("severity", "warning")
        if severity not in SEVERITIES:
            raise Invalid(f"severity must be one of {', '.join(SEVERITIES)}", field="severity")
        alerts = body.get("alerts", [])
        if not isinstance(alerts, list) or len(alerts) > 50 or not all(
                isinstance(a, dict) and isinstance(a.get("rule_id"), int)
                and isinstance(a.get("group", ""), str) for a in alerts):
            raise Invalid("alerts must be a list of at most 50 {'rule_id': id, 'group': ''}",
                          field="alerts")
        with self._sessions() as s:
            row = models.Incident(
                title=title, status="open", severity=severity, source="manual",
                assignee=_text(body, "assignee", 255, False), timeline=[],
                alerts=[{"rule_id": a["rule_id"], "group": a.get("group", ""),
                         "state": "linked"} for a in alerts],
                created_at=utc(now), updated_at=utc(now))
            _entry(row, now, "opened", _text(body, "note", 1000, False) or "opened by hand",
                   actor)
            s.add(row)
            s.commit()
            return _view(row)

    def recent(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        if status is not None and status not in STATUSES:
            raise Invalid(f"status must be one of {', '.join(STATUSES)}", field="status")
        query = select(models.Incident).order_by(models.Incident.id.desc()).limit(
            max(1, min(limit, LIST_LIMIT)))
        if status is not None:
            query = query.where(models.Incident.status == status)
        with self._sessions() as s:
            return [_view(r) for r in s.scalars(query)]

    def get(self, incident_id: int) -> dict[str, Any]:
        with self._sessions() as s:
            row = s.get(models.Incident, incident_id)
            if row is None:
                raise NotFound(f"no incident with id {incident_id}", field="id")
            return _view(row)

    def update(self, incident_id: int, body: Mapping[str, Any], actor: str, now: datetime
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Change status, assignee or add a note (``{"status"?, "assignee"?, "note"?}``).
        Returns the incident and the alerts to acknowledge (when it was acknowledged)."""
        if not isinstance(body, Mapping):
            raise Invalid("the body must be a JSON object", field="body")
        status = body.get("status")
        if status is not None and status not in STATUSES:
            raise Invalid(f"status must be one of {', '.join(STATUSES)}", field="status")
        with self._sessions() as s:
            row = s.get(models.Incident, incident_id)
            if row is None:
                raise NotFound(f"no incident with id {incident_id}", field="id")
            ack: list[dict[str, Any]] = []
            if "assignee" in body:
                assignee = _text(body, "assignee", 255, False)
                if assignee != row.assignee:
                    row.assignee = assignee
                    _entry(row, now, "assigned", f"assigned to {assignee or 'nobody'}", actor)
            if status is not None and status != row.status:
                row.status = status
                row.resolved_at = utc(now) if status == "resolved" else None
                _entry(row, now, status, f"marked {status}", actor)
                if status == "acknowledged":
                    ack = [a for a in row.alerts if a.get("state") != "resolved"]
            note = _text(body, "note", 1000, False)
            if note:
                _entry(row, now, "note", note, actor)
            s.commit()
            return _view(row), ack

    def alert_fired(self, rule_id: int, rule_name: str, group: str, severity: str,
                    now: datetime) -> int:
        """Link a firing alert group to its open incident, or open one; its id."""
        link = {"rule_id": rule_id, "group": group}
        with self._sessions() as s:
            for row in s.scalars(select(models.Incident).where(
                    models.Incident.status != "resolved")):
                if any(a["rule_id"] == rule_id and a["group"] == group for a in row.alerts):
                    row.alerts = [{**a, "state": "firing"} if a["rule_id"] == rule_id
                                  and a["group"] == group else a for a in row.alerts]
                    _entry(row, now, "alert_fired", f"{rule_name} fired again", "alerts")
                    s.commit()
                    return row.id
            title = f"{rule_name}" + (f" [{group}]" if group else "")
            row = models.Incident(title=title[:200], status="open", severity=severity,
                                  source="alert", alerts=[{**link, "state": "firing"}],
                                  timeline=[], created_at=utc(now), updated_at=utc(now))
            _entry(row, now, "opened", f"opened by the alert {rule_name}", "alerts")
            s.add(row)
            s.commit()
            return row.id

    def alert_resolved(self, rule_id: int, rule_name: str, group: str, now: datetime
                       ) -> list[int]:
        """Mark the alert resolved in the incidents linking it; an incident opened by
        alerts resolves once all of them have. The ids of incidents resolved now."""
        closed: list[int] = []
        with self._sessions() as s:
            for row in s.scalars(select(models.Incident).where(
                    models.Incident.status != "resolved")):
                if not any(a["rule_id"] == rule_id and a["group"] == group
                           for a in row.alerts):
                    continue
                row.alerts = [{**a, "state": "resolved"} if a["rule_id"] == rule_id
                              and a["group"] == group else a for a in row.alerts]
                _entry(row, now, "alert_resolved", f"{rule_name} resolved", "alerts")
                if row.source == "alert" and all(a["state"] == "resolved" for a in row.alerts):
                    row.status, row.resolved_at = "resolved", utc(now)
                    _entry(row, now, "resolved", "every linked alert resolved", "alerts")
                    closed.append(row.id)
            s.commit()
        return closed
