"""``Store.stream``: an answer a block at a time, on chDB and over the HTTP transport."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liveinsight.storage import Store, StoreError
from tests.support import STORE_KINDS, open_test_store


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_test_store(request, tmp_path / "chdb") as opened:
        yield opened


def test_streams_the_whole_answer_in_pieces_with_bound_parameters(store: Store) -> None:
    sql = ("SELECT number, concat({p:String}, toString(number)) AS s"
           " FROM numbers({n:UInt64}) ORDER BY number")
    pieces = list(store.stream(sql, {"p": "a'b\\c", "n": 300_000}, "CSV"))
    text = b"".join(pieces).decode()
    lines = text.splitlines()
    assert len(lines) == 300_000
    assert lines[0] == '0,"a\'b\\c0"' and lines[-1] == '299999,"a\'b\\c299999"'
    assert len(pieces) > 1  # not one buffer
    named = b"".join(store.stream("SELECT 1 AS x", None, "CSVWithNames"))
    assert named == b'"x"\n1\n'


def test_a_bad_query_raises_the_stores_error(store: Store) -> None:
    with pytest.raises(StoreError) as raised:
        list(store.stream("SELECT nope FROM numbers(1)", None, "CSV"))
    assert raised.value.code == 47  # UNKNOWN_IDENTIFIER


def test_a_query_failing_after_its_first_blocks_raises_the_stores_error(store: Store) -> None:
    late = "SELECT throwIf(number = 250000, 'late') AS x FROM numbers(300000)"
    with pytest.raises(StoreError) as raised:
        list(store.stream(late, None, "CSV"))
    assert raised.value.code == 395  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
    assert store.query("SELECT 42").scalar() == 42


def test_closing_a_stream_early_leaves_the_store_usable(store: Store) -> None:
    answer = store.stream("SELECT number FROM numbers(2000000)", None, "CSV")
    assert next(answer).startswith(b"0\n1\n2\n")
    answer.close()
    assert store.query("SELECT 42").scalar() == 42
    assert b"".join(store.stream("SELECT {n:UInt8}", {"n": 7}, "CSV")) == b"7\n"
