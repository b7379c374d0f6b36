"""The embedded transport's own promises (``storage/embedded.py``), beyond the Store contract:
one data directory per process, what a closed store answers, and the configuration its
engine is started with (the backup directory, the query condition cache's cap)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from liveinsight.storage import embedded
from liveinsight.storage.embedded import CONDITION_CACHE_BYTES, EmbeddedStore
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


def _condition_cache(store: EmbeddedStore) -> dict[str, int]:
    rows = store.query("SELECT metric, value FROM system.metrics"
                       " WHERE metric LIKE 'QueryConditionCache%'").rows
    return {name: int(value) for name, value in rows}


def test_the_engine_starts_with_the_condition_cache_capped(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "chdb", "db")
    try:
        assert int(store.query("SELECT value FROM system.server_settings"
                               " WHERE name = 'query_condition_cache_size'").scalar()
                   ) == CONDITION_CACHE_BYTES
    finally:
        store.close()


def test_filters_over_many_parts_leave_the_condition_cache_within_its_cap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry per (part, filter) read: the soak's parts and filters filled ClickHouse's
    default 100 MiB cache at ~184 bytes of memory per ~61-byte entry. Here with a small cap,
    so that it is reached: the cache is used and what it gains stays within the cap. (The
    engine's metrics count from the process's start: an engine that ran earlier in this
    process, with another cap, left its entries in them.)"""
    cap = 64 * 1024
    monkeypatch.setattr(embedded, "CONDITION_CACHE_BYTES", cap)
    store = EmbeddedStore(tmp_path / "chdb", "db")
    try:
        before = _condition_cache(store)
        store.command("CREATE TABLE db.t (site String, ts DateTime, name String, v UInt32)"
                      " ENGINE = MergeTree ORDER BY (site, ts)"
                      " SETTINGS index_granularity = 128")
        for part in range(30):
            store.command("INSERT INTO db.t SELECT 's' || toString(number % 5),"
                          " toDateTime('2026-01-01') + number,"
                          " if(number % 7 = 0, 'x', 'pageview'), number"
                          f" FROM numbers({part * 4000}, 4000)")
        for n in range(2, 250):
            store.query(f"SELECT count() FROM db.t WHERE name = 'x' AND v % {n} = 1")
        after = _condition_cache(store)
        gained = {name: after[name] - before.get(name, 0) for name in after}
        assert gained["QueryConditionCacheEntries"] > 100, (before, after)
        assert 0 < gained["QueryConditionCacheBytes"] <= cap, (before, after)
        assert (tmp_path / "chdb-engine.xml").read_text().count(f">{cap}<") == 1
    finally:
        store.close()
