"""The ``corral`` command line.

Every command reads the stack file ``pulumi up`` reads (``--config
Pulumi.<stack>.yaml``). Bad input and AWS failures print one line naming the
key or resource and the fix, and exit non-zero; nothing is written on error.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from corral.audit.catalog_refresh import write_atomically
from corral.build import manifest, spend_manifest
from corral.build.plan import BuildError, build_plan
from corral.cli.errors import EXIT_ERROR, EXIT_OK, CommandError
from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.load import load_stack_file
from corral.spec.readers import SpecError


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        required=True,
        metavar="STACK_FILE",
        help="the Pulumi stack file, e.g. Pulumi.prod.yaml",
    )


# --------------------------------------------------------------------------- render


def render_payload(config: str) -> dict:
    """What ``corral render`` prints: the plan and the manifest of a stack file."""
    spec = load_stack_file(config)
    plan = build_plan(spec)
    payload = plan.to_dict()
    if spec.spend is not None and spec.spend.enabled:
        payload["spend"] = spend_manifest.render(spec.spend)
    payload["manifest"] = manifest.build_manifest(spec, plan)
    return payload


def _cmd_render(args: argparse.Namespace) -> int:
    payload = render_payload(args.config)
    if args.output is None:
        print(json.dumps(payload, indent=2, sort_keys=True))
        _print_budget(payload)
        return EXIT_OK
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"--output {folder} is a file; pass a folder.")
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


def _print_budget(payload: dict) -> None:
    """One stderr line per target: how much of AWS's per-target policy quota is used."""
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
    from corral.build import packconfig  # noqa: PLC0415

    spec = load_stack_file(args.config)
    text = packconfig.render(packconfig.pack_config(spec, args.target))
    if args.output:
        write_atomically(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _cmd_preview_check(args: argparse.Namespace) -> int:
    """Run the pack's harness in its own process (it needs pulumi; corral does not)."""
    harness = Path(__file__).resolve().parents[2] / "policies" / "harness.py"
    if not harness.is_file():
        raise CommandError(f"{harness} is missing; run corral from its source checkout.")
    return subprocess.run([sys.executable, str(harness), *args.rest], check=False).returncode


# --------------------------------------------------------------------------- catalog


def _cmd_regions(args: argparse.Namespace) -> int:
    if args.partition not in catalog.partitions():
        known = ", ".join(catalog.partitions())
        raise CommandError(f"partition '{args.partition}' is unknown; use one of {known}.")
    print("\n".join(catalog.regions(args.partition)))
    return EXIT_OK


def _cmd_instance_types(args: argparse.Namespace) -> int:
    counts = catalog.vcpus()
    types = [t for t in catalog.instance_types() if catalog.matches(args.pattern, t)]
    if not types:
        raise CommandError(f"pattern '{args.pattern}' matches no EC2 instance type.")
    for t in types:
        vcpu = counts.get(t)
        print(f"{t}\t{vcpu if vcpu is not None else '?'}")
    return EXIT_OK


def _cmd_refresh_catalog(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415 - only this command talks to AWS

    from corral.audit import catalog_refresh  # noqa: PLC0415

    session = boto3.Session(profile_name=args.profile)
    client = session.client("ec2", region_name=args.region, endpoint_url=args.endpoint_url)
    path = Path(args.output) if args.output else catalog_refresh.DEFAULT_PATH
    count = catalog_refresh.refresh(client, path)
    print(f"wrote vCPU counts of {count} instance types to {path}", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- wiring

Register = Callable[[argparse._SubParsersAction], None]


def _extensions() -> list[Register]:
    """Subcommands that live beside their subsystem (verifier, pack, evaluator, ...).

    Imported here, not at the top: those modules import this one's exit codes.
    """
    from corral.cli import verify as verify_cli  # noqa: PLC0415
    from corral.cli.explain import register as explain  # noqa: PLC0415

    return [verify_cli.register, explain]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="corral", description="AWS guardrails as code: render, verify, sweep."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = sub.add_parser("render", help="print the documents and attachments a stack deploys")
    _add_config(render)
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
    refresh.add_argument("--region", default="us-east-1")
    refresh.add_argument("--profile")
    refresh.add_argument("--endpoint-url")
    refresh.add_argument("--output", metavar="FILE", help="default: the packaged data file")
    refresh.set_defaults(handler=_cmd_refresh_catalog)

    config = sub.add_parser(
        "policy-config", help="print the policy pack config (--policy-pack-config) for a stack"
    )
    _add_config(config)
    config.add_argument("--target", help="a target name or id: enforce its overrides")
    config.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    config.set_defaults(handler=_cmd_policy_config)

    check = sub.add_parser(
        "preview-check",
        help="run a Pulumi program under mocks through the policy pack",
        add_help=False,
    )
    check.add_argument("rest", nargs=argparse.REMAINDER)
    check.set_defaults(handler=_cmd_preview_check)

    for register in _extensions():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (SpecError, BuildError, CommandError) as exc:
        print(f"corral: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("corral: interrupted; nothing was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
