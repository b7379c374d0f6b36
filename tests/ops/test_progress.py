"""The long commands' progress bars: drawn on a terminal, silent otherwise."""

from __future__ import annotations

import io

from rich.console import Console

from liveinsight.ops.progress import StepBars

STEPS = ("log segments", "event store", "checksums")


def _run(console: Console) -> StepBars:
    with StepBars(STEPS, console) as bars:
        bars("log segments")
        bars("log segments", 1, 2)
        bars("log segments", 2, 2)
        bars("event store")  # measures nothing: pulses until the next step
        bars("checksums")
        for done in range(0, 4097, 1024):
            bars("checksums", done, 4096)
    return bars


def test_each_step_gets_a_numbered_bar_filled_when_it_ends() -> None:
    out = io.StringIO()
    bars = _run(Console(file=out, force_terminal=True, width=100))
    assert bars.shown
    text = out.getvalue()
    for step in ("[1/3] log segments", "[2/3] event store", "[3/3] checksums"):
        assert step in text
    assert text.count("100%") >= 3  # every step ends full, the unmeasured one too


def test_nothing_is_drawn_when_stderr_is_not_a_terminal() -> None:
    out = io.StringIO()
    bars = _run(Console(file=out, force_terminal=False))
    assert not bars.shown and out.getvalue() == ""
