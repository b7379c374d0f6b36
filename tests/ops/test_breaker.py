"""The circuit breaker: opens after consecutive failures, refuses at once while open, lets one
trial through after ``reset_after``, closes on its success and reopens on its failure."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from liveinsight.ops.breaker import Breaker, DependencyDown, not_tried, refusal_in
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


# --- what counts (the classifier) and guarded streams ------------------------------------------


class Refused(Exception):
    """The dependency's answer "no" to one call (a bad query): it is up."""


def _outage(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError)


def _refuse() -> None:
    raise Refused("bad SQL")


def test_an_exception_it_does_not_count_is_an_answer_and_closes_it() -> None:
    clock = Clock()
    breaker = Breaker("clickhouse", failures=2, reset_after=5, clock=clock, counts=_outage)
    _fail(breaker, 1)
    for _ in range(5):  # refusals neither open it nor add to the count...
        with pytest.raises(Refused):
            breaker.call(_refuse)
    assert not breaker.is_open and breaker.state().consecutive_failures == 0
    _fail(breaker, 1)  # ...they reset it, as a success would: one outage is not two in a row
    assert not breaker.is_open
    _fail(breaker, 1)
    assert breaker.is_open
    clock.now += 5
    with pytest.raises(Refused):  # the trial is refused: the dependency answered
        breaker.call(_refuse)
    assert breaker.state().state == "closed" and breaker.state().opened_total == 1


def test_async_calls_use_the_classifier_too() -> None:
    breaker = Breaker("clickhouse", failures=1, reset_after=5, clock=Clock(), counts=_outage)

    async def refused() -> None:
        raise Refused("no")

    with pytest.raises(Refused):
        asyncio.run(breaker.acall(refused))
    assert not breaker.is_open


def _items(*items: object, then: BaseException | None = None) -> Iterator[object]:
    yield from items
    if then is not None:
        raise then


def test_a_stream_is_admitted_at_its_first_read_and_settled_by_its_first_item() -> None:
    clock = Clock()
    breaker = Breaker("clickhouse", failures=1, reset_after=5, clock=clock, counts=_outage)
    made: list[int] = []

    def make() -> Iterator[object]:
        made.append(1)
        return _items("a", "b")

    stream = breaker.stream(make)
    assert made == []  # nothing happens before the first read
    assert list(stream) == ["a", "b"] and made == [1]
    _fail(breaker, 1)
    refused = breaker.stream(make)
    with pytest.raises(DependencyDown):
        next(refused)
    assert made == [1]  # refused without asking
    clock.now += 5
    trial = breaker.stream(lambda: _items("first", "second"))
    assert next(trial) == "first"
    # The first item closed it: a long answer does not hold the half-open trial slot.
    assert breaker.state().state == "closed"
    assert breaker.call(lambda: "other") == "other"
    assert list(trial) == ["second"]


def test_a_stream_that_fails_before_its_first_item_counts_by_the_classifier() -> None:
    breaker = Breaker("clickhouse", failures=2, reset_after=5, clock=Clock(), counts=_outage)
    with pytest.raises(ConnectionError):
        list(breaker.stream(lambda: _items(then=ConnectionError("refused"))))
    assert breaker.state().consecutive_failures == 1
    with pytest.raises(Refused):  # the server refused the query: an answer
        list(breaker.stream(lambda: _items(then=Refused("bad"))))
    assert breaker.state().consecutive_failures == 0
    assert list(breaker.stream(lambda: _items())) == []  # an empty answer is a success
    assert not breaker.is_open


def test_a_stream_broken_off_after_its_first_item_is_one_more_failure() -> None:
    breaker = Breaker("clickhouse", failures=2, reset_after=5, clock=Clock(), counts=_outage)
    _fail(breaker, 1)
    stream = breaker.stream(lambda: _items("a", then=ConnectionError("reset by peer")))
    assert next(stream) == "a"  # the server answered: the count starts again
    assert breaker.state().consecutive_failures == 0
    with pytest.raises(ConnectionError):
        next(stream)
    assert breaker.state().consecutive_failures == 1
    broken = breaker.stream(lambda: _items("a", then=Refused("limit reached mid-answer")))
    with pytest.raises(Refused):
        list(broken)
    assert breaker.state().consecutive_failures == 0 and not breaker.is_open


def test_closing_a_stream_early_is_no_failure_and_closes_its_source() -> None:
    clock = Clock()
    breaker = Breaker("clickhouse", failures=1, reset_after=5, clock=clock, counts=_outage)
    closed: list[str] = []

    def source() -> Iterator[object]:
        try:
            yield from ("a", "b", "c")
        finally:
            closed.append("source")

    stream = breaker.stream(source)
    assert next(stream) == "a"
    stream.close()  # the reader stopped: GeneratorExit
    assert closed == ["source"] and not breaker.is_open
    assert breaker.state().consecutive_failures == 0
    _fail(breaker, 1)
    clock.now += 5
    trial = breaker.stream(source)  # a trial closed after its first item closed the breaker
    assert next(trial) == "a"
    trial.close()
    assert breaker.state().state == "closed"


def test_a_transports_error_raised_from_a_refusal_names_it() -> None:
    breaker = Breaker("clickhouse", failures=1, reset_after=5, clock=Clock())
    _fail(breaker, 1)
    try:
        try:
            breaker.call(lambda: None)
        except DependencyDown as exc:
            raise RuntimeError(not_tried(exc)) from exc
    except RuntimeError as exc:
        refusal = refusal_in(exc)
        assert refusal is not None and refusal.retry_after == 5
        assert str(exc) == ("not tried (circuit breaker open, next try in 5 s): clickhouse "
                            "is unavailable: ConnectionError: refused")
    assert refusal_in(RuntimeError("no cause")) is None
