"""Fixtures of the multi-process tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(**settings: str) -> Server:
        s = Server(tmp_path / "data", tmp_path / "server.log", **settings)
        s.cli("create-site", "example.com")
        made.append(s)
        return s

    yield make
    for s in made:
        if s.proc is not None and s.proc.poll() is None:
            s.kill()
