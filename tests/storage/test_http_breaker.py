"""The HTTP transport's circuit breaker, on a client that fails as clickhouse-connect does:
outages (what the transport maps to ``StoreUnavailable``) open it, a query the server refuses
(``StoreError`` with its code) does not; while open every call but ``ping`` fails at once with
``StoreUnavailable`` naming the breaker, without reaching the client; a stream is guarded
from its first read, and a reader that stops early is no failure. The real server and the
application are in ``tests/api/test_dependency_breakers.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from liveinsight.ops.breaker import Breaker, refusal_in
from liveinsight.storage.http import HttpStore, outage
from liveinsight.storage.protocol import StoreError, StoreUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Answer:
    def __init__(self, chunks: list[bytes], closed: list[str]) -> None:
        self.chunks = chunks
        self.closed = closed

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *_: object) -> None:
        self.closed.append("answer")

    def read(self, _size: int) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


class Client:
    """Answers, or raises ``self.fails`` (set by the test), and counts the calls."""

    def __init__(self) -> None:
        self.fails: Exception | None = None
        self.calls = 0
        self.closed: list[str] = []

    def _call(self) -> None:
        self.calls += 1
        if self.fails is not None:
            raise self.fails

    def query(self, *_: Any, **__: Any) -> Any:
        self._call()

        class Result:
            column_names = ("x",)
            column_types = ()
            result_rows = [(1,)]

        return Result()

    def command(self, *_: Any, **__: Any) -> None:
        self._call()

    def raw_stream(self, *_: Any, **__: Any) -> Answer:
        self._call()
        return Answer([b"a,b\n", b"1,2\n", b"3,4\n"], self.closed)

    def ping(self) -> bool:
        return self.fails is None

    def close(self) -> None:
        pass


DOWN = OperationalError("HTTPDriver for http://127.0.0.1:8123 received an error: "
                        "Connection refused")
BAD_SQL = DatabaseError("Code: 62. DB::Exception: Syntax error")


def _store(clock: Clock) -> tuple[HttpStore, Client, Breaker]:
    client = Client()
    breaker = Breaker("clickhouse", failures=3, reset_after=5, clock=clock, counts=outage)
    return HttpStore("http://127.0.0.1:1", "db", client=client, breaker=breaker), client, breaker


def _down(store: HttpStore, times: int) -> None:
    for _ in range(times):
        with pytest.raises(StoreUnavailable):
            store.query("SELECT 1")


def test_outages_open_it_and_refused_queries_do_not(tmp_path: Path) -> None:
    clock = Clock()
    store, client, breaker = _store(clock)
    client.fails = DOWN
    _down(store, 2)
    client.fails = BAD_SQL  # the server answered: up, whatever it said
    for _ in range(5):
        with pytest.raises(StoreError) as refused:
            store.query("SELEC 1")
        assert not isinstance(refused.value, StoreUnavailable) and refused.value.code == 62
    assert breaker.state().consecutive_failures == 0 and not breaker.is_open
    client.fails = DOWN
    _down(store, 3)
    assert breaker.state().state == "open"

    segment = tmp_path / "segment.jsonl"
    segment.write_bytes(b"{}\n")
    calls = client.calls
    refusals: list[StoreUnavailable] = []
    for call in (lambda: store.query("SELECT 1"), lambda: store.command("SELECT 1"),
                 lambda: store.ingest_segment(segment, "t"),
                 lambda: store.insert_lines("events", ["a"], b"{}\n", {}),
                 lambda: list(store.stream("SELECT 1"))):
        with pytest.raises(StoreUnavailable) as caught:
            call()
        refusals.append(caught.value)
    assert client.calls == calls  # none reached the server
    for refusal in refusals:
        assert "circuit breaker open, next try in 5 s" in str(refusal)
        assert "Connection refused" in str(refusal)
        cause = refusal_in(refusal)
        assert cause is not None and cause.retry_after == 5
    assert store.ping() is False and client.calls == calls  # the health check is not guarded


def test_after_reset_the_next_call_is_the_trial(tmp_path: Path) -> None:
    clock = Clock()
    store, client, breaker = _store(clock)
    client.fails = DOWN
    _down(store, 3)
    clock.now += 5
    _down(store, 1)  # the trial, still down: open for another 5 s
    assert breaker.state().state == "open" and breaker.state().retry_in_seconds == 5
    client.fails = None  # the server is back
    calls = client.calls
    _down(store, 1)
    assert client.calls == calls
    clock.now += 5
    segment = tmp_path / "segment.jsonl"
    segment.write_bytes(b"{}\n")
    store.ingest_segment(segment, "t")  # the writer's retry is the trial: closed again
    assert breaker.state().state == "closed" and breaker.state().opened_total == 1
    assert store.query("SELECT 1").rows == [[1]]


def test_a_stream_is_guarded_from_its_first_read_and_may_stop_early() -> None:
    clock = Clock()
    store, client, breaker = _store(clock)
    stream: Iterator[bytes] = store.stream("SELECT 1")
    assert client.calls == 0  # nothing asked before the first read
    assert next(stream) == b"a,b\n"
    stream.close()  # the reader stopped (a client went away mid-export)
    assert client.closed == ["answer"] and breaker.state().consecutive_failures == 0
    client.fails = DOWN
    for _ in range(3):
        with pytest.raises(StoreUnavailable):
            list(store.stream("SELECT 1"))
    assert breaker.is_open
    clock.now += 5
    client.fails = None
    assert b"".join(store.stream("SELECT 1")) == b"a,b\n1,2\n3,4\n"
    assert not breaker.is_open


def test_without_a_breaker_nothing_changes() -> None:
    client = Client()
    store = HttpStore("http://127.0.0.1:1", "db", client=client)
    client.fails = DOWN
    for _ in range(10):
        with pytest.raises(StoreUnavailable) as caught:
            store.query("SELECT 1")
        assert "not tried" not in str(caught.value)
    assert client.calls == 10
