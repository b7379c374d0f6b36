"""Group ingest: concurrent requests are enriched together and appended as one frame; a
failed append fails exactly the requests that had lines in it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import msgspec
import pytest

from liveinsight.ingest.group import GroupIngest
from liveinsight.ingest.service import Ingestor
from liveinsight.ingest.wal import WalFull
from liveinsight.ops.metrics import Metrics
from liveinsight.types import DropReason, EventRow, RawEvent, SessionRow

from .enrich_factories import NOW, raw


class Pipeline:
    """Keeps events whose URL path is not /drop; raises for /boom."""

    def run(self, event: RawEvent,
            now: datetime | None = None) -> tuple[EventRow, list[SessionRow]] | DropReason:
        if event.url.endswith("/boom"):
            raise RuntimeError("a bug")
        if event.url.endswith("/drop"):
            return DropReason.BOT
        row = EventRow(timestamp="2026-11-22 10:00:00.000", site_id=1, name=event.name,
                       visitor_id=1, session_id=1, hostname="example.com",
                       pathname=event.url.rpartition("/")[2])
        return row, []

    def run_many(self, events: list[tuple[RawEvent, datetime | None]]) -> list[Any]:
        return [self.run(raw, now) for raw, now in events]


class Wal:
    def __init__(self, fail: Exception | None = None) -> None:
        self.frames: list[tuple[bytes, int]] = []
        self.sites: list[set[int] | frozenset[int]] = []
        self.fail = fail

    def append(self, payload: bytes, rows: int,
               sites: set[int] | frozenset[int] = frozenset()) -> None:
        if self.fail is not None:
            raise self.fail
        self.frames.append((payload, rows))
        self.sites.append(sites)


def make(wal: Wal, threaded: bool = False) -> tuple[GroupIngest, Ingestor]:
    ingestor = Ingestor(Pipeline(), wal, Metrics())  # type: ignore[arg-type]
    return GroupIngest(ingestor, threaded=threaded), ingestor


def events(*paths: str) -> list[RawEvent]:
    return [raw(url=f"https://example.com/{p}") for p in paths]


async def _gather(group: GroupIngest, *batches: list[RawEvent]) -> list[Any]:
    return await asyncio.gather(*(group.ingest(b, NOW, "event") for b in batches),
                                return_exceptions=True)


@pytest.mark.parametrize("threaded", [False, True])
def test_concurrent_requests_share_one_frame(threaded: bool) -> None:
    wal = Wal()
    group, ingestor = make(wal, threaded)
    seen: list[list[EventRow]] = []
    ingestor.subscribe(seen.append)
    results = asyncio.run(_gather(group, events("a"), events("b", "c"), events("drop")))
    assert results == [None, None, None]
    assert len(wal.frames) == 1
    payload, rows = wal.frames[0]
    assert rows == 3 and wal.sites == [{1}]  # the frame names its rows' sites
    paths = [msgspec.json.decode(line)["pathname"] for line in payload.splitlines()]
    assert paths == ["a", "b", "c"]
    assert [[r.pathname for r in batch] for batch in seen] == [["a", "b", "c"]]  # announced once
    assert ingestor.metrics.events_accepted.labels("event")._value.get() == 3
    assert ingestor.metrics.events_dropped.labels("bot")._value.get() == 1


def test_a_failed_append_fails_the_requests_with_lines_only() -> None:
    wal = Wal(fail=WalFull("the log is full", retry_after=7))
    group, ingestor = make(wal)
    results = asyncio.run(_gather(group, events("a"), events("drop"), events("b")))
    assert isinstance(results[0], WalFull) and results[0].retry_after == 7
    assert results[1] is None  # all dropped: nothing was to be kept
    assert isinstance(results[2], WalFull) and results[2] is not results[0]
    failures = ingestor.metrics.wal_append_failures.labels("quota")._value.get()
    assert failures == 2


def test_an_enrichment_bug_fails_its_request_alone() -> None:
    wal = Wal()
    group, _ = make(wal)
    results = asyncio.run(_gather(group, events("a"), events("boom"), events("b")))
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RuntimeError)
    assert wal.frames[0][1] == 2


@pytest.mark.parametrize("threaded", [False, True])
def test_an_unexpected_append_error_answers_every_request(threaded: bool) -> None:
    wal = Wal(fail=OSError("a bug: not wrapped as WalUnavailable"))
    group, _ = make(wal, threaded)
    results = asyncio.run(asyncio.wait_for(_gather(group, events("a"), events("b")), 5))
    assert all(isinstance(r, OSError) for r in results)  # answered (500), not left hanging
