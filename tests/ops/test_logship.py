"""Log records into the ClickHouse ``logs`` table: the request's fields, scrubbing of IPs
and secrets (in the table and on the terminal), and failures that never reach the caller."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from liveinsight.ops.logship import LogQueue, LogSink, fingerprint
from tests.conftest import make_client, make_site, svc_of

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _logs(client: Any, where: str = "1") -> list[dict[str, Any]]:
    svc = svc_of(client)
    assert svc.logs is not None and svc.logs.flush(30)
    return svc.store.query(f"SELECT * FROM {svc.store.database}.logs WHERE {where} "
                           "ORDER BY timestamp").dicts()


def test_requests_and_records_reach_the_table_with_their_fields(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with make_client(tmp_path, log_format="json") as client:
        site = make_site(client, "a.example")
        svc = svc_of(client)
        key, _ = svc.meta.create_api_key("reader", ["stats"])
        r = client.get("/api/stats/aggregate", params={"site_id": "a.example"},
                       headers={"authorization": f"Bearer {key}", "x-request-id": "req-42",
                                "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
        assert r.status_code == 200
        assert client.post("/api/event", json={"n": "pageview", "d": "a.example",
                                               "u": "https://a.example/"},
                           headers={"user-agent": UA}).status_code == 202
        assert client.get("/no/such/10.1.2.3").status_code == 404
        assert client.get("/health").status_code == 200

        rows = _logs(client, "logger = 'liveinsight.access'")
        by_route = {r["route"]: r for r in rows}
        stats = by_route["/api/stats/aggregate"]
        assert stats["request_id"] == "req-42" and stats["trace_id"] == TRACE
        assert stats["method"] == "GET" and stats["status"] == 200
        assert stats["duration_ms"] > 0 and stats["site_id"] == site.id
        assert stats["node"] == svc.node_id and stats["level"] == "info"
        assert stats["message"] == "GET /api/stats/aggregate 200"
        assert "/api/event" not in by_route  # an accepted event: counted, not logged
        assert "/health" not in by_route  # a probe: counted, not logged
        assert by_route["unmatched"]["status"] == 404
        assert "10.1.2.3" not in str(rows)

    err = capsys.readouterr().err
    assert '"request_id": "req-42"' in err and "10.1.2.3" not in err


def test_no_raw_ip_or_secret_is_kept(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with make_client(tmp_path, log_format="json") as client:
        logging.getLogger("liveinsight.test").warning(
            "visitor 198.51.100.7 / 2001:db8::8a2e:370:7334 sent Authorization: Bearer abc.def "
            "and key li_ab12cd_s3cr3tvalue to https://user:hunter2@db.example/?password=pw1",
            extra={"api_token": "tok-123", "client": "203.0.113.9"})
        logging.getLogger("liveinsight.test").error(
            "failed", exc_info=ValueError("connect to 192.0.2.55 refused"))
        rows = _logs(client, "logger = 'liveinsight.test'")
    kept = str(rows) + capsys.readouterr().err
    for secret in ("198.51.100.7", "2001:db8::8a2e", "abc.def", "s3cr3tvalue", "hunter2",
                   "pw1", "tok-123", "203.0.113.9", "192.0.2.55"):
        assert secret not in kept, secret
    by_level = {r["level"]: r for r in rows}
    assert set(by_level) == {"warning", "error"}
    warning = by_level["warning"]
    assert "[ip]" in warning["message"] and "Bearer [redacted]" in warning["message"]
    assert warning["fields"]["api_token"] == "[redacted]"
    assert "ValueError" in by_level["error"]["exception"]


def test_a_failing_record_or_a_full_queue_never_reaches_the_caller() -> None:
    drops: list[tuple[str, int]] = []
    queue = LogQueue(2, lambda reason, n: drops.append((reason, n)))
    sink = LogSink(queue, "info", 7)

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot print me")

    sink({"event": Unprintable(), "level": "info"})  # cannot be a row: dropped, not raised
    for text in ("one", "two", "three"):  # the queue holds two
        sink({"event": text, "level": "info"})
    debug = logging.LogRecord("x", logging.DEBUG, "f", 1, "below the level", None, None)
    sink({"event": "below the level", "_record": debug})
    assert drops == [("error", 1), ("queue_full", 1)]
    assert len(queue) == 2


def test_fingerprints_group_records_of_one_kind() -> None:
    a = fingerprint("liveinsight.writer", "warning",
                    "writer: store insert failed (3 in a row): timeout after 5.0 s", "")
    b = fingerprint("liveinsight.writer", "warning",
                    "writer: store insert failed (10 in a row): timeout after 2.5 s", "")
    c = fingerprint("liveinsight.writer", "error",
                    "writer: store insert failed (3 in a row): timeout after 5.0 s", "")
    d = fingerprint("liveinsight.query", "error", "query failed: 'abc'",
                    "Traceback ...\nValueError: x")
    e = fingerprint("liveinsight.query", "error", "query failed: 'xyz'",
                    "Traceback ...\nValueError: y")
    assert a == b and a != c and d == e and len(a) == 16
