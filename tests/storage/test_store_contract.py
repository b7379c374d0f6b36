"""One contract suite for the Store protocol, run against every transport: chDB always, and the
HTTP transport against a ClickHouse server when LIVEINSIGHT_TEST_CLICKHOUSE_URL is set, else
against ClickHouse's HTTP interface emulated over chDB (``tests/chdb_http.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msgspec
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from liveinsight.ingest.wal import frame
from liveinsight.ops import tracing
from liveinsight.storage import Store, StoreError
from liveinsight.storage.migrate import applied_versions, migrate
from liveinsight.storage.protocol import LIMIT_CODES, Code
from liveinsight.storage.schema import MIGRATIONS
from liveinsight.types import EventRow, SessionRow
from tests.conftest import CLICKHOUSE_ID
from tests.full_lines import FULL_EVENT, FULL_SESSION
from tests.support import STORE_KINDS, open_test_store


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_test_store(request, tmp_path / "chdb") as opened:
        yield opened


def _event(i: int, **kw: object) -> EventRow:
    base = dict(timestamp="2026-11-20 10:00:00.000", site_id=1, name="pageview", visitor_id=i,
                session_id=i, hostname="example.com", pathname=f"/p/{i}")
    base.update(kw)
    return EventRow(**base)  # type: ignore[arg-type]


def _session(i: int, sign: int = 1, version: int = 1, pageviews: int = 1) -> SessionRow:
    return SessionRow(site_id=1, session_id=i, visitor_id=i, sign=sign, version=version,
                      start="2026-11-20 10:00:00.000", timestamp="2026-11-20 10:00:00.000",
                      hostname="example.com", entry_page="/", exit_page="/", pageviews=pageviews,
                      events=pageviews, duration=0, is_bounce=int(pageviews <= 1))


def _segment(path: Path, rows: list[msgspec.Struct]) -> Path:
    enc = msgspec.json.Encoder()
    path.write_bytes(frame(b"".join(enc.encode(r) + b"\n" for r in rows)))
    return path


def test_migrations_are_recorded_and_idempotent(store: Store) -> None:
    assert applied_versions(store) == {m.version for m in MIGRATIONS}
    assert migrate(store) == []


@pytest.mark.parametrize("value", [
    "x'); DROP TABLE events; --", "back\\slash \\b", "tab\there", "new\nline", "\\", "",
    "quote\\'s", "unicode ✓ ü",
])
def test_parameters_are_bound_not_formatted(store: Store, value: str) -> None:
    result = store.query("SELECT {v:String} AS v, {n:UInt32} + 1 AS n", {"v": value, "n": 41})
    assert result.dicts() == [{"v": value, "n": 42}]


def test_array_and_regex_parameters(store: Store) -> None:
    values = ["a", "b'c", "d\\e", "tab\t"]
    assert store.query("SELECT {a:Array(String)}", {"a": values}).scalar() == values
    assert store.query("SELECT match('word here', {r:String})", {"r": "\\bhere"}).scalar() == 1


def test_ingest_segment_stores_events_and_sessions(store: Store, tmp_path: Path) -> None:
    rows: list[msgspec.Struct] = []
    for i in range(100):
        rows += [_event(i, props={"plan": "pro"}, revenue="12.5", revenue_currency="EUR"),
                 _session(i)]
    store.ingest_segment(_segment(tmp_path / "a.wal", rows), "tok-a")
    db = store.database
    got = store.query(f"SELECT count(), sum(revenue), any(props['plan']) FROM `{db}`.events")
    assert got.rows[0][0] == 100
    assert float(got.rows[0][1]) == 1250.0
    assert got.rows[0][2] == "pro"
    assert store.query(f"SELECT sum(sign) FROM `{db}`.sessions").scalar() == 100


def test_replaying_a_segment_never_double_counts(store: Store, tmp_path: Path) -> None:
    seg = _segment(tmp_path / "b.wal", [_event(i) for i in range(50)])
    store.ingest_segment(seg, "tok-b")
    store.ingest_segment(seg, "tok-b")
    assert store.query(f"SELECT count() FROM `{store.database}`.events").scalar() == 50
    store.ingest_segment(seg, "tok-c")  # another segment with equal content is new data
    assert store.query(f"SELECT count() FROM `{store.database}`.events").scalar() == 100


def test_identical_rows_in_different_segments_are_both_kept(store: Store, tmp_path: Path) -> None:
    for n in range(3):
        store.ingest_segment(_segment(tmp_path / f"s{n}.wal", [_event(7)]), f"tok-{n}")
    assert store.query(f"SELECT count() FROM `{store.database}`.events").scalar() == 3


def test_collapsing_sessions_read_correctly_before_merges(store: Store, tmp_path: Path) -> None:
    rows = [_session(1), _session(1, sign=-1), _session(1, version=2, pageviews=3)]
    for n, row in enumerate(rows):
        store.ingest_segment(_segment(tmp_path / f"c{n}.wal", [row]), f"c{n}")
    got = store.query(
        f"SELECT sum(sign), sum(sign * pageviews), sum(sign * is_bounce) "
        f"FROM `{store.database}`.sessions"
    )
    assert got.rows == [[1, 3, 0]]


def test_bad_sql_raises_store_error(store: Store) -> None:
    with pytest.raises(StoreError) as info:
        store.query("SELECT (")
    assert info.value.code == 62  # SYNTAX_ERROR: both transports carry the server's code


def test_a_bad_regular_expression_carries_its_code(store: Store) -> None:
    with pytest.raises(StoreError) as info:
        store.query("SELECT match('x', {p:String})", {"p": "("})
    assert info.value.code == Code.CANNOT_COMPILE_REGEXP


def test_time_limit_is_enforced(store: Store) -> None:
    with pytest.raises(StoreError) as info:
        store.query("SELECT count() FROM numbers(100000000000) WHERE sleepEachRow(0)=0 "
                    "OR number % 7 = 3", timeout=0.5)
    assert info.value.code in LIMIT_CODES
    assert store.query("SELECT 42").scalar() == 42  # the connection is usable after it


def test_ping(store: Store) -> None:
    assert store.ping()


@pytest.mark.parametrize("server", [CLICKHOUSE_ID])
def test_a_wrong_password_is_a_store_error_that_says_so(clickhouse_url: str, server: str) -> None:
    from liveinsight.storage.http import HttpStore

    parts = urlsplit(clickhouse_url)
    wrong = parts._replace(netloc=f"{parts.username or 'default'}:wrong-{uuid.uuid4().hex[:6]}"
                                  f"@{parts.hostname}:{parts.port or 8123}")
    with pytest.raises(StoreError, match=r"AUTHENTICATION_FAILED|Authentication failed"):
        HttpStore(urlunsplit(wrong), "t_never")


def _stored(store: Store, table: str) -> list[dict[str, object]]:
    """Every column of every row (``revenue`` as text: each transport has its own Decimal)."""
    columns = "* EXCEPT revenue, toString(revenue) AS revenue" if table == "events" else "*"
    return store.query(f"SELECT {columns} FROM `{store.database}`.{table} "
                       "ORDER BY session_id, timestamp").dicts()


def test_fields_left_out_of_a_line_are_stored_as_the_struct_defaults(
        store: Store, tmp_path: Path) -> None:
    rows: list[msgspec.Struct] = [_event(1), _session(1)]
    lines = _segment(tmp_path / "d.wal", rows).read_bytes()
    assert b'"referrer"' not in lines and b'"channel"' not in lines and b'"props"' not in lines
    store.ingest_segment(tmp_path / "d.wal", "tok-d")
    for row, table in zip(rows, ("events", "sessions"), strict=True):
        got = _stored(store, table)[0]
        for field in msgspec.structs.fields(row):
            if field.required:
                continue
            default = getattr(row, field.name)
            if field.name == "revenue":
                assert float(str(got["revenue"])) == float(default), field.name
            elif isinstance(default, int):
                assert int(str(got[field.name])) == default, field.name
            else:
                assert got[field.name] == default, field.name


def test_a_field_written_as_empty_is_stored_empty_not_as_the_default(
        store: Store, tmp_path: Path) -> None:
    rows: list[msgspec.Struct] = [_event(1, channel=""), _event(2)]
    assert b'"channel":""' in _segment(tmp_path / "e.wal", rows).read_bytes()
    store.ingest_segment(tmp_path / "e.wal", "tok-e")
    assert [row["channel"] for row in _stored(store, "events")] == ["", "Direct"]


def test_segments_of_full_lines_still_ingest_as_the_same_rows(
        store: Store, tmp_path: Path) -> None:
    old = tmp_path / "old.wal"
    old.write_bytes(frame(FULL_EVENT + FULL_SESSION))
    store.ingest_segment(old, "tok-old")
    before = {table: _stored(store, table) for table in ("events", "sessions")}
    assert [len(rows) for rows in before.values()] == [1, 1]
    assert before["events"][0]["channel"] == before["sessions"][0]["channel"] == "Direct"
    assert before["events"][0]["country_code"] == "DE"

    # the same rows, as this version writes them, store identically
    event = msgspec.json.decode(FULL_EVENT, type=EventRow)
    session = msgspec.json.decode(FULL_SESSION, type=SessionRow)
    new = _segment(tmp_path / "new.wal", [event, session])
    assert b'"referrer"' not in new.read_bytes()
    store.command(f"TRUNCATE TABLE `{store.database}`.events")
    store.command(f"TRUNCATE TABLE `{store.database}`.sessions")
    store.ingest_segment(new, "tok-new")
    assert {table: _stored(store, table) for table in ("events", "sessions")} == before


def test_calls_are_spans_of_a_traced_request_only(store: Store) -> None:
    """Inside a recorded span each query and command is a ``store.*`` child span naming the
    transport; outside one (the writer's thread, an untraced request) nothing is made."""
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    tracing.install(tracer)
    try:
        store.query("SELECT 1")
        with tracer.start_as_current_span("request"):
            assert store.query("SELECT {n:UInt8} + 1", {"n": 1}).rows == [[2]]
            store.command("SELECT 1")
            with pytest.raises(StoreError):
                store.query("SELECT no_such_function()")
    finally:
        tracing.uninstall(tracer)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["store.query", "store.command", "store.query",
                                       "request"]
    request = spans[-1]
    transport = "embedded" if type(store).__name__ == "EmbeddedStore" else "http"
    for span in spans[:3]:
        assert span.parent == request.context
        assert span.attributes is not None
        assert span.attributes["db.transport"] == transport
    assert spans[0].attributes is not None
    assert spans[0].attributes["db.statement"] == "SELECT {n:UInt8} + 1"
    assert spans[2].status.status_code is StatusCode.ERROR


def test_python_values_bind_as_their_clickhouse_types(store: Store) -> None:
    """Booleans, floats, sequences and aware datetimes (the instant, in UTC) bind the same on
    both transports."""
    moment = datetime(2026, 3, 29, 1, 30, 15, 250000, tzinfo=timezone(timedelta(hours=2)))
    got = store.query(
        "SELECT {b:Bool} AS b, {f:Float64} * 2 AS f,"
        " toString({t:DateTime64(3, 'UTC')}) AS t, {ids:Array(UInt32)} AS ids,"
        " {names:Array(String)} AS names",
        {"b": True, "f": 1.25, "t": moment, "ids": [1, 2], "names": ["a\tb", "it's", "c\\d"]})
    assert got.dicts() == [{"b": True, "f": 2.5, "t": "2026-03-28 23:30:15.250",
                            "ids": [1, 2], "names": ["a\tb", "it's", "c\\d"]}]
    assert store.query("SELECT {b:Bool}", {"b": False}).scalar() is False
