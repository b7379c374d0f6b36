"""The served app tunes the cyclic garbage collector after start and restores it at stop."""

from __future__ import annotations

import gc
from pathlib import Path

from liveinsight.app import GC_GEN0_THRESHOLD

from ..conftest import make_client


def test_gc_frozen_while_serving_and_restored(tmp_path: Path) -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with make_client(tmp_path, gc_tuning=True) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() > 10_000  # the start-up heap
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *before[1:])
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_off_leaves_gc_alone(tmp_path: Path) -> None:
    before = gc.get_threshold()
    with make_client(tmp_path, gc_tuning=False):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == before
