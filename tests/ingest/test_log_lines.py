"""Log lines: rows leave their default-valued fields out, keep their kind first, and read
back the same from lines of either version (full lines from before ``omit_defaults``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from liveinsight.ingest.sessions import SESSION_KIND, logged_sessions
from liveinsight.ingest.wal import frame, logged_lines
from liveinsight.types import EventRow, SessionRow
from tests.full_lines import FULL_EVENT, FULL_SESSION

_ENC = msgspec.json.Encoder()


def test_a_row_at_its_defaults_is_its_kind_and_required_fields() -> None:
    event = msgspec.json.decode(FULL_EVENT, type=EventRow)
    bare = msgspec.structs.replace(event, channel="Direct", revenue="0", country_code="")
    assert _ENC.encode(bare) == (
        b'{"_k":"e","timestamp":"2026-11-20 10:00:00.000","site_id":1,"name":"pageview",'
        b'"visitor_id":7,"session_id":8,"hostname":"example.com","pathname":"/a",'
        b'"retention_days":30}')
    assert _ENC.encode(msgspec.structs.replace(bare, props={"a": "b"}, scroll_depth=5)
                       ).endswith(b'"props":{"a":"b"},"scroll_depth":5,"retention_days":30}')
    assert _ENC.encode(msgspec.json.decode(FULL_SESSION, type=SessionRow)).startswith(
        b'{"_k":"s","site_id":1,')


def test_full_and_short_lines_decode_to_equal_rows() -> None:
    for line, kind in ((FULL_EVENT, EventRow), (FULL_SESSION, SessionRow)):
        row = msgspec.json.decode(line, type=kind)
        short = _ENC.encode(row)
        assert len(short) < len(line) * 0.7
        assert msgspec.json.decode(short, type=kind) == row
        assert msgspec.json.decode(short, type=EventRow | SessionRow) == row


def test_sessions_are_warmed_from_segments_of_either_line_format(tmp_path: Path) -> None:
    new = msgspec.structs.replace(msgspec.json.decode(FULL_SESSION, type=SessionRow),
                                  session_id=9, country_code="", channel="Direct")
    (tmp_path / "00000001.wal").write_bytes(frame(FULL_EVENT + FULL_SESSION))
    (tmp_path / "00000002.wal").write_bytes(frame(_ENC.encode(new) + b"\n"))
    now = datetime(2026, 11, 20, 10, 10, tzinfo=UTC)
    logged = logged_lines(tmp_path, SESSION_KIND)
    sessions = {s.state.session_id: s.state
                for s in logged_sessions(logged, now, timedelta(minutes=30))}
    assert sessions.keys() == {8, 9}
    assert (sessions[8].channel, sessions[8].country_code, sessions[8].pageviews) == (
        "Direct", "DE", 2)
    assert sessions[9] == new
