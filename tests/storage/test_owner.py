"""The engine owner (``storage/owner.py``: what ``serve --workers N`` puts in front of the
chDB directory, and what ``tests/chdb_http.py`` runs as the ClickHouse HTTP emulator), served
in this process on its own data dir with one pooled connection, so that what one request
leaves on the connection would be seen by the next. Requests are raw HTTP (httpx): what a
server promises at the protocol level — credentials, statuses and codes, settings and the
database for one request only, formats and headers, inserts with their data in the body,
compressed and chunked bodies."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import lz4.frame
import pytest

from liveinsight.storage.owner import QueryFailed, with_data
from tests.storage.inprocess import AUTH, PASSWORD, USER, Owner, serving_owner

SLOW = ("SELECT count() FROM numbers(100000000000) WHERE sleepEachRow(0) = 0"
        " OR number % 7 = 3")


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[Owner]:
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "killed-mid-insert.data").write_bytes(b"left by an earlier run")
    with serving_owner(tmp_path) as served:
        yield served


def _code(answer: httpx.Response) -> int:
    return int(answer.headers["X-ClickHouse-Exception-Code"])


def test_a_stale_insert_file_is_removed_when_the_server_is_made(owner: Owner) -> None:
    assert list(owner.scratch.iterdir()) == []


def test_ping_needs_no_credentials_and_every_query_does(owner: Owner) -> None:
    ping = httpx.get(f"{owner.url}/ping")
    assert (ping.status_code, ping.text) == (200, "Ok.\n")
    for refused in (owner.post("SELECT 1", auth=None),
                    owner.post("SELECT 1", auth=(USER, "wrong")),
                    owner.post("SELECT 1", auth=("default", PASSWORD)),
                    httpx.get(owner.url, params={"query": "SELECT 1"})):
        assert refused.status_code == 401
        assert _code(refused) == 516 and "AUTHENTICATION_FAILED" in refused.text
    assert owner.post("SELECT 1").text == "1\n"  # basic auth
    headers = {"X-ClickHouse-User": USER, "X-ClickHouse-Key": PASSWORD}
    assert owner.post("SELECT 2", auth=None, headers=headers).text == "2\n"
    in_url = {"user": USER, "password": PASSWORD}
    assert owner.post("SELECT 3", in_url, auth=None).text == "3\n"
    got = httpx.get(owner.url, params={**in_url, "query": "SELECT 4"})
    assert (got.status_code, got.text) == (200, "4\n")


@pytest.mark.parametrize("value", [
    b"Basic !!not-base64", b"Basic " + base64.b64encode(b"\xff:\xfe")])
def test_a_malformed_authorization_header_is_refused_not_dropped(owner: Owner,
                                                                value: bytes) -> None:
    answer = owner.post("SELECT 1", auth=None, headers={"Authorization": value.decode()})
    assert answer.status_code == 401 and _code(answer) == 516


@pytest.mark.parametrize(("sql", "status", "code"), [
    ("SELECT (", 400, 62),  # SYNTAX_ERROR
    ("SELECT nope", 400, 47),  # UNKNOWN_IDENTIFIER
    ("SELECT * FROM no_such_table", 404, 60),  # UNKNOWN_TABLE
    ("SELECT * FROM no_such_db.t", 404, 81),  # UNKNOWN_DATABASE
    ("SELECT throwIf(1)", 500, 395),  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
])
def test_a_refused_query_has_a_servers_status_code_and_text(
        owner: Owner, sql: str, status: int, code: int) -> None:
    answer = owner.post(sql)
    assert answer.status_code == status
    assert _code(answer) == code
    assert f"Code: {code}." in answer.text
    assert answer.text.endswith(f"(version {owner.engine.version})\n")
    assert owner.rows("SELECT 1") == "1\n"  # the connection goes back to the pool usable


def test_url_settings_apply_to_their_request_only(owner: Owner) -> None:
    sql = "SELECT getSetting('max_block_size')"
    default = owner.rows(sql)
    assert owner.rows(sql, {"max_block_size": "1234"}) == "1234\n"
    assert owner.rows(sql) == default
    # one unknown setting fails the request, as on a server; the one set before it is undone
    failed = owner.post(sql, {"max_block_size": "1234", "no_such_setting": "1"})
    assert (failed.status_code, _code(failed)) == (400, 115)  # UNKNOWN_SETTING
    assert owner.rows(sql) == default
    # text values are quoted; the interface's own parameters are not settings
    assert owner.rows("SELECT getSetting('format_csv_delimiter')",
                      {"format_csv_delimiter": ";", "query_id": "q", "session_id": "s",
                       "wait_end_of_query": "1", "compress": "0"}) == ";\n"


def test_the_database_parameter_is_used_for_its_request_only(owner: Owner) -> None:
    owner.rows("CREATE DATABASE d1")
    assert owner.rows("SELECT currentDatabase()", {"database": "d1"}) == "d1\n"
    assert owner.rows("SELECT currentDatabase()") == "default\n"
    unknown = owner.post("SELECT 1", {"database": "nope"})
    assert (unknown.status_code, _code(unknown)) == (404, 81)
    assert owner.rows("SELECT currentDatabase()") == "default\n"


def test_the_answer_is_in_the_querys_format_with_a_servers_headers(owner: Owner) -> None:
    answer = owner.post("SELECT toUInt8(number) AS n FROM numbers(3) FORMAT JSONCompact",
                        {"query_id": "q-1"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert answer.headers["X-ClickHouse-Format"] == "JSONCompact"
    assert answer.headers["X-ClickHouse-Query-Id"] == "q-1"
    assert answer.headers["X-ClickHouse-Timezone"] == owner.engine.timezone
    assert answer.json()["data"] == [[0], [1], [2]]
    summary = json.loads(answer.headers["X-ClickHouse-Summary"])
    assert summary["read_rows"] == "3" and int(summary["elapsed_ns"]) > 0
    named = owner.post("SELECT 1 AS n", {"default_format": "CSVWithNames"})
    assert (named.headers["X-ClickHouse-Format"], named.text) == ("CSVWithNames", '"n"\n1\n')
    assert named.headers["Content-Type"] == "text/plain; charset=UTF-8"
    plain = owner.post("SELECT 'a\tb' AS s")  # TabSeparated when nothing names a format
    assert (plain.headers["X-ClickHouse-Format"], plain.text) == ("TabSeparated", "a\\tb\n")
    native = owner.post("SELECT 1 FORMAT Native")
    assert native.headers["Content-Type"] == "application/octet-stream"
    assert owner.rows("SELECT {v:String}, {n:UInt8} + 1",
                      {"param_v": "it's", "param_n": "41"}) == "it\\'s\t42\n"


def test_an_inserts_data_comes_in_the_body_and_leaves_no_file(owner: Owner) -> None:
    owner.rows("CREATE TABLE t (a UInt8, s String DEFAULT 'x') ENGINE = MergeTree ORDER BY a")
    # the SQL and the data in the body, the SQL ending at the line naming the format
    owner.rows("INSERT INTO t (a) FORMAT CSV\n1\n2\n")
    # the SQL in the URL, the body all data; input()'s DEFAULT is parsed, not applied
    owner.rows('{"a":3}\n', {"query": "INSERT INTO t SELECT a, s"
                                      " FROM input('a UInt8, s String DEFAULT \\'y\\'')"
                                      " FORMAT JSONEachRow"})
    # any query id a client sends, a slash included
    answer = owner.post('{"a":4,"s":"z"}\n',
                        {"query": "INSERT INTO t FORMAT JSONEachRow", "query_id": "batch/7"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-ClickHouse-Query-Id"] == "batch/7"
    assert json.loads(answer.headers["X-ClickHouse-Summary"])["written_rows"] == "1"
    assert owner.rows("SELECT a, s FROM t ORDER BY a") == "1\tx\n2\tx\n3\t\n4\tz\n"
    refused = owner.post("INSERT INTO no_such_table FORMAT CSV\n1\n")
    assert (refused.status_code, _code(refused)) == (404, 60)
    assert list(owner.scratch.iterdir()) == []


def test_an_insert_with_data_needs_its_format_named(tmp_path: Path) -> None:
    with pytest.raises(QueryFailed, match=r"Code: 62\..*FORMAT"):
        with_data("INSERT INTO t VALUES", b"(1)", tmp_path / "d")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(("encoding", "encode"), [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("lz4", lz4.frame.compress),
    ("identity", lambda body: body),
])
def test_compressed_request_bodies_are_read(owner: Owner, encoding: str,
                                            encode: Callable[[bytes], bytes]) -> None:
    answer = owner.post(encode(b"SELECT 40 + 2"), headers={"Content-Encoding": encoding})
    assert (answer.status_code, answer.text) == (200, "42\n")


def test_a_body_it_cannot_decode_is_refused_with_a_code(owner: Owner) -> None:
    unknown = owner.post(b"SELECT 1", headers={"Content-Encoding": "br"})
    assert (unknown.status_code, _code(unknown)) == (400, 36)
    for encoding in ("gzip", "deflate", "lz4"):
        broken = owner.post(b"not compressed at all", headers={"Content-Encoding": encoding})
        assert broken.status_code == 500 and _code(broken) == 271, encoding  # CANNOT_DECOMPRESS
    assert owner.rows("SELECT 1") == "1\n"


def test_a_chunked_body_is_read_whole(owner: Owner) -> None:
    def parts() -> Iterator[bytes]:
        yield b"SELECT "
        yield b"40 "
        yield b"+ 2"

    answer = httpx.post(owner.url, content=parts(), auth=AUTH)
    assert answer.request.headers["Transfer-Encoding"] == "chunked"
    assert (answer.status_code, answer.text) == (200, "42\n")


def test_multipart_requests_are_refused(owner: Owner) -> None:
    answer = owner.post("SELECT 1", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert _code(answer) == 48 and "NOT_IMPLEMENTED" in answer.text


def test_a_query_stopped_by_its_time_limit_leaves_its_connection_clean(owner: Owner) -> None:
    stopped = owner.post(SLOW, {"max_execution_time": "0.5"})
    assert _code(stopped) == 159  # TIMEOUT_EXCEEDED
    for n in range(3):  # the one pooled connection answers with its own result each time
        assert owner.rows(f"SELECT {n}") == f"{n}\n"
