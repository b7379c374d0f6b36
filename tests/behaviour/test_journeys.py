"""Journeys: exact numbers over the five visits of site 4 (``tests/behaviour/data.py``:
a loop, a reload, a bounce), on embedded chDB and through the HTTP transport."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from liveinsight.behaviour import journeys
from liveinsight.behaviour.scope import Scope, parse_scope
from liveinsight.errors import Invalid
from liveinsight.ops.metrics import Metrics
from liveinsight.query.runner import QueryRunner
from liveinsight.storage.protocol import Store
from tests.behaviour.data import journeys as journey_visits
from tests.query.rows import ingest


@pytest.fixture(scope="module")
def runner(store: Store, segments: Path) -> QueryRunner:
    ingest(store, segments, journey_visits())
    return QueryRunner(store, Metrics(), timeout_s=10)


def ask(runner: QueryRunner, **raw: Any) -> dict[str, Any]:
    j = journeys.parse_journey(raw)
    body = {"date_range": ["2026-11-10", "2026-11-10"], **raw.pop("scope", {})}
    q = parse_scope(body, site_id=4, timezone="UTC", goals=(), today=date(2026, 11, 12))
    text, params = journeys.journey_sql(j, Scope(q, runner.store.database))
    return journeys.shape(j, runner.raw(text, params, "journey"))


def depths(answer: dict[str, Any]) -> dict[int, dict[str, int]]:
    return {d["depth"]: {r["page"]: r["visits"] for r in d["rows"]} for d in answer["pages"]}


def paths(answer: dict[str, Any]) -> dict[tuple[str, ...], int]:
    return {tuple(p["path"]): p["visits"] for p in answer["paths"]}


def test_paths_from_entry_keep_loops_and_fold_reloads(runner: QueryRunner) -> None:
    answer = ask(runner, kind="paths", steps=3)
    assert answer["visits"] == 5
    assert paths(answer) == {("/", "/pricing", "/signup"): 2,  # S1, and S3 once reloaded
                             ("/", "/blog", "/"): 1,  # the loop
                             ("/blog", "/pricing", "(exit)"): 1, ("/pricing", "(exit)"): 1}
    assert depths(answer) == {1: {"/": 3, "/blog": 1, "/pricing": 1},
                              2: {"/pricing": 3, "/blog": 1, "(exit)": 1},
                              3: {"/signup": 2, "/": 1, "(exit)": 1}}
    assert answer["pages"][0]["rows"][0] == {"page": "/", "visits": 3, "percentage": 60.0}


def test_next_pages_from_the_first_view_of_a_page(runner: QueryRunner) -> None:
    answer = ask(runner, kind="next", page="/pricing", steps=2)
    assert depths(answer) == {1: {"(exit)": 3, "/signup": 2}, 2: {"/thanks": 1, "(exit)": 1}}
    assert paths(answer) == {("(exit)",): 3, ("/signup", "(exit)"): 1,
                             ("/signup", "/thanks"): 1}


def test_previous_pages_walk_back_through_the_loop(runner: QueryRunner) -> None:
    answer = ask(runner, kind="previous", page="/pricing", steps=2)
    # S2: / ← /blog ← / before its /pricing.
    assert depths(answer) == {1: {"/": 3, "/blog": 1, "(entrance)": 1},
                              2: {"(entrance)": 3, "/blog": 1}}
    assert paths(answer)[("/", "/blog")] == 1


def test_next_pages_of_a_wildcard_page_and_the_limit(runner: QueryRunner) -> None:
    answer = ask(runner, kind="next", page="/s*", steps=1, limit=1)
    assert answer["visits"] == 2  # S1 and S3 view /signup
    assert depths(answer) == {1: {"(exit)": 1}}  # of (exit) 1 and /thanks 1, by name


def test_sankey_keeps_k_pages_per_step_and_conserves_flows(runner: QueryRunner) -> None:
    answer = ask(runner, kind="sankey", steps=3, k=1)
    nodes = {(n["step"], n["page"]): n["visits"] for n in answer["nodes"]}
    assert nodes == {(1, "/"): 3, (1, "(other)"): 2, (2, "/pricing"): 3, (2, "(other)"): 1,
                     (3, "/signup"): 2, (3, "(other)"): 1}
    links = {(link["step"], link["source"], link["target"]): link["visits"]
             for link in answer["links"]}
    assert links == {(1, "/", "/pricing"): 2, (1, "/", "(other)"): 1,
                     (1, "(other)", "/pricing"): 1, (1, "(other)", "(exit)"): 1,
                     (2, "/pricing", "/signup"): 2, (2, "/pricing", "(exit)"): 1,
                     (2, "(other)", "(other)"): 1}
    for (step, page), visits in nodes.items():  # what comes in goes out
        if step > 1:
            assert visits == sum(v for (s, _, t), v in links.items()
                                 if s == step - 1 and t == page)
        if step < 3:
            assert visits == sum(v for (s, src, _), v in links.items()
                                 if s == step and src == page)


def test_filters_select_visits(runner: QueryRunner) -> None:
    answer = ask(runner, kind="paths", steps=2,
                 scope={"filters": [["is", "event:page", ["/blog"]]]})
    assert paths(answer) == {("/", "/blog"): 1, ("/blog", "/pricing"): 1}


@pytest.mark.parametrize(("raw", "field"), [
    ({"kind": "loops"}, "kind"), ({"kind": "next"}, "page"),
    ({"kind": "next", "page": "pricing"}, "page"), ({"kind": "paths", "page": "/"}, "page"),
    ({"kind": "paths", "steps": 11}, "steps"), ({"kind": "sankey", "steps": 1}, "steps"),
    ({"kind": "paths", "limit": "many"}, "limit"), ({"kind": "sankey", "k": 21}, "k"),
])
def test_bad_journeys_name_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        journeys.parse_journey(raw)
    assert caught.value.field == field
