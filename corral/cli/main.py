"""The ``corral`` command line.

Every command reads the stack file ``pulumi up`` reads (``--config
Pulumi.<stack>.yaml``). The exit codes are a contract (``corral.cli.errors``): bad
input, unusable paths, AWS and endpoint failures and missing optional dependencies
print one line naming the cause and the fix and exit 2; nothing is written on error,
and no traceback reaches the user. Commands import what they need when they run, so
``corral --help`` never loads botocore.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from corral import __version__
from corral.cli import parser as P
from corral.cli.errors import EXIT_ERROR, EXIT_OK, CommandError, describe

DEBUG_ENV = "CORRAL_DEBUG"
# What ``preview-check`` (the policy pack's harness) needs: module, and the package to install.
PACK_MODULES = (("pulumi", "pulumi"), ("pulumi_policy", "pulumi-policy"), ("grpc", "grpcio"))


# --------------------------------------------------------------------------- render


def render_payload(config: str) -> dict:
    """What ``corral render`` prints: the plan and the manifest of a stack file."""
    from corral.build import manifest, spend_manifest  # noqa: PLC0415
    from corral.build.plan import build_plan  # noqa: PLC0415
    from corral.spec.load import load_stack_file  # noqa: PLC0415

    spec = load_stack_file(config)
    plan = build_plan(spec)
    payload = plan.to_dict()
    if spec.spend is not None and spec.spend.enabled:
        payload["spend"] = spend_manifest.render(spec.spend)
    payload["manifest"] = manifest.build_manifest(spec, plan)
    return payload


def _cmd_render(args: argparse.Namespace) -> int:
    from corral.audit.catalog_refresh import write_atomically  # noqa: PLC0415

    if args.output is not None:
        _check_output_folder(Path(args.output))
    payload = render_payload(args.config)
    if args.output is None:
        print(json.dumps(payload, indent=2, sort_keys=True))
        _print_budget(payload)
        return EXIT_OK
    folder = Path(args.output)
    files = {
        f"{d['name']}.json": json.dumps(d["policy"], indent=2) + "\n" for d in payload["documents"]
    }
    files["attachments.json"] = json.dumps(payload["attachments"], indent=2) + "\n"
    files["manifest.json"] = json.dumps(payload["manifest"], indent=2, sort_keys=True) + "\n"
    for name, text in sorted(files.items()):
        write_atomically(folder / name, text)
    _print_budget(payload)
    print(f"wrote {len(files)} files to {folder}", file=sys.stderr)
    return EXIT_OK


def _check_output_folder(folder: Path) -> None:
    """Refuse, before any work, a folder that cannot be made or written."""
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"--output {folder} is a file; pass a folder.")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise CommandError(f"--output {folder}: {existing} is a file, not a folder; pass a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CommandError(
            f"--output {folder}: cannot write in {existing} (permission denied); pass a "
            "folder you can write."
        )


def _print_budget(payload: dict) -> None:
    """One stderr line per target: how much of AWS's per-target policy quota is used."""
    from corral.spec import keys as K  # noqa: PLC0415

    scp = payload["mode"] == K.ORGANIZATION
    kinds = {(a["targetId"]): a["targetKind"] for a in payload["attachments"]}
    unit = "SCPs besides FullAWSAccess" if scp else "managed policies"
    for row in payload["budget"]:
        print(
            f"{row['targetId']} ({kinds[row['targetId']]}): {row['documents']} of "
            f"{row['maxDocuments']} {unit}, {row['characters']:,} of "
            f"{row['maxCharacters']:,} characters",
            file=sys.stderr,
        )
    boundary = payload.get("boundary")
    if boundary and boundary["omitted"]:
        print(
            f"boundary {boundary['name']}: one policy of {K.IAM_POLICY_MAX_CHARS:,} characters "
            f"cannot also hold {', '.join(boundary['omitted'])}; principals created under it "
            "are not held to those statements (see SECURITY.md).",
            file=sys.stderr,
        )


# --------------------------------------------------------------------------- policy pack


def _cmd_policy_config(args: argparse.Namespace) -> int:
    from corral.audit.catalog_refresh import write_atomically  # noqa: PLC0415
    from corral.build import packconfig  # noqa: PLC0415
    from corral.spec.load import load_stack_file  # noqa: PLC0415

    P.check_output_file(args.output)
    spec = load_stack_file(args.config)
    text = packconfig.render(packconfig.pack_config(spec, args.target))
    if args.output:
        write_atomically(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _cmd_preview_check(args: argparse.Namespace) -> int:
    """Run the pack's harness in its own process (it needs pulumi; corral does not)."""
    missing = [package for module, package in PACK_MODULES if not _installed(module)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise CommandError(
            f"preview-check needs {', '.join(missing)}, which {verb} not installed; install "
            "corral with its pack extra: pip install 'corral[pack]' (from a checkout: "
            "pip install -e '.[pack]')."
        )
    harness = Path(__file__).resolve().parents[2] / "policies" / "harness.py"
    if not harness.is_file():
        raise CommandError(f"{harness} is missing; run corral from its source checkout.")
    argv = [args.program, "--config", args.config]
    for flag, value in (
        ("--policy-pack-config", args.policy_pack_config),
        ("--target", args.target),
        ("--pack", args.pack),
    ):
        if value is not None:
            argv += [flag, value]
    return subprocess.run([sys.executable, str(harness), *argv], check=False).returncode


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# --------------------------------------------------------------------------- catalog


def _cmd_regions(args: argparse.Namespace) -> int:
    from corral.spec import catalog  # noqa: PLC0415

    if args.partition not in catalog.partitions():
        known = ", ".join(catalog.partitions())
        raise CommandError(f"partition '{args.partition}' is unknown; use one of {known}.")
    print("\n".join(catalog.regions(args.partition)))
    return EXIT_OK


def _cmd_instance_types(args: argparse.Namespace) -> int:
    from corral.spec import catalog  # noqa: PLC0415

    counts = catalog.vcpus()
    types = [t for t in catalog.instance_types() if catalog.matches(args.pattern, t)]
    if not types:
        raise CommandError(f"pattern '{args.pattern}' matches no EC2 instance type.")
    for t in types:
        vcpu = counts.get(t)
        print(f"{t}\t{vcpu if vcpu is not None else '?'}")
    return EXIT_OK


def _cmd_refresh_catalog(args: argparse.Namespace) -> int:
    from corral.audit import catalog_refresh, sessions  # noqa: PLC0415 - only this talks to AWS

    path = Path(args.output) if args.output else catalog_refresh.DEFAULT_PATH
    P.check_output_file(str(path))
    client = sessions.plain_client(
        "ec2",
        region=args.region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        timeout=args.timeout,
    )
    try:
        count = catalog_refresh.refresh(client, path)
    except sessions.CALL_ERRORS as exc:
        raise sessions.failed(exc, "ec2", args.endpoint_url, "DescribeInstanceTypes") from None
    print(f"wrote vCPU counts of {count} instance types to {path}", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- wiring


def _extensions() -> list:
    """Subcommands defined beside their subsystem (verifier, evaluator)."""
    from corral.cli import verify as verify_cli  # noqa: PLC0415

    return [verify_cli.register, P.register_explain]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = P.Parser(prog="corral", description="AWS guardrails as code: render, verify, sweep.")
    parser.add_argument("--version", action="version", version=f"corral {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = sub.add_parser("render", help="print the documents and attachments a stack deploys")
    P.add_config(render)
    render.add_argument("--output", metavar="DIR", help="write one file per document to DIR")
    render.set_defaults(handler=_cmd_render)

    regions = sub.add_parser("regions", help="list the regions of a partition (botocore data)")
    regions.add_argument("partition", nargs="?", default="aws")
    regions.set_defaults(handler=_cmd_regions)

    types = sub.add_parser("instance-types", help="list instance types and their vCPUs")
    types.add_argument("pattern", nargs="?", default="*", help="e.g. 'c5a.*'")
    types.set_defaults(handler=_cmd_instance_types)

    refresh = sub.add_parser(
        "refresh-catalog", help="rebuild the vCPU data file from ec2:DescribeInstanceTypes"
    )
    refresh.add_argument("--region", type=P.any_region, default="us-east-1")
    P.add_connection(refresh)
    refresh.add_argument("--output", metavar="FILE", help="default: the packaged data file")
    refresh.set_defaults(handler=_cmd_refresh_catalog)

    config = sub.add_parser(
        "policy-config", help="print the policy pack config (--policy-pack-config) for a stack"
    )
    P.add_config(config)
    config.add_argument("--target", help="a target name or id: enforce its overrides")
    config.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    config.set_defaults(handler=_cmd_policy_config)

    check = sub.add_parser(
        "preview-check", help="run a Pulumi program under mocks through the policy pack"
    )
    check.add_argument("program", help="program directory (with __main__.py) or file")
    P.add_config(check)
    check.add_argument("--policy-pack-config", metavar="FILE", help="default: from --config")
    check.add_argument("--target", help="use this target's instance and region overrides")
    check.add_argument("--pack", metavar="DIR", help="policy pack directory (default: policies)")
    check.set_defaults(handler=_cmd_preview_check)

    for register in _extensions():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (usage errors exit 2 through argparse)."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("corral: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, never a traceback (CORRAL_DEBUG=1 shows it)
        message = describe(exc)
        if message is None:
            if os.environ.get(DEBUG_ENV):
                raise
            message = (
                f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
                f"this is a bug in corral {__version__}: please report it with the traceback "
                f"{DEBUG_ENV}=1 prints."
            )
        P.stderr_line(message)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
