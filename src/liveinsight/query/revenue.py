"""Revenue metrics (``total_revenue``, ``average_revenue``): which currency a query's revenue is
in, and money values as Plausible answers them.

Plausible's rules, followed here (its ``Plausible.Stats.Goal.Revenue``):

- The revenue goals in play are the site's goals with a currency, narrowed to those named by
  a top-level ``is event:goal`` filter when there is one.
- One currency among them (and no ``event:goal`` dimension): every value is in it.
- An ``event:goal`` dimension: each row is in its own goal's currency; rows of goals without
  a currency have ``null`` revenue.
- Several currencies without a goal dimension, or no revenue goal at all: revenue is ``null``
  and ``meta.metric_warnings`` says why (``no_single_revenue_currency``,
  ``no_revenue_goals_matching``).

An event adds to a goal's revenue when it converts that goal and carries an amount in the
goal's currency. LiveInsight keeps amounts in the currency they were sent in and has no
exchange rates (it fetches nothing from outside), so an amount sent in another currency than
the goal's is **not** converted and not counted (Plausible converts it at ingest). An event
converting several revenue goals of the queried set counts once.

A money value is ``{"value": 1234.5, "currency": "EUR", "short": "€1.2K", "long":
"€1,234.50"}`` (CLDR formats, English); ``value`` is the amount as a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from babel.numbers import format_compact_currency, format_currency

from liveinsight.query.model import GOAL, REVENUE_METRICS, And, Condition, Goal, Query

WARNINGS = {
    "no_single_revenue_currency":
        "Revenue metrics are null as there are multiple currencies for the selected "
        "event:goals.",
    "no_revenue_goals_matching":
        "Revenue metrics are null as there are no matching revenue goals.",
}


@dataclass(frozen=True, slots=True)
class Plan:
    """How a query's revenue is computed and shown: ``default`` currency for every row, or a
    currency per goal name (``by_goal``) for an ``event:goal`` dimension; ``goals`` are the
    revenue goals whose conversions count; ``warning`` names why revenue is null."""

    default: str | None = None
    by_goal: dict[str, str] = field(default_factory=dict)
    goals: tuple[Goal, ...] = ()
    warning: str | None = None


def wanted(q: Query) -> bool:
    return any(m in REVENUE_METRICS for m in q.metrics)


def plan(q: Query) -> Plan:
    """The revenue plan of ``q`` (an empty plan when it asks for no revenue metric)."""
    if not wanted(q):
        return Plan()
    names = _goal_filter(q)
    scope = [g for g in q.goals if names is None or g.name in names]
    revenue_goals = tuple(g for g in scope if g.currency)
    currencies = {g.currency for g in revenue_goals if g.currency}
    goal_dimension = GOAL in q.dimensions
    if len(currencies) == 1 and not goal_dimension:
        return Plan(default=next(iter(currencies)), goals=revenue_goals)
    if not currencies:
        return Plan(warning="no_revenue_goals_matching")
    if goal_dimension:
        return Plan(by_goal={g.name: g.currency for g in revenue_goals if g.currency},
                    goals=revenue_goals)
    return Plan(warning="no_single_revenue_currency")


def _goal_filter(q: Query) -> set[str] | None:
    """The goal names of a top-level ``is event:goal`` condition (the whole filter or a
    member of a top-level AND), or None."""
    node = q.filters
    members = list(node.children) if isinstance(node, And) else [node] if node else []
    for m in members:
        if isinstance(m, Condition) and m.dimension == GOAL and m.op == "is":
            return set(m.values)
    return None


def currency_of(p: Plan, q: Query, dimensions: tuple[Any, ...]) -> str | None:
    """The currency of a result row with these dimension values."""
    if p.default:
        return p.default
    if p.by_goal and GOAL in q.dimensions and len(dimensions) == len(q.dimensions):
        return p.by_goal.get(str(dimensions[q.dimensions.index(GOAL)]))
    return None


def money(amount: Decimal | int | None, currency: str | None) -> dict[str, Any] | None:
    """A money value (``None`` without a currency or an amount: an average of nothing)."""
    if currency is None or amount is None:
        return None
    value = Decimal(amount)
    return {
        "value": float(value),
        "currency": currency,
        "short": _short(value, currency),
        "long": format_currency(value, currency, locale="en"),
    }


def _short(value: Decimal, currency: str) -> str:
    """At most one decimal: ``$96.3M``, ``€1.5K``, ``$30.8`` (CLDR has no short form below a
    thousand, so those are rounded to a tenth)."""
    if abs(value) >= 1000:
        return format_compact_currency(value, currency, locale="en", fraction_digits=1)
    return format_currency(value, currency, format="¤#,##0.#", currency_digits=False,
                           locale="en")


def warnings(q: Query, p: Plan) -> dict[str, dict[str, str]]:
    """``meta.metric_warnings`` entries for the revenue metrics of ``q``."""
    if p.warning is None:
        return {}
    entry = {"code": p.warning, "warning": WARNINGS[p.warning]}
    return {m: dict(entry) for m in q.metrics if m in REVENUE_METRICS}
