"""The embedded store's connections: a pool bounded however many threads come and go.

Each chDB connection left open costs the engine memory (about 1 MB of its tracked memory);
one connection per thread, kept until the store closed, grew a server whose worker threads
come and go (AnyIO stops idle ones after 10 s, the answer cache refreshes on a new thread)
for as long as it ran (issue 17's soak).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from liveinsight.storage import StoreUnavailable
from liveinsight.storage.embedded import IDLE_CONNECTIONS, EmbeddedStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    opened = EmbeddedStore(tmp_path / "chdb", "pool")
    yield opened
    opened.close()


def _tracked_memory(store: EmbeddedStore) -> int:
    return int(store.query(
        "SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'").scalar())


def _in_a_new_thread(store: EmbeddedStore, answers: list[int], n: int) -> None:
    def run() -> None:
        answers.append(int(store.query("SELECT {n:UInt32} * 2", {"n": n}).scalar()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def test_threads_that_come_and_go_share_a_bounded_set_of_connections(
        store: EmbeddedStore) -> None:
    answers: list[int] = []
    _in_a_new_thread(store, answers, 0)
    before = _tracked_memory(store)
    for n in range(1, 201):
        _in_a_new_thread(store, answers, n)
    assert answers == [2 * n for n in range(201)]
    assert store.connections <= IDLE_CONNECTIONS
    # one connection per thread kept the engine's tracked memory growing by ~1 MB a thread
    # (230 MB here); the pool's stays where it was, give or take the engine's own caches
    assert _tracked_memory(store) - before < 40 * 2**20


def test_queries_at_once_each_have_a_connection_and_only_the_cap_stays_idle(
        store: EmbeddedStore) -> None:
    many = 3 * IDLE_CONNECTIONS
    start = threading.Barrier(many)
    answers: dict[int, int] = {}

    def run(n: int) -> None:
        start.wait()
        answers[n] = int(store.query("SELECT {n:UInt32} + sleep(0.3) * 0", {"n": n}).scalar())

    threads = [threading.Thread(target=run, args=(n,)) for n in range(many)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {n: n for n in range(many)}
    assert 1 <= store.connections <= IDLE_CONNECTIONS


def test_a_query_inside_a_stream_on_the_same_thread_gets_its_own_answer(
        store: EmbeddedStore) -> None:
    pieces = store.stream("SELECT number FROM numbers(300000)", None, "CSV")
    first = next(pieces)
    assert store.query("SELECT 42").scalar() == 42
    rest = b"".join(pieces)
    numbers = (first + rest).decode().split()
    assert numbers[0] == "0" and numbers[-1] == "299999" and len(numbers) == 300_000
    assert store.connections <= IDLE_CONNECTIONS


def test_an_abandoned_stream_gives_its_connection_back(store: EmbeddedStore) -> None:
    for _ in range(3 * IDLE_CONNECTIONS):
        pieces = store.stream("SELECT number FROM numbers(300000)", None, "CSV")
        next(pieces)
        pieces.close()
    assert store.connections <= IDLE_CONNECTIONS
    assert store.query("SELECT 7").scalar() == 7


def test_a_closed_store_holds_no_connection_and_refuses_queries(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "chdb", "pool")
    assert store.query("SELECT 1").scalar() == 1
    store.close()
    assert store.connections == 0
    with pytest.raises(StoreUnavailable):
        store.query("SELECT 1")


def test_close_waits_for_a_running_query_so_another_path_opens_next(tmp_path: Path) -> None:
    """A query still running when the store closes (a background thread's) kept chDB's engine
    on the old path after close returned: the next store, on another path, was refused
    ("EmbeddedServer already initialized with path …"), once in a run of app restarts."""
    store = EmbeddedStore(tmp_path / "old", "pool")
    started = threading.Event()
    answers: list[int] = []

    def slow() -> None:
        started.set()
        answers.append(int(store.query("SELECT 5 + sleep(0.5) * 0").scalar()))

    thread = threading.Thread(target=slow)
    thread.start()
    started.wait()
    time.sleep(0.1)  # the query is running
    store.close()
    assert store.connections == 0
    nxt = EmbeddedStore(tmp_path / "new", "pool")
    try:
        assert nxt.query("SELECT 1").scalar() == 1
    finally:
        nxt.close()
        thread.join()
    assert answers == [5]
