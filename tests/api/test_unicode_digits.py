"""Digits that str.isdigit() accepts and int() refuses ("²", byte 0xB2 in a latin-1 header)
are bad input, answered with a 4xx naming the field: each of these was a 500 (ValueError)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_client, make_site, svc_of

EVENT = b'{"n": "pageview", "u": "https://example.com/", "d": "example.com"}'
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def test_superscript_digits_are_bad_input(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        make_site(client, "example.com")
        key, _ = svc_of(client).meta.create_api_key("k", ["stats", "admin", "ingest"])
        auth = {"authorization": f"Bearer {key}"}
        stats = client.get("/api/stats/aggregate", params={"site_id": "\u00b2"}, headers=auth)
        assert stats.status_code == 400 and stats.json()["error"]["field"] == "site_id"
        event = client.post("/api/event", content=EVENT, headers={
            "content-length": b"\xb2", "content-type": "text/plain", "user-agent": BROWSER})
        assert event.status_code == 400
        assert event.json()["error"]["field"] == "content-length"
        token = client.post("/api/events", headers={
            "x-session-id": "s", "x-csrf-token": b"\xb2.abc", "user-agent": BROWSER},
            json={"event_type": "pageview", "page_url": "https://example.com/",
                  "domain": "example.com"})
        assert token.status_code == 403
        assert token.json()["error"]["field"] == "X-CSRF-Token"
        audit = client.get("/admin/audit", params={"before": "\u00b2"}, headers=auth)
        assert audit.status_code == 400 and audit.json()["error"]["field"] == "before"
