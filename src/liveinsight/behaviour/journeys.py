"""Journeys: the paths visits take through a site's pages.

Every analysis starts from each visit's *path*: its pageviews in time order (at most the
first 2,000 of a visit), with a page repeated right after itself (a reload) kept once;
loops (``/a → /b → /a``) stay. Counts are visits. All of it is SQL (``groupArray`` per
session, ``arrayJoin`` of the pieces, one grouping), built by pure functions here:

- ``next``: from the first view of ``page`` in a visit, the ``steps`` pages that follow
  (``(exit)`` when the visit ends sooner): the most common page at each depth and the most
  common sequences.
- ``previous``: the same backwards, from the pages before it (``(entrance)`` when the visit
  started sooner); depth 1 is the page right before.
- ``paths``: the most common first ``steps`` pages of visits, from their entry page.
- ``sankey``: the flows between positions 1..``steps`` of visits' paths: at each position
  the ``k`` most common pages keep their name and the others are grouped as ``(other)``,
  so every node's visits are the sum of its incoming links (flows are conserved); a visit
  ending is a link to ``(exit)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from liveinsight.behaviour.scope import Scope
from liveinsight.errors import bad_request
from liveinsight.query.model import Goal

KINDS = ("next", "previous", "paths", "sankey")
MAX_STEPS = 10
MAX_LIMIT = 100
MAX_K = 20
MAX_PAGE = 1000
_PATH_CAP = 2000
EXIT, ENTRANCE, OTHER = "(exit)", "(entrance)", "(other)"

Kind = Literal["next", "previous", "paths", "sankey"]


@dataclass(frozen=True, slots=True)
class Journey:
    kind: Kind
    page: str | None = None  # next/previous: a path, `*` and `**` wildcards
    steps: int = 3
    limit: int = 10  # rows per depth and sequences (next, previous, paths)
    k: int = 5  # pages per position (sankey)

    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "steps": self.steps}
        if self.page is not None:
            doc["page"] = self.page
        if self.kind == "sankey":
            doc["k"] = self.k
        else:
            doc["limit"] = self.limit
        return doc


def parse_journey(raw: dict[str, Any]) -> Journey:
    """``kind``, ``page``, ``steps``, ``limit``, ``k`` (strings or numbers), or ``Invalid``
    naming the field."""
    kind = raw.get("kind", "next")
    if kind not in KINDS:
        raise bad_request(f"kind is one of {', '.join(KINDS)}", "kind")
    page = raw.get("page")
    if kind in ("next", "previous"):
        if not isinstance(page, str) or not page.startswith("/") or len(page) > MAX_PAGE:
            raise bad_request(f"{kind} needs page: a path starting with / (at most "
                              f"{MAX_PAGE} characters)", "page")
    elif page is not None:
        raise bad_request(f"{kind} starts from the entry page; page is for next/previous",
                          "page")
    low = 2 if kind == "sankey" else 1
    steps = _int(raw.get("steps", 3), "steps", low, MAX_STEPS)
    limit = _int(raw.get("limit", 10), "limit", 1, MAX_LIMIT)
    k = _int(raw.get("k", 5), "k", 1, MAX_K)
    return Journey(cast(Kind, kind), page, steps, limit, k)


def _int(raw: Any, field: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
        raise bad_request(f"{field} must be an integer", field) from None
    if isinstance(raw, bool) or not low <= value <= high:
        raise bad_request(f"{field} must be between {low} and {high}", field)
    return value


def _paths(scope: Scope, viewed: str | None = None) -> str:
    """One row per visit of the scope: ``path``, its pages in order (reloads once); only
    the visits with a pageview matching the regular expression ``viewed`` (a parameter)
    when given (read first: far fewer visits to order)."""
    only = ""
    if viewed is not None:
        only = (f" AND session_id IN (SELECT session_id FROM {scope.db}.events WHERE"
                f" {scope.rows()} AND name = 'pageview' AND match(pathname, {viewed}))")
    raw = (f"SELECT session_id, arrayMap(x -> x.2, arraySort(groupArray({_PATH_CAP})"
           f"((timestamp, toString(pathname))))) AS raw FROM {scope.db}.events"
           f" WHERE {scope.rows()} AND name = 'pageview'{only} GROUP BY session_id")
    return (f"SELECT arrayFilter((x, i) -> i = 1 OR x != raw[i - 1], raw, arrayEnumerate(raw))"
            f" AS path FROM ({raw})")


def journey_sql(j: Journey, scope: Scope) -> tuple[str, dict[str, Any]]:
    """The SQL answering ``j``. Rows: ``part`` (0 a page at a depth, 1 a sequence, 2 the
    visits counted; sankey: 0 a node, 1 a link), ``depth``, ``key`` (an array of pages:
    ``[page]``, the sequence, or ``[source, target]``), ``visits``."""
    if j.kind == "sankey":
        return _sankey(j, scope)
    p = scope.p
    n = p.add(j.steps, "UInt32")
    if j.kind == "paths":
        seq = (f"arraySlice(arrayConcat(path, [{p.add(EXIT, 'String')}]), 1, {n})")
        source = f"SELECT {seq} AS seq FROM ({_paths(scope)})"
    else:
        regex = p.add(Goal("", page_path=j.page).path_regex(), "String")
        at = f"arrayFirstIndex(x -> match(x, {regex}), path)"
        if j.kind == "next":
            seq = (f"arraySlice(arrayConcat(arraySlice(path, i + 1), "
                   f"[{p.add(EXIT, 'String')}]), 1, {n})")
        else:
            seq = (f"arraySlice(arrayConcat(arrayReverse(arraySlice(path, 1, i - 1)), "
                   f"[{p.add(ENTRANCE, 'String')}]), 1, {n})")
        source = (f"SELECT {seq} AS seq FROM (SELECT {at} AS i, path FROM"
                  f" ({_paths(scope, regex)})) WHERE i > 0")
    parts = ("arrayJoin(arrayConcat(arrayMap(d -> (toUInt8(0), toUInt32(d), [seq[d]]),"
             " arrayEnumerate(seq)), [(toUInt8(1), toUInt32(0), seq),"
             " (toUInt8(2), toUInt32(0), CAST([], 'Array(String)'))])) AS part")
    limit = p.add(j.limit, "UInt64")
    sql = (f"SELECT part.1 AS kind, part.2 AS depth, part.3 AS key, count() AS visits"
           f" FROM (SELECT {parts} FROM ({source})) GROUP BY kind, depth, key"
           f" ORDER BY kind, depth, visits DESC, key LIMIT {limit} BY kind, depth")
    return sql, p.values


def _sankey(j: Journey, scope: Scope) -> tuple[str, dict[str, Any]]:
    """Nodes and links in one pass: the pieces of every path grouped (``g``), then the top
    ``k`` pages of each position chosen from ``g`` and the pieces renamed and summed."""
    p = scope.p
    n = p.add(j.steps, "UInt32")
    k = p.add(j.k, "UInt32")
    exit_, other = p.add(EXIT, "String"), p.add(OTHER, "String")
    pieces = (f"arrayJoin(arrayConcat("
              f"arrayMap(i -> (toUInt8(0), toUInt32(i), path[i], ''),"
              f" range(1, toUInt32(least(length(path), {n})) + 1)),"
              f" arrayMap(i -> (toUInt8(1), toUInt32(i), path[i], if(i < length(path), path[i + 1],"
              f" {exit_})), range(1, toUInt32(least(length(path), {n} - 1)) + 1)))) AS piece")
    grouped = (f"SELECT piece.1 AS kind, piece.2 AS pos, piece.3 AS a, piece.4 AS b,"
               f" count() AS c FROM (SELECT {pieces} FROM ({_paths(scope)}))"
               f" GROUP BY kind, pos, a, b")
    tops = (f"arrayMap(q -> arraySlice(arrayMap(x -> x.3, arraySort(x -> (-x.5, x.3),"
            f" arrayFilter(x -> x.1 = 0 AND x.2 = q, g))), 1, {k}), range(1, {n} + 1))")
    named = (f"SELECT {tops} AS tops, arrayJoin(g) AS x,"
             f" if(has(tops[x.2], x.3), x.3, {other}) AS a,"
             f" if(x.1 = 0 OR x.4 = {exit_} OR has(tops[x.2 + 1], x.4), x.4, {other}) AS b"
             f" FROM (SELECT groupArray((kind, pos, a, b, c)) AS g FROM ({grouped}))")
    sql = (f"SELECT x.1 AS kind, x.2 AS depth, if(kind = 0, [a], [a, b]) AS key,"
           f" sum(x.5) AS visits FROM ({named}) GROUP BY kind, depth, key"
           f" ORDER BY kind, depth, visits DESC, key")
    return sql, p.values


def shape(j: Journey, rows: list[list[Any]]) -> dict[str, Any]:
    """The answer's figures from the rows of :func:`journey_sql`."""
    if j.kind == "sankey":
        return {
            "nodes": [{"step": int(r[1]), "page": r[2][0], "visits": int(r[3])}
                      for r in rows if int(r[0]) == 0],
            "links": [{"step": int(r[1]), "source": r[2][0], "target": r[2][1],
                       "visits": int(r[3])} for r in rows if int(r[0]) == 1],
        }
    total = next((int(r[3]) for r in rows if int(r[0]) == 2), 0)
    depths: dict[int, list[dict[str, Any]]] = {d: [] for d in range(1, j.steps + 1)}
    for r in rows:
        if int(r[0]) == 0:
            depths[int(r[1])].append({"page": r[2][0], "visits": int(r[3]),
                                      "percentage": _pct(int(r[3]), total)})
    return {
        "visits": total,
        "pages": [{"depth": d, "rows": found} for d, found in depths.items() if found],
        "paths": [{"path": list(r[2]), "visits": int(r[3]),
                   "percentage": _pct(int(r[3]), total)} for r in rows if int(r[0]) == 1],
    }


def _pct(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 2) if whole else None
