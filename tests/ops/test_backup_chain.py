"""Incremental backups on the real engine (chDB): a chain of a full backup and two
incremental ones restores to what a full backup of the same moment restores to, is
verified through its bases, and retention keeps the bases a kept backup needs."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from liveinsight.errors import Invalid, NotFound
from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.ops import backup as backups
from liveinsight.settings import Settings
from liveinsight.storage.embedded import EmbeddedStore
from tests.conftest import make_client, make_settings, svc_of

CHECK = ("SELECT count(), sum(cityHash64(site_id, name, pathname, visitor_id, timestamp)) "
         "FROM `{db}`.events")


def _insert(settings: Settings, root: Path, first: int, n: int) -> None:
    store = EmbeddedStore(settings.chdb_path, settings.clickhouse_database, backup_root=root)
    try:
        store.command(
            f"INSERT INTO `{store.database}`.events (timestamp, site_id, name, pathname, "
            f"visitor_id) SELECT toDateTime64('2026-11-01 00:00:00', 3) + number, 1, "
            f"'pageview', concat('/p/', toString(number % 13)), number % 97 "
            f"FROM numbers({first}, {n})")
    finally:
        store.close()


REPORTS: list[tuple[str, int, int]] = []


def _report(step: str, done: int = 0, total: int = 0) -> None:
    REPORTS.append((step, done, total))


def _backup(settings: Settings, root: Path, incremental: bool = False) -> dict[str, object]:
    store = EmbeddedStore(settings.chdb_path, settings.clickhouse_database, backup_root=root)
    wal = WriteAheadLog(settings.wal_dir, fsync="always")
    try:
        return backups.create(settings, store, wal, contextlib.nullcontext, root=root,
                              incremental=incremental, progress=_report)
    finally:
        wal.close()
        store.close()


def _restored(backup: str, elsewhere: Path) -> list[list[object]]:
    """``liveinsight restore`` of ``backup`` into a new data dir, then the events' check."""
    settings = make_settings(elsewhere)
    backups.restore(settings, Path(backup))
    store = EmbeddedStore(settings.chdb_path, settings.clickhouse_database)
    try:
        return store.query(CHECK.format(db=settings.clickhouse_database)).rows
    finally:
        store.close()


def test_an_incremental_chain_restores_what_a_full_backup_does(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, backup_keep=10)
    with make_client(tmp_path, backup_keep=10) as c:  # the schema and metadata database
        svc_of(c).meta.create_site("example.com")
    root = (tmp_path / "backups").resolve()
    with pytest.raises(Invalid, match="take a full one first"):
        _backup(settings, root, incremental=True)
    _insert(settings, root, 0, 50_000)
    full = _backup(settings, root)
    _insert(settings, root, 50_000, 700)
    first = _backup(settings, root, incremental=True)
    _insert(settings, root, 60_000, 9)
    second = _backup(settings, root, incremental=True)
    REPORTS.clear()
    reference = _backup(settings, root)  # a full backup of the same data
    steps = list(dict.fromkeys(step for step, _, _ in REPORTS))
    assert steps == list(backups.STEPS["backup"])  # in order, each announced
    measured = [(done, total) for step, done, total in REPORTS if step == "checksums" and total]
    assert measured and measured[-1][0] == measured[-1][1] > 0  # bytes, up to all of them
    assert (full["base"], first["base"], reference["base"]) == (
        None, Path(str(full["path"])).name, None)
    assert second["base"] == Path(str(first["path"])).name
    size = {name: sum(f.stat().st_size for f in (Path(str(b["path"])) / "chdb").rglob("*")
                      if f.is_file())
            for name, b in (("full", full), ("second", second))}
    assert size["second"] < size["full"] / 4  # only the parts the base lacks

    expected = _restored(str(reference["path"]), tmp_path / "restored-full")
    assert expected[0][0] == 50_709
    assert _restored(str(second["path"]), tmp_path / "restored-inc") == expected
    outcome = backups.verify(Path(str(second["path"])))
    assert outcome["ok"] and outcome["bases"] == [Path(str(first["path"])).name,
                                                   Path(str(full["path"])).name]

    # a damaged base is named when the top of the chain is verified
    victim = next(p for p in (Path(str(full["path"])) / "chdb").rglob("*.bin"))
    victim.write_bytes(b"tampered" + victim.read_bytes()[8:])
    damaged = backups.verify(Path(str(second["path"])))
    assert not damaged["ok"]
    assert damaged["changed_files"][0].startswith(Path(str(full["path"])).name + "/chdb/")

    # retention: keep 1 keeps the newest (a full one) only; keep 2 keeps the incremental
    # second backup, so its bases too
    assert backups.prune(root, 2) == []
    gone = backups.prune(root, 1)
    assert sorted(p.name for p in gone) == sorted(
        Path(str(b["path"])).name for b in (full, first, second))


def test_a_missing_base_is_named(tmp_path: Path) -> None:
    root = tmp_path / "backups"
    for name, base in (("liveinsight-1", None), ("liveinsight-2", "liveinsight-1")):
        (root / name).mkdir(parents=True)
        (root / name / "manifest.json").write_text(json.dumps(
            {"version": backups.VERSION, "base": base, "files": {}}))
    assert [p.name for p in backups.chain(root / "liveinsight-2")] == [
        "liveinsight-2", "liveinsight-1"]
    (root / "liveinsight-1" / "manifest.json").unlink()
    with pytest.raises(NotFound, match="builds on liveinsight-1"):
        backups.chain(root / "liveinsight-2")
