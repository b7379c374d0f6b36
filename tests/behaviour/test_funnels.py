"""Funnels: exact numbers over the hand-built event set of ``tests/behaviour/data.py``, on
embedded chDB and through the HTTP transport."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from liveinsight.behaviour import funnels
from liveinsight.behaviour.scope import Scope, parse_scope
from liveinsight.errors import Invalid
from liveinsight.ops.metrics import Metrics
from liveinsight.query.runner import QueryRunner
from liveinsight.storage.protocol import Store
from tests.behaviour.data import events, repeats
from tests.query.rows import ingest

STEPS = [{"type": "page", "path": "/"}, {"type": "page", "path": "/pricing"},
         {"type": "event", "name": "Signup"}]
RANGE = ["2026-11-10", "2026-11-12"]


@pytest.fixture(scope="module")
def runner(store: Store, segments: Path) -> QueryRunner:
    ingest(store, segments, events() + repeats())
    return QueryRunner(store, Metrics(), timeout_s=10)


def ask(runner: QueryRunner, funnel: dict[str, Any], *, site: int = 1, tz: str = "UTC",
        breakdown: str | None = None, limit: int = 10, **body: Any) -> dict[str, Any]:
    body.setdefault("date_range", RANGE)
    f = funnels.parse_funnel({"steps": STEPS, **funnel})
    q = parse_scope(body, site_id=site, timezone=tz, goals=(), today=date(2026, 11, 12),
                    breakdown=breakdown)
    text, params = funnels.funnel_sql(f, Scope(q, runner.store.database), breakdown, limit)
    rows = runner.raw(text, params, "funnel")
    total = funnels.steps_of(f, rows[0][2:])
    total["rows"] = {r[1]: funnels.steps_of(f, r[2:]) for r in rows[1:]}
    return total


def counts(answer: dict[str, Any]) -> list[int]:
    return [s["count"] for s in answer["steps"]]


def test_ordered_funnel_counts_times_and_rates(runner: QueryRunner) -> None:
    answer = ask(runner, {})
    # Step 1: everyone with a / (V3's comes after its /pricing); step 2: V1, V2 (a page
    # between is fine), V5, V7 (across midnight); V4's /pricing is two days later.
    assert counts(answer) == [6, 4, 2]
    s1, s2, s3 = answer["steps"]
    assert (s2["conversion_from_previous"], s2["conversion_from_first"]) == (66.67, 66.67)
    assert (s3["conversion_from_previous"], s3["conversion_from_first"]) == (50.0, 33.33)
    assert (s2["dropoff"], s2["dropoff_rate"], s3["dropoff"]) == (2, 33.33, 2)
    # From / to /pricing: 60, 300 (V2), 300 (V5 from its first /), 1200 s (V7) → 300;
    # to Signup: 120 (V1), 60 (V5) → 90; first to last: 180, 360 → 270.
    assert (s1["median_seconds_from_previous"], s2["median_seconds_from_previous"],
            s3["median_seconds_from_previous"]) == (None, 300.0, 90.0)
    assert answer["median_seconds_to_convert"] == 270.0
    assert answer["conversion_rate"] == 33.33


def test_strict_order_breaks_on_an_event_between_steps(runner: QueryRunner) -> None:
    # V2's /blog comes between / and /pricing; V5's second / starts the chain again.
    assert counts(ask(runner, {"order": "strict"})) == [6, 3, 2]


def test_any_order_counts_steps_done_in_another_order(runner: QueryRunner) -> None:
    answer = ask(runner, {"order": "any"})
    assert counts(answer) == [6, 5, 2]  # V3: /pricing then / within the window
    assert answer["median_seconds_to_convert"] is None  # no chain in any order


def test_window_and_basis(runner: QueryRunner) -> None:
    # Three days reach V4's /pricing of another visit: the visitor converts, the visit not.
    assert counts(ask(runner, {"window": "3d"})) == [6, 5, 2]
    assert counts(ask(runner, {"window": "3d", "basis": "session"})) == [6, 4, 2]
    # The window runs from the chain's first step: V1's Signup is 180 s after its /; V5
    # reaches /pricing 180 s after its second /, its Signup 240 s after.
    assert counts(ask(runner, {"window": 200})) == [6, 2, 1]


def test_a_step_reached_twice(runner: QueryRunner) -> None:
    # Site 3: /, /pricing, /pricing, Signup. Ordered: the repeat changes nothing;
    # strict_deduplication: the repeated /pricing ends the chain at step 2.
    assert counts(ask(runner, {}, site=3)) == [1, 1, 1]
    assert counts(ask(runner, {"modes": ["strict_deduplication"]}, site=3)) == [1, 1, 0]
    assert counts(ask(runner, {"order": "strict"}, site=3)) == [1, 1, 1]


def test_step_properties_and_wildcards(runner: QueryRunner) -> None:
    pro = [*STEPS[:2], {"type": "event", "name": "Signup", "props": {"plan": "pro"}}]
    assert counts(ask(runner, {"steps": pro})) == [6, 4, 1]
    wild = [{"type": "page", "path": "/"}, {"type": "page", "path": "/pri*"}]
    assert counts(ask(runner, {"steps": wild})) == [6, 4]


def test_breakdown_by_source_with_a_row_limit(runner: QueryRunner) -> None:
    answer = ask(runner, {}, breakdown="visit:source", limit=2)
    assert counts(answer) == [6, 4, 2]  # the total is over every value
    rows = answer["rows"]
    assert list(rows) == ["Direct / None", "Google"]  # 2 each: by name, Twitter cut
    assert counts(rows["Google"]) == [2, 2, 1]
    assert counts(rows["Direct / None"]) == [2, 0, 0]
    assert rows["Direct / None"]["steps"][1]["median_seconds_from_previous"] is None


def test_filters_select_visits(runner: QueryRunner) -> None:
    de = ask(runner, {}, filters=[["is", "visit:country", ["DE"]]])
    assert counts(de) == [1, 1, 1]
    blog = ask(runner, {}, filters=[["is", "event:page", ["/blog"]]])
    assert counts(blog) == [1, 1, 0]  # V2's visit, all of its events


def test_dst_night_times_are_real_seconds(runner: QueryRunner) -> None:
    # 02:30 CEST and 02:30 CET: one hour apart, the same local wall-clock time.
    answer = ask(runner, {"steps": STEPS[:2]}, site=2, tz="Europe/Berlin",
                 date_range=["2026-10-25", "2026-10-25"])
    assert counts(answer) == [1, 1]
    assert answer["steps"][1]["median_seconds_from_previous"] == 3600.0


def test_an_empty_range_answers_zeros(runner: QueryRunner) -> None:
    answer = ask(runner, {}, date_range=["2026-01-01", "2026-01-02"])
    assert counts(answer) == [0, 0, 0]
    assert answer["conversion_rate"] is None


@pytest.mark.parametrize(("funnel", "field"), [
    ({"steps": [{"type": "click", "path": "/"}, STEPS[1]]}, "funnel.steps[0].type"),
    ({"steps": [STEPS[0]] * 9}, "funnel.steps"),
    ({"steps": [STEPS[0]]}, "funnel.steps"),
    ({"steps": STEPS, "window": ""}, "funnel.window"),
    ({"steps": STEPS, "window": 0}, "funnel.window"),
    ({"steps": STEPS, "window": "91d"}, "funnel.window"),
    ({"steps": STEPS, "order": "random"}, "funnel.order"),
    ({"steps": STEPS, "order": "any", "modes": ["strict_increase"]}, "funnel.modes"),
    ({"steps": STEPS, "basis": "user"}, "funnel.basis"),
    ({"steps": [{"type": "page", "path": "pricing"}, STEPS[1]]}, "funnel.steps[0].path"),
    ({"steps": [{"type": "event", "name": "x", "url": "/"}, STEPS[1]]},
     "funnel.steps[0].url"),
    ({"steps": [{"type": "event", "name": "x", "props": {"a": ["b"]}}, STEPS[1]]},
     "funnel.steps[0].props"),
    ({"steps": [{"type": "page", "path": "/" + "x" * 1000}, STEPS[1]]},
     "funnel.steps[0].path"),
])
def test_bad_definitions_name_the_field(funnel: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        funnels.parse_funnel(funnel)
    assert caught.value.field == field
