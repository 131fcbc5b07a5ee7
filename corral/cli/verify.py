"""Subcommands ``verify``, ``sweep``, ``iam-policy`` and ``merge``.

``corral.cli.main`` calls :func:`register`; each handler returns the exit code:
0 all pass, 1 at least one FAIL, 2 an ERROR or bad input. Output goes to stdout,
or atomically to ``--output`` (no partial file on error).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from corral.audit import checks
from corral.audit import findings as F
from corral.audit.aws import DEFAULT_ROLE_NAME, Connection
from corral.audit.sweep import DEFAULT_WORKERS, ORCHESTRATION_ACTIONS, sweep
from corral.audit.verify import ManifestError, parse_regions, parse_shard, verify
from corral.build.plan import BuildError
from corral.cli import errors as E
from corral.spec.load import load_stack_file
from corral.spec.readers import SpecError

POLICY_VERSION = "2012-10-17"
_INPUT_ERRORS = (SpecError, BuildError, ManifestError, F.ReportError, ValueError, OSError)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``verify``, ``sweep``, ``iam-policy`` and ``merge`` to the CLI."""
    run = subparsers.add_parser("verify", help="prove the deployed guardrails match the spec")
    _connection_options(run)
    run.add_argument("--manifest", metavar="FILE", help="the stack's exported manifest (JSON)")
    run.set_defaults(handler=_guarded(_cmd_verify))

    scan = subparsers.add_parser("sweep", help="find running exposure in every account/region")
    _connection_options(scan)
    scan.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="concurrent calls")
    scan.set_defaults(handler=_guarded(_cmd_sweep))

    policy = subparsers.add_parser("iam-policy", help="print the read-only policy corral needs")
    policy.add_argument("--role-name", default=DEFAULT_ROLE_NAME)
    policy.add_argument("--partition", default="aws")
    policy.add_argument("--output", metavar="FILE")
    policy.set_defaults(handler=_guarded(_cmd_iam_policy))

    merge = subparsers.add_parser("merge", help="combine the JSON reports of --shard runs")
    merge.add_argument("reports", nargs="+", metavar="REPORT.json")
    merge.add_argument("--format", choices=F.FORMATS, default="table")
    merge.add_argument("--output", metavar="FILE")
    merge.set_defaults(handler=_guarded(_cmd_merge))


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        required=True,
        metavar="STACK_FILE",
        help="the Pulumi stack file, e.g. Pulumi.prod.yaml",
    )
    parser.add_argument("--format", choices=F.FORMATS, default="table")
    parser.add_argument("--output", metavar="FILE", help="write the report here (atomically)")
    parser.add_argument("--accounts", nargs="+", metavar="ID", help="only these accounts")
    parser.add_argument("--regions", nargs="+", metavar="REGION", help="only these regions")
    parser.add_argument("--shard", metavar="I/N", help="only the I-th of N account partitions")
    parser.add_argument(
        "--role-name",
        default=DEFAULT_ROLE_NAME,
        help=f"role assumed in member accounts (default {DEFAULT_ROLE_NAME})",
    )
    parser.add_argument("--profile", help="AWS profile of the caller")
    parser.add_argument(
        "--endpoint-url", help="send every call here (an emulator); default: AWS_ENDPOINT_URL"
    )


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except _INPUT_ERRORS as exc:
            print(f"corral: error: {exc}", file=sys.stderr)
            return E.EXIT_ERROR

    return run


def _connect(args: argparse.Namespace):
    spec = load_stack_file(args.config)
    conn = Connection(
        region=spec.region,
        partition=spec.partition,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        role_name=args.role_name,
        max_pool_connections=max(getattr(args, "workers", 1), DEFAULT_WORKERS),
    )
    shard = parse_shard(args.shard) if args.shard else None
    return spec, conn, shard


def _emit(text: str, output: str | None) -> None:
    if output:
        F.write_atomically(output, text)
    else:
        sys.stdout.write(text)


def _report(found: Sequence[F.Finding], args: argparse.Namespace) -> int:
    _emit(F.render(found, args.format, checks.rules()), args.output)
    return E.exit_code(found)


def _cmd_verify(args: argparse.Namespace) -> int:
    spec, conn, shard = _connect(args)
    manifest = None
    if args.manifest:
        try:
            with open(args.manifest, encoding="utf-8") as handle:
                manifest = json.load(handle)
        except json.JSONDecodeError as exc:
            raise ManifestError(
                f"{args.manifest}: not JSON ({exc}); pass the exported "
                "manifest (pulumi stack output manifest --json)."
            ) from None
    found = verify(
        spec, conn, accounts=args.accounts, shard=shard, manifest=manifest, regions=args.regions
    )
    return _report(found, args)


def _cmd_sweep(args: argparse.Namespace) -> int:
    spec, conn, shard = _connect(args)
    if args.workers < 1:
        raise ValueError("--workers must be at least 1.")
    regions = parse_regions(args.regions, spec.partition)
    found = sweep(
        spec, conn, accounts=args.accounts, regions=regions, shard=shard, workers=args.workers
    )
    return _report(found, args)


def _cmd_merge(args: argparse.Namespace) -> int:
    found = [f for path in args.reports for f in F.load_json(path)]
    return _report(found, args)


def _cmd_iam_policy(args: argparse.Namespace) -> int:
    policy = required_policy(args.role_name, args.partition)
    _emit(json.dumps(policy, indent=2, sort_keys=True) + "\n", args.output)
    return E.EXIT_OK


def required_actions() -> list[str]:
    """Every action the checks and the orchestration declare, sorted and unique."""
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
