"""The dashboard's behaviour page: ``/sites/{site_id}/behaviour`` (any role on the site).

Four tabs, each a GET form whose answer is rendered on the server from the behaviour
service's own answers (the same cached JSON the API serves, so the numbers are the API's):
funnels (a saved funnel or steps typed one per line; bars with drop-offs), journeys (next /
previous pages, top paths, and a Sankey diagram drawn as SVG here), retention (the
triangle) and visitors (the user analysis of ``POST /api/v2/users``). ``format=csv``
downloads the tab's table. The page works without script; with it, the funnel form previews
its funnel live (``static/funnel-preview.js``: the ad-hoc funnel API, asked as the steps are
edited), under the pages' CSP as it is.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liveinsight.api import session as auth
from liveinsight.api.dashboard import page, site_or_page, to_login
from liveinsight.api.deps import services
from liveinsight.api.funnel_forms import steps_from_lines
from liveinsight.errors import Problem

router = APIRouter(include_in_schema=False)
TABS = ("funnel", "journey", "retention", "users")
_PERIODS = ("day", "7d", "28d", "30d", "91d", "month", "6mo", "12mo")


@router.get("/sites/{site_id}/behaviour")
async def behaviour_page(request: Request, site_id: int) -> Response:
    viewer = await auth.current_viewer(request)
    if viewer is None:
        return to_login(request)
    found = await site_or_page(request, viewer, site_id)
    if isinstance(found, HTMLResponse):
        return found
    site, role = found
    svc = services(request)
    params = {k: v[:2000] for k, v in request.query_params.items()}
    tab = params.get("tab", "funnel")
    tab = tab if tab in TABS else "funnel"
    saved = await run_in_threadpool(svc.funnels.of_site, site.id)
    context: dict[str, Any] = {"viewer": viewer, "site": site, "role": role, "tab": tab,
                               "params": params, "saved": saved, "periods": _PERIODS,
                               "result": None, "error": None, "sankey": None}
    asked = any(k not in ("tab",) for k in params)
    if asked:
        try:
            result = await run_in_threadpool(_ask, request, site, tab, params, saved)
        except Problem as exc:
            context["error"] = exc.message + (f" ({exc.field})" if exc.field else "")
            return page(request, "behaviour.html", context, 400)
        if params.get("format") == "csv":
            return _csv(tab, result, site.domain)
        context["result"] = result
        if tab == "journey" and result.get("kind") == "sankey":
            context["sankey"] = sankey_svg(result)
    return page(request, "behaviour.html", context)


def _ask(request: Request, site: Any, tab: str, params: dict[str, str],
         saved: list[Any]) -> dict[str, Any]:
    svc = services(request)
    period = params.get("period", "30d")
    body: dict[str, Any] = {"date_range": period}
    if tab == "funnel":
        chosen = params.get("funnel_id", "")
        if chosen:
            match = [f for f in saved if str(f.id) == chosen]
            body["funnel"] = match[0].definition if match else {"steps": []}
        else:
            body["funnel"] = {"steps": steps_from_lines(params.get("steps", "")),
                              "window": params.get("window", "1d") or "1d",
                              "order": params.get("order", "ordered"),
                              "basis": params.get("basis", "visitor")}
        answer = svc.behaviour.funnel(site, body)
    elif tab == "journey":
        body.update({"kind": params.get("kind", "next"), "steps": params.get("steps", "3"),
                     "k": params.get("k", "5"), "limit": params.get("limit", "10")})
        if body["kind"] in ("next", "previous"):
            body["page"] = params.get("page", "/")
        answer = svc.behaviour.journey(site, body)
    elif tab == "users":
        answer = svc.behaviour.users(site, body)
    else:
        body["period"] = params.get("cohort", "week")
        body["identity"] = params.get("identity", "visitor")
        answer = svc.behaviour.retention(site, body)
    result: dict[str, Any] = orjson.loads(answer)
    return result


def _csv(tab: str, result: dict[str, Any], domain: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    if tab == "funnel":
        writer.writerow(["step", "label", "count", "conversion_from_previous",
                         "conversion_from_first", "dropoff", "median_seconds_from_previous"])
        for s in result["steps"]:
            writer.writerow([s["step"], s["label"], s["count"], s["conversion_from_previous"],
                             s["conversion_from_first"], s["dropoff"],
                             s["median_seconds_from_previous"]])
    elif tab == "journey" and result.get("kind") == "sankey":
        writer.writerow(["step", "source", "target", "visits"])
        for link in result["links"]:
            writer.writerow([link["step"], link["source"], link["target"], link["visits"]])
    elif tab == "journey":
        writer.writerow(["depth", "page", "visits", "percentage"])
        for d in result["pages"]:
            for r in d["rows"]:
                writer.writerow([d["depth"], r["page"], r["visits"], r["percentage"]])
    elif tab == "users":
        writer.writerow(["figure", "bucket", "count", "percentage"])
        for key in ("visitors", "new_visitors", "returning_visitors", "visits"):
            writer.writerow([key, "", result[key], ""])
        for name, rows in result["distributions"].items():
            for b in rows:
                writer.writerow([name, b["bucket"], b["count"], b["percentage"]])
    else:
        writer.writerow(["cohort", "visitors", "offset", "returning", "percentage"])
        for c in result["cohorts"]:
            for x in c["retention"]:
                writer.writerow([c["cohort"], c["visitors"], x["offset"], x["visitors"],
                                 x["percentage"]])
    name = f"{domain}-{tab}.csv".replace('"', "")
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


def sankey_svg(result: dict[str, Any], width: int = 760, height: int = 360) -> dict[str, Any]:
    """Rectangles and link paths of a Sankey diagram (positions as columns, node heights by
    visits; a visit ending is a link to an ``(exit)`` node in the next column)."""
    nodes = [dict(n) for n in result["nodes"]]
    steps = result["steps"]
    for link in result["links"]:
        if link["target"] == "(exit)":
            key = (link["step"] + 1, "(exit)")
            found = next((n for n in nodes if (n["step"], n["page"]) == key), None)
            if found is None:
                nodes.append({"step": link["step"] + 1, "page": "(exit)", "visits": 0})
                found = nodes[-1]
            found["visits"] += link["visits"]
    columns = max([steps, *(n["step"] for n in nodes)])
    col_w = (width - 140) / max(columns - 1, 1)
    biggest = max([sum(n["visits"] for n in nodes if n["step"] == s)
                   for s in range(1, columns + 1)] + [1])
    gap = 6
    scale = (height - gap * 12) / biggest
    at: dict[tuple[int, str], dict[str, Any]] = {}
    for s in range(1, columns + 1):
        y = 0.0
        for n in sorted((n for n in nodes if n["step"] == s), key=lambda n: -n["visits"]):
            h = max(n["visits"] * scale, 1.0)
            at[(s, n["page"])] = {**n, "x": (s - 1) * col_w, "y": y, "h": h, "out": y,
                                  "in": y}
            y += h + gap
    paths = []
    for link in sorted(result["links"], key=lambda li: -li["visits"]):
        a = at.get((link["step"], link["source"]))
        b = at.get((link["step"] + 1, link["target"]))
        if a is None or b is None:
            continue
        w = max(link["visits"] * scale, 1.0)
        x0, y0 = a["x"] + 12, a["out"] + w / 2
        x1, y1 = b["x"], b["in"] + w / 2
        a["out"] += w
        b["in"] += w
        mid = (x0 + x1) / 2
        paths.append({"d": f"M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} "
                           f"{x1:.1f},{y1:.1f}", "w": round(w, 1),
                      "title": f"{link['source']} → {link['target']}: {link['visits']}"})
    rects = [{"x": round(n["x"], 1), "y": round(n["y"], 1), "h": round(n["h"], 1),
              "label": n["page"], "visits": n["visits"],
              "text": _fit(f"{n['page']}", f" ({n['visits']})",
                           (col_w if n["x"] + col_w < width else width - n["x"]) - 20)}
             for n in at.values()]
    return {"width": width, "height": height, "rects": rects, "paths": paths}


def _fit(label: str, suffix: str, room: float, char_px: float = 6.5) -> str:
    """``label + suffix`` shortened with "…" to about ``room`` pixels of 11 px text (the full
    label stays in the node's tooltip)."""
    chars = max(int(room / char_px), len(suffix) + 2)
    if len(label) + len(suffix) <= chars:
        return label + suffix
    return label[:chars - len(suffix) - 1] + "…" + suffix


# --- the KPI board (instance administrators) -------------------------------------------------


@router.get("/analytics/kpi")
async def kpi_page(request: Request) -> Response:
    """Every site's KPIs and their total (``GET /admin/analytics/kpi``'s answer), with
    sparklines and target statuses; ``format=csv`` downloads it. Instance admins only."""
    viewer = await auth.current_viewer(request)
    if viewer is None:
        return to_login(request)
    if not viewer.is_admin:
        return page(request, "missing.html", {
            "viewer": viewer, "message": "The KPI board is for instance admins."}, 403)
    svc = services(request)
    period = request.query_params.get("period", "30d")
    context: dict[str, Any] = {"viewer": viewer, "periods": _PERIODS, "period": period,
                               "board": None, "error": None}
    if period not in _PERIODS:
        context["error"] = f"unknown period {period[:20]!r}"
        return page(request, "kpi.html", context, 400)
    sites = sorted(svc.sites.all(), key=lambda s: s.domain)[:50]
    targets = await run_in_threadpool(svc.kpi_targets.all)
    board = await run_in_threadpool(svc.behaviour.kpi, sites, period, None, targets)
    if request.query_params.get("format") == "csv":
        return _kpi_csv(board)
    for entry in [*board["sites"], *([board["total"]] if "total" in board else [])]:
        for kpi in entry["kpis"].values():
            if kpi.get("sparkline"):
                kpi["points"] = _spark(kpi["sparkline"])
    context["board"] = board
    return page(request, "kpi.html", context)


def _kpi_csv(board: dict[str, Any]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["site", "kpi", "value", "previous", "growth", "target", "status"])
    rows = [(s["site_id"], s) for s in board["sites"]]
    if "total" in board:
        rows.append(("(all sites)", board["total"]))
    for name, entry in rows:
        for kpi, v in entry["kpis"].items():
            writer.writerow([name, kpi, v["value"], v["previous"], v["growth"],
                             v.get("target"), v.get("status")])
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"content-disposition": 'attachment; filename="kpi.csv"'})


def _spark(values: list[Any], width: int = 120, height: int = 24) -> str:
    """An SVG polyline's points for ``values``."""
    top = max([float(v or 0) for v in values] + [1.0])
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - float(v or 0) * height / top:.1f}"
                    for i, v in enumerate(values))
