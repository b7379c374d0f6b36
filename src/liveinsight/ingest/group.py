"""Group ingest: the requests that arrive together are enriched and logged together.

Under load many collector requests are parsed in one turn of the event loop. Each used to
enrich its events and make its own append (frame, lock, ``os.write``, and with
``fsync=always`` its own fsync); :class:`GroupIngest` instead queues each request's parsed
events and, once the loop has run the other ready requests, enriches everything queued in one
pass, appends it as one frame and wakes the requests. Enriching a group in one tight loop,
rather than a few events at a time between the event loop's own work, keeps the pipeline's
code and caches hot: in-process it cut the CPU per request by about a tenth (see
docs/performance.md).

The promise is unchanged: a caller returns only once its lines are in the log (fsynced with
``always``), and a failed append fails every request of the group, none of which has been
answered yet (a frame is all-or-nothing, see ``ingest/wal.py``). A request whose enrichment
raises fails alone, before anything of it is appended.

With ``fsync=always`` the append runs on a worker thread (enrichment stays on the loop);
requests arriving meanwhile form the next group, so concurrent requests share one fsync
(group commit). With a session store in Redis the enrichment runs on that thread too (one
round trip to Redis per group, never on the loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from liveinsight.ingest.service import Ingestor, IngestResult
from liveinsight.ingest.wal import WalUnavailable
from liveinsight.types import RawEvent

log = logging.getLogger("liveinsight.ingest.group")


class _Job:
    """One request's events on their way to the log."""

    __slots__ = ("done", "endpoint", "error", "now", "payload", "raws", "result")

    def __init__(self, raws: Sequence[RawEvent], now: datetime, endpoint: str,
                 done: asyncio.Future[None]) -> None:
        self.raws, self.now, self.endpoint, self.done = raws, now, endpoint, done
        self.payload = b""
        self.result: IngestResult | None = None
        self.error: Exception | None = None  # its enrichment raised (a bug): a 500


class GroupIngest:
    """Enriches and appends on behalf of the requests of one event loop (``threaded``: the
    append runs off the loop; ``enrich_off_loop``: the enrichment too, for a pipeline that
    does I/O, e.g. a session store in Redis; it implies ``threaded``)."""

    def __init__(self, ingestor: Ingestor, *, threaded: bool,
                 enrich_off_loop: bool = False) -> None:
        self.ingestor = ingestor
        self.threaded = threaded or enrich_off_loop
        self.enrich_off_loop = enrich_off_loop
        self._queued: list[_Job] = []
        self._busy = False  # a flush is scheduled or running
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    async def ingest(self, raws: Sequence[RawEvent], now: datetime, endpoint: str) -> None:
        """Return once ``raws`` (taken in at ``now``) are enriched and their lines are in
        the log, counted under ``endpoint``; raise :class:`WalUnavailable` (or
        :class:`WalFull`) when the log could not take them, in which case nothing of them
        was kept."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests): what the old one queued is dead
            self._loop, self._queued, self._busy = loop, [], False
        done: asyncio.Future[None] = loop.create_future()
        self._queued.append(_Job(raws, now, endpoint, done))
        if not self._busy:
            self._busy = True
            if self.threaded:
                self._task = loop.create_task(self._flush_threaded())
            else:
                loop.call_soon(self._flush)
        await done

    def _flush(self) -> None:
        group, self._queued = self._queued, []
        self._busy = False
        try:
            group = self._enrich(group)
            self._finish(group, self._write(group))
        except Exception as exc:  # a bug: answer every waiting request rather than hang it
            _fail(group, exc)

    async def _flush_threaded(self) -> None:
        try:
            while self._queued:
                group, self._queued = self._queued, []
                try:
                    if self.enrich_off_loop:
                        error = await asyncio.to_thread(self._enrich_and_write, group)
                    else:
                        group = self._enrich(group)
                        error = await asyncio.to_thread(self._write, group)
                    self._finish(group, error)
                except Exception as exc:  # as in _flush
                    _fail(group, exc)
        finally:
            self._busy = False

    def _enrich_and_write(self, group: list[_Job]) -> WalUnavailable | None:
        """On a worker thread: no future is touched here (they belong to the loop)."""
        return self._write(self._enrich(group))

    def _enrich(self, group: list[_Job]) -> list[_Job]:
        """Enrich every job as one batch (:meth:`Ingestor.enrich_many`). Should the batch
        raise (a bug, not bad input: the pipeline drops bad events), each job is enriched
        alone, so a job whose enrichment raises gets the error (``job.error``, answered
        with a 500 by :meth:`_finish`) and the others go on."""
        try:
            answers = self.ingestor.enrich_many([(job.raws, job.now) for job in group])
        except Exception:
            for job in group:
                self._enrich_alone(job)
            return group
        for job, (payload, result) in zip(group, answers, strict=True):
            job.payload, job.result = payload, result
        return group

    def _enrich_alone(self, job: _Job) -> None:
        try:
            job.payload, job.result = self.ingestor.enrich(job.raws, job.now)
        except Exception as exc:
            log.exception("enrichment failed; the request gets a 500")
            job.error = exc

    def _write(self, group: list[_Job]) -> WalUnavailable | None:
        """Append the group's lines as one frame; the error for every member with lines, or
        None."""
        payloads = [job.payload for job in group if job.payload]
        if not payloads:
            return None
        rows = sum(job.result.accepted for job in group if job.result is not None)
        sites = {row.site_id for job in group if job.result is not None
                 for row in job.result.rows}
        try:
            self.ingestor.append(payloads[0] if len(payloads) == 1 else b"".join(payloads),
                                 rows, requests=len(payloads), sites=sites)
        except WalUnavailable as exc:
            return exc
        return None

    def _finish(self, group: list[_Job], error: WalUnavailable | None) -> None:
        """Wake every member: those with lines with ``error`` when the append failed, the
        rest (events appended, or all dropped) counted and announced together."""
        self.ingestor.record([
            (job.result, job.endpoint) for job in group
            if job.result is not None and not (error is not None and job.payload)])
        for job in group:
            failed = error is not None and job.payload
            done = job.done
            if done.done():
                continue  # its request was cancelled (client gone): nothing to answer
            if job.error is not None:
                done.set_exception(job.error)
            elif error is not None and failed:  # one exception object per request
                done.set_exception(type(error)(str(error), retry_after=error.retry_after))
            else:
                done.set_result(None)


def _fail(group: list[_Job], exc: Exception) -> None:
    log.exception("group ingest failed; its waiting requests get a 500", exc_info=exc)
    for job in group:
        if not job.done.done():
            job.done.set_exception(exc)
