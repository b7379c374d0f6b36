"""A channel's saved definition: checked once (:func:`parse_channel`), shown without its
secrets (:func:`public`), built into a :class:`~protocol.Channel` (:func:`build`), and its
quiet hours (:func:`held_until`).

Every channel has ``max_per_hour`` (the rate cap: notifications past it within an hour are
dropped and recorded in the alert history) and optional ``quiet_hours``
(``{"start": "22:00", "end": "07:00", "timezone": "Europe/Paris", "critical_passes": true}``):
notifications that fall within them are held until they end, critical ones too unless
``critical_passes``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from liveinsight.errors import Invalid
from liveinsight.ops.alerts import durations
from liveinsight.ops.alerts.channels.email import EmailChannel
from liveinsight.ops.alerts.channels.protocol import Channel
from liveinsight.ops.alerts.channels.slack import SlackChannel
from liveinsight.ops.alerts.channels.sms import SmsChannel
from liveinsight.ops.alerts.channels.targets import check_url
from liveinsight.ops.alerts.channels.webhook import WebhookChannel
from liveinsight.ops.breaker import Breaker
from liveinsight.ops.mail import Mailer

KINDS = ("email", "slack", "webhook", "sms")
MAX_RECIPIENTS = 20
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_SECRETS = {"webhook": "secret", "sms": "auth_token"}


@dataclass(frozen=True, slots=True)
class Deps:
    """What channels are built with: ``breakers`` by channel kind (``slack``, ``webhook``,
    ``sms``; e-mail goes through the mailer's own, ``ops/mail.py``)."""

    mailer: Mailer
    client: httpx.AsyncClient
    sms_base_url: str
    allow_private: bool
    breakers: Mapping[str, Breaker] = field(default_factory=dict)


def _text(body: Mapping[str, Any], key: str, limit: int = 200) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Invalid(f"{key} must be text of 1 to {limit} characters", field=key)
    return value.strip()


def _list(body: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str
          ) -> list[str]:
    value = body.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RECIPIENTS:
        raise Invalid(f"{key} must be a list of 1 to {MAX_RECIPIENTS} {what}", field=key)
    for item in value:
        if not isinstance(item, str) or not pattern.fullmatch(item):
            raise Invalid(f"{str(item)[:80]!r} is not {what[:-1]}", field=key)
    return list(value)


def _quiet(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid("quiet_hours must be {'start': 'HH:MM', 'end': 'HH:MM', 'timezone': "
                      "'Area/City'}", field="quiet_hours")
    start = durations.clock_time(value.get("start"), "quiet_hours.start")
    end = durations.clock_time(value.get("end"), "quiet_hours.end")
    if start == end:
        raise Invalid("quiet hours must not start and end at the same time",
                      field="quiet_hours.end")
    zone = value.get("timezone", "UTC")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America")
        raise Invalid(f"unknown time zone {str(zone)[:60]!r}", field="quiet_hours.timezone"
                      ) from None
    passes = value.get("critical_passes", True)
    if not isinstance(passes, bool):
        raise Invalid("critical_passes must be true or false",
                      field="quiet_hours.critical_passes")
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "timezone": zone,
            "critical_passes": passes}


def parse_channel(body: Mapping[str, Any], previous: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
    """The definition to keep; ``Invalid`` naming the field. On an update (``previous``),
    a secret left out keeps its old value."""
    if not isinstance(body, Mapping):
        raise Invalid("the body must be a JSON object", field="body")
    kind = body.get("kind", previous.get("kind") if previous else None)
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}", field="kind")
    cap = body.get("max_per_hour", 30)
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 1000:
        raise Invalid("max_per_hour must be a whole number from 1 to 1000", field="max_per_hour")
    out: dict[str, Any] = {"name": _text(body, "name", 100), "kind": kind,
                           "max_per_hour": cap, "quiet_hours": _quiet(body.get("quiet_hours"))}
    secret_key = _SECRETS.get(kind)
    if secret_key and not body.get(secret_key) and previous and previous.get(secret_key):
        body = {**body, secret_key: previous[secret_key]}
    if kind == "email":
        out["to"] = _list(body, "to", _EMAIL, "e-mail addresses")
    elif kind in ("slack", "webhook"):
        out["url"] = check_url(body.get("url"), "url")
        if kind == "webhook":
            secret = body.get("secret") or secrets.token_urlsafe(32)
            if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
                raise Invalid("secret must be 16 to 200 characters", field="secret")
            out["secret"] = secret
    else:
        out["account_sid"] = _text(body, "account_sid", 64)
        out["auth_token"] = _text(body, "auth_token", 128)
        out["from"] = _text(body, "from", 32)
        out["to"] = _list(body, "to", _PHONE, "phone numbers in E.164 form (+15551234567)")
    return out


def public(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The definition without its secret (its last four characters only)."""
    out = dict(definition)
    key = _SECRETS.get(str(out.get("kind")))
    if key and out.get(key):
        out[key] = "…" + str(out[key])[-4:]
    return out


def build(definition: Mapping[str, Any], deps: Deps) -> Channel:
    kind = definition["kind"]
    if kind == "email":
        return EmailChannel(deps.mailer, tuple(definition["to"]))
    breaker = deps.breakers.get(kind)
    if kind == "slack":
        return SlackChannel(deps.client, definition["url"], deps.allow_private, breaker)
    if kind == "webhook":
        return WebhookChannel(deps.client, definition["url"], definition["secret"],
                              deps.allow_private, breaker=breaker)
    return SmsChannel(deps.client, deps.sms_base_url, definition["account_sid"],
                      definition["auth_token"], definition["from"], tuple(definition["to"]),
                      deps.allow_private, breaker)


def held_until(definition: Mapping[str, Any], severity: str, now: datetime
               ) -> datetime | None:
    """When quiet hours hold a notification of ``severity`` at ``now``, the time they end
    (else None)."""
    quiet = definition.get("quiet_hours")
    if not quiet or (severity == "critical" and quiet.get("critical_passes", True)):
        return None
    local = now.astimezone(ZoneInfo(quiet["timezone"]))
    start = durations.clock_time(quiet["start"], "start")
    end = durations.clock_time(quiet["end"], "end")
    t = local.time().replace(second=0, microsecond=0)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until.astimezone(now.tzinfo)
