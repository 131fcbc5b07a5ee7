"""budget-actions against in-process moto: each circuit breaker's budget action, as planned.

moto 5.2.5 implements no budget-action API (a test below proves it still does not). The
stand-in of examples/emulator/server.py answers CreateBudgetAction, UpdateBudgetAction,
DeleteBudgetAction and DescribeBudgetActionsForBudget, checking every request and answer
against botocore's Budgets model; ``serve_budget_actions`` routes the in-process calls to it.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse
from test_verify_support import (
    BREAKER,
    SPEND,
    account_stack,
    budgets_client,
    client,
    deploy_account,
    deploy_breakers,
    deploy_org,
    deploy_spend,
    load,
    make_account_principals,
    make_org,
    serve_budget_actions,
)

from corral.audit import checks
from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.checks._base import VerifyContext
from corral.audit.verify import run_check
from corral.build import spend_breaker
from corral.build.plan import build_plan
from corral.cli import errors as E
from examples.emulator import server

BUDGET = "corral-monthly"


@pytest.fixture
def aws(aws: None) -> Iterator[None]:
    """conftest's moto, and the budget-action stand-in emptied afterwards."""
    yield
    server.BUDGET_ACTIONS.clear()


@pytest.fixture
def account(aws: None, tmp_path: Path) -> dict:
    """A standalone account with its guardrails, topic, budget and circuit breaker."""
    make_account_principals()
    spec = load(account_stack(tmp_path, extra=SPEND + BREAKER))
    deploy_account(spec)
    spent = deploy_spend(spec, regions=[])
    return {"spec": spec, **spent, **deploy_breakers(spec, spent["topic"])}


def run(spec, conn: Connection | None = None) -> list[F.Finding]:
    """The findings of budget-actions alone."""
    conn = conn or Connection(region=spec.region, max_attempts=2)
    serve_budget_actions(conn.events)
    ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account())
    [check] = [c for c in checks.REGISTRY if c.id == "budget-actions"]
    return run_check(check, ctx, ctx.account, None, conn.role_name)


def where(account: dict) -> dict[str, str]:
    return {"AccountId": account["account"], "BudgetName": BUDGET,
            "ActionId": account["actions"][BUDGET]}  # fmt: skip


def test_moto_still_lacks_the_budget_action_api(aws: None) -> None:
    with pytest.raises(NotImplementedError):
        client("budgets").describe_budget_actions_for_budget(
            AccountId="123456789012", BudgetName=BUDGET
        )


def test_budget_actions_passes_when_the_breaker_is_as_planned(account: dict) -> None:
    [found] = run(account["spec"])
    a = account["account"]
    assert (found.status, found.resource) == (F.PASS, f"budget action on {BUDGET}")
    assert found.message == (
        f"The circuit-breaker action on budget {BUDGET} in account {a} applies IAM policy "
        f"corral-circuit-breaker (arn:aws:iam::{a}:policy/corral/corral-circuit-breaker) to "
        "group developers, user ci-deployer, role AdminRole with automatic approval when "
        "actual spend passes 120% of the budget."
    )


def test_budget_actions_fails_when_the_threshold_is_raised(account: dict) -> None:
    threshold = {"ActionThresholdValue": 300.0, "ActionThresholdType": "PERCENTAGE"}
    budgets_client().update_budget_action(**where(account), ActionThreshold=threshold)
    [raised] = run(account["spec"])
    assert raised.status == F.FAIL
    assert raised.message == (
        f"The circuit-breaker action on budget {BUDGET} in account {account['account']} "
        "differs from the spec: it acts at 300% of the budget instead of 120% of the budget; "
        "run `pulumi up --refresh` to restore it."
    )


def test_budget_actions_fails_when_approval_and_targets_change(account: dict) -> None:
    definition = {"IamActionDefinition": {"PolicyArn": account["policy"], "Users": ["alice"]}}
    budgets_client().update_budget_action(
        **where(account), ApprovalModel="MANUAL", Definition=definition
    )
    [loosened] = run(account["spec"])
    assert loosened.message == (
        f"The circuit-breaker action on budget {BUDGET} in account {account['account']} "
        "differs from the spec: its approval model is MANUAL instead of AUTOMATIC; it applies "
        "to no group instead of group developers; it applies to user alice instead of user "
        "ci-deployer; it applies to no role instead of role AdminRole; run `pulumi up --refresh` "
        "to "
        "restore it."
    )


def test_budget_actions_fails_when_the_action_is_deleted(account: dict) -> None:
    budgets_client().delete_budget_action(**where(account))
    [gone] = run(account["spec"])
    assert gone.status == F.FAIL
    assert gone.message == (
        f"Budget {BUDGET} in account {account['account']} has no circuit-breaker action, so "
        "nothing stops new EC2 capacity when actual spend passes 120% of the budget; run "
        "`pulumi up --refresh` to recreate it."
    )


def test_budget_actions_fails_when_the_deny_policy_is_edited(account: dict) -> None:
    document = json.loads(spend_breaker.deny_launch_policy(account["spec"].spend))
    document["Statement"][0]["Action"].remove("ec2:RunInstances")
    client("iam").create_policy_version(
        PolicyArn=account["policy"], PolicyDocument=json.dumps(document), SetAsDefault=True
    )
    [edited] = run(account["spec"])
    a = account["account"]
    assert edited.message == (
        f"The circuit-breaker action on budget {BUDGET} in account {a} differs from the spec: "
        f"its IAM policy corral-circuit-breaker (arn:aws:iam::{a}:policy/corral/"
        "corral-circuit-breaker) differs from the spec: statement CorralCircuitBreakerDenyLaunch "
        "no longer denies ec2:runinstances; run `pulumi up --refresh` to restore it."
    )


def test_budget_actions_read_failure_is_an_error(account: dict) -> None:
    conn = Connection(region=account["spec"].region, max_attempts=2)

    def deny(**_: object):
        error = {"Code": "AccessDeniedException", "Message": "not authorised"}
        meta = {"HTTPStatusCode": 400}
        return AWSResponse("https://x", 400, {}, None), {"Error": error, "ResponseMetadata": meta}

    conn.events.register("before-call.budgets.DescribeBudgetActionsForBudget", deny)
    [error] = run(account["spec"], conn)
    a = account["account"]
    assert (error.status, error.account) == (F.ERROR, a)
    assert error.message == (
        "Check budget-actions could not complete because "
        f"budgets:DescribeBudgetActionsForBudget failed in account {a} region us-east-1: "
        "AccessDeniedException: not authorised; grant the caller the actions printed by "
        "`corral iam-policy` and run it again."
    )
    assert E.exit_code([error]) == E.EXIT_ERROR


def test_budget_actions_checks_the_scp_breaker_of_each_account(aws: None, tmp_path: Path) -> None:
    org = make_org()
    stack = tmp_path / "Pulumi.org-breaker.yaml"
    stack.write_text(
        textwrap.dedent(f"""\
        config:
          aws:region: us-east-1
          corral:mode: organization
          corral:allowedRegions: [us-east-1]
          corral:exemptPrincipals:
            - "arn:aws:iam::*:role/corral-break-glass"
            - "arn:aws:iam::*:role/OrganizationAccountAccessRole"
            - "arn:aws:iam::*:role/stacksets-exec-*"
          corral:targets:
            - {{id: {org.root}, name: root, guardrails: [regions]}}
            - {{id: "{org.dev}", name: dev, guardrails: [regions]}}
          corral:notifications: {{emails: [ops@example.com]}}
          corral:budgets: {{limit: 100, deployment: management}}
          corral:alarms: {{vcpu: {{enabled: false}}}}
          corral:circuitBreaker: {{enabled: true, threshold: 150, approval: manual}}
        """),
        encoding="utf-8",
    )
    spec = load(stack)
    deploy_org(spec)
    spent = deploy_spend(spec, regions=[])
    deployed = deploy_breakers(spec, spent["topic"])
    [found] = run(spec)
    assert found.message == (
        f"The circuit-breaker action on budget corral-{org.dev} in account {org.management} "
        f"applies SCP corral-circuit-breaker ({deployed['policy']}) to account {org.dev} with "
        "manual approval when actual spend passes 150% of the budget."
    )
    definition = {"ScpActionDefinition": {"PolicyId": deployed["policy"], "TargetIds": [org.test]}}
    budgets_client().update_budget_action(
        AccountId=org.management,
        BudgetName=f"corral-{org.dev}",
        ActionId=deployed["actions"][f"corral-{org.dev}"],
        Definition=definition,
    )
    [moved] = run(spec)
    assert moved.message == (
        f"The circuit-breaker action on budget corral-{org.dev} in account {org.management} "
        f"differs from the spec: it applies to account {org.test} instead of account {org.dev}; "
        "run `pulumi up --refresh` to restore it."
    )


def test_the_stand_in_answers_as_aws_and_refuses_what_the_model_refuses(account: dict) -> None:
    request = {"AccountId": account["account"], "BudgetName": "no-such-budget"}
    status, body = server.BUDGET_ACTIONS.answer("DescribeBudgetActionsForBudget", request)
    assert (status, body["__type"]) == (400, "NotFoundException")
    update = {**where(account), "ApprovalModel": "SOMETIMES"}
    status, body = server.BUDGET_ACTIONS.answer("UpdateBudgetAction", update)
    assert (status, body["__type"]) == (400, "InvalidParameterException")
    assert body["Message"] == (
        "UpdateBudgetAction.ApprovalModel 'SOMETIMES' is not one of AUTOMATIC, MANUAL"
    )
    status, body = server.BUDGET_ACTIONS.answer(
        "DescribeBudgetActionsForBudget", {"AccountId": "12", "BudgetName": BUDGET}
    )
    assert status == 400 and "valid min length: 12" in body["Message"]
