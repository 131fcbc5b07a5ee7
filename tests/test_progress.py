"""Progress goes to a terminal only, after a second of work, and never into what a command
prints; without a terminal (pipes, files, CI logs) or with --quiet nothing is drawn."""

from __future__ import annotations

import io
import subprocess
import sys

from corral.cli.progress import DELAY, TerminalProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _run(progress: TerminalProgress, clock: Clock, units: int = 10) -> None:
    progress.add(units)
    for _ in range(units // 2):
        progress.tick()
    clock.now += DELAY + 0.5
    progress.tick()


def test_a_terminal_gets_a_bar_after_the_delay_and_it_is_cleared() -> None:
    stream, clock = Terminal(), Clock()
    progress = TerminalProgress("sweeping", stream=stream, clock=clock)
    progress.add(10)
    progress.tick()
    assert stream.getvalue() == "" and not progress.shown  # under a second: silent
    clock.now += DELAY + 0.1
    progress.tick()
    assert progress.shown
    progress.close()
    drawn = stream.getvalue()
    assert "sweeping" in drawn and "/10" in drawn
    assert not progress.shown


def test_no_terminal_or_quiet_draws_nothing() -> None:
    for stream, quiet in ((io.StringIO(), False), (Terminal(), True)):
        clock = Clock()
        progress = TerminalProgress("verifying", stream=stream, quiet=quiet, clock=clock)
        _run(progress, clock)
        progress.close()
        assert stream.getvalue() == ""
        assert not progress.enabled and not progress.shown
        assert (progress.done, progress.total) == (6, 10)


def test_rich_is_loaded_only_to_draw() -> None:
    code = (
        "import io, sys; from corral.cli.progress import TerminalProgress as T; "
        "p = T('x', stream=io.StringIO(), clock=iter(range(0, 100, 5)).__next__); "
        "p.add(3); p.tick(); p.tick(); p.close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"
