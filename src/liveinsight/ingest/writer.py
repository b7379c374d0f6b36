"""The batch writer: moves write-ahead-log segments into ClickHouse.

A background thread closes the open segment when it holds ``batch_rows`` rows, or when it
holds any and ``flush_s`` has passed since its oldest row came or since the thread last closed
one (see :attr:`BatchWriter.rotation_due`), then ingests closed segments oldest first and
deletes each only after the store confirmed the insert. Segments left by an earlier run are
ingested at start. Each insert carries the segment's deduplication token, so a crash between
insert and delete never double-counts on replay.

While the store fails, segments stay on disk and the writer retries with exponential back-off
(:func:`~liveinsight.ingest.backoff.next_backoff`, capped at ``retry_max_s``); the log's quota
bounds what can wait. The back-off holds whatever the append rate: :meth:`BatchWriter.nudge`
(rows arrived) never ends a back-off wait, only a stop does, and a synchronous flush
(:meth:`BatchWriter.flush`, :meth:`BatchWriter.stop`) pauses on the same schedule between its
attempts. A breaker's refusal (``StoreUnavailable``, "not tried") is a failure like any. The
failures are logged once when they start, then at most once per :data:`FAILURE_LOG_EVERY_S`
as a summary, and once when an insert succeeds again: the product's own log records go to
the same store through a writer like this one, so a line per attempt would feed itself.

Time comes from three injectable callables (defaults: the real clock and real waits), so
tests can run the retry schedule on a fake clock and assert the delays exactly:

- ``clock()``: monotonic seconds, for the deadlines of :meth:`BatchWriter.flush` and
  :meth:`BatchWriter.stop` and for the duration passed to ``on_ingested``;
- ``wait(seconds)``: the back-off between retries in the background thread; waits up to
  ``seconds`` and returns True when the writer is stopping (default: the writer's own stop
  event, which :meth:`BatchWriter.stop` sets; ``stop`` waits at most its ``timeout`` for the
  thread, so an injected ``wait`` should return True by then);
- ``sleep(seconds)``: the back-off between attempts of a synchronous flush (default
  ``time.sleep``); it must advance ``clock``, so inject the two together.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Final

from liveinsight.ingest.backoff import next_backoff
from liveinsight.ingest.wal import Segment, WriteAheadLog
from liveinsight.storage.protocol import Store, StoreError, StoreUnavailable

log = logging.getLogger("liveinsight.writer")

FAILURE_LOG_EVERY_S: Final = 60.0
"""While inserts keep failing, at most one log line (a summary) per this many seconds."""


class BatchWriter:
    """Owns the thread that drains the log into the store."""

    def __init__(
        self,
        wal: WriteAheadLog,
        store: Store,
        *,
        node_id: str,
        batch_rows: int = 100_000,
        flush_s: float = 0.5,
        retry_max_s: float = 30.0,
        on_ingested: Callable[[Segment, float], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``wait`` defaults to the writer's stop event; see the module docstring for
        ``clock``, ``wait`` and ``sleep``."""
        self.wal = wal
        self.store = store
        self.node_id = node_id
        self.batch_rows = batch_rows
        self.flush_s = flush_s
        self.retry_max_s = retry_max_s
        self._on_ingested = on_ingested
        self._on_error = on_error
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._stop = threading.Event()
        self._clock = clock
        self._wait = wait if wait is not None else self._stop.wait
        self._sleep = sleep
        self._rotated_at = clock()
        self._thread: threading.Thread | None = None
        self.healthy = True
        self.last_error: str | None = None
        self.failures = 0
        self.ingested_segments = 0
        self._report_lock = threading.Lock()
        self._failing_since: float | None = None
        self._logged_at = 0.0
        self._unlogged = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wal-writer", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Ask the writer to look at the log now (e.g. a batch filled up)."""
        self._wake.set()

    def stop(self, *, flush: bool = True, timeout: float = 30.0) -> None:
        """Stop the thread; with ``flush``, first ingest everything in the log (best effort:
        what cannot be ingested stays in the log for the next start). The whole stop takes
        at most ``timeout`` seconds plus one insert in progress, so it ends before the
        server's ``workers_kill_timeout`` (see ``liveinsight serve``)."""
        deadline = self._clock() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        if flush:
            self._flush_all(deadline)

    def flush(self, timeout: float = 30.0) -> bool:
        """Synchronously rotate and ingest everything; True when the log is empty after.
        While the store fails it retries on the back-off schedule (0.1 s, doubling, at most
        ``retry_max_s``; the last pause cut short at the deadline) until ``timeout``."""
        return self._flush_all(self._clock() + timeout)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """While inside, no segment is ingested (after one in progress is done): for work
        that must see the tables still, such as rebuilding the rollups. Events keep being
        accepted into the log meanwhile and flow in afterwards."""
        with self._drain_lock:
            yield

    @property
    def rotation_due(self) -> bool:
        """True when the open segment should be closed now: it holds ``batch_rows`` rows; or
        it holds any and either its first row is ``flush_s`` old (the log's
        ``oldest_age_s``) or the writer last closed one ``flush_s`` ago or more (by its own
        clock; the writer's start counts as a close). So the time-triggered inserts are at
        most one per ``flush_s``, as batching wants, while a row arriving after a quiet
        moment goes in at once instead of waiting ``flush_s`` (sparse traffic is visible in
        the time of an insert)."""
        rows = self.wal.pending_rows
        if rows >= self.batch_rows:
            return True
        return rows > 0 and (self.wal.oldest_age_s >= self.flush_s
                             or self._clock() - self._rotated_at >= self.flush_s)

    def _flush_all(self, deadline: float) -> bool:
        self._rotated_at = self._clock()
        try:
            self.wal.rotate()
        except OSError as exc:
            self._failed(exc)
        pause = 0.0
        while (left := deadline - self._clock()) > 0:
            if self._drain_once():
                return True
            pause = next_backoff(pause, self.retry_max_s)
            self._sleep(min(pause, left))
        return False

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            if self.rotation_due:
                self._rotated_at = self._clock()
                try:
                    self.wal.rotate()
                except OSError as exc:
                    self._failed(exc)
            if self._drain_once():
                backoff = 0.0
                self._wake.wait(min(0.05, self.flush_s / 4))
                self._wake.clear()
            else:
                # Only a stop ends this wait: rows appended meanwhile (nudges) must not turn
                # each append into an insert attempt while the store is away.
                backoff = next_backoff(backoff, self.retry_max_s)
                if self._wait(backoff):
                    return

    def _drain_once(self) -> bool:
        """Ingest every closed segment in order; False at the first failure."""
        with self._drain_lock:
            return self._drain_locked()

    def _drain_locked(self) -> bool:
        for segment in self.wal.closed_segments():
            started = self._clock()
            try:
                self.store.ingest_segment(segment.path, f"{self.node_id}-{segment.token}")
            except (StoreUnavailable, StoreError, OSError) as exc:
                self._failed(exc)
                return False
            self.wal.delete(segment)
            self.ingested_segments += 1
            self._recovered()
            if self._on_ingested is not None:
                self._on_ingested(segment, self._clock() - started)
        return True

    def _failed(self, exc: Exception) -> None:
        now = self._clock()
        with self._report_lock:
            self.failures += 1
            self.healthy = False
            self.last_error = str(exc)[:500]
            self._unlogged += 1
            if self._failing_since is None:
                self._failing_since = now
                line = "writer: store insert failed: %s (retrying with back-off up to %g s)"
                args: tuple[object, ...] = (exc, self.retry_max_s)
            elif now - self._logged_at >= FAILURE_LOG_EVERY_S:
                line = "writer: store inserts still failing: %d attempts in %.0f s since the " \
                       "last report, %d in a row over %.0f s; last error: %s"
                args = (self._unlogged, now - self._logged_at, self.failures,
                        now - self._failing_since, exc)
            else:
                line, args = "", ()
            if line:
                self._logged_at = now
                self._unlogged = 0
        if line:
            log.warning(line, *args)
        if self._on_error is not None:
            self._on_error(exc)

    def _recovered(self) -> None:
        with self._report_lock:
            since, failures = self._failing_since, self.failures
            self.healthy = True
            self.failures = 0
            self._failing_since = None
            self._unlogged = 0
        if since is not None:
            log.info("writer: store inserts succeed again after %d failed attempts "
                        "over %.0f s", failures, self._clock() - since)
