"""Progress bars of the long commands (``liveinsight backup``, ``backup --verify``,
``restore``), drawn with rich (already the CLI's library) on stderr, which leaves stdout to
the command's answer.

One bar per step, numbered ``[2/5]``, added as the step begins: a step that measures itself
(the checksums in bytes, the log's segments in files) fills its bar; one that cannot (the
engine's ``BACKUP``/``RESTORE``, which report nothing while they run) pulses until the next
step begins. When stderr is not a terminal (cron, a pipe, CI) nothing is drawn at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)


class StepBars:
    """A ``progress(step, done=0, total=0)`` callback (``ops/backup.py: Progress``) and the
    bars it draws; use it as a context manager around the command."""

    def __init__(self, steps: Sequence[str], console: Console | None = None) -> None:
        self._steps = list(steps)
        self._console = console or Console(stderr=True)
        self._bars = Progress(TextColumn("{task.description}"), BarColumn(),
                              TaskProgressColumn(), TimeElapsedColumn(),
                              console=self._console,
                              disable=not self._console.is_terminal)
        self._current: tuple[str, TaskID] | None = None

    @property
    def shown(self) -> bool:
        """Whether anything is drawn (stderr is a terminal)."""
        return not self._bars.disable

    def __enter__(self) -> StepBars:
        self._bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self._finish()
        self._bars.stop()

    def __call__(self, step: str, done: int = 0, total: int = 0) -> None:
        if self._current is None or self._current[0] != step:
            self._finish()
            number = self._steps.index(step) + 1 if step in self._steps else "?"
            task = self._bars.add_task(f"[{number}/{len(self._steps)}] {step}",
                                       total=total or None)
            self._current = (step, task)
        if total:
            self._bars.update(self._current[1], completed=done, total=total)

    def _finish(self) -> None:
        if self._current is not None:
            task = self._current[1]
            size = self._bars.tasks[self._bars.task_ids.index(task)].total or 1
            self._bars.update(task, completed=size, total=size)
