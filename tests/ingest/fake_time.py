"""A fake clock with a sleep and a wait on it, for code that takes ``clock``, ``sleep`` and
``wait`` callables (the batch writer, the write-ahead log): tests assert the delays asked
for exactly, and nothing depends on how fast the machine is."""

from __future__ import annotations

import threading


class FakeTime:
    """Time that moves only by :meth:`advance`, :meth:`sleep` and released waits.

    - :meth:`sleep` records the delay, advances the clock by it and returns at once.
    - :meth:`wait` records the delay, then blocks its thread until the test grants it with
      :meth:`release` (it then advances the clock by the delay and returns False: "not
      stopped") or calls :meth:`close` (every wait, blocked or later, returns True:
      "stopped"). A wait nobody grants gives up after ``give_up_s`` real seconds and returns
      True, so a failing test cannot leave a thread blocked for good.
    """

    def __init__(self, start: float = 0.0, *, give_up_s: float = 60.0) -> None:
        self._cond = threading.Condition()
        self._now = start
        self._grants = 0
        self._closed = False
        self._give_up_s = give_up_s
        self._sleeps: list[float] = []
        self._waits: list[float] = []

    def clock(self) -> float:
        """The fake monotonic time, in seconds."""
        with self._cond:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += seconds

    @property
    def sleeps(self) -> list[float]:
        """The delays passed to :meth:`sleep`, in call order."""
        with self._cond:
            return list(self._sleeps)

    @property
    def waits(self) -> list[float]:
        """The delays passed to :meth:`wait`, in call order (recorded when the wait begins)."""
        with self._cond:
            return list(self._waits)

    def sleep(self, seconds: float) -> None:
        with self._cond:
            self._sleeps.append(seconds)
            self._now += seconds

    def wait(self, seconds: float) -> bool:
        with self._cond:
            self._waits.append(seconds)
            granted = self._cond.wait_for(lambda: self._grants > 0 or self._closed,
                                          timeout=self._give_up_s)
            if self._closed or not granted:
                return True
            self._grants -= 1
            self._now += seconds
            return False

    def release(self, waits: int = 1) -> None:
        """Let ``waits`` more waits (blocked now or begun later) run their full delay."""
        with self._cond:
            self._grants += waits
            self._cond.notify_all()

    def close(self) -> None:
        """End every wait, now and later, as "stopped"."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
