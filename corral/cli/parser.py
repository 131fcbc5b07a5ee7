"""What every ``corral`` parser shares: one-line usage errors, option values checked when
they are parsed, and handlers imported only when their command runs.

Nothing here loads botocore, the spec or the builders, so ``corral --help`` and a usage
error answer at once; the catalog is read only to check a ``--region`` or partition.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from corral.audit.settings import DEFAULT_TIMEOUT
from corral.cli.errors import EXIT_ERROR

MAX_TIMEOUT = 3600.0
MAX_WORKERS = 512
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line naming the fix."""

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message>; see `<prog> --help`.`` and exit 2."""
        message = " ".join(message.split())
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}; see `{self.prog} --help`.\n")


class Lazy:
    """A handler imported from ``module`` when its command runs, not when parsing."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(self.module), self.name)(args)

    def __repr__(self) -> str:
        return f"Lazy({self.module}:{self.name})"


# --------------------------------------------------------------------------- values


def account_id(text: str) -> str:
    """A 12-digit AWS account id."""
    if not (len(text) == 12 and text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a 12-digit account id")
    return text


def seconds(text: str) -> float:
    """A number of seconds above 0 and at most an hour."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not a number of seconds between 0 and {MAX_TIMEOUT:g}"
        )
    return value


def workers(text: str) -> int:
    """A number of concurrent calls, 1 to :data:`MAX_WORKERS`."""
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_WORKERS):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number 1-{MAX_WORKERS}")
    return int(text)


def endpoint_url(text: str) -> str:
    """An http(s) URL with a host, e.g. ``http://127.0.0.1:5000``."""
    problem = url_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def url_problem(text: str) -> str | None:
    """Why ``text`` is not an endpoint URL, or None."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{_shown(text)} is not an http(s) URL such as http://127.0.0.1:5000"
    return None


def role_name(text: str) -> str:
    """An IAM role name (1-64 of letters, digits and ``+=,.@_-``)."""
    if not _ROLE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not an IAM role name (1-64 letters, digits and +=,.@_-)"
        )
    return text


def partition(text: str) -> str:
    """A partition of botocore's data (``aws``, ``aws-cn``, ...)."""
    from corral.spec import catalog  # noqa: PLC0415 - botocore data, read only here

    known = catalog.partitions()
    if text not in known:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a partition; use one of "
                                         f"{', '.join(known)}")  # fmt: skip
    return text


def any_region(text: str) -> str:
    """A region of any partition of botocore's data."""
    from corral.spec import catalog  # noqa: PLC0415 - botocore data, read only here

    known = [r for p in catalog.partitions() for r in catalog.regions(p)]
    if text not in known:
        hint = catalog.suggest(text, known)
        fix = f"did you mean '{hint}'?" if hint else "`corral regions` lists them"
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a region; {fix}")
    return text


def check_output_file(path: str | None, flag: str = "--output") -> None:
    """Refuse, before any work, an output file that cannot be written: a folder, a path
    whose folder is missing or a file, a folder without write permission."""
    from corral.cli.errors import CommandError  # noqa: PLC0415

    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise CommandError(f"{flag} {path} is a folder; pass a file name.")
    folder = target.parent
    if not folder.is_dir():
        raise CommandError(f"{flag} {path}: the folder {folder} does not exist; create it or "
                           "pass another path.")  # fmt: skip
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(f"{flag} {path}: cannot write in {folder} (permission denied); "
                           "pass a path you can write.")  # fmt: skip


def _shown(text: str) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return repr(shown if len(shown) <= 60 else shown[:57] + "...")


# --------------------------------------------------------------------------- options


def add_config(parser: argparse.ArgumentParser) -> None:
    """``--config STACK_FILE`` (required)."""
    parser.add_argument(
        "--config",
        required=True,
        metavar="STACK_FILE",
        help="the Pulumi stack file, e.g. Pulumi.prod.yaml",
    )


def add_connection(parser: argparse.ArgumentParser) -> None:
    """``--profile``, ``--endpoint-url`` and ``--timeout``."""
    parser.add_argument("--profile", help="AWS profile of the caller")
    parser.add_argument(
        "--endpoint-url",
        type=endpoint_url,
        metavar="URL",
        help="send every call here (an emulator); default: AWS_ENDPOINT_URL",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"wait at most this long to connect and for each answer (default {DEFAULT_TIMEOUT:g})",
    )


def register_explain(subparsers: Any) -> None:
    """Add the ``explain`` subcommand (its handler is :func:`corral.cli.explain.run`)."""
    parser = subparsers.add_parser(
        "explain", help="decide one request against the guardrails and show the deciding statement"
    )
    parser.add_argument("--config", required=True, metavar="STACK_FILE")
    parser.add_argument("--action", required=True, help="e.g. ec2:RunInstances")
    parser.add_argument("--region", help="aws:RequestedRegion (default: the stack's aws:region)")
    parser.add_argument(
        "--resource", metavar="ARN", help="default: * (the instance resource with --instance-type)"
    )
    parser.add_argument("--instance-type", metavar="T", help="ec2:InstanceType, e.g. c5a.24xlarge")
    parser.add_argument("--principal", metavar="ARN", help="aws:PrincipalArn of the caller")
    parser.add_argument(
        "--context",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="more context keys; repeat a key for a multivalued key",
    )
    parser.add_argument("--account", metavar="ID", help="the 12-digit account making the call")
    parser.add_argument("--target", metavar="ID", help="organization mode: the spec target")
    add_connection(parser)
    parser.add_argument(
        "--under-boundary",
        action="store_true",
        help="account mode: as a principal created under corral's permissions boundary",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--cross-check",
        action="store_true",
        help="also ask IAM SimulatePrincipalPolicy (needs --principal and a connection)",
    )
    parser.set_defaults(handler=Lazy("corral.cli.explain", "run"))


def stderr_line(message: str) -> None:
    """Print ``corral: error: <message>`` as one line on stderr."""
    print(f"corral: error: {' '.join(str(message).split())}", file=sys.stderr)
