"""The circuit breaker: opens after consecutive failures, refuses at once while open, lets one
trial through after ``reset_after``, closes on its success and reopens on its failure."""

from __future__ import annotations

import asyncio
import threading

import pytest

from liveinsight.ops.breaker import Breaker, DependencyDown
from liveinsight.ops.dependencies import Dependencies


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _boom() -> None:
    raise ConnectionError("refused")


def _fail(breaker: Breaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(_boom)


def test_opens_after_consecutive_failures_and_refuses_without_calling() -> None:
    clock, changes = Clock(), []
    breaker = Breaker("redis", failures=3, reset_after=5, clock=clock,
                      on_change=changes.append)
    _fail(breaker, 2)
    assert breaker.call(lambda: "ok") == "ok"  # a success resets the count
    _fail(breaker, 3)
    assert breaker.is_open and changes == ["open"]
    calls = []
    with pytest.raises(DependencyDown) as refused:
        breaker.call(lambda: calls.append(1))
    assert calls == [] and refused.value.retry_after == 5
    assert "redis is unavailable: ConnectionError: refused" in refused.value.message
    state = breaker.state()
    assert (state.state, state.consecutive_failures, state.opened_total) == ("open", 3, 1)


def test_one_trial_after_reset_after_closes_it_on_success() -> None:
    clock = Clock()
    breaker = Breaker("redis", failures=1, reset_after=5, clock=clock)
    _fail(breaker, 1)
    clock.now += 5
    assert breaker.state().state == "half_open"
    started, release = threading.Event(), threading.Event()

    def trial() -> str:
        started.set()
        release.wait(5)
        return "back"

    results: list[str] = []
    thread = threading.Thread(target=lambda: results.append(breaker.call(trial)))
    thread.start()
    assert started.wait(5)
    with pytest.raises(DependencyDown):  # only one trial at a time
        breaker.call(lambda: "second")
    release.set()
    thread.join(5)
    assert results == ["back"] and not breaker.is_open
    assert breaker.call(lambda: 1) == 1


def test_a_failed_trial_opens_it_again_for_reset_after() -> None:
    clock = Clock()
    breaker = Breaker("smtp", failures=2, reset_after=10, clock=clock)
    _fail(breaker, 2)
    clock.now += 10
    _fail(breaker, 1)  # the trial
    assert breaker.state().state == "open" and breaker.state().retry_in_seconds == 10
    clock.now += 9
    with pytest.raises(DependencyDown):
        breaker.call(lambda: None)
    clock.now += 1
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state().opened_total == 1


def test_async_calls_count_the_same() -> None:
    clock = Clock()
    breaker = Breaker("webhook", failures=1, reset_after=1, clock=clock)

    async def fails() -> None:
        raise TimeoutError("slow")

    async def works() -> str:
        return "sent"

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await breaker.acall(fails)
        with pytest.raises(DependencyDown):
            await breaker.acall(works)
        clock.now += 1
        assert await breaker.acall(works) == "sent"

    asyncio.run(scenario())
    assert not breaker.is_open


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Breaker("x", failures=0)
    with pytest.raises(ValueError):
        Breaker("x", reset_after=0)


def test_dependencies_report_up_down_and_degraded() -> None:
    deps = Dependencies(timeout=0.5)
    clock = Clock()
    breaker = Breaker("redis", failures=1, reset_after=5, clock=clock)
    stuck = threading.Event()
    try:
        deps.register("clickhouse", kind="clickhouse", check=lambda: None, required=True)
        deps.register("metadata", kind="sqlite", check=_boom, required=True)
        deps.register("slow", kind="http", check=lambda: stuck.wait(5), required=True)
        deps.register("redis", kind="redis", check=lambda: None, breaker=breaker)
        _fail(breaker, 1)  # answers again, but the breaker has not closed yet
        reports = {r.name: r for r in deps.check()}
        assert reports["clickhouse"].state == "up" and reports["clickhouse"].latency_ms is not None
        assert reports["metadata"].state == "down"
        assert reports["metadata"].error == "ConnectionError: refused"
        assert reports["slow"].state == "down" and "no answer within" in str(reports["slow"].error)
        assert reports["redis"].state == "degraded"
        assert reports["redis"].breaker is not None and reports["redis"].breaker.state == "open"
        with pytest.raises(ValueError):
            deps.register("nothing", kind="http")
    finally:
        stuck.set()
        deps.close()
