"""Answers' keys: strict freshness by default; with ``live_lag`` a site's live answers are
shared for up to that many seconds while its data moves; invalidation is immediate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from liveinsight.cache.answers import Answers, Policy
from liveinsight.cache.generation import MemoryGenerations
from liveinsight.cache.memory import MemoryResultCache

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


class Tick:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def _answers(lag: float, tick: Tick) -> tuple[Answers, MemoryGenerations]:
    generations = MemoryGenerations()
    answers = Answers(MemoryResultCache(1 << 20), generations, Policy(live_lag=lag),
                      lambda: NOW, monotonic=tick)
    return answers, generations


def test_strict_by_default_new_data_makes_a_new_live_answer() -> None:
    answers, generations = _answers(0, Tick())
    assert answers.get(1, NOW, ("q",), lambda: b"old") == b"old"
    generations.bump([1])
    assert answers.get(1, NOW, ("q",), lambda: b"new") == b"new"


def test_with_a_lag_live_answers_are_shared_until_it_passes() -> None:
    tick = Tick()
    answers, generations = _answers(5, tick)
    assert answers.get(1, NOW, ("q",), lambda: b"old") == b"old"
    generations.bump([1])
    tick.now += 4.9
    assert answers.get(1, NOW, ("q",), lambda: b"new") == b"old"  # within the lag
    assert answers.get(1, NOW, ("rt",), lambda: b"x", lag=False) == b"x"
    generations.bump([1])  # realtime-like answers never lag: the new data at once
    assert answers.get(1, NOW, ("rt",), lambda: b"y", lag=False) == b"y"
    tick.now += 0.2
    assert answers.get(1, NOW, ("q",), lambda: b"new") == b"new"  # past it: the new data
    past = NOW - timedelta(days=3)  # ranges wholly in the past never lag: their own counter
    assert answers.get(1, past, ("q",), lambda: b"p1") == b"p1"
    answers.invalidate_site(1)  # an import: immediate, lag or not
    assert answers.get(1, NOW, ("q",), lambda: b"imported") == b"imported"
    assert answers.get(1, past, ("q",), lambda: b"p2") == b"p2"
