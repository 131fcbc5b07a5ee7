"""Progress on stderr for the commands that read the live estate (verify, sweep).

A bar drawn by ``rich`` appears only when stderr is a terminal, ``--quiet`` is not given and
the work has run for more than a second; it is transient (cleared at the end), so what a
command prints, and everything a pipe, a file or a CI log receives, is the same with or
without it. ``rich`` is imported only when the bar is about to be drawn, so ``corral --help``
and every run without a terminal never load it.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

DELAY = 1.0  # seconds of work before a bar appears: short runs stay silent


class TerminalProgress:
    """Counts units of work (``add`` as they become known, ``tick`` as they finish)."""

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        quiet: bool = False,
        clock=time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and _is_terminal(self.stream)
        self.done = 0
        self.total = 0
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None

    def add(self, count: int) -> None:
        """More units became known."""
        with self._lock:
            self.total += count
            self._draw()

    def tick(self) -> None:
        """One unit finished."""
        with self._lock:
            self.done += 1
            self._draw()

    def close(self) -> None:
        """Clear the bar (it never outlives the command)."""
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def _draw(self) -> None:
        if not self.enabled or not self.total:
            return
        if self._bar is None:
            if self._clock() - self._started < DELAY:
                return
            self._start()
        self._bar.update(self._task, completed=self.done, total=self.total)

    def _start(self) -> None:
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(file=self.stream, force_terminal=True)
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task(self.label, total=self.total)
        self._bar.start()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: no bar
        return False
