"""A store per test module, embedded chDB and the HTTP transport (a ClickHouse server when
LIVEINSIGHT_TEST_CLICKHOUSE_URL is set, else ClickHouse's HTTP interface emulated over chDB,
``tests/chdb_http.py``), so the correctness suite runs on both transports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from liveinsight.storage.migrate import migrate
from liveinsight.storage.protocol import Store
from tests.conftest import CLICKHOUSE_ID


@pytest.fixture(scope="module", params=["chdb", pytest.param("clickhouse", id=CLICKHOUSE_ID,
                                                             marks=pytest.mark.clickhouse)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Store]:
    opened: Store
    if request.param == "clickhouse":
        from liveinsight.storage.http import HttpStore

        opened = HttpStore(request.getfixturevalue("clickhouse_url"),
                           f"test_{uuid.uuid4().hex[:12]}")
    else:
        from liveinsight.storage.embedded import EmbeddedStore

        opened = EmbeddedStore(tmp_path_factory.mktemp("chdb"), "liveinsight")
    migrate(opened)
    try:
        yield opened
    finally:
        if request.param == "clickhouse":
            opened.command(f"DROP DATABASE IF EXISTS `{opened.database}`")
        opened.close()


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("segments")
