"""Group appends: the requests that arrive together reach the write-ahead log together.

Under load many collector requests are enriched in one turn of the event loop. Each used to
make its own append (frame, lock, ``os.write``, and with ``fsync=always`` its own fsync);
:class:`GroupAppender` instead queues each request's encoded lines and appends everything
queued as one frame once the loop has run the other ready requests, then wakes them all.
The promise is unchanged: a caller returns only once its lines are in the log (fsynced with
``always``), and a failed append fails every request of the group, none of which has been
answered yet (a frame is all-or-nothing, see ``ingest/wal.py``).

With ``fsync=always`` the append runs on a worker thread; requests arriving meanwhile form
the next group, so concurrent requests share one fsync (group commit).
"""

from __future__ import annotations

import asyncio

from liveinsight.ingest.wal import WalFull, WalUnavailable, WriteAheadLog
from liveinsight.ops.metrics import Metrics

_Waiter = tuple[bytes, int, asyncio.Future[None]]


class GroupAppender:
    """Appends on behalf of the requests of one event loop (``threaded``: off the loop)."""

    def __init__(self, wal: WriteAheadLog, metrics: Metrics, *, threaded: bool) -> None:
        self.wal = wal
        self.metrics = metrics
        self.threaded = threaded
        self._queued: list[_Waiter] = []
        self._busy = False  # a flush is scheduled or running
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    async def append(self, payload: bytes, rows: int) -> None:
        """Return once ``payload`` (complete JSON lines holding ``rows`` event rows) is in
        the log; raise :class:`WalUnavailable` (or :class:`WalFull`) when it could not be
        written, in which case nothing of it was kept."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests): what the old one queued is dead
            self._loop, self._queued, self._busy = loop, [], False
        done: asyncio.Future[None] = loop.create_future()
        self._queued.append((payload, rows, done))
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
        _settle(group, self._write(group))

    async def _flush_threaded(self) -> None:
        try:
            while self._queued:
                group, self._queued = self._queued, []
                _settle(group, await asyncio.to_thread(self._write, group))
        finally:
            self._busy = False

    def _write(self, group: list[_Waiter]) -> WalUnavailable | None:
        """Append the group as one frame; the error to give every member, or None."""
        payload = group[0][0] if len(group) == 1 else b"".join(p for p, _, _ in group)
        try:
            self.wal.append(payload, sum(rows for _, rows, _ in group))
        except WalFull as exc:
            self.metrics.wal_append_failures.labels("quota").inc(len(group))
            return exc
        except WalUnavailable as exc:
            self.metrics.wal_append_failures.labels("io").inc(len(group))
            return exc
        return None


def _settle(group: list[_Waiter], error: WalUnavailable | None) -> None:
    for _, _, done in group:
        if done.done():
            continue  # its request was cancelled (client gone): nothing to answer
        if error is None:
            done.set_result(None)
        else:  # one exception object per request: each gets its own traceback
            done.set_exception(type(error)(str(error), retry_after=error.retry_after))
