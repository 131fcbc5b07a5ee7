"""The fast circuit breaker's state machine, rule and roles are corral's own: the detection
protection covers them only with ``trigger: alarm``, and ``corral explain`` answers DENY for a
non-exempt principal tampering with them and ALLOW on resources that are not corral's."""

from __future__ import annotations

import json

import pytest
import yaml

from corral.build import detection
from corral.cli import main as cli
from corral.evaluate.engine import ALLOW, DENY
from corral.spec.load import load_stack_file
from tests.conftest import ROOT

# --------------------------------------------------------------------------- detection


def test_detection_protects_the_state_machine_only_with_the_fast_trigger(fast_stack) -> None:
    fast = load_stack_file(fast_stack)
    slow = load_stack_file(ROOT / "Pulumi.spend-example.yaml")
    machine = "arn:aws:states:*:*:stateMachine:corral-circuit-breaker"
    executions = "arn:aws:states:*:*:execution:corral-circuit-breaker:*"
    assert {machine, executions} <= set(detection.detection_resources(fast))
    assert machine not in detection.detection_resources(slow)
    wanted = {"states:UpdateStateMachine", "states:DeleteStateMachine", "states:StopExecution"}
    assert wanted <= set(detection.detection_actions(fast))
    assert not any(a.startswith("states:") for a in detection.detection_actions(slow))
    [statement] = [s for s in detection.detection_statements(fast)
                   if s["Sid"] == detection.SID_DETECTION]  # fmt: skip
    assert machine in statement["Resource"] and wanted <= set(statement["Action"])


# --------------------------------------------------------------------------- corral explain

A = "111122223333"
MACHINE_ARN = f"arn:aws:states:eu-west-1:{A}:stateMachine:corral-circuit-breaker"
OTHER_ARN = f"arn:aws:states:eu-west-1:{A}:stateMachine:app-orders"
EXPLAINED = [
    ("states:UpdateStateMachine", MACHINE_ARN, OTHER_ARN),
    ("states:DeleteStateMachine", MACHINE_ARN, OTHER_ARN),
    ("states:StopExecution", f"arn:aws:states:eu-west-1:{A}:execution:corral-circuit-breaker:x1",
     f"arn:aws:states:eu-west-1:{A}:execution:app-orders:x1"),
    ("events:DisableRule", f"arn:aws:events:eu-west-1:{A}:rule/corral-spend-breaker",
     f"arn:aws:events:eu-west-1:{A}:rule/app-nightly"),
    ("iam:DeleteRolePolicy", f"arn:aws:iam::{A}:role/corral/corral-circuit-breaker-trip",
     f"arn:aws:iam::{A}:role/app-worker"),
]  # fmt: skip


@pytest.fixture
def fast_stack(tmp_path) -> str:
    """The spend example with ``trigger: alarm``."""
    config = yaml.safe_load((ROOT / "Pulumi.spend-example.yaml").read_text())
    config["config"]["corral:circuitBreaker"]["trigger"] = "alarm"
    path = tmp_path / "Pulumi.fast.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def explain(capsys, stack: str, *flags: str) -> dict:
    argv = ["explain", "--config", stack, "--region", "eu-west-1", *flags, "--format", "json"]
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "")
    return json.loads(captured.out)


@pytest.mark.parametrize(("action", "mine", "other"), EXPLAINED)
def test_explain_denies_tampering_with_the_fast_breaker(capsys, fast_stack, action, mine, other):
    denied = explain(capsys, fast_stack, "--action", action, "--resource", mine)
    assert denied["decision"] == DENY, denied
    sid = "CorralProtectIdentities" if action.startswith("iam:") else detection.SID_DETECTION
    assert denied["reasons"][0]["sid"] == sid
    assert explain(capsys, fast_stack, "--action", action, "--resource", other)["decision"] == ALLOW
    exempt = f"arn:aws:iam::{A}:role/corral-break-glass"
    flags = ("--action", action, "--resource", mine, "--principal", exempt)
    assert explain(capsys, fast_stack, *flags)["decision"] == ALLOW


def test_explain_allows_the_machine_without_the_fast_trigger(capsys) -> None:
    stack = str(ROOT / "Pulumi.spend-example.yaml")
    flags = ("--action", "states:UpdateStateMachine", "--resource", MACHINE_ARN)
    assert explain(capsys, stack, *flags)["decision"] == ALLOW
