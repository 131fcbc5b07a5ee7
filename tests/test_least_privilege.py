"""Least privilege, proved with ``corral.evaluate.engine``: the policy ``corral iam-policy``
prints allows every action the checks declare and call, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from moto import mock_aws
from test_verify_support import (
    BREAKER,
    SPEND,
    account_stack,
    deploy_account,
    deploy_breakers,
    deploy_org,
    deploy_spend,
    launch_incident,
    load,
    make_account_principals,
    make_org,
    org_stack,
    serve_budget_actions,
    serve_budget_subscribers,
)

from corral.audit import checks
from corral.audit.aws import IAM_ACTION_OVERRIDES, Connection, iam_action, is_read
from corral.audit.sweep import sweep
from corral.audit.verify import verify
from corral.cli.main import main as corral_main
from corral.cli.verify import required_actions, required_policy
from corral.evaluate.engine import ALLOW, IMPLICIT_DENY, evaluate
from corral.evaluate.policy import PolicyRef, Request

ROLE = "OrganizationAccountAccessRole"
MEMBER_ROLE = f"arn:aws:iam::222233334444:role/{ROLE}"
MUTATIONS = (
    "ec2:RunInstances",
    "ec2:TerminateInstances",
    "ec2:ModifyInstanceAttribute",
    "iam:CreateAccessKey",
    "iam:AttachRolePolicy",
    "iam:PutRolePolicy",
    "iam:CreatePolicyVersion",
    "organizations:DetachPolicy",
    "organizations:UpdatePolicy",
    "organizations:LeaveOrganization",
    "organizations:DisablePolicyType",
    "budgets:ModifyBudget",
    "cloudwatch:DeleteAlarms",
    "sns:Unsubscribe",
    "sts:GetSessionToken",
)
OTHER_SERVICES = (
    "s3:GetObject",
    "s3:ListBucket",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
    "lambda:InvokeFunction",
    "ssm:GetParameter",
    "dynamodb:Scan",
    "cloudtrail:StopLogging",
)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> PolicyRef:
    """The document ``corral iam-policy`` prints, as the verifier role's only policy."""
    out = tmp_path_factory.mktemp("policy") / "policy.json"
    assert corral_main(["iam-policy", "--role-name", ROLE, "--output", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document == required_policy(ROLE)
    return PolicyRef("corral-verifier", "role/corral-verifier", document)


def decide(policy: PolicyRef, action: str, resource: str = "*") -> str:
    """The decision for the verifier role calling ``action`` on ``resource``."""
    return evaluate(Request(action, resource), identity_policies=[policy]).decision


def test_every_declared_action_is_allowed_and_is_a_read(policy: PolicyRef) -> None:
    declared = {a for c in checks.REGISTRY for a in c.metadata.actions}
    assert declared <= set(required_actions())
    for action in required_actions():
        resource = MEMBER_ROLE if action == "sts:AssumeRole" else "*"
        assert decide(policy, action, resource) == ALLOW, action
        service, operation = action.split(":")
        assert is_read(service, operation) or operation.startswith("View"), action


def test_no_wildcards_in_the_policy(policy: PolicyRef) -> None:
    for statement in policy.document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in a and "?" not in a for a in statement["Action"])


def test_every_other_operation_of_the_same_services_is_denied(policy: PolicyRef) -> None:
    allowed = set(required_actions())
    session = botocore.session.get_session()
    boto = {a: o for o, a in IAM_ACTION_OVERRIDES.items()}  # states:X is stepfunctions:X
    services = {boto.get(a, a).split(":")[0] for a in allowed}
    checked = 0
    for service in sorted(services):
        for operation in session.get_service_model(service).operation_names:
            action = iam_action(service, operation)
            if action in allowed:
                continue
            assert decide(policy, action) == IMPLICIT_DENY, action
            checked += 1
    assert checked > 500  # ec2 alone has hundreds of operations


@pytest.mark.parametrize("action", MUTATIONS + OTHER_SERVICES)
def test_writes_and_other_services_are_denied(policy: PolicyRef, action: str) -> None:
    assert decide(policy, action) == IMPLICIT_DENY
    assert decide(policy, action, MEMBER_ROLE) == IMPLICIT_DENY


@pytest.mark.parametrize(
    "role",
    [
        "arn:aws:iam::222233334444:role/Admin",
        "arn:aws:iam::222233334444:role/OrganizationAccountAccessRoleX",
        "arn:aws:iam::222233334444:user/OrganizationAccountAccessRole",
        "arn:aws-cn:iam::222233334444:role/OrganizationAccountAccessRole",
        "*",
    ],
)
def test_assume_role_is_limited_to_the_member_role(policy: PolicyRef, role: str) -> None:
    assert decide(policy, "sts:AssumeRole", MEMBER_ROLE) == ALLOW
    assert decide(policy, "sts:AssumeRole", role) == IMPLICIT_DENY
    [statement] = [s for s in policy.document["Statement"] if "sts:AssumeRole" in s["Action"]]
    assert statement["Resource"] == f"arn:aws:iam::*:role/{ROLE}"


def test_another_role_name_and_partition_move_the_assume_role_grant() -> None:
    custom = PolicyRef("p", "role/v", required_policy("corral-audit", "aws-us-gov"))
    ok = "arn:aws-us-gov:iam::222233334444:role/corral-audit"
    assert decide(custom, "sts:AssumeRole", ok) == ALLOW
    assert decide(custom, "sts:AssumeRole", MEMBER_ROLE) == IMPLICIT_DENY


def _used(conn: Connection) -> set[str]:
    return {iam_action(*name.split(":")) for name in conn.calls}


@pytest.mark.slow
def test_every_call_verify_and_sweep_make_is_declared_and_allowed(
    policy: PolicyRef, tmp_path: Path
) -> None:
    used: set[str] = set()
    regions = ["us-east-1", "us-west-2", "eu-west-1"]
    with mock_aws():
        org = make_org()
        spec = load(org_stack(tmp_path, org))
        deploy_org(spec)
        launch_incident()
        conn = Connection(region=spec.region)
        verify(spec, conn)
        sweep(spec, conn, regions=regions, workers=2)
        used |= _used(conn)
    with mock_aws():
        make_account_principals()
        spec = load(account_stack(tmp_path, extra=SPEND + BREAKER))
        deploy_account(spec)
        deploy_breakers(spec, deploy_spend(spec, regions=regions)["topic"])
        conn = Connection(region=spec.region)
        serve_budget_subscribers(conn.events)  # moto lacks these budget reads
        serve_budget_actions(conn.events)
        verify(spec, conn, regions=regions)
        sweep(spec, conn, regions=regions, workers=2)
        used |= _used(conn)
    assert {"organizations:ListAccounts", "ec2:DescribeInstances", "sts:AssumeRole"} <= used
    assert {"budgets:DescribeBudgetActionsForBudget", "cloudwatch:DescribeAlarms"} <= used
    assert used <= set(required_actions()), used - set(required_actions())
    for action in sorted(used):
        resource = MEMBER_ROLE if action == "sts:AssumeRole" else "*"
        assert decide(policy, action, resource) == ALLOW, action
