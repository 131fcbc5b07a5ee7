"""``corral explain``: decisions from the spec's documents, attacker paths and bad input;
against deployed SCPs and the cross-check: ``test_explain_deployed.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from corral.cli import main as cli
from corral.cli.explain import (
    parse_context,
)
from corral.evaluate.engine import ALLOW, DENY
from tests.conftest import EXAMPLE_STACK

INSTANCE_W2 = "arn:aws:ec2:us-west-2:111122223333:instance/*"
BREAK_GLASS = "arn:aws:iam::111122223333:role/corral-break-glass"


def test_explain_is_wired_into_the_cli():
    args = cli.build_parser().parse_args(["explain", "--config", "x", "--action", "s3:Get"])
    assert repr(args.handler) == "Lazy(corral.cli.explain:run)"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``corral explain`` with ``argv``; return (exit code, stdout, stderr)."""
    code = cli.main(["explain", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def example(*argv: str) -> list[str]:
    """``--config`` of the example stack followed by ``argv``."""
    return ["--config", str(EXAMPLE_STACK), *argv]


@pytest.fixture
def account_stack(tmp_path: Path) -> Path:
    """The example stack rewritten for account mode."""
    document = yaml.safe_load(EXAMPLE_STACK.read_text())
    config = document["config"]
    config["corral:mode"] = "account"
    del config["corral:targets"]
    config["corral:principals"] = {"users": ["dev"]}
    path = tmp_path / "Pulumi.account.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


# --------------------------------------------------------------------------- from the spec


def test_incident_launch_outside_the_regions_is_denied_with_the_statement(capsys):
    code, out, err = run(
        capsys,
        *example("--action", "ec2:RunInstances", "--region", "us-west-2"),
        *("--instance-type", "c5a.24xlarge", "--target", "workloads"),
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"DENY: ec2:RunInstances on {INSTANCE_W2} (documents the spec builds)"
    assert lines[1] == (
        "  Deny: corral-root on r-a1b2 [CorralDenyOutsideAllowedRegions]: Statement "
        "CorralDenyOutsideAllowedRegions of SCP 'corral-root' on 'r-a1b2' explicitly denies "
        f"ec2:RunInstances on {INSTANCE_W2}."
    )
    assert "CorralDenyInstanceTypesNotAllowed" in lines[2]


def test_json_output_has_decision_and_reasons(capsys):
    code, out, _ = run(
        capsys,
        *example("--action", "ec2:RunInstances", "--region", "eu-west-1", "--format", "json"),
        *("--instance-type", "c5a.24xlarge", "--target", "ou-a1b2-workload1"),
    )
    payload = json.loads(out)
    assert code == 0 and payload["decision"] == DENY
    assert [(r["policy"], r["target"], r["sid"]) for r in payload["reasons"]] == [
        ("corral-workloads", "ou-a1b2-workload1", "CorralDenyInstanceTypesNotAllowed")
    ]
    assert payload["request"]["context"]["ec2:instancetype"] == ["c5a.24xlarge"]
    assert payload["request"]["resource"] == "arn:aws:ec2:eu-west-1:111122223333:instance/*"


def test_permitted_launch_is_allowed_and_exempt_principal_passes(capsys):
    code, out, _ = run(
        capsys,
        *example("--action", "ec2:RunInstances", "--region", "eu-west-1", "--target", "workloads"),
        *("--instance-type", "t3.micro"),
    )
    assert code == 0 and out.startswith("ALLOW: ec2:RunInstances on ")
    code, out, _ = run(
        capsys,
        *example("--action", "ec2:RunInstances", "--region", "us-west-2", "--target", "ml"),
        *("--instance-type", "c5a.24xlarge", "--principal", BREAK_GLASS, "--format", "json"),
    )
    assert json.loads(out)["decision"] == ALLOW


def test_context_pairs_reach_the_request(capsys):
    _, out, _ = run(
        capsys,
        *example("--action", "iam:CreateAccessKey", "--target", "r-a1b2", "--format", "json"),
        *("--context", f"aws:PrincipalArn={BREAK_GLASS}", "aws:SourceIp=10.0.0.1"),
    )
    payload = json.loads(out)
    assert payload["decision"] == ALLOW
    assert payload["request"]["context"]["aws:sourceip"] == ["10.0.0.1"]
    assert parse_context(["a=1", "a=2", "b=x=y"]) == {"a": ["1", "2"], "b": "x=y"}


def test_account_mode_uses_the_iam_documents(capsys, account_stack):
    code, out, _ = run(
        capsys,
        *("--config", str(account_stack), "--action", "cloudtrail:StopLogging", "--format", "json"),
    )
    reasons = json.loads(out)["reasons"]
    assert code == 0 and json.loads(out)["decision"] == DENY
    assert reasons[0]["policy"] == "corral-guardrails-1"  # -2 and -capacity hold the rest
    assert reasons[0]["sid"] == "CorralProtectCloudTrail"
    _, out, _ = run(capsys, "--config", str(account_stack), "--action", "s3:GetObject")
    assert out.startswith("ALLOW: s3:GetObject on * (documents the spec builds)")


# --------------------------------------------------------------------------- attacker paths

SPEND_STACK = EXAMPLE_STACK.parent / "Pulumi.spend-example.yaml"
A = "111122223333"
BOUNDARY = f"arn:aws:iam::{A}:policy/corral/corral-boundary"
CORRAL_ROLE = f"arn:aws:iam::{A}:role/corral/x"
CORRAL_POLICY = f"arn:aws:iam::{A}:policy/corral/x"
SPOT = ("--instance-type", "t3.micro", "--context", "ec2:InstanceMarketType=spot")
# (flags, the statement that must deny them); the region is added per mode.
BOTH_MODES = [
    (("--action", "iam:CreateRole", "--resource", BREAK_GLASS, "--context",
      f"iam:PermissionsBoundary={BOUNDARY}"), "CorralProtectIdentities"),
    (("--action", "iam:UpdateAssumeRolePolicy", "--resource", BREAK_GLASS),
     "CorralProtectIdentities"),
    (("--action", "iam:PutRolePolicy", "--resource", CORRAL_ROLE), "CorralProtectIdentities"),
    (("--action", "iam:AttachRolePolicy", "--resource", CORRAL_ROLE, "--context",
      "iam:PolicyARN=arn:aws:iam::aws:policy/AdministratorAccess"), "CorralProtectIdentities"),
    (("--action", "iam:DeleteRolePolicy", "--resource", CORRAL_ROLE), "CorralProtectIdentities"),
    (("--action", "iam:UpdateAssumeRolePolicy", "--resource", CORRAL_ROLE),
     "CorralProtectIdentities"),
    (("--action", "iam:CreatePolicyVersion", "--resource", CORRAL_POLICY),
     "CorralProtectIdentities"),
    (("--action", "iam:DeletePolicy", "--resource", CORRAL_POLICY), "CorralProtectIdentities"),
    (("--action", "ec2:RunInstances", *SPOT), "CorralDenySpotLaunches"),
    (("--action", "ec2:RequestSpotInstances"), "CorralDenySpotRequests"),
    (("--action", "lightsail:CreateInstances"), "CorralDenyComputeServices"),
    (("--action", "sagemaker:CreateTrainingJob", "--context",
      "sagemaker:InstanceTypes=ml.p4d.24xlarge"), "CorralDenyComputeServices"),
    (("--action", "savingsplans:CreateSavingsPlan"), "CorralDenyPurchases"),
    (("--action", "ec2:PurchaseReservedInstancesOffering"), "CorralDenyPurchases"),
]  # fmt: skip
ACCOUNT_ONLY = [
    (("--action", "iam:RemoveUserFromGroup", "--resource", f"arn:aws:iam::{A}:group/developers"),
     "CorralProtectGuardedGroups"),
    (("--action", "iam:CreateUser", "--resource", f"arn:aws:iam::{A}:user/new"),
     "CorralRequireBoundary"),
    (("--action", "iam:CreateRole", "--resource", f"arn:aws:iam::{A}:role/new"),
     "CorralRequireBoundary"),
    (("--action", "organizations:CreateOrganization"), "CorralDenyNewOrganization"),
]  # fmt: skip
PERMITTED = [
    ("--action", "ec2:RunInstances", "--instance-type", "t3.micro"),
    ("--action", "s3:GetObject", "--resource", "arn:aws:s3:::bucket/key"),
]
MODES = {
    "organization": ("--config", str(EXAMPLE_STACK), "--target", "workloads", "--region",
                     "us-east-1"),
    "account": ("--config", str(SPEND_STACK), "--region", "eu-west-1"),
}  # fmt: skip


def verdict(capsys: pytest.CaptureFixture[str], mode: str, flags: tuple[str, ...]) -> dict:
    code, out, err = run(capsys, *MODES[mode], *flags, "--format", "json")
    assert (code, err) == (0, "")
    return json.loads(out)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(("flags", "sid"), BOTH_MODES + ACCOUNT_ONLY)
def test_attacker_paths_are_denied_naming_the_statement(capsys, mode, flags, sid):
    payload = verdict(capsys, mode, flags)
    if mode == "organization" and (flags, sid) in ACCOUNT_ONLY:  # the SCPs do not cover these
        assert (payload["decision"], sid) == (ALLOW, sid)
        return
    assert payload["decision"] == DENY
    assert payload["reasons"][0]["sid"] == sid
    exempt = verdict(capsys, mode, (*flags, "--principal", BREAK_GLASS))
    assert exempt["decision"] == ALLOW


@pytest.mark.parametrize("mode", list(MODES))
def test_counter_examples_are_not_denied(capsys, mode):
    for flags in PERMITTED:
        assert verdict(capsys, mode, flags)["decision"] == ALLOW, flags
    if mode == "account":
        flags = ("--action", "iam:CreateRole", "--resource", f"arn:aws:iam::{A}:role/new")
        with_boundary = (*flags, "--context", f"iam:PermissionsBoundary={BOUNDARY}")
        assert verdict(capsys, mode, with_boundary)["decision"] == ALLOW


def test_text_output_names_the_deciding_statement(capsys):
    code, out, _ = run(capsys, *MODES["account"], "--action", "ec2:RunInstances", *SPOT)
    assert code == 0
    assert out.splitlines()[:2] == [
        f"DENY: ec2:RunInstances on arn:aws:ec2:eu-west-1:{A}:instance/* (documents the spec "
        "builds)",
        "  Deny: corral-guardrails-capacity on principal [CorralDenySpotLaunches]: Statement "
        "CorralDenySpotLaunches of identity policy 'corral-guardrails-capacity' on 'principal' "
        f"explicitly denies ec2:RunInstances on arn:aws:ec2:eu-west-1:{A}:instance/*.",
    ]


def test_under_the_boundary_compute_is_open_and_spot_denied(capsys):
    lightsail = verdict(capsys, "account", ("--under-boundary", "--action",
                                            "lightsail:CreateInstances"))  # fmt: skip
    assert lightsail["decision"] == ALLOW
    assert lightsail["source"] == "corral's permissions boundary, on a principal created under it"
    spot = verdict(capsys, "account", ("--under-boundary", "--action", "ec2:RunInstances", *SPOT))
    assert spot["decision"] == DENY
    assert (spot["reasons"][0]["policy"], spot["reasons"][0]["sid"]) == (
        "corral-boundary",
        "CorralDenySpotLaunches",
    )
    code, out, err = run(capsys, *MODES["organization"], "--under-boundary", "--action", "s3:Get")
    assert (code, out) == (2, "")
    assert err == (
        "corral: error: --under-boundary needs account mode with corral:protections.principals "
        "on, where corral deploys its permissions boundary; drop --under-boundary.\n"
    )


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--action", "ec2:RunInstances", "--region", "us-est-1", "--target", "ml"],
            "--region 'us-est-1' is not known to partition aws; did you mean 'us-east-1'?",
        ),
        (
            ["--action", "ec2:RunInstances"],
            "--target is required in organization mode; use one of r-a1b2, ou-a1b2-workload1, "
            "ou-a1b2-mlteam001.",
        ),
        (
            ["--action", "RunInstances", "--target", "ml"],
            "--action 'RunInstances' is not service:Action; e.g. ec2:RunInstances.",
        ),
        (
            ["--action", "ec2:RunInstances", "--target", "ml", "--context", "novalue"],
            "--context 'novalue' is not KEY=VALUE; write e.g. aws:SourceIp=1.2.3.4.",
        ),
        (
            ["--action", "ec2:RunInstances", "--target", "ml", "--account", "12345"],
            "--account '12345' is not a 12-digit account id.",
        ),
        (
            ["--action", "ec2:RunInstances", "--target", "ml", "--instance-type", "c5a.24xlarg"],
            "--instance-type 'c5a.24xlarg' is not known to EC2; did you mean 'c5a.24xlarge'?",
        ),
        (
            ["--action", "ec2:RunInstances", "--target", "nope"],
            "--target: Target 'nope' is not in the spec's targets; use one of r-a1b2, "
            "ou-a1b2-workload1, ou-a1b2-mlteam001.",
        ),
        (
            ["--action", "ec2:RunInstances", "--endpoint-url", "http://127.0.0.1:1"],
            "--account is required with --endpoint-url or --profile; pass the 12-digit account "
            "whose chain of SCPs to read.",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *example(*argv))
    assert (code, out) == (2, "")
    assert err == f"corral: error: {message}\n"


def test_missing_stack_file_is_exit_2(capsys, tmp_path):
    code, out, err = run(capsys, "--config", str(tmp_path / "none.yaml"), "--action", "s3:Get")
    assert (code, out) == (2, "")
    assert err.startswith("corral: error: ") and err.count("\n") == 1
