"""Subcommands ``verify``, ``sweep``, ``iam-policy`` and ``merge``.

``corral.cli.main`` calls :func:`register`; each handler returns the exit code:
0 all pass, 1 at least one FAIL, 2 an ERROR, bad input or a run that could not start
(one line on stderr). Output goes to stdout, or atomically to ``--output`` (no partial
file on error). Everything local (stack file, shard, regions, manifest, output path) is
checked before the first call to AWS. The verifier and botocore are imported only when
a command runs, so the parser stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from corral.audit import findings as F
from corral.audit.settings import DEFAULT_ROLE_NAME, DEFAULT_WORKERS
from corral.cli import errors as E
from corral.cli import parser as P

POLICY_VERSION = "2012-10-17"
MANIFEST_MAX_BYTES = 16 << 20


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``verify``, ``sweep``, ``iam-policy`` and ``merge`` to the CLI."""
    run = subparsers.add_parser("verify", help="prove the deployed guardrails match the spec")
    _connection_options(run)
    run.add_argument("--manifest", metavar="FILE", help="the stack's exported manifest (JSON)")
    run.set_defaults(handler=_guarded(_cmd_verify))

    scan = subparsers.add_parser("sweep", help="find running exposure in every account/region")
    _connection_options(scan)
    scan.add_argument("--workers", type=P.workers, default=DEFAULT_WORKERS, help="concurrent calls")
    scan.set_defaults(handler=_guarded(_cmd_sweep))

    policy = subparsers.add_parser("iam-policy", help="print the read-only policy corral needs")
    policy.add_argument("--role-name", type=P.role_name, default=DEFAULT_ROLE_NAME)
    policy.add_argument("--partition", type=P.partition, default="aws")
    policy.add_argument("--output", metavar="FILE")
    policy.set_defaults(handler=_guarded(_cmd_iam_policy))

    merge = subparsers.add_parser("merge", help="combine the JSON reports of --shard runs")
    merge.add_argument("reports", nargs="+", metavar="REPORT.json")
    merge.add_argument("--format", choices=F.FORMATS, default="table")
    merge.add_argument("--output", metavar="FILE")
    merge.add_argument(
        "--config", metavar="STACK_FILE", help="the stack file SARIF results point into"
    )
    _show_pass(merge)
    merge.set_defaults(handler=_guarded(_cmd_merge))


def _connection_options(parser: argparse.ArgumentParser) -> None:
    P.add_config(parser)
    parser.add_argument("--format", choices=F.FORMATS, default="table")
    parser.add_argument("--output", metavar="FILE", help="write the report here (atomically)")
    _show_pass(parser)
    parser.add_argument(
        "--accounts", nargs="+", type=P.account_id, metavar="ID", help="only these accounts"
    )
    parser.add_argument("--regions", nargs="+", metavar="REGION", help="only these regions")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (it is drawn on stderr only when stderr is a terminal)",
    )
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="only the I-th of N account partitions (1-based); N or auto/N takes I from "
        "JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX (0-based), see docs/verify.md",
    )
    parser.add_argument(
        "--role-name",
        type=P.role_name,
        default=DEFAULT_ROLE_NAME,
        help=f"role assumed in member accounts (default {DEFAULT_ROLE_NAME})",
    )
    P.add_connection(parser)


def _show_pass(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--show-pass",
        action="store_true",
        help="the table lists passing findings too (default: FAIL and ERROR, counts per check)",
    )


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except Exception as exc:  # re-raised below unless the user can fix it
            message = E.describe(exc)
            if message is None:
                raise
            P.stderr_line(message)
            return E.EXIT_ERROR

    return run


def _connect(args: argparse.Namespace):
    """The spec, connection, shard and regions, after every local check."""
    from corral.audit.aws import Connection  # noqa: PLC0415
    from corral.audit.verify import parse_regions, parse_shard  # noqa: PLC0415
    from corral.spec.load import load_stack_file  # noqa: PLC0415

    spec = load_stack_file(args.config)
    shard = parse_shard(args.shard)  # None: a whole run (an engine's index needs --shard)
    regions = parse_regions(args.regions, spec.partition)
    P.check_output_file(args.output)
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if endpoint and args.endpoint_url is None and P.url_problem(endpoint):
        raise E.CommandError(f"AWS_ENDPOINT_URL {P.url_problem(endpoint)}; correct or unset it.")
    manifest = _manifest(args.manifest) if getattr(args, "manifest", None) else None
    conn = Connection(
        region=spec.region,
        partition=spec.partition,
        profile=args.profile,
        endpoint_url=endpoint,
        role_name=args.role_name,
        max_pool_connections=max(getattr(args, "workers", 1), DEFAULT_WORKERS),
        timeout=args.timeout,
    )
    return spec, conn, shard, regions, manifest


def _manifest(path: str) -> dict[str, Any]:
    """The exported manifest, checked for shape (a map with a list of document maps)."""
    from corral.audit.verify import ManifestError  # noqa: PLC0415

    fix = "pass the exported manifest (pulumi stack output manifest --json)"
    if Path(path).is_file() and Path(path).stat().st_size > MANIFEST_MAX_BYTES:
        raise ManifestError(f"{path}: is larger than {MANIFEST_MAX_BYTES:,} bytes; {fix}.")
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (ValueError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())[:100]
        raise ManifestError(f"{path}: not JSON ({problem}); {fix}.") from None
    documents = manifest.get("documents", []) if isinstance(manifest, dict) else None
    if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
        kind = type(manifest).__name__ if not isinstance(manifest, dict) else "map"
        raise ManifestError(f"{path}: holds a JSON {kind} without a list of documents; {fix}.")
    return manifest


def _emit(text: str, output: str | None) -> None:
    if output:
        F.write_atomically(output, text)
    else:
        print(text, end="")


def _report(found: Sequence[F.Finding], args: argparse.Namespace, run: dict | None) -> int:
    from corral.audit import checks  # noqa: PLC0415

    stack = _stack_lines(args, run) if args.format == "sarif" else None
    show_pass = getattr(args, "show_pass", False)
    text = F.render(found, args.format, checks.rules(), run, show_pass, stack)
    _emit(text, args.output)
    return E.exit_code(found)


def _stack_lines(args: argparse.Namespace, run: dict | None):
    """The key lines of ``--config``, where SARIF results point (merge: required there, and
    the stack file must hold the spec the reports were made from)."""
    from corral.audit.verify import spec_hash  # noqa: PLC0415
    from corral.spec.load import load_stack_file  # noqa: PLC0415
    from corral.spec.locate import key_lines  # noqa: PLC0415

    if not getattr(args, "config", None):
        raise E.CommandError(
            "--format sarif needs --config Pulumi.<stack>.yaml (the stack file of the run): "
            "code scanning places every result on the line of its key in that file."
        )
    made_from = (run or {}).get("spec")
    if made_from and spec_hash(load_stack_file(args.config)) != made_from:
        raise E.CommandError(
            f"{args.config}: is not the stack file these reports were made from (spec "
            f"{made_from}); pass that stack file as --config."
        )
    return key_lines(args.config)


def _progress(label: str, args: argparse.Namespace):
    """A bar on stderr when it is a terminal and --quiet is not given (corral.cli.progress)."""
    from corral.cli.progress import TerminalProgress  # noqa: PLC0415

    return TerminalProgress(label, quiet=args.quiet)


def _record(command: str, spec, conn, shard, args: argparse.Namespace) -> dict:
    from corral.audit import runs  # noqa: PLC0415
    from corral.audit.verify import covered, spec_hash  # noqa: PLC0415

    accounts = covered(spec, conn, args.accounts, shard)
    return runs.record(command, spec_hash(spec), shard, accounts, args.accounts)


def _cmd_verify(args: argparse.Namespace) -> int:
    from corral.audit.verify import verify  # noqa: PLC0415

    spec, conn, shard, regions, manifest = _connect(args)
    found = verify(
        spec, conn, accounts=args.accounts, shard=shard, manifest=manifest, regions=regions,
        progress=_progress("verifying", args),
    )  # fmt: skip
    return _report(found, args, _record("verify", spec, conn, shard, args))


def _cmd_sweep(args: argparse.Namespace) -> int:
    from corral.audit.sweep import sweep  # noqa: PLC0415

    spec, conn, shard, regions, _ = _connect(args)
    found = sweep(
        spec, conn, accounts=args.accounts, regions=regions, shard=shard, workers=args.workers,
        progress=_progress("sweeping", args),
    )  # fmt: skip
    return _report(found, args, _record("sweep", spec, conn, shard, args))


def _cmd_merge(args: argparse.Namespace) -> int:
    from corral.audit import runs  # noqa: PLC0415

    P.check_output_file(args.output)
    loaded = [(path, *F.load_report(path)) for path in args.reports]
    run = runs.merge([(path, record) for path, _, record in loaded])
    return _report([f for _, found, _ in loaded for f in found], args, run)


def _cmd_iam_policy(args: argparse.Namespace) -> int:
    P.check_output_file(args.output)
    policy = required_policy(args.role_name, args.partition)
    _emit(json.dumps(policy, indent=2, sort_keys=True) + "\n", args.output)
    return E.EXIT_OK


def required_actions() -> list[str]:
    """Every action the checks and the orchestration declare, sorted and unique."""
    from corral.audit import checks  # noqa: PLC0415
    from corral.audit.sweep import ORCHESTRATION_ACTIONS  # noqa: PLC0415

    declared = {a for c in checks.REGISTRY for a in c.metadata.actions}
    return sorted(declared | set(ORCHESTRATION_ACTIONS))


def required_policy(role_name: str = DEFAULT_ROLE_NAME, partition: str = "aws") -> dict:
    """The least-privilege, read-only IAM policy the verifier and the sweep need."""
    actions = required_actions()
    reads = [a for a in actions if a != "sts:AssumeRole"]
    statements = [
        {"Sid": "CorralVerifierReads", "Effect": "Allow", "Action": reads, "Resource": "*"},
    ]
    if "sts:AssumeRole" in actions:
        statements.append(
            {
                "Sid": "CorralVerifierAssumeMemberRole",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole"],
                "Resource": f"arn:{partition}:iam::*:role/{role_name}",
            }
        )
    policy = {"Version": POLICY_VERSION, "Statement": statements}
    return policy
