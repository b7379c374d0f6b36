"""Resetting a site's stats and deleting a site: API, settings-page forms and CLI; the
confirmation, the roles, the audit, the cache, and events still in the write-ahead log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from liveinsight.cli import app as cli
from tests.conftest import csrf_of, login, make_client, make_site, svc_of

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/130.0 Safari/537.36")
PASSWORD = "a long enough password"


def _send(client: TestClient, domain: str, n: int = 5) -> None:
    for i in range(n):
        r = client.post("/api/event", json={"n": "pageview", "u": f"https://{domain}/p{i}",
                                            "d": domain},
                        headers={"user-agent": UA, "x-forwarded-for": f"198.51.100.{i + 1}"})
        assert r.status_code == 202, r.text


def _rows(client: TestClient, site_id: int, flush: bool = True) -> dict[str, int]:
    svc = svc_of(client)
    if flush:
        assert svc.writer.flush(timeout=30)
    db = svc.store.database
    return {t: int(svc.store.query(f"SELECT count() FROM `{db}`.{t} WHERE site_id ="
                                   " {s:UInt32}", {"s": site_id}).scalar())
            for t in ("events", "sessions", "events_rollup", "sessions_rollup")}


def _pageviews(client: TestClient, domain: str, auth: dict[str, str]) -> int:
    r = client.get("/api/stats/aggregate", params={"site_id": domain, "period": "day",
                                                   "metrics": "pageviews"}, headers=auth)
    assert r.status_code == 200, r.text
    return int(r.json()["results"]["pageviews"]["value"])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with make_client(tmp_path, site_delete_sweep_seconds=0) as client:
        svc = svc_of(client)
        a, b = make_site(client, "a.example"), make_site(client, "b.example")
        key, _ = svc.meta.create_api_key("adm", ["admin", "stats"], [a.id, b.id])
        only_a, only_a_info = svc.meta.create_api_key("only-a", ["admin", "stats"], [a.id])
        glob, _ = svc.meta.create_api_key("glob", ["admin", "stats"])
        svc.meta.create_goal(a.id, event_name="Signup")
        yield {"client": client, "a": a, "b": b, "auth": {"authorization": f"Bearer {key}"},
               "only_a": only_a, "only_a_id": only_a_info.id,
               "global": {"authorization": f"Bearer {glob}"}}


def test_reset_needs_the_domain_typed_again_and_keeps_the_settings(world: dict[str, Any]
                                                                    ) -> None:
    client, a, auth = world["client"], world["a"], world["auth"]
    _send(client, "a.example")
    _send(client, "b.example", 3)
    assert all(_rows(client, a.id).values())
    assert _pageviews(client, "a.example", auth) == 5  # now cached
    url = "/api/v1/sites/a.example/reset"
    for bad in ({}, {"confirm": "b.example"}, {"confirm": 5}):
        r = client.post(url, json=bad, headers=auth)
        assert r.status_code == 400 and r.json()["error"]["field"] == "confirm", r.text
    r = client.post(url, content=b"{not json", headers=auth)
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
    assert _rows(client, a.id, flush=False)["events"] == 5  # nothing happened

    r = client.post(url, json={"confirm": "A.example"}, headers=auth)

    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["action"] == "reset" and doc["job"]["status"] == "done"
    assert doc["job"]["results"]["delete rows"]["events"] == 5
    assert _rows(client, a.id) == dict.fromkeys(_rows(client, a.id), 0)
    assert _pageviews(client, "a.example", auth) == 0  # the cached answer was dropped
    assert _pageviews(client, "b.example", auth) == 3
    svc = svc_of(client)
    assert svc.meta.site(a.id) is not None and [g.event_name for g in svc.sites.goals(a.id)
                                                 ] == ["Signup"]
    _send(client, "a.example", 2)  # the site keeps collecting
    assert _rows(client, a.id)["events"] == 2
    svc.audit.flush()
    found = client.get("/admin/audit", params={"action": "POST /api/v1/sites/{site_id}/reset"},
                       headers=world["global"]).json()
    done = [e for e in found["entries"] if e["status"] == 200]
    assert len(done) == 1 and done[0]["site_id"] == a.id
    assert done[0]["details"]["rows"]["events"] == 5


def test_delete_takes_the_site_its_metadata_and_its_rows(world: dict[str, Any]) -> None:
    client, a, b, auth = world["client"], world["a"], world["b"], world["auth"]
    svc = svc_of(client)
    _send(client, "a.example")
    _send(client, "b.example", 3)
    _rows(client, a.id)
    r = client.delete("/api/v1/sites/a.example", headers=auth)
    assert r.status_code == 400 and r.json()["error"]["field"] == "confirm"

    r = client.delete("/api/v1/sites/a.example", params={"confirm": "a.example"}, headers=auth)

    assert r.status_code == 200, r.text
    assert r.json()["job"]["results"]["delete metadata"] == {"keys_revoked": 1}
    assert svc.meta.site(a.id) is None and svc.sites.by_domain("a.example") is None
    assert svc.sites.goals(a.id) == ()
    assert _rows(client, a.id) == dict.fromkeys(_rows(client, a.id), 0)
    assert all(_rows(client, b.id).values())
    only_a = {"authorization": f"Bearer {world['only_a']}"}
    assert client.get("/api/stats/aggregate", params={"site_id": "b.example"},
                      headers=only_a).status_code == 401  # its only site gone: revoked
    assert _pageviews(client, "b.example", auth) == 3  # the shared key keeps b
    _send(client, "a.example", 2)  # dropped as an unknown site now
    assert _rows(client, a.id)["events"] == 0
    assert client.delete("/api/v1/sites/a.example", params={"confirm": "a.example"},
                         headers=auth).status_code == 403  # gone: as another's site


def test_events_still_in_the_log_do_not_bring_a_deleted_site_back(tmp_path: Path) -> None:
    # The writer would wait a minute: the events are in the log, not in ClickHouse, when the
    # site is deleted.
    with make_client(tmp_path, site_delete_sweep_seconds=0, writer_flush_ms=60_000) as client:
        svc = svc_of(client)
        site = make_site(client, "a.example")
        key, _ = svc.meta.create_api_key("adm", ["admin"])
        _send(client, "a.example", 8)
        assert _rows(client, site.id, flush=False)["events"] == 0  # still in the log
        assert svc.wal.pending_rows > 0

        r = client.request("DELETE", "/api/v1/sites/a.example", json={"confirm": "a.example"},
                           headers={"authorization": f"Bearer {key}"})

        assert r.status_code == 200, r.text
        assert _rows(client, site.id) == dict.fromkeys(_rows(client, site.id), 0)
        again = make_site(client, "a.example")  # SQLite may give the same id again
        assert _rows(client, again.id)["events"] == 0


def test_the_sweep_deletes_what_another_process_brought_in(tmp_path: Path) -> None:
    with make_client(tmp_path, site_delete_sweep_seconds=0.5) as client:
        svc = svc_of(client)
        site = make_site(client, "a.example")
        slept: list[float] = []
        db = svc.store.database

        def late_rows(seconds: float) -> None:  # another worker's log lands meanwhile
            slept.append(seconds)
            svc.store.command(f"INSERT INTO `{db}`.events (timestamp, site_id, name)"
                              " VALUES (now64(3), {s:UInt32}, 'pageview')", {"s": site.id})

        data = type(svc.site_data)(svc.store, None, svc.writer, svc.answers, svc.meta,
                                   svc.sites, None, 0.5, sleep=late_rows)
        job = svc.jobs.start("t", data.delete_steps(site.id))
        while job.status == "running":
            svc.jobs.get(job.id)
        assert job.status == "done", job.error
        assert slept == [0.5] and job.results["sweep"]["events"] == 1
        assert _rows(client, site.id)["events"] == 0


def _as(client: TestClient, email: str) -> str:
    client.cookies.clear()
    assert login(client, email, PASSWORD).status_code == 303
    return csrf_of(client.get("/sites").text)


def test_the_danger_zone_forms_check_the_role_and_the_typed_domain(world: dict[str, Any]
                                                                    ) -> None:
    client, a = world["client"], world["a"]
    svc = svc_of(client)
    owner = svc.meta.create_user("owner@example.com", PASSWORD)
    svc.people.move_site(a.id, svc.people.create_team("T", owner.id).id)
    for who in ("viewer", "editor", "admin"):
        user = svc.meta.create_user(f"{who}@example.com", PASSWORD)
        svc.people.set_guest_role(a.id, user.id, who)
    _send(client, "a.example")
    _rows(client, a.id)
    reset, delete = f"/sites/{a.id}/reset", f"/sites/{a.id}/delete"
    for who in ("viewer", "editor"):
        token = _as(client, f"{who}@example.com")
        assert client.post(reset, data={"csrf": token, "confirm": "a.example"}
                           ).status_code == 403
    token = _as(client, "admin@example.com")
    page = client.get(f"/sites/{a.id}/settings").text
    assert "Danger zone" in page and "Reset the stats" in page
    assert "Delete the site" not in page  # owners only
    assert client.post(delete, data={"csrf": token, "confirm": "a.example"}
                       ).status_code == 403
    wrong = client.post(reset, data={"csrf": token, "confirm": "a.exampl"})
    assert wrong.status_code == 400 and "confirm" in wrong.text
    assert _rows(client, a.id)["events"] == 5
    done = client.post(reset, data={"csrf": token, "confirm": "a.example"},
                       follow_redirects=False)
    assert done.status_code == 303 and _rows(client, a.id)["events"] == 0

    token = _as(client, "owner@example.com")
    assert "Delete the site" in client.get(f"/sites/{a.id}/settings").text
    gone = client.post(delete, data={"csrf": token, "confirm": "a.example"},
                       follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/sites?deleted=a.example"
    assert svc.meta.site(a.id) is None
    listed = client.get(gone.headers["location"]).text
    assert "a.example was deleted" in listed
    assert client.get(f"/sites/{a.id}/settings").status_code == 404


def test_the_cli_asks_for_the_domain_or_yes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.setenv("LIVEINSIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LIVEINSIGHT_SITE_DELETE_SWEEP_SECONDS", "0")
    runner = CliRunner()
    with make_client(tmp_path, data_dir=tmp_path / "data") as client:
        site = make_site(client, "a.example")
        make_site(client, "b.example")
        _send(client, "a.example", 4)
        _send(client, "b.example", 2)
    assert runner.invoke(cli, ["reset-stats", "nope.example", "--yes"]).exit_code == 1
    refused = runner.invoke(cli, ["reset-stats", "a.example"], input="b.example\n")
    assert refused.exit_code == 1
    ok = runner.invoke(cli, ["reset-stats", "a.example", "--yes"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout.strip().splitlines()[-1])
    assert doc["action"] == "reset" and doc["rows"]["events"] == 4
    gone = runner.invoke(cli, ["delete-site", "b.example", "--yes"])
    assert gone.exit_code == 0, gone.output
    assert json.loads(gone.stdout.strip().splitlines()[-1])["rows"]["events"] == 2
    listed = runner.invoke(cli, ["list-sites", "--json"])
    assert [s["domain"] for s in json.loads(listed.stdout)] == ["a.example"]
    with make_client(tmp_path, data_dir=tmp_path / "data") as client:
        assert _rows(client, site.id)["events"] == 0
