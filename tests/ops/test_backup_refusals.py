"""Backups, in process, where they refuse or fail: ``POST /admin/backups`` (400 naming the
field, 409 while one runs, 404 for another job), a listing that names unreadable backups,
a failed backup that leaves no directory, and restores and recoveries that refuse before
they move anything (a running node, a damaged backup, another metadata database or event
store, a moment before the backup). The round trips themselves: test_backup_chain.py,
test_recovery.py and tests/e2e/test_backup.py (real processes)."""

from __future__ import annotations

import contextlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from liveinsight.errors import Conflict, Invalid, NotFound, Unavailable
from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.ops import backup as backups
from liveinsight.ops import recovery
from liveinsight.storage.embedded import EmbeddedStore
from tests.conftest import make_client, make_settings, stored_events, svc_of
from tests.support import wait_until

UA = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}


def _send(c: TestClient, n: int) -> None:
    for i in range(n):
        assert c.post("/api/event", headers={**UA, "x-forwarded-for": f"10.0.0.{i + 1}"},
                      json={"n": "pageview", "u": f"https://example.com/{i}",
                            "d": "example.com"}).status_code == 202


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A backup of a node with a site and 5 events (the node stopped since)."""
    tmp_path = tmp_path_factory.mktemp("node")
    with make_client(tmp_path) as c:
        svc = svc_of(c)
        svc.meta.create_site("example.com")
        _send(c, 5)
        assert len(stored_events(c)) == 5
        return backups.create(svc.settings, svc.store, svc.wal, svc.writer.held)


def _job(c: TestClient, auth: dict[str, str], job_id: str) -> dict[str, Any]:
    answer = c.get(f"/admin/backups/jobs/{job_id}", headers=auth)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_the_backup_api_refuses_what_it_cannot_do_and_lists_what_it_cannot_read(
        tmp_path: Path) -> None:
    with make_client(tmp_path, backup_keep=5) as c:
        svc = svc_of(c)
        key, _ = svc.meta.create_api_key("backups", ["admin"])
        auth = {"authorization": f"Bearer {key}"}
        svc.meta.create_site("example.com")
        _send(c, 3)
        assert len(stored_events(c)) == 3
        root = svc.settings.backup_path

        answer = c.post("/admin/backups", json={"incremental": True, "verify": False},
                        headers=auth)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["field"] == "incremental"
        assert not list(root.glob("liveinsight-*"))
        assert c.get("/admin/backups/jobs/0123456789abcdef", headers=auth).status_code == 404

        with svc.writer.held():  # the job waits for the writer: it is still running below
            first = c.post("/admin/backups", json={"verify": False}, headers=auth)
            assert first.status_code == 202, first.text
            again = c.post("/admin/backups", json={"verify": False}, headers=auth)
            assert again.status_code == 409, again.text
            assert "running already" in again.json()["error"]["message"]
            assert _job(c, auth, first.json()["id"])["status"] == "running"
        job = wait_until(lambda: (j := _job(c, auth, first.json()["id"]))["status"]
                         != "running" and j, 120, "the backup job")
        assert job["status"] == "done", job
        assert job["progress"] == 1.0 and job["steps"] == ["backup"]
        made = job["results"]["backup"]
        assert made["rows"]["events"] == 3 and made["base"] is None
        assert "files" not in made  # the checksums stay in the manifest
        assert "metadata.sqlite" in backups.read_manifest(Path(made["path"]))["files"]

        broken, future = root / "liveinsight-20000101T000000000000Z", root / "liveinsight-0"
        broken.mkdir()
        (broken / backups.MANIFEST).write_text("{not json")
        future.mkdir()
        (future / backups.MANIFEST).write_text(json.dumps({"version": 99}))
        listed = c.get("/admin/backups", headers=auth).json()
        by_name = {Path(b["path"]).name: b for b in listed["backups"]}
        assert "not valid JSON" in by_name[broken.name]["error"]
        assert "version 99" in by_name[future.name]["error"]
        good = by_name[Path(made["path"]).name]
        assert good["rows"]["events"] == 3 and "files" not in good and "error" not in good
        assert [j["status"] for j in listed["jobs"]] == ["done"]
        with pytest.raises(NotFound, match="is not a backup"):
            backups.read_manifest(root)

        # a restore while this node runs is refused, and moves nothing aside
        assert backups.held(svc.settings.chdb_path)
        with pytest.raises(Conflict, match="stop the server"):
            backups.restore(svc.settings, Path(made["path"]))
        assert not list(svc.settings.data_dir.glob("before-restore-*"))
    assert not backups.held(svc.settings.chdb_path)
    assert not backups.held(tmp_path / "nowhere")


def test_a_restore_refuses_another_engine_or_metadata_database_and_moves_nothing(
        made: dict[str, Any], tmp_path: Path) -> None:
    with make_client(tmp_path):  # a node of its own, stopped: its data must stay put
        pass
    data = tmp_path / "data"
    before = sorted(p.name for p in data.iterdir())
    server = make_settings(tmp_path, clickhouse_url="http://127.0.0.1:9/")
    with pytest.raises(Invalid) as refused:
        backups.restore(server, Path(made["path"]))
    assert refused.value.field == "clickhouse_url"
    postgres = make_settings(tmp_path, database_url="postgresql+psycopg://u@127.0.0.1:9/db")
    with pytest.raises(Invalid, match="holds a sqlite metadata database") as refused:
        backups.restore(postgres, Path(made["path"]))
    assert refused.value.field == "database_url"
    assert sorted(p.name for p in data.iterdir()) == before


def test_a_damaged_backup_is_refused_before_anything_moves(made: dict[str, Any],
                                                           tmp_path: Path) -> None:
    copy = tmp_path / "backups" / Path(made["path"]).name
    shutil.copytree(made["path"], copy)
    metadata = copy / "metadata.sqlite"
    metadata.write_bytes(metadata.read_bytes()[:-1] + b"x")  # one byte changed
    settings = make_settings(tmp_path / "elsewhere")
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "node_id").write_text("kept")
    with pytest.raises(Invalid, match=r"damaged: 1 file\(s\) changed or missing, first "
                                      r"metadata.sqlite"):
        backups.restore(settings, copy)
    assert (settings.data_dir / "node_id").read_text() == "kept"
    assert not list(settings.data_dir.glob("before-restore-*"))


def test_recovery_refuses_a_moment_before_the_backup_or_a_backup_without_its_log_mark(
        made: dict[str, Any], tmp_path: Path) -> None:
    settings = make_settings(tmp_path, wal_archive_dir=tmp_path / "archive")
    cut_off = datetime.fromisoformat(made["cut_off"])
    with pytest.raises(Invalid, match="after") as early:
        recovery.recover(settings, Path(made["path"]), cut_off - timedelta(seconds=1))
    assert early.value.field == "until"
    old = tmp_path / "backups" / "liveinsight-old"
    shutil.copytree(made["path"], old)
    manifest = json.loads((old / backups.MANIFEST).read_text())
    del manifest["wal_after"]  # as written before point-in-time recovery existed
    (old / backups.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(Invalid, match="no wal_after") as stale:
        recovery.recover(settings, old, cut_off + timedelta(hours=1))
    assert stale.value.field == "until"
    # from a directory of backups, the newest taken before the moment
    assert recovery.pick(Path(made["path"]).parent, datetime.now(UTC)) == Path(made["path"])


def _store_and_log(tmp_path: Path) -> tuple[Any, EmbeddedStore, WriteAheadLog]:
    settings = make_settings(tmp_path)
    with make_client(tmp_path):  # the schema and the metadata database
        pass
    store = EmbeddedStore(settings.chdb_path, settings.clickhouse_database,
                          backup_root=settings.backup_path.resolve())
    return settings, store, WriteAheadLog(settings.wal_dir, fsync="always")


def test_a_failed_backup_leaves_no_directory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    settings, store, wal = _store_and_log(tmp_path)
    root = settings.backup_path
    try:
        unknown = make_settings(tmp_path, database_url="mysql://u@127.0.0.1:9/db")
        with pytest.raises(Invalid, match="cannot back up a mysql metadata database"):
            backups.create(unknown, store, wal, contextlib.nullcontext)
        assert not list(root.glob("liveinsight-*"))
        monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no pg_dump on it
        postgres = make_settings(tmp_path,
                                 database_url="postgresql+psycopg://u@127.0.0.1:9/db")
        with pytest.raises(Unavailable, match="pg_dump is not on PATH"):
            backups.create(postgres, store, wal, contextlib.nullcontext)
        assert not list(root.glob("liveinsight-*"))
    finally:
        wal.close()
        store.close()
