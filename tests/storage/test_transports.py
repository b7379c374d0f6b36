"""``storage/transports.open_store``: the settings choose the transport."""

from __future__ import annotations

import uuid
from pathlib import Path

from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.http import HttpStore
from liveinsight.storage.transports import open_store
from tests.conftest import make_settings


def test_the_embedded_engine_by_default_with_backups_under_the_backup_dir(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path, clickhouse_database="li_default")
    store = open_store(settings)
    try:
        assert isinstance(store, EmbeddedStore)
        assert store.path == settings.chdb_path.resolve()
        assert store.database == "li_default"
        store.command("CREATE TABLE li_default.t (a UInt8) ENGINE = MergeTree ORDER BY a")
        store.command(f"BACKUP TABLE li_default.t TO File('{settings.backup_path}/b')")
        assert (settings.backup_path / "b").is_dir()
    finally:
        store.close()


def test_a_clickhouse_url_chooses_the_http_transport(tmp_path: Path, clickhouse_url: str) -> None:
    database = f"tr_{uuid.uuid4().hex[:10]}"
    store = open_store(make_settings(tmp_path, clickhouse_url=clickhouse_url,
                                     clickhouse_database=database))
    try:
        assert isinstance(store, HttpStore)
        assert store.database == database
        assert store.query("SELECT count() FROM system.databases WHERE name = {d:String}",
                           {"d": database}).scalar() == 1
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{database}`")
        store.close()
