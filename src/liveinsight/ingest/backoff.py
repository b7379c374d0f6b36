"""Exponential back-off as pure functions: the delays only, no clock and no sleeping.

The writer waits ``next_backoff(previous, cap)`` seconds after each failed insert, starting
from ``previous = 0`` and starting over after a success, so the delays after 1, 2, 3, ...
failures in a row are ``backoff_delays(cap=...)``: ``first``, doubling, never above ``cap``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

FIRST_DELAY_S: Final = 0.1
"""The delay after the first failure in a row, in seconds."""


def next_backoff(previous: float, cap: float, *, first: float = FIRST_DELAY_S) -> float:
    """The delay that follows one of ``previous`` seconds: twice ``previous``, at least
    ``first`` (so ``previous = 0``, no failure yet, gives ``first``) and at most ``cap`` (a
    ``cap`` below ``first`` wins). Doubling is exact in binary floating point, so the delays
    are exactly ``first * 2**n`` until the cap."""
    return min(max(previous * 2, first), cap)


def backoff_delays(*, cap: float, first: float = FIRST_DELAY_S) -> Iterator[float]:
    """The delays after 1, 2, 3, ... failures in a row, endlessly: ``first``, ``2 * first``,
    ``4 * first``, ... up to ``cap``, then ``cap`` forever (see :func:`next_backoff`)."""
    delay = 0.0
    while True:
        delay = next_backoff(delay, cap, first=first)
        yield delay
