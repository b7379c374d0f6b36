"""Backup and restore with real processes: events through a running ``liveinsight serve``,
a backup taken through ``POST /admin/backups`` (while events flow, in one test), the data dir
wiped, ``liveinsight restore``, and the same numbers through the stats API after."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.load import Load
from tests.support import LIVEINSIGHT, Server, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

UA = ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    srv = Server(tmp_path / "data", tmp_path / "server.log",
                 backup_dir=str(tmp_path / "backups"), backup_keep="2")
    srv.cli("create-site", "example.com")
    key = srv.cli("create-api-key", "ops", "--scope", "stats", "--scope", "admin"
                  ).strip().splitlines()[-1]
    yield srv, key
    srv.stop()


def _send(srv: Server, n: int) -> None:
    with httpx.Client(timeout=10) as client:
        for i in range(n):
            resp = client.post(srv.url + "/api/event", json={
                "n": "pageview", "u": f"https://example.com/page/{i % 7}",
                "d": "example.com"}, headers={"Content-Type": "text/plain", "User-Agent": UA,
                                              "X-Forwarded-For": f"10.0.{i // 200}.{i % 200 + 1}"})
            assert resp.status_code == 202, resp.text


def _aggregate(srv: Server, key: str) -> dict[str, Any]:
    resp = httpx.get(srv.url + "/api/stats/aggregate", timeout=30, params={
        "site_id": "example.com", "period": "all", "metrics": "pageviews,visitors"},
        headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["results"])


def _backup(srv: Server, key: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {key}"}
    resp = httpx.post(srv.url + "/admin/backups", json={"verify": True}, headers=auth,
                      timeout=30)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]

    def finished() -> dict[str, Any] | None:
        job = httpx.get(f"{srv.url}/admin/backups/jobs/{job_id}", headers=auth,
                        timeout=30).json()
        return job if job["status"] != "running" else None

    job = wait_until(finished, 180, "the backup job to finish")
    assert job["status"] == "done", job
    assert job["results"]["verify"]["ok"] is True
    return dict(job["results"]["backup"])


def test_backup_wipe_restore_gives_the_same_numbers(node: tuple[Server, str],
                                                     tmp_path: Path) -> None:
    srv, key = node
    srv.start()
    _send(srv, 120)
    srv.settle(120)
    wait_until(lambda: _aggregate(srv, key)["pageviews"]["value"] == 120, 30,
               "the events to be stored")
    before = _aggregate(srv, key)
    manifest = _backup(srv, key)
    assert manifest["rows"]["events"] == 120
    listed = httpx.get(srv.url + "/admin/backups", headers={"Authorization": f"Bearer {key}"},
                       timeout=30).json()
    assert [b["path"] for b in listed["backups"]] == [manifest["path"]]
    assert listed["backups"][0]["rows"] == manifest["rows"]

    refused = subprocess.run([str(LIVEINSIGHT), "restore", manifest["path"]], env=srv.env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 1
    assert "stop the server before restoring" in refused.stdout

    srv.terminate()
    shutil.rmtree(srv.data_dir)
    out = srv.cli("restore", manifest["path"])
    assert json.loads(out)["rows"]["events"] == 120
    srv.start()
    assert _aggregate(srv, key) == before  # the API key came back with the metadata

    verified = srv.cli("backup", "--verify", manifest["path"])
    assert json.loads(verified)["ok"] is True


def test_backup_under_load_keeps_everything_acknowledged_before_it(
        node: tuple[Server, str]) -> None:
    srv, key = node
    srv.start()
    load = Load(url=lambda: srv.url, workers=6, run="b").start()
    try:
        wait_until(lambda: len(load.acked) >= 300, 60, "events to flow")
        acked_before = set(load.acked)
        manifest = _backup(srv, key)
        time.sleep(0.5)
    finally:
        load.stop()
    srv.terminate()
    shutil.rmtree(srv.data_dir)
    srv.cli("restore", manifest["path"])
    srv.start()
    srv.terminate()  # the writer moves the restored log segments in before it exits
    stored = Counter({path: n for path, n in srv.stored().items()})
    missing = [m for m in acked_before if stored[m] == 0]
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:3]}"
    assert max(stored.values()) == 1, "an event was restored twice"
    assert set(stored) <= set(load.acked) | {m for m, *_ in load.refused}


def test_retention_keeps_the_newest_and_cli_backup_needs_the_server_stopped(
        node: tuple[Server, str], tmp_path: Path) -> None:
    srv, _key = node
    for _ in range(3):
        srv.cli("backup")
    kept = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert len(kept) == 2  # backup_keep=2
    srv.start()
    refused = subprocess.run([str(LIVEINSIGHT), "backup"], env=srv.env, capture_output=True,
                             text=True, timeout=120, check=False)
    assert refused.returncode == 1 and "POST /admin/backups" in refused.stdout


def test_postgresql_metadata_round_trip(postgres_url: str, tmp_path: Path) -> None:
    """pg_dump into the backup, pg_restore into an emptied database: the site, the API key
    and the numbers come back (a private database on the shared server)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    name = f"li_backup_{int(time.time() * 1000) % 10**9}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")

    def recreate() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))

    recreate()
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    srv = Server(tmp_path / "data", tmp_path / "server.log", database_url=url,
                 backup_dir=str(tmp_path / "backups"))
    try:
        srv.cli("create-site", "example.com")
        key = srv.cli("create-api-key", "ops", "--scope", "stats", "--scope", "admin"
                      ).strip().splitlines()[-1]
        srv.start()
        _send(srv, 40)
        srv.settle(40)
        wait_until(lambda: _aggregate(srv, key)["pageviews"]["value"] == 40, 30,
                   "the events to be stored")
        before = _aggregate(srv, key)
        manifest = _backup(srv, key)
        assert manifest["metadata"] == "postgresql"
        srv.terminate()
        shutil.rmtree(srv.data_dir)
        recreate()  # an empty metadata database: no site, no key
        srv.cli("restore", manifest["path"])
        srv.start()
        assert _aggregate(srv, key) == before
    finally:
        srv.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_damaged_backup_fails_verification_and_is_not_restored(
        node: tuple[Server, str], tmp_path: Path) -> None:
    srv, _key = node
    srv.cli("backup")
    (made,) = (tmp_path / "backups").iterdir()
    assert json.loads(srv.cli("backup", "--verify", str(made)))["ok"] is True
    victim = next(p for p in sorted((made / "chdb").rglob("*")) if p.is_file())
    victim.write_bytes(victim.read_bytes() + b"x")
    for argv in (["backup", "--verify", str(made)], ["restore", str(made)]):
        done = subprocess.run([str(LIVEINSIGHT), *argv], env=srv.env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 1, done.stdout + done.stderr
        assert str(victim.relative_to(made)) in done.stdout
    assert (srv.data_dir / "chdb").exists()  # the refused restore moved nothing aside
    assert not list(srv.data_dir.glob("before-restore-*"))
