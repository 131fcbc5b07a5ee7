"""The exit-code contract of every ``corral`` command, and the error a command raises.

0: every finding PASSes. 1: a guardrail FAILs. 2: anything that stopped the run (bad
input, an AWS failure, an ERROR finding). Commands import this module, never the parser.
"""

from __future__ import annotations

from collections.abc import Iterable

from corral.audit.findings import ERROR, FAIL, Finding

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_ERROR = 2


class CommandError(Exception):
    """A problem the user can fix; the message is printed on one line."""


def exit_code(findings: Iterable[Finding]) -> int:
    """2 if any ERROR, else 1 if any FAIL, else 0."""
    statuses = {f.status for f in findings}
    if ERROR in statuses:
        return EXIT_ERROR
    return EXIT_FAIL if FAIL in statuses else EXIT_OK
