"""The progress interface of long runs (verify, sweep): units of work become known (``add``)
and finish (``tick``). This one only counts; the command line passes one that draws
(:class:`corral.cli.progress.TerminalProgress`), so the audit layer never writes to a
terminal itself."""

from __future__ import annotations

import threading


class Progress:
    """Counts units of work; draws nothing."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        """More units became known."""
        with self._lock:
            self.total += count

    def tick(self) -> None:
        """One unit finished."""
        with self._lock:
            self.done += 1

    def close(self) -> None:
        """The run ended."""
