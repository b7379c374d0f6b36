"""A store per test module, embedded chDB and (when LIVEINSIGHT_TEST_CLICKHOUSE_URL is set)
a live ClickHouse server, so the correctness suite runs on both engines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from liveinsight.storage.migrate import migrate
from liveinsight.storage.protocol import Store
from tests.conftest import CLICKHOUSE_URL, require_service


@pytest.fixture(scope="module", params=["chdb", pytest.param("clickhouse",
                                                             marks=pytest.mark.clickhouse)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Store]:
    opened: Store
    if request.param == "clickhouse":
        require_service("ClickHouse", CLICKHOUSE_URL, 8123)
        from liveinsight.storage.http import HttpStore

        assert CLICKHOUSE_URL is not None
        opened = HttpStore(CLICKHOUSE_URL, f"test_{uuid.uuid4().hex[:12]}")
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
