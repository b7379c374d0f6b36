"""Circuit breakers: stop calling a dependency that keeps failing, try again now and then.

One :class:`Breaker` per external dependency (Redis, an SMTP server, a webhook target...).
Closed, calls go through; after ``failures`` consecutive failures it opens and refuses calls
at once (:class:`DependencyDown`) for ``reset_after`` seconds; then it lets **one** trial call
through (half-open): success closes it, failure opens it again. So a dead Redis costs one
timeout per ``reset_after`` seconds per node instead of one per request, and recovery needs
no human: the first trial after the dependency returns closes the breaker.

What counts as a failure is the breaker's ``counts`` (every exception by default): a
dependency that answers "no" to one call (a refused query, a 4xx) is working, and such an
exception closes the breaker like a success. :meth:`Breaker.stream` guards an iterator (an
answer read as it comes) the same way.

Why our own and not the ``circuitbreaker`` package (2.1, checked): its ``call()`` does not
refuse calls while open (only its decorator does), its half-open state lets every caller
through at once instead of one trial, it keeps state without a lock (threads of the
writer, the cache and the request pool share a breaker here), and its clock cannot be
injected for tests. What is needed is small; this is it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from liveinsight.errors import Unavailable

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class DependencyDown(Unavailable):
    """Refused without trying: the dependency's breaker is open (``retry_after``: whole
    seconds until its next trial, at least 1)."""

    def __init__(self, name: str, retry_in: float, last_error: str | None) -> None:
        why = f": {last_error}" if last_error else ""
        super().__init__(f"{name} is unavailable{why}", retry_after=max(1, round(retry_in)))
        self.dependency = name


@dataclass(frozen=True, slots=True)
class BreakerState:
    name: str
    state: str  # closed | open | half_open
    consecutive_failures: int
    last_error: str | None
    opened_seconds_ago: float | None  # while not closed
    retry_in_seconds: float  # until the next trial (0 when closed or a trial may run)
    opened_total: int  # how many times it opened since start


class Breaker:
    """Thread-safe; usable from threads (``call``) and from the event loop (``acall``)."""

    def __init__(self, name: str, *, failures: int = 3, reset_after: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[str], None] | None = None,
                 counts: Callable[[BaseException], bool] | None = None) -> None:
        """``failures``: consecutive failures that open it; ``reset_after``: seconds open
        before one trial call; ``on_change(state)``: told of each state change (metrics);
        ``counts(exc)``: whether an exception of a call is the dependency's failure (None:
        every exception is). One it does not count proves the dependency answered: it is
        recorded as a success (closing the breaker after a trial) and re-raised."""
        if failures < 1 or reset_after <= 0:
            raise ValueError("failures must be >= 1 and reset_after > 0")
        self.name = name
        self._counts = counts
        self._threshold = failures
        self._reset_after = reset_after
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False
        self._last_error: str | None = None
        self._opened_total = 0

    # --- calling ---------------------------------------------------------------------------

    def call(self, fn: Callable[[], T], /) -> T:
        """``fn()``, or :class:`DependencyDown` at once while open; ``fn``'s exception
        otherwise (a failure if ``counts`` says so, else a success)."""
        trial = self._admit()
        try:
            result = fn()
        except BaseException as exc:
            self._ended(exc, trial)
            raise
        self._succeeded()
        return result

    async def acall(self, fn: Callable[[], Awaitable[T]], /) -> T:
        """As :meth:`call`, for a coroutine function."""
        trial = self._admit()
        try:
            result = await fn()
        except BaseException as exc:
            self._ended(exc, trial)
            raise
        self._succeeded()
        return result

    def stream(self, make: Callable[[], Iterable[T]], /) -> Iterator[T]:
        """The items of ``make()``, guarded as :meth:`call` guards a call. Nothing happens
        until the first ``next()``: then the call is admitted (or :class:`DependencyDown`
        raised) and ``make()`` called. The first item (or the end of an empty answer)
        settles the call as a success, so a long answer holds no half-open trial slot; an
        exception before it settles the call as :meth:`call` would. After it, an exception
        that ``counts`` (the answer broke off) is recorded as one more failure. Closing the
        iterator early (``GeneratorExit``: the reader stopped) is no failure."""
        return self._guarded(make)

    def _guarded(self, make: Callable[[], Iterable[T]]) -> Iterator[T]:
        trial = self._admit()
        settled = False
        items: Iterator[T] | None = None
        try:
            items = iter(make())
            for item in items:
                if not settled:
                    settled = True
                    self._succeeded()
                yield item
        except GeneratorExit:
            raise  # only at a yield, so after the first item: already settled
        except BaseException as exc:
            if not settled:
                self._ended(exc, trial)
            elif self._counts is None or self._counts(exc):
                self._failed(exc, trial=False)
            raise
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # the source's own clean-up (its connection) at once
                close()
        if not settled:
            self._succeeded()

    def record_failure(self, exc: BaseException) -> None:
        """A failure observed outside :meth:`call` (a background listener's error)."""
        self._failed(exc, trial=False)

    def record_success(self) -> None:
        self._succeeded()

    # --- reading ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Open or half-open: the dependency is not known to be working."""
        with self._lock:
            return self._state != CLOSED

    @property
    def last_error(self) -> str | None:
        with self._lock:
            return self._last_error

    def state(self) -> BreakerState:
        with self._lock:
            now = self._clock()
            since = now - self._opened_at if self._state != CLOSED else None
            retry = 0.0
            if self._state == OPEN:
                retry = max(0.0, self._opened_at + self._reset_after - now)
            shown = HALF_OPEN if self._state == OPEN and retry == 0.0 else self._state
            return BreakerState(self.name, shown, self._failures, self._last_error,
                                since, retry, self._opened_total)

    # --- transitions -----------------------------------------------------------------------

    def _admit(self) -> bool:
        """Whether this call is the half-open trial; raises while open."""
        with self._lock:
            if self._state == CLOSED:
                return False
            now = self._clock()
            if self._state == OPEN and now - self._opened_at >= self._reset_after:
                self._set(HALF_OPEN)
            if self._state == HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return True
            retry = max(0.0, self._opened_at + self._reset_after - now)
            error = self._last_error
        raise DependencyDown(self.name, retry, error)

    def _ended(self, exc: BaseException, trial: bool) -> None:
        """A call that raised ``exc``: a failure, or the dependency's answer."""
        if self._counts is None or self._counts(exc):
            self._failed(exc, trial)
        else:
            self._succeeded()

    def _failed(self, exc: BaseException, trial: bool) -> None:
        with self._lock:
            if trial:
                self._trial_running = False
            self._failures += 1
            self._last_error = f"{type(exc).__name__}: {exc}"[:300]
            if trial or self._state == HALF_OPEN or (
                    self._state == CLOSED and self._failures >= self._threshold):
                self._opened_at = self._clock()
                if self._state == CLOSED:
                    self._opened_total += 1
                self._set(OPEN)

    def _succeeded(self) -> None:
        with self._lock:
            self._trial_running = False
            self._failures = 0
            if self._state != CLOSED:
                self._set(CLOSED)

    def _set(self, state: str) -> None:
        self._state = state
        if self._on_change is not None:
            with contextlib.suppress(Exception):  # a metrics callback never breaks a call
                self._on_change(state)


def refusal_in(exc: BaseException) -> DependencyDown | None:
    """The breaker's refusal that ``exc`` was raised from (``raise ... from``, at any depth),
    if any: a transport that turns a refusal into its own error keeps it as the cause."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, DependencyDown):
            return seen
        seen = seen.__cause__
    return None


def not_tried(exc: DependencyDown) -> str:
    """How a refusal reads in a transport's own error (the breaker first: error texts get
    cut at a few hundred characters, and the last error can be long)."""
    return f"not tried (circuit breaker open, next try in {exc.retry_after} s): {exc.message}"
