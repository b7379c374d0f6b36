"""Funnels: how many visitors (or visits) went through 2 to 8 steps in order, within a window.

A funnel is a value (:class:`Funnel`, parsed and limited by :func:`parse_funnel`); its SQL is
built by :func:`funnel_sql`, a pure function, and the rows are shaped by :func:`shape`.

Counting, per unit (visitor or session), over the events of the range and the visits the
filters select (``behaviour/scope.py``):

- ``ordered`` (default): ClickHouse ``windowFunnel(window)``: the longest chain of the
  steps in order, each within ``window`` of the chain's first step; other events may come
  between steps.
- ``strict``: ``windowFunnel(window, 'strict_order')``: as ``ordered``, but any other event
  (pageview or custom event) between two steps ends the chain.
- ``any``: steps 1..k count as reached when some span of ``window`` holds at least one event
  of each of them, in any order (arrays; the first 200 events of each step and unit are
  looked at).
- ``modes`` adds ``windowFunnel``'s other modes to ``ordered``/``strict``:
  ``strict_deduplication`` (a step repeated before the next one ends the chain),
  ``strict_increase`` (steps at the same millisecond do not chain).

Times between steps are measured along the unit's *earliest* chain: the first event of step
1, then the first event of step 2 after it, and so on. It is the chain ``windowFunnel``
found unless the unit converted only on a later attempt (then the time includes the gap):
an approximation, said so in the answer. Medians are exact over the units (interpolated
between the two middle values for an even count); the chain reads at most the first 2,000
step events of a unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, cast

from liveinsight.behaviour.scope import Scope
from liveinsight.errors import bad_request
from liveinsight.query.model import Goal

MIN_STEPS = 2
MAX_STEPS = 8
MAX_PROPS = 10  # property conditions per step
MAX_TEXT = 1000  # a path pattern, an event name, a property name or value
MAX_WINDOW_S = 90 * 86_400
MAX_BREAKDOWN_ROWS = 100
ORDERS = ("ordered", "strict", "any")
MODES = ("strict_deduplication", "strict_increase")
BASES = ("visitor", "session")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_WINDOW = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$")
_ANY_CAP = 200
_CHAIN_CAP = 2000

Order = Literal["ordered", "strict", "any"]
Basis = Literal["visitor", "session"]


@dataclass(frozen=True, slots=True)
class Step:
    """A pageview of a path (``*`` any run but ``/``, ``**`` any run) or a custom event by
    name; ``props`` are ``(name, value)`` pairs every matching event must carry."""

    type: Literal["page", "event"]
    value: str
    props: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        base = f"Visit {self.value}" if self.type == "page" else self.value
        extra = ", ".join(f"{k}={v}" for k, v in self.props)
        return f"{base} ({extra})" if extra else base

    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": self.type,
                               ("path" if self.type == "page" else "name"): self.value}
        if self.props:
            doc["props"] = dict(self.props)
        return doc


@dataclass(frozen=True, slots=True)
class Funnel:
    steps: tuple[Step, ...]
    window_s: int = 86_400
    order: Order = "ordered"
    modes: tuple[str, ...] = ()
    basis: Basis = "visitor"

    def doc(self) -> dict[str, Any]:
        """The canonical JSON form (what is stored and echoed)."""
        return {"steps": [s.doc() for s in self.steps], "window": self.window_s,
                "order": self.order, "modes": list(self.modes), "basis": self.basis}


def parse_funnel(raw: Any, field: str = "funnel") -> Funnel:
    """A funnel definition (``steps``, ``window``, ``order``, ``modes``, ``basis``), or
    ``Invalid`` naming the field at fault."""
    if not isinstance(raw, dict):
        raise bad_request("a funnel is an object with steps", field)
    known = {"steps", "window", "order", "modes", "basis", "name"}
    for key in raw:
        if key not in known:
            raise bad_request(f"unknown field {str(key)[:40]!r}", f"{field}.{key}")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise bad_request(f"a funnel has {MIN_STEPS} to {MAX_STEPS} steps", f"{field}.steps")
    parsed = tuple(_step(s, f"{field}.steps[{i}]") for i, s in enumerate(steps))
    order = raw.get("order", "ordered")
    if order not in ORDERS:
        raise bad_request(f"order is one of {', '.join(ORDERS)}", f"{field}.order")
    modes = raw.get("modes", [])
    if not isinstance(modes, list) or not all(m in MODES for m in modes):
        raise bad_request(f"modes is a list of {', '.join(MODES)}", f"{field}.modes")
    if modes and order == "any":
        raise bad_request("modes apply to the ordered and strict orders only", f"{field}.modes")
    basis = raw.get("basis", "visitor")
    if basis not in BASES:
        raise bad_request("basis is visitor or session", f"{field}.basis")
    return Funnel(parsed, parse_window(raw.get("window", "1d"), f"{field}.window"),
                  cast(Order, order), tuple(sorted(set(modes))), cast(Basis, basis))


def parse_window(raw: Any, field: str) -> int:
    """Seconds, from an integer or ``<n>s|m|h|d`` (1 s to 90 days)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        seconds = raw
    elif isinstance(raw, str) and (found := _WINDOW.match(raw)):
        seconds = int(found.group(1)) * _UNITS[found.group(2)]
    else:
        raise bad_request("window is seconds or a duration such as 30m, 2h, 7d", field)
    if not 1 <= seconds <= MAX_WINDOW_S:
        raise bad_request("window is between 1 second and 90 days", field)
    return seconds


def _step(raw: Any, field: str) -> Step:
    if not isinstance(raw, dict):
        raise bad_request("a step is {type: page, path} or {type: event, name}", field)
    kind = raw.get("type")
    if kind not in ("page", "event"):
        raise bad_request(f"unknown step type {str(kind)[:40]!r}; use page or event",
                          f"{field}.type")
    key = "path" if kind == "page" else "name"
    for name in raw:
        if name not in ("type", key, "props"):
            raise bad_request(f"unknown field {str(name)[:40]!r} of a {kind} step",
                              f"{field}.{name}")
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise bad_request(f"a {kind} step needs {key} (1 to {MAX_TEXT} characters)",
                          f"{field}.{key}")
    if kind == "page" and not value.startswith("/"):
        raise bad_request("a path starts with /", f"{field}.path")
    props = raw.get("props", {})
    if not isinstance(props, dict) or len(props) > MAX_PROPS or not all(
            isinstance(k, str) and isinstance(v, str | int | float) and 0 < len(k) <= MAX_TEXT
            and len(str(v)) <= MAX_TEXT for k, v in props.items()):
        raise bad_request(f"props is an object of at most {MAX_PROPS} name: value pairs",
                          f"{field}.props")
    return Step(cast(Literal["page", "event"], kind), value,
                tuple(sorted((k, str(v)) for k, v in props.items())))


# --- SQL ---------------------------------------------------------------------------------


def funnel_sql(f: Funnel, scope: Scope, breakdown: str | None, limit: int
               ) -> tuple[str, dict[str, Any]]:
    """The SQL answering ``f`` over ``scope``. Rows: ``total`` (1 for the row over every
    unit, 0 for a breakdown value), ``value``, then ``c1..ck`` (units reaching each step),
    ``m2..mk`` (median seconds from the previous step), ``mt`` (median seconds from the
    first to the last step). The total row first, then at most ``limit`` breakdown values
    by units at step 1."""
    p = scope.p
    k = len(f.steps)
    conds = [_condition(s, p) for s in f.steps]
    unit = "visitor_id" if f.basis == "visitor" else "session_id"
    value = (f"argMin({scope.column(breakdown)}, timestamp)" if breakdown else "''")
    ts = "toUnixTimestamp64Milli(timestamp)"
    mask = " + ".join(f"{1 << i} * toUInt8({c})" for i, c in enumerate(conds))
    matched = " OR ".join(f"({c})" for c in conds)
    chain = (f"arraySort(e -> e.1, groupArrayIf({_CHAIN_CAP})(({ts}, toUInt16({mask})),"
             f" {matched})) AS evs")
    window = p.add(f.window_s * 1000, "UInt64")
    # Units without a first step count nowhere: read the others only (far fewer rows).
    where = (f"{scope.rows()} AND {unit} IN (SELECT {unit} FROM {scope.db}.events"
             f" WHERE {scope.rows()} AND {conds[0]})")
    if f.order == "any":
        arrays = ", ".join(f"groupArrayIf({_ANY_CAP})({ts}, {c}) AS a{i + 1}"
                           for i, c in enumerate(conds))
        inner = (f"SELECT {unit} AS u, {value} AS value, {arrays}, {chain}"
                 f" FROM {scope.db}.events WHERE {where} AND ({matched}) GROUP BY u")
        level = " + ".join(_any_reached(n, window) for n in range(1, k + 1))
    else:
        modes = [*(["strict_order"] if f.order == "strict" else []), *f.modes]
        params = ", ".join([window, *(f"'{m}'" for m in modes)])
        funnel = (f"windowFunnel({params})(toUInt64({ts}), "
                  f"{', '.join(f'({c})' for c in conds)}) AS level")
        only = "" if f.order == "strict" else f" AND ({matched})"
        inner = (f"SELECT {unit} AS u, {value} AS value, {funnel}, {chain}"
                 f" FROM {scope.db}.events WHERE {where}{only} GROUP BY u")
        level = "level"
    picks = ["arrayFirstIndex(e -> bitTest(e.2, 0), evs) AS j1"]
    for i in range(2, k + 1):
        picks.append(f"if(j{i - 1} = 0, 0, arrayFirstIndex((e, n) -> n > j{i - 1} AND "
                     f"bitTest(e.2, {i - 1}), evs, arrayEnumerate(evs))) AS j{i}")
    units = (f"SELECT value, toUInt8({level}) AS lv, {', '.join(picks)}, evs"
             f" FROM ({inner})")
    counts = [f"countIf(lv >= {i}) AS c{i}" for i in range(1, k + 1)]
    medians = [f"quantileExactInclusiveIf(0.5)((evs[j{i}].1 - evs[j{i - 1}].1) / 1000,"
               f" lv >= {i} AND j{i} > 0) AS m{i}" for i in range(2, k + 1)]
    medians.append(f"quantileExactInclusiveIf(0.5)((evs[j{k}].1 - evs[j1].1) / 1000,"
                   f" lv >= {k} AND j{k} > 0) AS mt")
    figures = f"{', '.join(counts)}, {', '.join(medians)}"
    if not breakdown:
        return f"SELECT 1 AS total, '' AS value, {figures} FROM ({units})", p.values
    sql = (f"SELECT grouping(value) AS total, value, {figures} FROM ({units})"
           f" GROUP BY ROLLUP(value) ORDER BY total DESC, c1 DESC, value"
           f" LIMIT {p.add(limit + 1, 'UInt64')}")
    return sql, p.values


def _any_reached(n: int, window: str) -> str:
    """1 when some span of the window, starting at an event of steps 1..n, holds an event
    of each of them."""
    has = " AND ".join(f"arrayExists(x -> x >= t AND x <= t + {window}, a{i})"
                       for i in range(1, n + 1))
    anchors = f"arrayConcat({', '.join(f'a{i}' for i in range(1, n + 1))})"
    return f"arrayExists(t -> {has}, {anchors})"


def _condition(step: Step, p: Any) -> str:
    if step.type == "page":
        regex = Goal("", page_path=step.value).path_regex()
        base = f"name = 'pageview' AND match(pathname, {p.add(regex, 'String')})"
    else:
        base = f"name = {p.add(step.value, 'String')}"
    for key, value in step.props:
        base += f" AND props[{p.add(key, 'String')}] = {p.add(value, 'String')}"
    return base


# --- shaping -----------------------------------------------------------------------------


def steps_of(f: Funnel, row: list[Any]) -> dict[str, Any]:
    """One result row (after ``total, value``) as per-step figures."""
    k = len(f.steps)
    counts = [int(x) for x in row[:k]]
    medians = [_seconds(x) for x in row[k:2 * k - 1]]
    timed = f.order != "any"
    first = counts[0]
    out = []
    for i, step in enumerate(f.steps):
        prev = counts[i - 1] if i else counts[0]
        out.append({
            "step": i + 1, "label": step.label, "count": counts[i],
            "conversion_from_previous": _pct(counts[i], prev),
            "conversion_from_first": _pct(counts[i], first),
            "dropoff": prev - counts[i] if i else 0,
            "dropoff_rate": _pct(prev - counts[i], prev) if i else 0.0 if first else None,
            "median_seconds_from_previous": medians[i - 1] if i and timed else None,
        })
    return {"steps": out, "conversion_rate": _pct(counts[-1], first),
            "median_seconds_to_convert": _seconds(row[2 * k - 1]) if timed else None}


def _pct(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 2) if whole else None


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else round(number, 1)  # NaN: no unit got there
