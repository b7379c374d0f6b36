"""Realtime: the snapshot's numbers, and the SSE stream pushing an event sent to the collector
(the live feed at once, the numbers once the writer has stored it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import orjson
from fastapi.testclient import TestClient

from tests.conftest import fixed_clock, make_client, make_site, svc_of
from tests.query.rows import ingest, visit

NOW = datetime(2026, 11, 20, 12, 30, 40, tzinfo=UTC)
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0 Safari/537.36")


def test_snapshot(tmp_path: Path) -> None:
    with make_client(tmp_path, clock=fixed_clock(NOW)) as client:
        site = make_site(client, "example.com", timezone="Europe/Berlin")
        svc = svc_of(client)
        ingest(svc.store, tmp_path / "seg", [
            visit(site.id, 1, [("2026-11-20T12:29:00", "pageview", "/"),
                               ("2026-11-20T12:30:10", "pageview", "/a")],
                  referrer_source="Google"),
            visit(site.id, 2, [("2026-11-20T12:27:30", "pageview", "/")]),
            visit(site.id, 3, [("2026-11-20T12:10:00", "pageview", "/old")],
                  referrer_source="Bing"),
            visit(site.id, 4, [("2026-11-20T11:50:00", "pageview", "/older")]),
        ])
        key, _ = svc.meta.create_api_key("stats", ["stats"], [site.id])
        auth = {"authorization": f"Bearer {key}"}
        doc = client.get("/api/realtime?site_id=example.com", headers=auth).json()
        assert doc["visitors"] == 2
        minutes = doc["pageviews_per_minute"]
        assert len(minutes) == 30
        # Local (Berlin) minute labels, oldest first, zeros included.
        assert minutes[0] == {"time": "2026-11-20 13:01:00", "pageviews": 0}
        assert minutes[-1] == {"time": "2026-11-20 13:30:00", "pageviews": 1}
        assert {m["time"]: m["pageviews"] for m in minutes if m["pageviews"]} == {
            "2026-11-20 13:10:00": 1, "2026-11-20 13:27:00": 1, "2026-11-20 13:29:00": 1,
            "2026-11-20 13:30:00": 1}
        assert doc["top_pages"] == [{"page": "/", "visitors": 2}, {"page": "/a", "visitors": 1}]
        assert doc["top_sources"] == [{"source": "Direct / None", "visitors": 1},
                                      {"source": "Google", "visitors": 1}]
        wide = client.get("/api/realtime?site_id=example.com&window=30", headers=auth).json()
        assert {"source": "Bing", "visitors": 1} in wide["top_sources"]
        bad = client.get("/api/realtime?site_id=example.com&window=7", headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "window"
        assert client.get("/api/realtime?site_id=example.com").status_code == 401


def _parse(buffer: bytes) -> list[tuple[str, Any]]:
    out = []
    for block in buffer.split(b"\n\n"):
        lines = dict(line.split(b": ", 1) for line in block.splitlines() if b": " in line)
        if b"event" in lines:
            out.append((lines[b"event"].decode(), orjson.loads(lines[b"data"])))
    return out


async def _read_stream(client: TestClient, query: str, headers: dict[str, str],
                       done: Callable[[list[tuple[str, Any]]], bool]) -> list[tuple[str, Any]]:
    """Drive the ASGI app for one streaming GET until ``done`` holds, then disconnect."""
    buffer = bytearray()
    finished = anyio.Event()
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
        if message["type"] == "http.response.body":
            buffer.extend(message.get("body", b""))
            if done(_parse(bytes(buffer))):
                finished.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/api/realtime/stream",
             "raw_path": b"/api/realtime/stream", "query_string": query.encode(),
             "root_path": "", "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"),
                         *((k.encode(), v.encode()) for k, v in headers.items())]}
    with anyio.fail_after(20):
        await client.app(scope, receive, send)  # type: ignore[arg-type]
    return _parse(bytes(buffer))


def test_stream_pushes_a_sent_event(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        site = make_site(client, "example.com")
        svc = svc_of(client)
        key, _ = svc.meta.create_api_key("stats", ["stats"], [site.id])

        def done(messages: list[tuple[str, Any]]) -> bool:
            return any(e == "realtime" and d["visitors"] == 1 for e, d in messages)

        assert client.portal is not None
        future = client.portal.start_task_soon(
            _read_stream, client, "site_id=example.com", {"authorization": f"Bearer {key}"},
            done)
        feed = svc.feed
        deadline = time.monotonic() + 10
        while feed.subscribers(site.id) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        r = client.post("/api/event", headers={"user-agent": UA}, json={
            "n": "pageview", "u": "https://example.com/pricing", "d": "example.com"})
        assert r.status_code == 202
        messages = future.result(timeout=20)
        kinds = [e for e, _ in messages]
        assert kinds[0] == "realtime" and messages[0][1]["visitors"] == 0
        feed_items = [item for e, d in messages if e == "events" for item in d]
        assert [(i["name"], i["pathname"], i["browser"]) for i in feed_items] == [
            ("pageview", "/pricing", "Chrome")]
        last = messages[-1][1]
        assert last["top_pages"] == [{"page": "/pricing", "visitors": 1}]
        assert sum(m["pageviews"] for m in last["pageviews_per_minute"]) == 1
        assert kinds.index("events") < len(kinds) - 1
        assert "visitor_id" not in feed_items[0]
        deadline = time.monotonic() + 5
        while feed.subscribers(site.id) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert feed.subscribers(site.id) == 0


def test_stream_subscribers_share_snapshots(tmp_path: Path) -> None:
    with make_client(tmp_path, clock=fixed_clock(NOW)) as client:
        site = make_site(client, "example.com")
        svc = svc_of(client)
        shared = svc.snapshots

        def queries() -> float:
            value = svc.metrics.registry.get_sample_value(
                "liveinsight_query_seconds_count", {"kind": "realtime"})
            return value or 0.0

        first = shared.get(site, 5, time.monotonic())
        assert queries() == 4
        assert shared.get(site, 5, time.monotonic() - 60) is first
        assert queries() == 4
        shared.get(site, 5, time.monotonic())
        assert queries() == 8
        shared.get(site, 30, 0.0)
        assert queries() == 12
