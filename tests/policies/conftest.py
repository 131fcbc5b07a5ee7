"""Fixtures for the policy-pack tests: one pack process per session, driven like the CLI."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policies"
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLE_CONFIG = ROOT / "Pulumi.example.yaml"
sys.path.insert(0, str(PACK))

import harness  # noqa: E402
import harness_pack  # noqa: E402
from pulumi_policy import (  # noqa: E402
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy  # noqa: E402

from corral.build import packconfig  # noqa: E402
from corral.spec.load import load_stack_file  # noqa: E402


@pytest.fixture(scope="session")
def stack_config() -> dict[str, Any]:
    """The example stack's config map."""
    return harness.load_stack_config(EXAMPLE_CONFIG)


@pytest.fixture(scope="session")
def pack_config() -> dict[str, dict[str, Any]]:
    """The pack config derived from the example stack's spec."""
    return packconfig.pack_config(load_stack_file(EXAMPLE_CONFIG))


@pytest.fixture(scope="session")
def pack(stack_config: dict[str, Any]) -> Iterator[harness_pack.PackProcess]:
    """The policy pack, started once as the CLI starts it, always stopped."""
    with harness_pack.PackProcess(PACK, stack_config=stack_config) as process:
        yield process


@pytest.fixture
def analyze(pack, pack_config, stack_config) -> Callable[..., harness_pack.Report]:
    """Analyze a program: ``analyze(program, config=None, stack=None, **overrides)``.

    ``overrides`` replace whole rule settings (keyed by rule id with dashes as
    underscores), on top of the example pack config.
    """

    def run(program, config=None, stack=None, **overrides) -> harness_pack.Report:
        merged = dict(config or pack_config)
        merged.update({k.replace("_", "-"): v for k, v in overrides.items()})
        return harness.check(program, merged, stack or stack_config, pack=pack)

    return run


def details(report: harness_pack.Report, policy: str) -> list[str]:
    """The messages (without the description line) a rule reported."""
    return [d.detail for d in report.diagnostics if d.policy == policy]


def reasons(report: harness_pack.Report, policy: str) -> set[str]:
    """Why a rule was not applicable, over all resources."""
    return {n.reason for n in report.not_applicable if n.policy == policy}


def sdk_run(module, resource_type, props, config):
    """Run a rule's ``validate`` on the policy SDK's own args object, as the pack does:
    the violation messages, or the reason the rule does not apply."""
    found: list[str] = []
    args = ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(props),
        f"urn:pulumi:dev::corral::{resource_type}::r",
        "r",
        PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), []),
        None,
        config,
    )
    try:
        module.validate(args, lambda message, urn: found.append(message))
    except Exception as error:  # the SDK's private not-applicable signal
        if not hasattr(error, "reason"):
            raise
        return error.reason
    return found
