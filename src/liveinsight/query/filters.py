"""Compiling a filter tree into a ClickHouse boolean expression.

Every value becomes a typed parameter; the caller decides how each dimension is read (a
column, an expression, a ``session_id IN (...)`` subquery) through ``leaf``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liveinsight.query.model import And, Condition, Filter, Goal, Not, Or


class Params:
    """Collects typed query parameters: ``add(value, "String")`` → ``{p0:String}``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any, type_: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{type_}}}"


Leaf = Callable[[Condition], str]


def compile_filter(node: Filter | None, leaf: Leaf) -> str:
    """``node`` as SQL, each condition compiled by ``leaf``; ``1`` when there is none."""
    if node is None:
        return "1"
    if isinstance(node, Condition):
        return leaf(node)
    if isinstance(node, Not):
        return f"NOT ({compile_filter(node.child, leaf)})"
    parts = [compile_filter(child, leaf) for child in node.children] or ["1"]
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(parts) + ")"


def match_values(expr: str, cond: Condition, params: Params) -> str:
    """``expr`` compared with the condition's values by its operator."""
    positive = not cond.op.endswith("_not")
    base = cond.op.removesuffix("_not")
    folded = expr if cond.case_sensitive else f"lower({expr})"
    values = [v if cond.case_sensitive else v.lower() for v in cond.values]
    if base == "is":
        sql = f"{folded} IN ({', '.join(params.add(v, 'String') for v in values)})"
    elif base == "contains":
        sql = " OR ".join(f"position({folded}, {params.add(v, 'String')}) > 0" for v in values)
    else:
        flags = "" if cond.case_sensitive else "(?i)"
        sql = " OR ".join(f"match({expr}, {params.add(flags + v, 'String')})" for v in values)
    sql = f"({sql})" if sql else "0"
    return sql if positive else f"NOT {sql}"


def goal_predicate(goal: Goal, params: Params) -> str:
    """SQL true for the ``events`` rows that are conversions of ``goal``."""
    if goal.event_name is not None:
        return f"name = {params.add(goal.event_name, 'String')}"
    return f"(name = 'pageview' AND match(pathname, {params.add(goal.path_regex(), 'String')}))"


def goal_condition(cond: Condition, goals: tuple[Goal, ...], params: Params) -> str:
    """An ``event:goal`` condition as an event predicate: for each goal, whether its name
    satisfies the condition (evaluated by ClickHouse on a constant, so a ``matches`` pattern
    runs in RE2 under the query's time limit, never in Python) and its conversions."""
    probe = Condition(cond.op.removesuffix("_not"), cond.dimension, cond.values,
                      cond.case_sensitive)
    sql = " OR ".join(
        f"({match_values(params.add(g.name, 'String'), probe, params)}"
        f" AND {goal_predicate(g, params)})" for g in goals) or "0"
    return f"({sql})" if not cond.op.endswith("_not") else f"NOT ({sql})"


def without_goals(node: Filter | None) -> Filter | None:
    """The tree with every ``event:goal`` condition removed (the conversion-rate base)."""
    if node is None:
        return None
    if isinstance(node, Condition):
        return None if node.dimension == "event:goal" else node
    if isinstance(node, Not):
        child = without_goals(node.child)
        return Not(child) if child is not None else None
    kept = tuple(c for c in (without_goals(x) for x in node.children) if c is not None)
    if not kept:
        return None
    return And(kept) if isinstance(node, And) else Or(kept)
