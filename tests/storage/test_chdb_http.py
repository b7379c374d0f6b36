"""The ClickHouse HTTP interface emulator's own promises (``tests/chdb_http.py``): how it reads
a request, and what clickhouse-connect gets from it beyond what ``HttpStore`` uses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from clickhouse_connect.driver.client import Client

from tests.chdb_http import split_request, with_data, without_defaults
from tests.conftest import CLICKHOUSE_URL


def test_the_sql_is_the_query_parameter_then_the_body() -> None:
    assert split_request("", b"SELECT 1\n FORMAT Native") == ("SELECT 1\n FORMAT Native", None)
    assert split_request("SELECT", b"1") == ("SELECT\n1", None)


def test_an_insert_takes_what_follows_its_format_as_data() -> None:
    sql = "INSERT INTO t SELECT a FROM input('a UInt8') FORMAT JSONEachRow"
    assert split_request(sql, b'{"a":1}\n') == (sql, b'{"a":1}\n')
    assert split_request("", b"INSERT INTO t (a) FORMAT CSV\n1\n2\n") == (
        "INSERT INTO t (a) FORMAT CSV", b"1\n2\n")
    assert split_request("", b"INSERT INTO t VALUES (1)") == ("INSERT INTO t VALUES (1)", None)


def test_input_is_read_from_a_file_without_the_structure_defaults(tmp_path: Path) -> None:
    structure = r"'a String DEFAULT \'x,y\', m Map(String, String), t DateTime64(3, \'UTC\')'"
    assert without_defaults(structure) == (
        r"'a String, m Map(String, String), t DateTime64(3, \'UTC\')'")
    sql = with_data(f"INSERT INTO t SELECT * FROM input({structure}) FORMAT CSV", b"1\n",
                    tmp_path / "d")
    assert sql == (f"INSERT INTO t SELECT * FROM file('{tmp_path / 'd'}', 'CSV', "
                   r"'a String, m Map(String, String), t DateTime64(3, \'UTC\')') ")
    assert (tmp_path / "d").read_bytes() == b"1\n"


@pytest.fixture
def emulated(clickhouse_url: str) -> Iterator[Client]:
    if CLICKHOUSE_URL:
        pytest.skip("LIVEINSIGHT_TEST_CLICKHOUSE_URL is set: a real server, not the emulator")
    import clickhouse_connect

    parts = urlsplit(clickhouse_url)
    client = clickhouse_connect.get_client(
        host=parts.hostname, port=parts.port, username=unquote(parts.username or ""),
        password=unquote(parts.password or ""), autogenerate_session_id=False)
    database = f"e_{uuid.uuid4().hex[:10]}"
    client.command(f"CREATE DATABASE {database}")
    client.database = database
    yield client
    client.command(f"DROP DATABASE {database}")
    client.close()


def test_client_inserts_compressed_and_raw(emulated: Client) -> None:
    emulated.command("CREATE TABLE t (a UInt32, b LowCardinality(String), m Map(String, String))"
                     " ENGINE = MergeTree ORDER BY a")
    assert getattr(emulated, "write_compression", None) == "lz4"  # the Native body is lz4
    rows = [[1, "x", {"k": "v"}], [2, "y", {}]]
    summary = emulated.insert("t", rows, column_names=["a", "b", "m"])
    assert summary.written_rows == 2
    emulated.raw_insert("t", ["a", "b"], b'{"a":3,"b":"z"}\n', fmt="JSONEachRow")
    assert emulated.query("SELECT * FROM t ORDER BY a").result_rows == [
        (1, "x", {"k": "v"}), (2, "y", {}), (3, "z", {})]


def test_errors_carry_the_clickhouse_code(emulated: Client) -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    with pytest.raises(DatabaseError, match="UNKNOWN_TABLE") as caught:
        emulated.query("SELECT * FROM no_such_table")
    assert caught.value.code == 60


def test_the_server_timezone_is_not_utc(emulated: Client) -> None:
    assert str(emulated.server_tz) == "America/New_York"
    assert emulated.command("SELECT timezone()") == "America/New_York"


def test_a_server_exception_mid_stream_is_a_query_error_not_an_outage() -> None:
    """A time limit reached after the first blocks were streamed arrives as clickhouse-connect's
    StreamFailureError carrying the server's code: the runner must see a failed query (400
    for a time limit), not an unavailable store (503)."""
    from clickhouse_connect.driver.exceptions import StreamFailureError

    from liveinsight.storage.http import HttpStore
    from liveinsight.storage.protocol import StoreError, StoreUnavailable

    class FailingClient:
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def query(self, *args: object, **kwargs: object) -> None:
            raise self.exc

    store = HttpStore("http://127.0.0.1:1", "db", client=FailingClient(StreamFailureError(
        "DB::Exception: Timeout exceeded: elapsed 10.1 seconds (TIMEOUT_EXCEEDED)", code=159)))
    with pytest.raises(StoreError) as failed:
        store.query("SELECT 1", timeout=10)
    assert not isinstance(failed.value, StoreUnavailable)
    assert "Code: 159." in str(failed.value)
    store = HttpStore("http://127.0.0.1:1", "db", client=FailingClient(StreamFailureError(
        "Stream ended unexpectedly (connection closed by server)")))
    with pytest.raises(StoreUnavailable):
        store.query("SELECT 1")
