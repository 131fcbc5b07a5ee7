"""The registry: ids equal module and test names; every call a check makes is declared."""

from __future__ import annotations

import ast
import io
from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pytest
from moto import mock_aws
from test_verify_support import (
    BREAKER,
    SPEND,
    account_stack,
    client,
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
from corral.audit.checks._base import (
    SWEEP_ACCOUNT,
    SWEEP_REGION,
    VERIFY,
    SweepContext,
    VerifyContext,
)
from corral.audit.sweep import ORCHESTRATION_ACTIONS
from corral.build.plan import build_plan
from corral.cli.verify import required_actions, required_policy

CHECKS_DIR = Path(checks.__file__).parent
TESTS = Path(__file__).parent
IMPLICIT = {"sts:GetCallerIdentity", "sts:AssumeRole"}  # the connection's own calls
# Organization mode: budgets in the management account, a circuit breaker per account target.
ORG_SPEND = SPEND.replace("limit: 200\n", "limit: 200\n    deployment: management\n") + BREAKER
ORG_SPEND += "    trigger: alarm\n"  # breaker-trigger reads in organization mode too


def test_ids_match_modules() -> None:
    files = sorted(p.stem for p in CHECKS_DIR.glob("*.py") if not p.stem.startswith("_"))
    assert sorted(checks.MODULES) == files
    for check in checks.REGISTRY:
        assert check.id == check.module.__name__.rsplit(".", 1)[1].replace("_", "-")
        assert check.metadata.severity in ("low", "medium", "high", "critical")
        assert check.metadata.remediation.endswith(".")


def test_every_check_has_a_test_named_after_it() -> None:
    names = set()
    for path in [*TESTS.glob("test_verify*.py"), *TESTS.glob("test_sweep*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    for module in checks.MODULES:
        assert any(n == f"test_{module}" or n.startswith(f"test_{module}_") for n in names), module


def test_declared_actions_are_reads_of_real_operations() -> None:
    session = botocore.session.get_session()
    for action in required_actions():
        # An IAM action named unlike its operations (budgets:ViewBudget) stands for them.
        operations = [o for o, a in IAM_ACTION_OVERRIDES.items() if a == action] or [action]
        for name in operations:
            service, operation = name.split(":")
            assert is_read(service, operation), name
            model = session.get_service_model(service)
            assert operation in model.operation_names, name


def test_iam_policy_is_deterministic_and_least_privilege() -> None:
    policy = required_policy("Auditor", "aws")
    assert policy == required_policy("Auditor", "aws")
    reads, assume = policy["Statement"]
    assert reads["Resource"] == "*" and "sts:AssumeRole" not in reads["Action"]
    assert not any("*" in a for a in reads["Action"])
    assert assume == {
        "Sid": "CorralVerifierAssumeMemberRole",
        "Effect": "Allow",
        "Action": ["sts:AssumeRole"],
        "Resource": "arn:aws:iam::*:role/Auditor",
    }
    assert set(ORCHESTRATION_ACTIONS) <= set(reads["Action"])


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict]:
    """An org with deployed SCPs, and a standalone-style IAM setup in the management account;
    spend detection and a circuit breaker on in both, deployed (account mode) in the home and
    one other region."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        org = make_org()
        org_spec = load(org_stack(tmp_path, org, ORG_SPEND, accounts=[org.dev]))
        deploy_org(org_spec)
        make_account_principals()
        fast = BREAKER + "    trigger: alarm\n"  # the fast breaker's check reads too
        acct_spec = load(account_stack(tmp_path, extra=SPEND + fast))
        deploy_account(acct_spec)
        spent = deploy_spend(acct_spec, regions=["us-east-1", "eu-west-1"])
        deploy_breakers(acct_spec, spent["topic"])
        client("iam").create_access_key(UserName="alice")
        launch_incident()
        yield {"org": org, "specs": {"organization": org_spec, "account": acct_spec}}


def _calls(check: checks.Check, spec, org) -> set[str]:
    conn = Connection(region=spec.region)
    serve_budget_subscribers(conn.events)  # moto lacks DescribeSubscribersForNotification
    serve_budget_actions(conn.events)  # and DescribeBudgetActionsForBudget
    caller = conn.caller_account()
    scope = check.metadata.scope
    if scope == VERIFY:
        ctx = VerifyContext(spec, build_plan(spec), conn, caller)
    else:
        account = org.dev if spec.mode == "organization" else caller
        region = "us-east-1" if scope == SWEEP_REGION else None
        ctx = SweepContext(spec, conn, account, region, caller)
    conn.calls.clear()
    results = list(check.run(ctx))
    assert results or scope != SWEEP_ACCOUNT
    return {iam_action(*c.split(":")) for c in conn.calls} - IMPLICIT


def test_every_call_a_check_makes_is_declared(world: dict) -> None:
    buf = io.StringIO()
    for check in checks.REGISTRY:
        for mode in check.metadata.modes:
            made = _calls(check, world["specs"][mode], world["org"])
            undeclared = made - set(check.metadata.actions)
            if undeclared:
                buf.write(f"{check.id} ({mode}) calls undeclared {sorted(undeclared)}\n")
            assert made, f"{check.id} ({mode}) made no call at all"
    assert buf.getvalue() == ""


def test_drift_fixes_say_pulumi_up_refresh() -> None:
    """Pulumi compares the program with its state, not with the account: a resource deleted
    or changed outside Pulumi stays so after a plain `pulumi up`. Every fix a check names
    for drift is therefore `pulumi up --refresh`; only a spec change (principals-covered:
    "add it to corral:principals and run `pulumi up`") needs no refresh."""
    root = Path(checks.__file__).parent
    sources = [*root.glob("*.py"), root.parent.parent / "evaluate" / "judge.py"]
    plain = []
    for path in sources:
        if path.name == "principals_covered.py":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docstrings and "`pulumi up`" in node.value):  # fmt: skip
                plain.append(f"{path.name}:{node.lineno}: {node.value[:70]}")
    assert plain == []
    remediations = {c.id: c.metadata.remediation for c in checks.REGISTRY}
    assert "`pulumi up --refresh`" in remediations["alarms-present"]
