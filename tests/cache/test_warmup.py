"""Popularity counts and the warmer's schedule (cache/warmup.py), on a fake clock."""

from __future__ import annotations

from pathlib import Path

from liveinsight.cache.warmup import Asked, Popularity, Warmer


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def _asked(page: str) -> Asked:
    return Asked.of("breakdown", {"period": "7d", "property": page})


def test_the_most_asked_come_first_and_old_views_fade() -> None:
    clock = Clock()
    pop = Popularity(half_life=100, clock=clock)
    for _ in range(4):
        pop.seen(1, _asked("a"))
    clock.now += 300  # three half-lives: "a" is worth 0.5 now
    pop.seen(1, _asked("b"))
    assert pop.top(1, 5) == [_asked("b"), _asked("a")]
    assert pop.top(1, 5, active=100) == [_asked("b")]  # "a" not asked lately
    assert pop.top(2, 5) == []


def test_each_site_keeps_a_bounded_number_forgetting_the_least_popular() -> None:
    pop = Popularity(per_site=2, clock=Clock())
    for page, times in (("a", 3), ("b", 2), ("c", 1)):
        for _ in range(times):
            pop.seen(1, _asked(page))
    assert pop.top(1, 10) == [_asked("a"), _asked("b")]


def test_popularity_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    pop = Popularity(clock=clock)
    v2 = Asked.of("v2", {"metrics": ["visitors"], "date_range": "7d"})
    pop.seen(3, v2)
    pop.seen(3, v2)
    pop.seen(3, _asked("a"))
    pop.dump(tmp_path / "p.json")
    again = Popularity(clock=clock)
    again.load(tmp_path / "p.json")
    assert again.top(3, 5) == [v2, _asked("a")]
    (tmp_path / "bad.json").write_text("{not json")
    Popularity().load(tmp_path / "bad.json")  # ignored, with a warning
    Popularity().load(tmp_path / "missing.json")


def test_a_request_over_other_periods() -> None:
    simple = Asked.of("aggregate", {"period": "custom", "date": "2026-01-01,2026-01-31",
                                    "metrics": "visitors"})
    assert simple.with_period("7d").arguments() == {"period": "7d", "metrics": "visitors"}
    v2 = Asked.of("v2", {"metrics": ["visitors"], "date_range": ["2026-01-01", "2026-01-31"]})
    assert v2.with_period("30d").arguments() == {"metrics": ["visitors"], "date_range": "30d"}


def test_new_data_warms_the_sites_viewed_lately_at_most_once_per_interval() -> None:
    clock = Clock()
    pop = Popularity(clock=clock)
    pop.seen(1, _asked("a"))
    pop.seen(1, _asked("b"))
    replayed: list[tuple[int, Asked]] = []
    warmer = Warmer(pop, lambda site, asked: replayed.append((site, asked)), top=1,
                    min_interval=10, active=600, clock=clock)
    warmer.notify([1, 2])
    assert warmer.run_due() == 1 and replayed == [(1, _asked("a"))]  # site 2: nothing viewed
    warmer.notify([1])
    assert warmer.run_due() == 0  # within the interval: held back...
    clock.now += 10
    assert warmer.run_due() == 1  # ...until it has passed
    clock.now += 700
    warmer.notify([1])
    assert warmer.run_due() == 0  # no one looked at it lately


def test_warming_on_demand_replays_over_the_asked_periods_and_counts_failures() -> None:
    pop = Popularity(clock=Clock())
    pop.seen(1, _asked("a"))
    calls: list[Asked] = []

    def replay(site: int, asked: Asked) -> None:
        calls.append(asked)
        if asked.arguments()["period"] == "bad":
            raise ValueError("unknown period")

    warmer = Warmer(pop, replay, top=5)
    report = warmer.warm([1, 2], ["7d", "bad"], fallback=lambda site: [_asked("home")])
    assert (report.sites, report.requests, report.failed) == (2, 2, 2)
    assert {a.arguments()["property"] for a in calls} == {"a", "home"}
