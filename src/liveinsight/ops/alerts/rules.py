"""Alert rules: what a rule says, checked once when it is saved.

:func:`parse_rule` turns a request body into a :class:`Rule` or raises ``Invalid`` naming the
field at fault; :meth:`Rule.as_json` is what the metadata database keeps and the API shows.
Three kinds:

- ``metric``: a statistic (``samples.STATS``) of a metric of the app's registry, its series
  kept apart by the labels in ``by``, optionally divided by the same over other labels
  (``ratio_of``) and taken as its difference from one window earlier (``compare``),
  compared with ``threshold`` by ``op``;
- ``traffic``: a site's visitors over ``window`` above ``visitors`` (``mode=spike``) or
  below ``percent`` % of the usual for that hour and weekday (``mode=drop``, the mean of the
  same window of the last ``weeks`` weeks; ``ops/alerts/traffic.py``);
- ``security``: the security events of the audit log (``AuditEntry.flagged``: failed
  sign-ins, lockouts, an API key's use from a new network, permission denials) over
  ``window``, optionally only those whose action begins with ``action``, at or above
  ``events``.

Both wait ``for`` (the condition must hold that long before the rule fires) and carry a
severity, their channels and escalation levels, and their fatigue controls.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from liveinsight.errors import Invalid
from liveinsight.ops.alerts import durations
from liveinsight.ops.alerts.samples import COMPARES, STATS, MetricInfo

SEVERITIES = ("info", "warning", "critical")
OPS = (">", ">=", "<", "<=", "==", "!=")
MAX_RULES = 500
MAX_LABELS = 10
MAX_LEVELS = 5
MAX_CHANNELS = 10
MAX_COMPARED_WINDOW_S = 12 * 3600
"""The longest ``window`` of a rule with ``compare``: it reads two windows of the
evaluator's history, which keeps at most a day (``evaluator.HISTORY_KEEP``)."""
_TEXT = 100


@dataclass(frozen=True, slots=True)
class Level:
    """An escalation level: notify ``channels`` once the alert has been firing
    unacknowledged for ``after_s`` seconds."""

    after_s: int
    channels: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    kind: str  # metric | traffic | security
    severity: str
    for_s: int
    channels: tuple[int, ...]
    escalation: tuple[Level, ...] = ()
    enabled: bool = True
    description: str = ""
    # metric rules
    metric: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    by: tuple[str, ...] = ()
    stat: str = "value"
    ratio_of: Mapping[str, str] | None = None
    compare: str = ""  # "" or "previous_window": the value minus the same a window earlier
    op: str = ">"
    threshold: float = 0.0
    window_s: int = 300
    # traffic rules
    site_id: int = 0
    mode: str = "spike"
    visitors: int = 0
    percent: float = 0.0
    weeks: int = 4
    # security rules
    events: int = 0
    action: str = ""
    # fatigue control
    group_by: tuple[str, ...] = ()
    cooldown_s: int = 300
    repeat_s: int = 0  # 0: one notification per firing (until resolved)
    notify_resolved: bool = True
    flap_changes: int = 4
    flap_window_s: int = 1800
    incident: bool = False  # open an incident when it fires (default: critical rules)

    def levels(self) -> tuple[Level, ...]:
        """Level 0 (the rule's channels, at once) then the escalation levels."""
        return (Level(0, self.channels), *self.escalation)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["escalation"] = [{"after": durations.shown(lv.after_s), "channels":
                               list(lv.channels)} for lv in self.escalation]
        for key in ("for_s", "window_s", "cooldown_s", "repeat_s"):
            data[key[:-2]] = durations.shown(data.pop(key))
        data["flap"] = {"changes": data.pop("flap_changes"),
                        "window": durations.shown(data.pop("flap_window_s"))}
        for key in ("channels", "by", "group_by"):
            data[key] = list(data[key])
        data["labels"] = dict(self.labels)
        data["ratio_of"] = dict(self.ratio_of) if self.ratio_of is not None else None
        drop = {"metric": ("site_id", "mode", "visitors", "percent", "weeks"),
                "traffic": ("metric", "labels", "by", "stat", "ratio_of", "compare", "op",
                            "threshold"),
                "security": ("metric", "labels", "by", "stat", "ratio_of", "compare", "op",
                             "threshold", "site_id", "mode", "visitors", "percent",
                             "weeks")}[self.kind]
        for key in drop:
            data.pop(key)
        if self.kind != "security":
            data.pop("events")
            data.pop("action")
        return data

    def comparison(self) -> tuple[str, float]:
        """The operator and threshold the value is compared with (a traffic rule: above
        ``visitors`` for a spike, below ``percent`` for a drop)."""
        if self.kind == "traffic":
            return (">", float(self.visitors)) if self.mode == "spike" else ("<", self.percent)
        if self.kind == "security":
            return ">=", float(self.events)
        return self.op, self.threshold

    def condition(self) -> str:
        """The rule in a few words, for notifications."""
        if self.kind == "traffic":
            window = durations.shown(self.window_s)
            if self.mode == "spike":
                return f"more than {self.visitors} visitors in {window}"
            return f"visitors in {window} below {self.percent:g}% of the usual"
        if self.kind == "security":
            which = f" ({self.action}...)" if self.action else ""
            return (f"{self.events} or more security events{which} in "
                    f"{durations.shown(self.window_s)}")
        labels = ",".join(f"{k}={v}" for k, v in self.labels.items())
        what = f"{self.metric}{{{labels}}}" if labels else self.metric
        if self.stat != "value":
            what = f"{self.stat}({what}[{durations.shown(self.window_s)}])"
        if self.ratio_of is not None:
            what += " / " + (",".join(f"{k}={v}" for k, v in self.ratio_of.items()) or "all")
        if self.compare:
            what = f"({what}) minus the same {durations.shown(self.window_s)} earlier"
        return f"{what} {self.op} {self.threshold:g}"


def _text(value: object, field: str, *, required: bool = True, limit: int = _TEXT) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise Invalid(f"{field} must be text of 1 to {limit} characters", field=field)
    return value.strip()


def _number(value: object, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value \
            or not low <= value <= high:
        raise Invalid(f"{field} must be a number between {low:g} and {high:g}", field=field)
    return float(value)


def _labels(value: object, field: str, known: frozenset[str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise Invalid(f"{field} must be an object of at most {MAX_LABELS} label: value pairs",
                      field=field)
    out: dict[str, str] = {}
    for key, item in value.items():
        if known and key not in known:
            raise Invalid(f"the metric has no label {key!r} (it has: "
                          f"{', '.join(sorted(known)) or 'none'})", field=f"{field}.{key}")
        out[key] = _text(item, f"{field}.{key}", limit=200)
    return out


def _names(value: object, field: str, known: frozenset[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_LABELS:
        raise Invalid(f"{field} must be a list of at most {MAX_LABELS} label names",
                      field=field)
    names = tuple(_text(v, field) for v in value)
    for name in names:
        if known is not None and name not in known:
            raise Invalid(f"{name!r} is not one of {', '.join(sorted(known)) or 'none'}",
                          field=field)
    return names


def _channel_list(value: object, field: str, channel_ids: Collection[int]) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_CHANNELS or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise Invalid(f"{field} must be a list of at most {MAX_CHANNELS} channel ids",
                      field=field)
    for cid in value:
        if cid not in channel_ids:
            raise Invalid(f"no channel with id {cid}", field=field)
    return tuple(value)


def _escalation(value: object, channel_ids: Collection[int]) -> tuple[Level, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_LEVELS:
        raise Invalid(f"escalation must be a list of at most {MAX_LEVELS} levels",
                      field="escalation")
    levels: list[Level] = []
    for i, item in enumerate(value):
        where = f"escalation[{i}]"
        if not isinstance(item, dict):
            raise Invalid(f"{where} must be {{'after': '15m', 'channels': [ids]}}", field=where)
        after = durations.seconds(item.get("after"), f"{where}.after", low=60, high=7 * 86400)
        if levels and after <= levels[-1].after_s:
            raise Invalid("escalation levels must come later one after the other",
                          field=f"{where}.after")
        chans = _channel_list(item.get("channels"), f"{where}.channels", channel_ids)
        if not chans:
            raise Invalid("an escalation level needs at least one channel",
                          field=f"{where}.channels")
        levels.append(Level(after, chans))
    return tuple(levels)


def parse_rule(body: Mapping[str, Any], *, metrics: Mapping[str, MetricInfo],
               channel_ids: Collection[int], site_id: Callable[[object], int]) -> Rule:
    """A validated rule from ``body``; ``Invalid`` naming the field otherwise. ``metrics`` is
    the registry's catalogue, ``site_id`` resolves a site (raising ``Invalid``)."""
    if not isinstance(body, Mapping):
        raise Invalid("the body must be a JSON object", field="body")
    kind = body.get("kind", "metric")
    if kind not in ("metric", "traffic", "security"):
        raise Invalid("kind must be 'metric', 'traffic' or 'security'", field="kind")
    severity = body.get("severity", "warning")
    if severity not in SEVERITIES:
        raise Invalid(f"severity must be one of {', '.join(SEVERITIES)}", field="severity")
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise Invalid("enabled must be true or false", field="enabled")
    notify_resolved = body.get("notify_resolved", True)
    if not isinstance(notify_resolved, bool):
        raise Invalid("notify_resolved must be true or false", field="notify_resolved")
    incident = body.get("incident", severity == "critical")
    if not isinstance(incident, bool):
        raise Invalid("incident must be true or false", field="incident")
    flap = body.get("flap") or {}
    if not isinstance(flap, dict):
        raise Invalid("flap must be {'changes': 4, 'window': '30m'}", field="flap")
    common: dict[str, Any] = dict(
        name=_text(body.get("name"), "name"), kind=kind, severity=severity,
        enabled=enabled, description=_text(body.get("description"), "description",
                                           required=False, limit=500),
        for_s=durations.seconds(body.get("for", 0), "for", high=86400),
        window_s=durations.seconds(body.get("window", "5m"), "window", low=60, high=86400),
        channels=_channel_list(body.get("channels"), "channels", channel_ids),
        escalation=_escalation(body.get("escalation"), channel_ids),
        cooldown_s=durations.seconds(body.get("cooldown", "5m"), "cooldown", high=86400),
        repeat_s=durations.seconds(body.get("repeat", 0), "repeat", high=7 * 86400),
        notify_resolved=notify_resolved, incident=incident,
        flap_changes=int(_number(flap.get("changes", 4), "flap.changes", 2, 100)),
        flap_window_s=durations.seconds(flap.get("window", "30m"), "flap.window", low=60,
                                        high=86400),
    )
    if common["repeat_s"] and common["repeat_s"] < 60:
        raise Invalid("repeat must be 0 (never) or at least 1m", field="repeat")
    if kind == "traffic":
        return _traffic(body, common, site_id)
    if kind == "security":
        return _security(body, common)
    return _metric(body, common, metrics)


def _security(body: Mapping[str, Any], common: dict[str, Any]) -> Rule:
    events = int(_number(body.get("events", 1), "events", 1, 1e9))
    action = _text(body.get("action"), "action", required=False, limit=200)
    return Rule(**common, events=events, action=action)


def _metric(body: Mapping[str, Any], common: dict[str, Any],
            metrics: Mapping[str, MetricInfo]) -> Rule:
    name = body.get("metric")
    if not isinstance(name, str) or name not in metrics:
        shown = ", ".join(sorted(metrics))
        raise Invalid(f"unknown metric {str(name)[:100]!r}; the registry has: {shown}",
                      field="metric")
    info = metrics[name]
    stat = body.get("stat", "value")
    if stat not in STATS or not info.allows(stat):
        allowed = [s for s in STATS if info.allows(s)]
        raise Invalid(f"stat must be one of {', '.join(allowed)} for this {info.kind}",
                      field="stat")
    known = info.labels or None  # a metric with no sample yet: its labels are not known
    labels = _labels(body.get("labels"), "labels", known)
    ratio_of = body.get("ratio_of")
    op = body.get("op", ">")
    if op not in OPS:
        raise Invalid(f"op must be one of {' '.join(OPS)}", field="op")
    if "threshold" not in body:
        raise Invalid("threshold is required", field="threshold")
    by = _names(body.get("by"), "by", known)
    group_by = _names(body.get("group_by"), "group_by", frozenset(by))
    return Rule(**common, metric=name, labels=labels, stat=stat,
                ratio_of=None if ratio_of is None else _labels(ratio_of, "ratio_of", known),
                compare=_compare(body.get("compare"), stat, common["window_s"]),
                op=op, threshold=_number(body.get("threshold"), "threshold", -1e15, 1e15),
                by=by, group_by=group_by)


def _compare(value: object, stat: str, window_s: int) -> str:
    if value is None or value == "":
        return ""
    if value not in COMPARES:
        raise Invalid("compare must be 'previous_window' (the value minus the same one "
                      "window earlier) or left out", field="compare")
    if stat == "change":
        raise Invalid("compare needs a stat other than change (change already compares "
                      "with one window earlier)", field="compare")
    if window_s > MAX_COMPARED_WINDOW_S:
        raise Invalid(f"with compare, window must be at most "
                      f"{durations.shown(MAX_COMPARED_WINDOW_S)} (two windows of the "
                      "evaluator's one-day history)", field="window")
    return str(value)


def _traffic(body: Mapping[str, Any], common: dict[str, Any],
             site_id: Callable[[object], int]) -> Rule:
    mode = body.get("mode")
    if mode not in ("spike", "drop"):
        raise Invalid("mode must be 'spike' (above N visitors) or 'drop' (below N % of the "
                      "usual)", field="mode")
    sid = site_id(body.get("site_id"))
    if mode == "spike":
        visitors = int(_number(body.get("visitors"), "visitors", 1, 1e9))
        return Rule(**common, site_id=sid, mode=mode, visitors=visitors)
    percent = _number(body.get("percent"), "percent", 1, 99)
    weeks = int(_number(body.get("weeks", 4), "weeks", 1, 12))
    return Rule(**common, site_id=sid, mode=mode, percent=percent, weeks=weeks)


def rule_from_json(data: Mapping[str, Any]) -> Rule:
    """A rule as kept by :meth:`Rule.as_json` (already validated when saved)."""
    d = dict(data)
    for key in ("for", "window", "cooldown", "repeat"):
        if key in d:
            d[key + "_s"] = durations.seconds(d.pop(key), key, high=7 * 86400)
    flap = d.pop("flap", None) or {}
    if flap:
        d["flap_changes"] = int(flap["changes"])
        d["flap_window_s"] = durations.seconds(flap["window"], "flap.window", high=86400)
    d["escalation"] = tuple(Level(durations.seconds(lv["after"], "after"),
                                  tuple(lv["channels"])) for lv in d.get("escalation", ()))
    for key in ("channels", "by", "group_by"):
        if key in d:
            d[key] = tuple(d[key])
    return Rule(**d)
