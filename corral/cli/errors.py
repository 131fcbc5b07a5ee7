"""The exit-code contract of every ``corral`` command, and the error a command raises.

0: every finding PASSes. 1: a guardrail FAILs. 2: anything that stopped the run (bad
input, an unreadable or unwritable path, an AWS or endpoint failure, a missing optional
dependency, an ERROR finding): one line on stderr naming what and the fix, nothing
partial written, never a traceback. Commands import this module, never the parser.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterable

from corral.audit.findings import ERROR, FAIL, Finding

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_ERROR = 2

_OS_FIXES = {
    errno.ENOENT: "check the path",
    errno.EACCES: "check its permissions or pass a path you can use",
    errno.EPERM: "check its permissions or pass a path you can use",
    errno.EROFS: "pass a path on a writable file system",
    errno.EISDIR: "it is a folder; pass a file name",
    errno.ENOTDIR: "part of the path is a file, not a folder; pass another path",
    errno.ENOSPC: "free some space or pass another path",
    errno.ENAMETOOLONG: "pass a shorter path",
}


class CommandError(Exception):
    """A problem the user can fix; the message is printed on one line."""


def exit_code(findings: Iterable[Finding]) -> int:
    """2 if any ERROR, else 1 if any FAIL, else 0."""
    statuses = {f.status for f in findings}
    if ERROR in statuses:
        return EXIT_ERROR
    return EXIT_FAIL if FAIL in statuses else EXIT_OK


def os_error_message(exc: OSError) -> str:
    """``<path>: <what the system said>; <fix>`` for a file that cannot be read or written."""
    if exc.errno == errno.EPIPE:
        return "the output was closed before corral finished writing it; use --output FILE."
    where = exc.filename if exc.filename is not None else "a file"
    what = exc.strerror or str(exc)
    fix = _OS_FIXES.get(exc.errno or 0, "check the path and run it again")
    return f"{where}: {what.lower()}; {fix}."


def describe(exc: BaseException) -> str | None:
    """The one-line message for an error a user can fix, or None for anything else (a bug).

    The classes are imported here, when a command has already loaded them, so the parser
    never pays for botocore or the spec."""
    from corral.audit.failures import ReadError  # noqa: PLC0415
    from corral.audit.findings import ReportError  # noqa: PLC0415

    known: tuple[type[BaseException], ...] = (CommandError, ReadError, ReportError)
    for module, name in (
        ("corral.spec.readers", "SpecError"),
        ("corral.build.plan", "BuildError"),
        ("corral.audit.verify", "ManifestError"),
        ("corral.audit.verify", "SelectionError"),
        ("corral.audit.verify", "InputError"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, name):
            known += (getattr(loaded, name),)
    if isinstance(exc, known):
        return str(exc)
    if isinstance(exc, OSError) and type(exc).__name__ != "WriteRefused":  # that one is a bug
        return os_error_message(exc)
    return None
