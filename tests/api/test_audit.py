"""The audit log through a real app: which requests and events are recorded and what an
entry holds (no raw address), ``GET /admin/audit`` and the ``/audit`` page, the CLI's
``audit verify``."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from liveinsight.app import create_app
from liveinsight.cli import app as cli
from tests.conftest import csrf_of, login, make_settings, svc_of

ADDRESS = "203.0.113.9"
ADMIN = ("ann@example.com", "tide orbit lantern")
UA = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}


def _client(tmp_path: Path, **settings: Any) -> TestClient:
    app = create_app(make_settings(tmp_path, **settings))
    return TestClient(app, base_url="http://testserver", client=(ADDRESS, 40000))


def _entries(c: TestClient, key: str, **params: Any) -> dict[str, Any]:
    svc_of(c).audit.flush()
    answer = c.get("/admin/audit", params=params, headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_changes_and_sign_ins_are_recorded_and_read_back(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        svc = svc_of(c)
        site = svc.meta.create_site("example.com")
        svc.meta.create_user(*ADMIN, role="admin")
        key, info = svc.meta.create_api_key("ops", ["admin", "stats", "ingest"])
        auth = {"authorization": f"Bearer {key}"}
        # sign-ins: a failure, then a success
        assert login(c, ADMIN[0], "wrong password here").status_code == 401
        assert login(c, *ADMIN).status_code == 303
        # a change through a dashboard form (an API key is created there)
        token = csrf_of(c.get("/account").text)
        made = c.post("/account/keys", data={"csrf": token, "name": "reporting",
                                              "scope": "stats"})
        assert made.status_code == 201
        # a change through the API, with the request id of a proxy
        goal = c.post("/api/v1/sites/example.com/goals", json={"event_name": "Signup"},
                      headers={**auth, "x-request-id": "req-from-proxy-1"})
        assert goal.status_code in (200, 201), goal.text
        assert goal.headers["x-request-id"] == "req-from-proxy-1"
        # neither reads nor the collector are recorded
        assert c.get("/api/stats/aggregate", params={"site_id": "example.com"},
                     headers=auth).status_code == 200
        assert c.post("/api/event", json={"n": "pageview", "d": "example.com",
                                          "u": "https://example.com/"},
                      headers=UA).status_code == 202
        c.cookies.clear()
        body = _entries(c, key)
        actions = [e["action"] for e in body["entries"]]
        assert actions == ["POST /api/v1/sites/{site_id}/goals", "apikey.first_network",
                           "POST /account/keys", "login.ok", "login.failed"]
        by = {e["action"]: e for e in body["entries"]}
        api = by["POST /api/v1/sites/{site_id}/goals"]
        assert api["actor"] == f"key:{info.id} ops" and api["site_id"] == site.id
        assert api["request_id"] == "req-from-proxy-1" and api["outcome"] == "ok"
        form = by["POST /account/keys"]
        assert form["actor"].endswith(ADMIN[0]) and form["status"] == 201
        assert form["details"]["name"] == "reporting" and form["details"]["scopes"] == "stats"
        assert by["login.failed"]["target"] == ADMIN[0]
        assert by["login.failed"]["outcome"] == "failed"
        assert by["login.ok"]["actor"].startswith("user:")
        # the address is kept as a keyed hash, the same for each request of it
        assert len({e["client"] for e in body["entries"]}) == 1
        with svc.meta.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM audit_log")).all()
        assert rows and not any(ADDRESS in str(v) for row in rows for v in row)
        # filters
        assert [e["action"] for e in _entries(c, key, action="login.")["entries"]] == [
            "login.ok", "login.failed"]
        assert [e["site_id"] for e in _entries(c, key, site_id=site.id)["entries"]] == [
            site.id]
        assert _entries(c, key, actor="nobody@")["entries"] == []
        first = _entries(c, key, limit=3)
        assert len(first["entries"]) == 3 and first["next_before"] is not None
        rest = _entries(c, key, before=first["next_before"])
        assert [e["action"] for e in rest["entries"]] == ["login.ok", "login.failed"]
        assert _entries(c, key, since="2999-01-01")["entries"] == []
        bad = c.get("/admin/audit", params={"since": "yesterday"}, headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "since"


def test_the_audit_page_is_for_instance_admins(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        svc = svc_of(c)
        svc.meta.create_user(*ADMIN, role="admin")
        svc.meta.create_user("bo@example.com", "glass tiger orbit 1", role="viewer")
        login(c, "bo@example.com", "glass tiger orbit 1")
        assert c.get("/audit").status_code == 403
        c.cookies.clear()
        login(c, *ADMIN)
        svc.audit.flush()
        shown = c.get("/audit", params={"action": "login."})
        assert shown.status_code == 200
        assert "login.ok" in shown.text and "bo@example.com" in shown.text
        assert c.get("/audit", params={"since": "soon"}).status_code == 400
        assert "&lt;script&gt;" in c.get("/audit", params={"actor": "<script>"}).text


def test_a_rate_limit_trip_is_recorded_once_a_minute(tmp_path: Path) -> None:
    with _client(tmp_path, rate_limit_per_minute=60, rate_limit_burst=2) as c:
        statuses = [c.get("/login").status_code for _ in range(5)]
        assert statuses == [200, 200, 429, 429, 429]
        svc = svc_of(c)
        key, _ = svc.meta.create_api_key("ops", ["admin"])
        body = _entries(c, key, action="ratelimit.")
        assert len(body["entries"]) == 1
        trip = body["entries"][0]
        assert trip["outcome"] == "refused" and trip["details"]["limit"] == "address"
        assert trip["target"] == "/login"


def test_the_cli_verifies_the_chain_and_names_a_tampered_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _client(tmp_path) as c:
        svc = svc_of(c)
        svc.meta.create_user(*ADMIN, role="admin")
        for _ in range(3):
            c.cookies.clear()
            assert login(c, *ADMIN).status_code == 303
        svc.audit.flush()
        engine = svc.meta.engine
    monkeypatch.setenv("LIVEINSIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LIVEINSIGHT_SECRET_KEY", "test-secret-key-with-enough-entropy")
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "3 records" in ok.output and "intact" in ok.output
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2"))
    broken = runner.invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1 and "record 2 was changed" in broken.output


def test_security_events_are_flagged_and_selected(tmp_path: Path) -> None:
    """Failed sign-ins, a lockout, permission denials (403, whatever the method) and an API
    key's use from a new /24 or /48 are flagged; the network is kept as a keyed hash."""
    with _client(tmp_path, trusted_proxies=[ADDRESS], login_account_attempts=3) as c:
        svc = svc_of(c)
        svc.meta.create_site("example.com")
        svc.meta.create_user(*ADMIN, role="admin")
        svc.meta.create_user("bo@example.com", "glass tiger orbit 1", role="viewer")
        admin, _ = svc.meta.create_api_key("ops", ["admin"])
        reader, info = svc.meta.create_api_key("reports", ["stats"])
        for _ in range(3):
            assert login(c, ADMIN[0], "wrong password here").status_code == 401
        assert login(c, *ADMIN).status_code == 429  # locked
        c.cookies.clear()
        login(c, "bo@example.com", "glass tiger orbit 1")
        assert c.get("/audit").status_code == 403  # a read refused: recorded once a minute
        assert c.get("/audit").status_code == 403
        c.cookies.clear()
        q = {"site_id": "example.com", "metrics": "visitors"}

        def read(address: str) -> int:
            return c.get("/api/stats/aggregate", params=q, headers={
                "authorization": f"Bearer {reader}", "x-forwarded-for": address}).status_code

        assert read("198.51.100.7") == 200  # the key's first network: noted, not flagged
        assert read("198.51.100.200") == 200  # the same /24
        assert read("192.0.2.1") == 200  # a new network
        assert read("2001:db8:1:2::1") == 200
        assert read("2001:db8:1:ffff::9") == 200  # the same /48
        denied = c.get("/admin/cache/stats", headers={"authorization": f"Bearer {reader}",
                                                      "x-forwarded-for": "192.0.2.1"})
        assert denied.status_code == 403
        everything = _entries(c, admin, limit=500)["entries"]
        flagged = _entries(c, admin, flagged="true", limit=500)["entries"]
        assert all(e["flagged"] for e in flagged)
        assert {e["seq"] for e in flagged} == {e["seq"] for e in everything if e["flagged"]}
        actions = sorted(e["action"] for e in flagged)
        assert actions == sorted(["login.failed"] * 3 + ["login.locked", "GET /audit",
                                  "GET /admin/cache/stats"] + ["apikey.new_network"] * 2)
        networks = [e for e in everything if e["action"].startswith("apikey.")
                    and e["actor"] == f"key:{info.id} reports"]
        assert [e["action"] for e in networks] == ["apikey.new_network", "apikey.new_network",
                                                   "apikey.first_network"]
        assert [e["details"]["networks_before"] for e in networks] == [2, 1, 0]
        with svc.meta.engine.connect() as conn:
            stored = conn.execute(text("SELECT network FROM api_key_networks")).all()
            rows = conn.execute(text("SELECT * FROM audit_log")).all()
        assert len(stored) == 4  # three of the reader, one of the admin key
        for prefix in ("198.51.100", "192.0.2", "2001:db8"):
            assert not any(prefix in str(v) for row in [*stored, *rows] for v in row)
        count = svc.audit.store.count_flagged(
            svc.clock().replace(year=2000), svc.clock().replace(year=2999), "login.")
        assert count == 4


def test_the_audit_page_marks_and_filters_security_events(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        svc = svc_of(c)
        svc.meta.create_user(*ADMIN, role="admin")
        assert login(c, ADMIN[0], "wrong password here").status_code == 401
        assert login(c, *ADMIN).status_code == 303
        svc.audit.flush()
        shown = c.get("/audit", params={"flagged": "true"})
        assert shown.status_code == 200
        assert "login.failed" in shown.text and "login.ok" not in shown.text
        assert 'class="flagged"' in shown.text
        assert "login.ok" in c.get("/audit").text


def _export(c: TestClient, key: str, **params: Any) -> Any:
    svc = svc_of(c)
    svc.audit.flush()
    if svc.audit_copies is not None:
        assert svc.audit_copies.flush(30)
    return c.get("/admin/audit/export", params=params,
                 headers={"authorization": f"Bearer {key}"})


def test_the_log_is_exported_from_the_chain_and_from_its_clickhouse_copies(
        tmp_path: Path) -> None:
    import csv
    import io

    import orjson

    with _client(tmp_path) as c:
        svc = svc_of(c)
        svc.meta.create_user(*ADMIN, role="admin")
        key, _ = svc.meta.create_api_key("ops", ["admin"])
        for name in ("=HYPERLINK(\"http://evil\")", "plain@example.com"):
            assert login(c, name, "wrong password here").status_code == 401
        assert login(c, *ADMIN).status_code == 303
        c.cookies.clear()
        chain = _export(c, key, action="login.")
        assert chain.status_code == 200
        assert chain.headers["content-type"] == "application/x-ndjson"
        assert chain.headers["content-disposition"].startswith('attachment; filename="audit-')
        records = [orjson.loads(line) for line in chain.text.splitlines()]
        assert [r["action"] for r in records] == ["login.failed", "login.failed", "login.ok"]
        assert [r["seq"] for r in records] == [1, 2, 3]  # oldest first
        for earlier, later in itertools.pairwise(records):
            assert later["prev_hash"] == earlier["hash"]  # the links follow each other
        copies = _export(c, key, source="clickhouse", action="login.")
        assert copies.status_code == 200
        assert [orjson.loads(line) for line in copies.text.splitlines()] == records
        flagged = _export(c, key, source="clickhouse", flagged="true", format="csv")
        rows = list(csv.reader(io.StringIO(flagged.text)))
        assert rows[0][:4] == ["seq", "at", "actor", "action"]
        assert [r[3] for r in rows[1:]] == ["login.failed", "login.failed"]
        target = rows[0].index("target")
        assert rows[1][target] == "'=HYPERLINK(\"http://evil\")"  # inert in a spreadsheet
        one = _export(c, key, limit=1, action="login.", format="csv")
        assert len(list(csv.reader(io.StringIO(one.text)))) == 2
        assert _export(c, key, format="xml").status_code == 400
        bad = _export(c, key, since="never")
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "since"
        assert c.get("/admin/audit/export").status_code == 401


def test_copies_missing_from_clickhouse_are_caught_up_at_start(tmp_path: Path) -> None:
    """Records written while the copies were off (as those lost to a crash) are copied at
    the next start; the export's page is shown with its buttons."""
    import orjson

    from tests.support import wait_until

    with _client(tmp_path, audit_store=False) as c:
        svc = svc_of(c)
        svc.meta.create_user(*ADMIN, role="admin")
        key, _ = svc.meta.create_api_key("ops", ["admin"])
        for _ in range(3):
            assert login(c, ADMIN[0], "wrong password here").status_code == 401
        c.cookies.clear()
        off = _export(c, key, source="clickhouse")
        assert off.status_code == 400 and off.json()["error"]["field"] == "source"
    with _client(tmp_path) as c:
        def copied() -> int:
            answer = _export(c, key, source="clickhouse", action="login.")
            return len(answer.text.splitlines()) if answer.status_code == 200 else -1

        wait_until(lambda: copied() == 3, 30, "the copies caught up")
        assert [orjson.loads(x)["action"] for x in _export(
            c, key, source="clickhouse").text.splitlines()][:3] == ["login.failed"] * 3
        assert login(c, *ADMIN).status_code == 303
        page = c.get("/audit", params={"action": "login.", "flagged": "true"})
        assert "/admin/audit/export?format=csv&amp;action=login.&amp;flagged=true" in page.text
