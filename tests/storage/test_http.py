"""The HTTP transport's error mapping (``storage/http.py``): a server that refuses a statement
is a ``StoreError`` with its code (the caller's fault: not retried), a server that cannot be
reached, goes away or breaks off an answer is ``StoreUnavailable`` (retried later: the writer
keeps its segment, readiness reports it). Refusals run on the test ClickHouse (a server when
LIVEINSIGHT_TEST_CLICKHOUSE_URL is set, else the HTTP interface emulated over chDB); outages
on the engine owner served in this process, which the test stops or cuts off."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from liveinsight.ingest.wal import frame
from liveinsight.storage.http import HttpStore
from liveinsight.storage.protocol import StoreError, StoreUnavailable
from liveinsight.storage.schema import LOG_TARGETS
from tests.conftest import CLICKHOUSE_ID
from tests.storage.inprocess import CuttingProxy, Owner, serving_owner
from tests.support import free_port

TABLE = "CREATE TABLE `{db}`.t (a UInt8, s String DEFAULT 'x') ENGINE = MergeTree ORDER BY a"
BIG = "SELECT number, repeat('x', 50) FROM numbers(200000)"


@pytest.fixture
def store(clickhouse_url: str) -> Iterator[HttpStore]:
    opened = HttpStore(clickhouse_url, f"h_{uuid.uuid4().hex[:10]}")
    opened.command(TABLE.format(db=opened.database))
    try:
        yield opened
    finally:
        opened.command(f"DROP DATABASE IF EXISTS `{opened.database}`")
        opened.close()


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[Owner]:
    with serving_owner(tmp_path, connections=2) as served:
        yield served


def _segment(path: Path, lines: bytes) -> Path:
    path.write_bytes(frame(lines))
    return path


@pytest.mark.parametrize("server", [CLICKHOUSE_ID])
def test_a_refused_statement_is_a_store_error_with_the_servers_code(
        store: HttpStore, server: str) -> None:
    for call in (lambda: store.query("SELECT * FROM no_such_table"),
                 lambda: store.command("INSERT INTO no_such_table VALUES (1)"),
                 lambda: list(store.stream("SELECT * FROM no_such_table"))):
        with pytest.raises(StoreError) as refused:
            call()
        assert not isinstance(refused.value, StoreUnavailable)
        assert refused.value.code == 60  # UNKNOWN_TABLE
        assert "no_such_table" in str(refused.value)


@pytest.mark.parametrize("server", [CLICKHOUSE_ID])
def test_insert_lines_stores_json_lines_and_refuses_bad_ones(store: HttpStore,
                                                            server: str) -> None:
    store.insert_lines("t", ["a", "s"], b'{"a":1,"s":"y"}\n{"a":2}\n', {"insert_deduplicate": 0})
    assert store.query(f"SELECT a, s FROM `{store.database}`.t ORDER BY a").rows == [
        [1, "y"], [2, "x"]]
    with pytest.raises(StoreError) as unknown:
        store.insert_lines("t", ["nope"], b'{"nope":1}\n', {})
    assert unknown.value.code == 16  # NO_SUCH_COLUMN_IN_TABLE
    with pytest.raises(StoreError) as bad:
        store.insert_lines("t", ["a"], b'{"a":"three"}\n', {})
    assert not isinstance(bad.value, StoreUnavailable) and bad.value.code is not None
    assert store.query(f"SELECT count() FROM `{store.database}`.t").scalar() == 2


@pytest.mark.parametrize("server", [CLICKHOUSE_ID])
def test_a_segment_the_server_refuses_is_a_store_error(store: HttpStore, tmp_path: Path,
                                                       server: str) -> None:
    """The writer keeps a segment that is unavailable and sets aside one that is refused:
    bad lines and a missing table must be told apart from an outage."""
    broken = _segment(tmp_path / "broken.wal", b'{"_k":"l","timestamp":"not a time"}\n')
    with pytest.raises(StoreError) as refused:
        store.ingest_segment(broken, "tok-broken", LOG_TARGETS)  # no logs table: not migrated
    assert not isinstance(refused.value, StoreUnavailable)
    assert refused.value.code is not None


def test_an_unreachable_server_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match=r"cannot reach ClickHouse at 127\.0\.0\.1"):
        HttpStore(f"http://u:p@127.0.0.1:{free_port()}", "db")


def test_wrong_credentials_are_refused_not_unavailable(owner: Owner) -> None:
    with pytest.raises(StoreError, match="refused the connection") as refused:
        HttpStore(owner.url.replace("://", "://li:wrong@"), "db")
    assert not isinstance(refused.value, StoreUnavailable)


@pytest.fixture
def proxy(owner: Owner) -> Iterator[CuttingProxy]:
    network = CuttingProxy(owner.port)
    try:
        yield network
    finally:
        network.kill()


def _through(owner: Owner, proxy: CuttingProxy) -> HttpStore:
    return HttpStore(owner.store_url.replace(f":{owner.port}", f":{proxy.port}"), "db")


def test_a_server_gone_away_is_unavailable_to_every_call(owner: Owner, proxy: CuttingProxy,
                                                         tmp_path: Path) -> None:
    store = _through(owner, proxy)
    store.command(TABLE.format(db="db"))
    segment = _segment(tmp_path / "s.wal", b'{"_k":"e","site_id":1}\n')
    assert store.ping()
    proxy.kill()
    calls: dict[str, Callable[[], Any]] = {
        "query": lambda: store.query("SELECT 1"),
        "command": lambda: store.command("SELECT 1"),
        "stream": lambda: list(store.stream("SELECT 1")),
        "ingest_segment": lambda: store.ingest_segment(segment, "tok"),
        "insert_lines": lambda: store.insert_lines("t", ["a"], b'{"a":1}\n', {}),
    }
    for name, call in calls.items():
        try:
            call()
        except StoreUnavailable:
            continue
        pytest.fail(f"{name} did not raise StoreUnavailable")
    assert store.ping() is False
    store.close()


def test_an_answer_broken_off_midway_is_unavailable(owner: Owner, proxy: CuttingProxy) -> None:
    """The connection closed in the middle of an answer (a server killed, a proxy timing
    out): the query did not fail, the store did."""
    store = _through(owner, proxy)
    assert store.query("SELECT count() FROM numbers(10)").scalar() == 10
    proxy.cut_after(100_000)
    with pytest.raises(StoreUnavailable):
        store.query(BIG)
    assert store.query("SELECT 42").scalar() == 42  # a new connection
    proxy.cut_after(100_000)
    pieces: list[bytes] = []
    with pytest.raises(StoreUnavailable, match="broke off"):
        for piece in store.stream(BIG, None, "CSV"):
            pieces.append(piece)
    assert 0 < sum(map(len, pieces)) < 100_000
    assert b"".join(store.stream("SELECT 42", None, "CSV")) == b"42\n"
    store.close()
