"""Run the corral policy pack the way ``pulumi preview --policy-pack`` does, without the CLI.

1. A Pulumi program runs under ``pulumi.runtime.set_mocks`` with a recording
   monitor, which keeps what the engine would receive for every resource: type,
   name, inputs (unknowns kept), provider reference, parent, dependencies and
   property dependencies, and options.
2. The pack starts as the CLI starts it (``python -u -m pulumi.policy ADDR .``
   in the pack directory, with PULUMI_CONFIG/PROJECT/STACK/DRY_RUN set); the
   port it prints is read and the analyzer is driven over gRPC:
   ``GetAnalyzerInfo``, ``Configure`` (settings validated against each rule's
   schema, unknown keys rejected), ``Analyze`` per resource with its provider
   (default providers are built from the stack's ``<package>:*`` config, as the
   engine does), then ``AnalyzeStack``.

Step 1 is ``harness_program.py``, the requests of step 2 ``harness_requests.py`` and
the pack process ``harness_pack.py``, all beside this file; this module joins them.
Use it from tests (:func:`check`, :func:`run_pack`, sharing one
:class:`harness_pack.PackProcess`) or from the command line:
``python policies/harness.py PROGRAM --config Pulumi.<stack>.yaml``
(``corral preview-check``). The pack process is always stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from harness_pack import PACK_DIR, Diagnostic, PackProcess, Report
from harness_program import HarnessError, config_strings, program_callable, record
from harness_requests import with_default_providers

# --------------------------------------------------------------------------- one call


def check(
    program: Callable[[], Any],
    pack_config: Mapping[str, Any],
    stack_config: Mapping[str, Any] | None = None,
    *,
    pack: PackProcess | None = None,
    project: str = "corral",
    stack: str = "dev",
    call: Callable[[Any], dict] | None = None,
) -> Report:
    """Run ``program`` under mocks and analyze what it registers with the pack."""
    stack_config = dict(stack_config or {})
    registrations = record(program, stack_config, project=project, stack=stack, call=call)
    registrations = with_default_providers(
        registrations, config_strings(stack_config), stack, project
    )
    with contextlib.ExitStack() as stack_:
        if pack is None:
            pack = stack_.enter_context(PackProcess(stack_config=stack_config))
        pack.configure(pack_config)
        return pack.analyze(registrations)


def run_pack(
    program: Callable[[], Any],
    config: Mapping[str, Any],
    stack_config: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> list[Diagnostic]:
    """The diagnostics the pack reports for ``program`` under pack config ``config``."""
    return check(program, config, stack_config, **kwargs).diagnostics


# --------------------------------------------------------------------------- command line


def load_stack_config(path: str | Path) -> dict[str, Any]:
    """The ``config:`` map of a ``Pulumi.<stack>.yaml`` file."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise HarnessError(
            f"{path}: cannot be read ({exc}); pass --config Pulumi.<stack>.yaml."
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise HarnessError(f"{path}: has no top-level 'config:' map; is it a Pulumi stack file?")
    return document["config"]


def _project_name(program_dir: Path) -> str:
    with contextlib.suppress(OSError, yaml.YAMLError, AttributeError, TypeError):
        return str(yaml.safe_load((program_dir / "Pulumi.yaml").read_text())["name"])
    return program_dir.name


def _pack_config(args: argparse.Namespace) -> dict[str, Any]:
    if args.policy_pack_config:
        try:
            return json.loads(Path(args.policy_pack_config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HarnessError(
                f"{args.policy_pack_config}: cannot be read as JSON ({exc})."
            ) from None
    from corral.build import packconfig  # noqa: PLC0415 (only needed without a config file)
    from corral.spec.load import load_stack_file  # noqa: PLC0415 (only needed without a config file)
    from corral.spec.readers import SpecError  # noqa: PLC0415 (only needed without a config file)

    try:
        return packconfig.pack_config(load_stack_file(args.config), args.target)
    except SpecError as exc:
        raise HarnessError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corral preview-check",
        description="Run a Pulumi program under mocks and check it with the corral policy pack.",
    )
    parser.add_argument("program", help="program directory (with __main__.py) or file")
    parser.add_argument("--config", required=True, help="the stack file, Pulumi.<stack>.yaml")
    parser.add_argument("--policy-pack-config", help="pack config JSON (default: from --config)")
    parser.add_argument("--target", help="use this target's instance and region overrides")
    parser.add_argument("--pack", default=str(PACK_DIR), help="policy pack directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``corral preview-check``: 0 when no mandatory violation, 1 when some, 2 on error."""
    args = _parser().parse_args(argv)
    try:
        stack_config = load_stack_config(args.config)
        pack_config = _pack_config(args)
        program, program_dir = program_callable(args.program)
        stack = Path(args.config).name.removeprefix("Pulumi.").removesuffix(".yaml")
        project = _project_name(program_dir)
        with PackProcess(args.pack, stack_config=stack_config, project=project, stack=stack) as p:
            report = check(program, pack_config, stack_config, pack=p, project=project, stack=stack)
    except HarnessError as exc:
        print(f"corral preview-check: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 (the user's program failed; say so in one line)
        print(f"corral preview-check: error: the program failed: {exc!r}", file=sys.stderr)
        return 2
    for d in report.diagnostics:
        print(f"{d.enforcement}: [{d.policy}] {d.detail}")
    count = len(report.mandatory)
    print(f"{len(report.diagnostics)} diagnostics, {count} mandatory.")
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main())
