"""A store per test module on both transports (embedded chDB and the HTTP transport), as
for the query correctness suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liveinsight.storage.protocol import Store
from tests.support import STORE_KINDS, open_test_store


@pytest.fixture(scope="module", params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Store]:
    with open_test_store(request, tmp_path_factory.mktemp("chdb")) as opened:
        yield opened


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("segments")
