"""The external dependencies of a node and how each is doing.

Every service that talks to something outside the process registers it here once, in
``services.open_services``: a name, a kind, a ``check`` (a cheap round-trip: ``SELECT 1``,
``PING``...) and the :class:`~liveinsight.ops.breaker.Breaker` that guards its calls, if any.
:meth:`Dependencies.check` runs every check concurrently, each bounded by a timeout, and
reports per dependency:

- ``up`` — the check answered and the breaker (if any) is closed;
- ``degraded`` — the check answered but the breaker is still open (the next call through
  it will close it), or the dependency is optional and its check failed;
- ``down`` — a required dependency's check failed or did not answer in time.

A check may say more than "it answered" by returning a :class:`Reading`: a state worse than
``up`` with its reason (the log's disk: ``down`` while the log refuses appends, whether or
not the dependency is required; ``degraded`` while its free space is low) and figures shown
as the report's ``detail``.

Checks run in a small pool of threads of their own (never on the event loop); a check that
does not answer in time is reported ``down`` and left to finish on its own (its socket
timeout bounds it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from liveinsight.ops.breaker import Breaker, BreakerState

UP, DEGRADED, DOWN = "up", "degraded", "down"


@dataclass(frozen=True, slots=True)
class Dependency:
    name: str
    kind: str  # clickhouse | metadata | redis | smtp | http | disk ...
    check: Callable[[], object] | None
    breaker: Breaker | None
    required: bool  # down: the node cannot serve (readiness fails)


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    kind: str
    state: str  # up | degraded | down
    required: bool
    latency_ms: float | None  # of the check; None when it has none or did not answer
    error: str | None
    breaker: BreakerState | None
    detail: Mapping[str, object] | None = None  # the check's figures (a Reading's)


@dataclass(frozen=True, slots=True)
class Reading:
    """What a check returns when answering is not the whole story: ``state`` (``up``,
    ``degraded`` or ``down``), why when it is not up, and figures for the report."""

    state: str = UP
    error: str | None = None
    detail: Mapping[str, object] = field(default_factory=dict)


class Dependencies:
    """Thread-safe registry."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._items: dict[str, Dependency] = {}
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dependency-check")

    def register(self, name: str, *, kind: str, check: Callable[[], object] | None = None,
                 breaker: Breaker | None = None, required: bool = False) -> None:
        if check is None and breaker is None:
            raise ValueError(f"dependency {name!r}: give a check, a breaker or both")
        with self._lock:
            self._items[name] = Dependency(name, kind, check, breaker, required)

    def all(self) -> list[Dependency]:
        with self._lock:
            return list(self._items.values())

    def breaker(self, name: str) -> Breaker | None:
        with self._lock:
            found = self._items.get(name)
        return found.breaker if found else None

    def check(self, timeout: float | None = None) -> list[Report]:
        """Every dependency's state now (checks concurrently; at most ``timeout`` seconds
        in all)."""
        limit = self.timeout if timeout is None else timeout
        items = self.all()
        started = time.monotonic()
        futures: dict[str, Future[tuple[float, object]]] = {
            d.name: self._pool.submit(_timed, d.check) for d in items if d.check is not None}
        reports = []
        for dep in items:
            latency: float | None = None
            error: str | None = None
            reading: Reading | None = None
            answered = True
            future = futures.get(dep.name)
            if future is not None:
                try:
                    remaining = max(0.0, limit - (time.monotonic() - started))
                    seconds, answer = future.result(timeout=remaining)
                    latency = round(seconds * 1000, 2)
                    reading = answer if isinstance(answer, Reading) else None
                except FutureTimeout:
                    answered, error = False, f"no answer within {limit:g} s"
                except Exception as exc:
                    answered, error = False, f"{type(exc).__name__}: {exc}"[:300]
            breaker = dep.breaker.state() if dep.breaker is not None else None
            if breaker is not None and error is None and breaker.state != "closed":
                error = breaker.last_error
            if not answered:
                state = DOWN if dep.required else DEGRADED
            elif reading is not None and reading.state != UP:
                state, error = reading.state, reading.error
            elif breaker is not None and breaker.state != "closed":
                state = DEGRADED if future is not None else (DOWN if dep.required
                                                             else DEGRADED)
            else:
                state = UP
            reports.append(Report(dep.name, dep.kind, state, dep.required, latency, error,
                                  breaker, dict(reading.detail) if reading else None))
        return reports

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _timed(check: Callable[[], object] | None) -> tuple[float, object]:
    started = time.perf_counter()
    answer = check() if check is not None else None
    return time.perf_counter() - started, answer
