"""End to end through the emulator: the real program -> moto_server -> the real verifier CLI.

The program runs under ``pulumi.runtime.set_mocks`` with mocks that create every
resource in moto_server through boto3 (examples/emulator); `corral verify` and
`corral sweep` run as subprocesses with ``--endpoint-url``, as a user runs them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from corral.build import documents
from corral.build.plan import Document, Plan, build_plan
from examples.emulator import demo, server
from examples.emulator.apply import apply_program

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with server.moto_server() as url:
        yield url


@pytest.fixture
def url(emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for key, value in {**server.FAKE_CREDENTIALS, **server.SERVER_ENV}.items():
        monkeypatch.setenv(key, value)
    server.reset(emulator)
    return emulator


@pytest.fixture
def session(url: str) -> boto3.Session:
    return boto3.Session(region_name="us-east-1")


def organization(session, url, tmp_path):
    org = demo.setup_organization(session, url)
    config = demo.organization_stack(org)
    return org, config, demo.write_stack(tmp_path, "e2e-org", config)


def test_organization_red_then_green_and_incident_still_running(session, url, tmp_path):
    org, config, stack = organization(session, url, tmp_path)
    before = demo.corral("verify", stack, url, tmp_path)
    assert before.code == 1
    assert before.of("guardrail-document-present", "FAIL")

    _, created = apply_program(config, session, url)
    assert len(created) == 8  # 4 SCPs (the root's capacity SCP among them), 4 attachments
    after = demo.corral("verify", stack, url, tmp_path)
    assert after.code == 0, [f["message"] for f in after.findings if f["status"] != "PASS"]
    attached = {f["resource"] for f in after.of("guardrail-attached", "PASS")}
    assert any(org.ous["ml"] in r for r in attached)

    sweep = demo.corral("sweep", stack, url, tmp_path)
    assert sweep.code == 1
    assert demo.running_instances(sweep) == 26


def test_account_red_then_green(session, url, tmp_path):
    demo.setup_account(session, url)
    config = demo.account_stack()
    stack = demo.write_stack(tmp_path, "e2e-account", config)
    assert demo.corral("verify", stack, url, tmp_path).code == 1

    manifest, created = apply_program(config, session, url)
    assert len(created) > 400  # guardrail policy + spend detection in every region
    after = demo.corral("verify", stack, url, tmp_path)
    assert after.code == 0, [f["message"] for f in after.findings if f["status"] != "PASS"]
    assert manifest["documents"][0]["id"].startswith("arn:aws:iam::")
    [breaker] = after.of("budget-actions", "PASS")  # the spend example's IAM circuit breaker
    account = session.client("sts", endpoint_url=url).get_caller_identity()["Account"]
    assert breaker["message"] == (
        f"The circuit-breaker action on budget corral-monthly in account {account} applies IAM "
        f"policy corral-circuit-breaker (arn:aws:iam::{account}:policy/corral/"
        "corral-circuit-breaker) to group developers, user ci-deployer, user script with "
        "automatic approval when actual spend passes 120% of the budget."
    )
    raised, gone = tamper_with_the_breaker(session, url, account, "corral-monthly", stack, tmp_path)
    assert raised == [
        f"The circuit-breaker action on budget corral-monthly in account {account} differs from "
        "the spec: it acts at 400% of the budget instead of 120% of the budget; run `pulumi up "
        "--refresh` "
        "to restore it."
    ]
    assert gone == [
        f"Budget corral-monthly in account {account} has no circuit-breaker action, so nothing "
        "stops new EC2 capacity when actual spend passes 120% of the budget; run `pulumi up "
        "--refresh` to "
        "recreate it."
    ]


def tamper_with_the_breaker(session, url, account, budget, stack, tmp_path):
    """Raise the breaker's threshold, then delete it, through the emulator's stand-in for the
    budget-action API; return the budget-actions FAIL messages after each."""
    budgets = session.client("budgets", endpoint_url=url)
    [action] = budgets.describe_budget_actions_for_budget(AccountId=account, BudgetName=budget)[
        "Actions"
    ]
    where = {"AccountId": account, "BudgetName": budget, "ActionId": action["ActionId"]}
    threshold = {"ActionThresholdValue": 400.0, "ActionThresholdType": "PERCENTAGE"}
    budgets.update_budget_action(**where, ActionThreshold=threshold)
    raised = demo.corral("verify", stack, url, tmp_path)
    budgets.delete_budget_action(**where)
    gone = demo.corral("verify", stack, url, tmp_path)
    assert (raised.code, gone.code) == (1, 1)
    return [[f["message"] for f in r.of("budget-actions", "FAIL")] for r in (raised, gone)]


def breaker_stack(org) -> dict:
    """The example organization, plus spend detection and a circuit breaker on account dev."""
    config = demo.organization_stack(org)
    dev = org.accounts["dev"]
    config["corral:targets"].append({"id": dev, "name": "dev", "guardrails": ["regions"]})
    config["corral:notifications"] = {"emails": ["ops@example.com"]}
    config["corral:budgets"] = {"limit": 100, "deployment": "management"}
    config["corral:alarms"] = {"vcpu": {"enabled": False}}
    config["corral:circuitBreaker"] = {"enabled": True, "threshold": 150}
    # pulumi up reaches member account dev through this role; protection would deny it otherwise.
    config["corral:exemptPrincipals"].append("arn:aws:iam::*:role/OrganizationAccountAccessRole")
    # corral's StackSet reaches the accounts below the root and OUs through StackSets' role.
    config["corral:exemptPrincipals"].append("arn:aws:iam::*:role/stacksets-exec-*")
    return config


def test_organization_circuit_breaker_verified_then_tampered(session, url, tmp_path):
    org = demo.setup_organization(session, url)
    config = breaker_stack(org)
    stack = demo.write_stack(tmp_path, "e2e-breaker", config)
    apply_program(config, session, url)
    after = demo.corral("verify", stack, url, tmp_path)
    assert after.code == 0, [f["message"] for f in after.findings if f["status"] != "PASS"]
    dev, budget = org.accounts["dev"], f"corral-{org.accounts['dev']}"
    [breaker] = after.of("budget-actions", "PASS")
    assert breaker["message"].startswith(
        f"The circuit-breaker action on budget {budget} in account {org.management} applies "
        "SCP corral-circuit-breaker (p-"
    )
    assert breaker["message"].endswith(
        f"to account {dev} with automatic approval when actual spend passes 150% of the budget."
    )
    raised, gone = tamper_with_the_breaker(session, url, org.management, budget, stack, tmp_path)
    assert raised == [
        f"The circuit-breaker action on budget {budget} in account {org.management} differs "
        "from the spec: it acts at 400% of the budget instead of 150% of the budget; run "
        "`pulumi up --refresh` to restore it."
    ]
    assert gone[0].startswith(f"Budget {budget} in account {org.management} has no circuit-")


def test_tampering_after_deploy_is_caught(session, url, tmp_path):
    org, config, stack = organization(session, url, tmp_path)
    manifest, _ = apply_program(config, session, url)
    ids = {d["name"]: d["id"] for d in manifest["documents"]}
    client = session.client("organizations", endpoint_url=url)

    client.detach_policy(PolicyId=ids["corral-ml"], TargetId=org.ous["ml"])
    policy = json.loads(client.describe_policy(PolicyId=ids["corral-root"])["Policy"]["Content"])
    region = next(s for s in policy["Statement"] if s["Sid"] == documents.SID_REGIONS)
    region["Condition"]["StringNotEquals"]["aws:RequestedRegion"].append("eu-north-1")
    client.update_policy(PolicyId=ids["corral-root"], Content=json.dumps(policy))

    report = demo.corral("verify", stack, url, tmp_path)
    assert report.code == 1
    messages = " ".join(f["message"] for f in report.findings if f["status"] == "FAIL")
    assert "eu-north-1" in messages
    assert any(
        org.ous["ml"] in f["resource"] or org.ous["ml"] in f["message"]
        for f in report.of("guardrail-attached", "FAIL")
    )


def test_program_and_verifier_disagreeing_fails(session, url, tmp_path, monkeypatch):
    """If the program deployed a document the verifier does not expect, verify is red."""
    _, config, stack = organization(session, url, tmp_path)
    real = build_plan

    def drifting(spec):
        plan = real(spec)
        drifted = []
        for doc in plan.documents:
            content = doc.content.replace('"us-east-1"', '"us-east-1","sa-east-1"')
            drifted.append(Document(doc.name, doc.kind, doc.guardrails, content, doc.description))
        return Plan(plan.mode, tuple(drifted), plan.attachments)

    monkeypatch.setattr("components.program.build_plan", drifting)
    apply_program(config, session, url)
    report = demo.corral("verify", stack, url, tmp_path)
    assert report.code == 1
    assert any("sa-east-1" in f["message"] for f in report.of("guardrail-document-content", "FAIL"))


def test_demo_runs_both_worlds(capsys):
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    assert "guardrails verified" in out
    assert "NOT verified" not in out
    assert "still 26 running instances" in out
