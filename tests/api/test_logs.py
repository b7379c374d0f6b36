"""``/admin/logs/search``, ``/admin/logs/analytics``, ``/admin/logs/export`` over records the
app shipped into its ``logs`` table (chDB)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import login, make_client, make_site, svc_of

LOGGER = "liveinsight.test.logs"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with make_client(tmp_path) as client:
        make_site(client, "a.example")
        key, _ = svc_of(client).meta.create_api_key("root", ["admin", "stats"])
        auth = {"authorization": f"Bearer {key}"}
        log = logging.getLogger(LOGGER)
        for order in (17, 4242, 99):
            log.error("checkout failed for order %d", order, extra={"kind": "gift"})
        log.error("payment provider 'acme' timed out")
        log.warning("slow checkout: %d ms", 812)
        logging.getLogger(LOGGER + ".sub").info("cart viewed", extra={"kind": "plain"})
        assert client.get("/api/stats/aggregate", params={"site_id": "a.example"},
                          headers={**auth, "x-request-id": "find-me"}).status_code == 200
        svc = svc_of(client)
        assert svc.logs is not None and svc.logs.flush(30)
        yield client, auth


def _search(client: TestClient, auth: dict[str, str], **params: Any) -> Any:
    r = client.get("/admin/logs/search", params=params, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_search_filters_and_pages(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    body = _search(client, auth, logger=LOGGER + "*")
    assert body["total"] == 6
    assert [r["message"] for r in body["records"]][-1] == "checkout failed for order 17"
    errors = _search(client, auth, logger=LOGGER, level="error")
    assert errors["total"] == 4 and {r["level"] for r in errors["records"]} == {"error"}
    assert _search(client, auth, logger=LOGGER, level="warning")["total"] == 5
    assert _search(client, auth, text="CHECKOUT", logger=LOGGER + "*")["total"] == 4
    gifts = _search(client, auth, field="kind:gift")
    assert gifts["total"] == 3 and all(r["fields"]["kind"] == "gift" for r in gifts["records"])
    request = _search(client, auth, request_id="find-me")
    assert request["total"] == 1
    row = request["records"][0]
    assert row["route"] == "/api/stats/aggregate" and row["status"] == 200

    first = _search(client, auth, logger=LOGGER + "*", limit=4)
    assert len(first["records"]) == 4 and first["next_offset"] == 4
    second = _search(client, auth, logger=LOGGER + "*", limit=4, offset=4)
    assert len(second["records"]) == 2 and second["next_offset"] is None
    seen = [r["message"] for r in first["records"] + second["records"]]
    assert len(set(seen)) == 6

    later = datetime.now(UTC) + timedelta(hours=2)
    assert _search(client, auth, logger=LOGGER + "*", since=later.isoformat(),
                   until=(later + timedelta(hours=1)).isoformat())["total"] == 0


def test_analytics_groups_errors_by_fingerprint(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    r = client.get("/admin/logs/analytics", params={"logger": LOGGER + "*"}, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["step_seconds"] == 60
    assert sum(p["count"] for p in body["timeline"]) == 6
    assert {p["level"] for p in body["timeline"]} == {"error", "warning", "info"}
    top = body["top_errors"]
    assert [(e["count"], e["logger"]) for e in top] == [(3, LOGGER), (1, LOGGER)]
    assert top[0]["message"].startswith("checkout failed for order")

    r = client.get("/admin/logs/analytics", params={"logger": "liveinsight.access"},
                   headers=auth)
    body = r.json()
    route = next(x for x in body["routes"] if x["route"] == "/api/stats/aggregate")
    assert route["method"] == "GET" and route["requests"] >= 1 and route["errors_5xx"] == 0
    assert body["statuses"]["200"] >= 1


def test_export_ndjson_and_csv(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    r = client.post("/admin/logs/export", json={"logger": LOGGER + "*", "level": "warning"},
                    headers=auth)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["x-log-records"] == "5"
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 5 and lines[0]["message"] == "checkout failed for order 17"

    r = client.post("/admin/logs/export", json={"logger": LOGGER + "*", "format": "csv",
                                                "limit": 2}, headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:4] == ["timestamp", "level", "logger", "message"]
    assert len(rows) == 3 and rows[1][3] == "checkout failed for order 17"
    assert json.loads(rows[1][-1]) == {"kind": "gift"}


@pytest.mark.parametrize(("params", "field"), [
    ({"since": "2026-01-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "since"),
    ({"since": "yesterday"}, "since"),
    ({"text": "x" * 201}, "text"),
    ({"level": "loud"}, "level"),
    ({"limit": 501}, "limit"),
    ({"offset": 10_001}, "offset"),
    ({"field": ["a:1", "b:2", "c:3", "d:4", "e:5", "f:6"]}, "field"),
    ({"field": "no-colon"}, "field"),
    ({"logger": "a*b"}, "logger"),
    ({"status": "abc"}, "status"),
    ({"status": "\u00b2"}, "status"),  # a digit to str.isdigit(), not to int(): was a 500
    ({"until": "0001-01-01T00:00:00Z"}, "until"),  # the hour before it: was an OverflowError
])
def test_search_refuses_what_is_too_large_or_wrong(
        app: tuple[TestClient, dict[str, str]], params: dict[str, Any], field: str) -> None:
    client, auth = app
    r = client.get("/admin/logs/search", params=params, headers=auth)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


def test_export_refuses_bad_input(app: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = app
    for body, field in (({"format": "xml"}, "format"), ({"limit": 100_001}, "limit"),
                        ({"level": ["error"]}, "level"), ({"since": "never"}, "since")):
        r = client.post("/admin/logs/export", json=body, headers=auth)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


def test_logs_are_for_instance_admins(app: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = app
    assert client.get("/admin/logs/search").status_code == 401
    key, _ = svc_of(client).meta.create_api_key("reader", ["stats"])
    other = {"authorization": f"Bearer {key}"}
    assert client.get("/admin/logs/search", headers=other).status_code == 403
    assert client.post("/admin/logs/export", json={}, headers=other).status_code == 403


def test_the_logs_page_searches_and_shows_top_errors(
        app: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = app
    meta = svc_of(client).meta
    meta.create_user("root@example.com", "Quartz-Lantern-Orbit-91", role="admin")
    meta.create_user("viewer@example.com", "Maple-Harbor-Violet-38", role="viewer")
    assert client.get("/logs", follow_redirects=False).status_code == 303
    assert login(client, "viewer@example.com", "Maple-Harbor-Violet-38").status_code == 303
    assert client.get("/logs").status_code == 403
    client.cookies.clear()
    assert login(client, "root@example.com", "Quartz-Lantern-Orbit-91").status_code == 303
    r = client.get("/logs", params={"logger": LOGGER + "*", "level": "error"})
    assert r.status_code == 200
    assert "4 records" in r.text and "checkout failed for order 4242" in r.text
    assert "Most frequent errors" in r.text and "payment provider" in r.text
    r = client.get("/logs", params={"since": "last week"})
    assert r.status_code == 400 and "since must be an ISO 8601 time" in r.text
