"""The evaluator's decisions, as pure functions of values and the time (no I/O, no clock).

:func:`step` moves one series through ``ok → pending → firing → ok`` (``for`` is how long a
breach must last before it fires; a series without data keeps its state), counting flips to
tell flapping. :func:`plan` decides, per alert group (a rule's series sharing the values of
its ``group_by`` labels), which notifications go out now:

- ``firing``: the group started firing and has not been notified in this episode, unless the
  rule's ``cooldown`` has not passed since its last notification (deduplication: a group
  that resolves and fires again within the cooldown is not notified again) or every firing
  series is flapping (``flap_changes`` flips within ``flap_window``);
- ``escalated``: the group has been firing unacknowledged for a level's ``after``: that
  level's channels are notified (escalations ignore the cooldown);
- ``repeat``: still firing and unacknowledged ``repeat`` after the last notification;
- ``resolved``: no series of a notified group fires any more (when ``notify_resolved``):
  every level notified so far hears it.

One group, one notification per decision, whatever number of its series changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from liveinsight.ops.alerts.rules import Rule

_COMPARE = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__,
            "==": float.__eq__, "!=": float.__ne__}


@dataclass(frozen=True, slots=True)
class SeriesState:
    series: str
    group: str
    labels: dict[str, str]
    state: str  # ok | pending | firing
    since: datetime
    value: float | None = None
    fired_at: datetime | None = None
    notified_at: datetime | None = None  # the group's last notification (any episode)
    level: int = -1  # the highest level notified in this episode; -1: none yet
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    flips: tuple[datetime, ...] = ()
    flapping: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification of a group: to the channels of ``levels``."""

    kind: str  # firing | escalated | repeat | resolved
    group: str
    levels: tuple[int, ...]
    series: tuple[SeriesState, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    notices: tuple[Notice, ...] = ()
    suppressed: tuple[tuple[str, str], ...] = ()  # (group, reason): cooldown | flapping
    states: dict[str, SeriesState] = field(default_factory=dict)  # updated, by series


def breached(rule: Rule, value: float | None) -> bool | None:
    """Whether ``value`` breaks ``rule`` (None: no data to tell)."""
    if value is None:
        return None
    op, threshold = rule.comparison()
    return _COMPARE[op](float(value), float(threshold))


def step(rule: Rule, prev: SeriesState, breach: bool | None, value: float | None,
         now: datetime) -> tuple[SeriesState, str | None]:
    """The series' next state and its transition (``pending``, ``firing``, ``resolved``,
    or None when nothing changed)."""
    if breach is None:
        return replace(prev, value=value if value is not None else prev.value), None
    s = replace(prev, value=value)
    if breach:
        if s.state == "ok":
            s = replace(s, state="pending", since=now)
            if rule.for_s > 0:
                return s, "pending"
        if s.state == "pending" and now - s.since >= timedelta(seconds=rule.for_s):
            s = replace(s, state="firing", since=now, fired_at=now)
            return _flip(rule, s, now), "firing"
        return s, None
    if s.state == "pending":
        return replace(s, state="ok", since=now), None
    if s.state == "firing":
        s = replace(s, state="ok", since=now, acknowledged_at=None, acknowledged_by=None)
        return _flip(rule, s, now), "resolved"
    return _flip(rule, s, now, record=False), None


def _flip(rule: Rule, s: SeriesState, now: datetime, record: bool = True) -> SeriesState:
    horizon = now - timedelta(seconds=rule.flap_window_s)
    flips = tuple(t for t in (*s.flips, *((now,) if record else ())) if t >= horizon)
    return replace(s, flips=flips, flapping=len(flips) >= rule.flap_changes)


def group_key(rule: Rule, labels: dict[str, str]) -> str:
    return ",".join(f"{k}={labels.get(k, '')}" for k in rule.group_by)


def plan(rule: Rule, group: str, members: Sequence[SeriesState],
         resolved_now: Sequence[SeriesState], now: datetime) -> Plan:
    """The notifications of one group after this tick's :func:`step`s (``members``: its
    series' new states; ``resolved_now``: those that resolved this tick)."""
    firing = [s for s in members if s.state == "firing"]
    level = max((s.level for s in members), default=-1)
    last = max((s.notified_at for s in members if s.notified_at), default=None)
    if not firing:
        if level < 0 or not resolved_now:
            return Plan()
        notices = (Notice("resolved", group, tuple(range(level + 1)), tuple(resolved_now)),
                   ) if rule.notify_resolved else ()
        return Plan(notices, states=_mark(members, level=-1, notified=now if notices else last))
    if any(s.acknowledged_at for s in firing):
        return Plan()
    steady = [s for s in firing if not s.flapping]
    if level < 0:
        if not steady:
            return Plan(suppressed=((group, "flapping"),))
        if last is not None and now - last < timedelta(seconds=rule.cooldown_s):
            return Plan(suppressed=((group, "cooldown"),))
        return Plan((Notice("firing", group, (0,), tuple(firing)),),
                    states=_mark(members, level=0, notified=now))
    began = min(s.fired_at or now for s in firing)
    due = [i for i, lv in enumerate(rule.levels()) if i > level and now - began >= timedelta(
        seconds=lv.after_s)]
    if due:
        return Plan((Notice("escalated", group, tuple(due), tuple(firing)),),
                    states=_mark(members, level=due[-1], notified=now))
    if rule.repeat_s and last is not None and now - last >= timedelta(seconds=rule.repeat_s):
        return Plan((Notice("repeat", group, tuple(range(level + 1)), tuple(firing)),),
                    states=_mark(members, level=level, notified=now))
    return Plan()


def _mark(members: Sequence[SeriesState], *, level: int, notified: datetime | None
          ) -> dict[str, SeriesState]:
    return {s.series: replace(s, level=level, notified_at=notified) for s in members}
