"""The embedded transport's own promises (``storage/embedded.py``), beyond the Store contract:
one data directory per process, what a closed store answers, and the backup directory its
engine is started with."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.protocol import StoreError, StoreUnavailable


def test_a_second_data_directory_is_refused_until_the_first_is_closed(tmp_path: Path) -> None:
    first = EmbeddedStore(tmp_path / "a", "db")
    try:
        with pytest.raises(StoreError, match=f"{first.path}.*close that store"):
            EmbeddedStore(tmp_path / "b", "db")
    finally:
        first.close()
    second = EmbeddedStore(tmp_path / "b", "db")
    try:
        assert second.query("SELECT currentDatabase()", ).scalar() == "default"
        assert second.query("SELECT count() FROM system.databases WHERE name = 'db'"
                            ).scalar() == 1
    finally:
        second.close()


def test_a_store_that_cannot_open_leaves_the_process_free_for_another(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        EmbeddedStore(tmp_path / "a", "bad`name")
    other = EmbeddedStore(tmp_path / "b", "db")
    try:
        assert other.ping()
    finally:
        other.close()


def test_a_closed_store_is_unavailable_on_every_thread(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "chdb", "db")
    assert store.query("SELECT 1").scalar() == 1  # this thread has its connection
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.query("SELECT 1")
    with pytest.raises(StoreUnavailable, match="closed"):
        store.command("SELECT 1")
    with pytest.raises(StoreUnavailable, match="closed"):
        list(store.stream("SELECT 1"))
    assert not store.ping()
    raised: list[BaseException] = []

    def query() -> None:
        try:
            store.query("SELECT 1")
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=query)
    thread.start()
    thread.join()
    assert [type(e) for e in raised] == [StoreUnavailable]


def test_backups_may_go_under_the_backup_root_only(tmp_path: Path) -> None:
    root = tmp_path / "backups"
    store = EmbeddedStore(tmp_path / "chdb", "db", backup_root=root)
    try:
        store.command("CREATE TABLE db.t (a UInt8) ENGINE = MergeTree ORDER BY a")
        store.command("INSERT INTO db.t VALUES (1), (2)")
        store.command(f"BACKUP TABLE db.t TO File('{root}/one')")
        assert (root / "one").is_dir()
        with pytest.raises(StoreError):
            store.command(f"BACKUP TABLE db.t TO File('{tmp_path}/elsewhere')")
        assert not (tmp_path / "elsewhere").exists()
        store.command("DROP TABLE db.t SYNC")
        store.command(f"RESTORE TABLE db.t FROM File('{root}/one')")
        assert store.query("SELECT sum(a) FROM db.t").scalar() == 3
    finally:
        store.close()
