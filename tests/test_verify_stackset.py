"""Member detection through corral's StackSet, on the emulator: the program's StackSetDetection
runs under the emulator's mocks into in-process moto (with examples/emulator/stacksets.py's
stand-in), then `corral verify`'s stackset-instances check reads it back.

Also proves moto still lacks what the stand-in stands in for, so it is retired when moto
gains it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pulumi
import pytest
from moto import mock_aws
from test_verify_support import SPEND, client, load, make_org, org_stack

from components.stackset import StackSetDetection, StackSetDetectionArgs
from corral.audit import checks
from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.checks._base import VerifyContext
from corral.audit.verify import run_check
from corral.build import stackset
from corral.build.plan import build_plan
from corral.cli import errors as E
from examples.emulator import (
    stackset_handlers,  # noqa: F401 - registers the handlers
    stacksets,
)
from examples.emulator.mocks import EmulatorMocks

REGIONS = ("us-east-1", "eu-west-1")
EXEMPT_EXEC = '    - "arn:aws:iam::*:role/stacksets-exec-*"\n'


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An organization (root; OUs workloads and sandbox with dev and test), corral's StackSet
    applied through the emulator's mocks."""
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    stacksets.install()
    with mock_aws():
        org = make_org()
        spec = load(org_stack(tmp_path, org, SPEND))
        # two regions keep the test fast; the program under mocks registers every region
        # (test_stackset_program.py), and `make demo` deploys them all
        plan = dataclasses.replace(stackset.stackset_plan(spec), regions=REGIONS)
        mocks = apply_stackset(plan, boto3.Session(), spec.region)
        yield {"org": org, "spec": spec, "plan": plan, "mocks": mocks}


def apply_stackset(plan: stackset.StackSetPlan, session: boto3.Session, region: str):
    pulumi.runtime.reset_options(project="corral", stack="emulator", preview=False)
    mocks = EmulatorMocks(session=session, endpoint_url=None, default_region=region)
    pulumi.runtime.set_mocks(mocks, project="corral", stack="emulator", preview=False)

    @pulumi.runtime.test
    def program():
        return StackSetDetection("members", StackSetDetectionArgs(plan)).arn

    program()
    return mocks


def verify(spec, regions: tuple[str, ...] | None = REGIONS) -> list[F.Finding]:
    conn = Connection(region=spec.region, max_attempts=2)
    ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account(), regions=regions)
    [check] = [c for c in checks.REGISTRY if c.id == "stackset-instances"]
    return run_check(check, ctx, ctx.account, None, conn.role_name)


def member(account: str, service: str, region: str = "us-east-1") -> Any:
    creds = client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="test",
    )["Credentials"]
    return client(service, region=region, aws_access_key_id=creds["AccessKeyId"],
                  aws_secret_access_key=creds["SecretAccessKey"],
                  aws_session_token=creds["SessionToken"])  # fmt: skip


def failures(found: list[F.Finding]) -> list[tuple[str, str]]:
    return [(f.resource, f.message) for f in found if f.status != F.PASS]


def test_stackset_instances_pass_when_every_member_has_its_instances_and_alarms(world) -> None:
    org, spec = world["org"], world["spec"]
    made = [c.type for c in world["mocks"].created]
    assert made.count("aws:cloudformation/stackSetInstance:StackSetInstance") == len(
        world["plan"].regions
    )
    found = verify(spec)
    assert failures(found) == []
    assert E.exit_code(found) == E.EXIT_OK
    assert {f.account for f in found} == {org.management, org.dev, org.test}
    [dev] = [f for f in found if f.account == org.dev]
    assert dev.message == (
        f"Account {org.dev} (below {org.workloads}) has a CURRENT stack instance of StackSet "
        "corral-spend-detection in each of 2 regions and all 42 spend alarms, forwarded to its "
        "topic."
    )
    alarms = member(org.dev, "cloudwatch", "eu-west-1").describe_alarms()["MetricAlarms"]
    assert len(alarms) == 21 and not any(a["AlarmActions"] for a in alarms)  # forwarded
    home = member(org.dev, "cloudwatch").describe_alarms()["MetricAlarms"]
    topic = f"arn:aws:sns:us-east-1:{org.dev}:corral-spend-alerts"
    assert len(home) == 21 and all(a["AlarmActions"] == [topic] for a in home)
    [budget] = member(org.dev, "budgets").describe_budgets(AccountId=org.dev)["Budgets"]
    assert (budget["BudgetName"], budget["BudgetLimit"]["Amount"]) == ("corral-monthly", "200.00")
    policy = json.loads(
        member(org.dev, "sns").get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
    )
    assert policy["Id"] == "corral-spend-alerts-policy"
    cf = client("cloudformation")
    accounts = {s["Account"] for s in cf.list_stack_instances(
        StackSetName="corral-spend-detection")["Summaries"]}  # fmt: skip
    assert accounts == {org.dev, org.test}  # never the management account


def test_stackset_instances_fail_when_automatic_deployment_is_turned_off(world) -> None:
    cf = client("cloudformation")
    cf.update_stack_set(
        StackSetName="corral-spend-detection",
        UsePreviousTemplate=True,
        AutoDeployment={"Enabled": False},
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    found = verify(world["spec"])
    assert E.exit_code(found) == E.EXIT_FAIL
    assert failures(found) == [
        (
            "StackSet corral-spend-detection",
            "StackSet corral-spend-detection differs from the spec: automatic deployment is off, "
            "so accounts created or moved below its targets later get no detection; run `pulumi "
            "up --refresh` to restore it.",
        )
    ]


def test_stackset_instances_fail_when_the_template_is_changed(world) -> None:
    cf = client("cloudformation")
    body = json.loads(world["plan"].template_body)
    del body["Resources"]["AlarmSpendLambda"]
    cf.update_stack_set(StackSetName="corral-spend-detection", TemplateBody=json.dumps(body),
                        Capabilities=["CAPABILITY_NAMED_IAM"])  # fmt: skip
    [(resource, message)] = failures(verify(world["spec"]))
    assert resource == "StackSet corral-spend-detection"
    assert "its template differs from the one the spec builds" in message


def test_stackset_instances_fail_when_an_instance_is_deleted(world) -> None:
    org = world["org"]
    client("cloudformation").delete_stack_instances(
        StackSetName="corral-spend-detection", Accounts=[org.test], Regions=["eu-west-1"],
        RetainStacks=False,
    )  # fmt: skip
    found = verify(world["spec"])
    assert E.exit_code(found) == E.EXIT_FAIL
    resources = [r for r, _ in failures(found)]
    assert f"stack instances of account {org.test}" in resources
    [message] = [m for r, m in failures(found) if r == f"stack instances of account {org.test}"]
    assert message == (
        f"Account {org.test} (below {org.sandbox}) has no stack instance of StackSet "
        "corral-spend-detection in eu-west-1, so it has no spend alarms there; run `pulumi up "
        "--refresh` to recreate it."
    )
    assert "alarm corral-spend-vcpu-eu-west-1-standard" in resources  # deleted with the stack


def test_stackset_instances_fail_when_an_alarm_is_deleted_in_one_member(world) -> None:
    org = world["org"]
    member(org.dev, "cloudwatch", "eu-west-1").delete_alarms(
        AlarmNames=["corral-spend-spot-eu-west-1-standard"]
    )
    found = verify(world["spec"])
    assert E.exit_code(found) == E.EXIT_FAIL
    assert failures(found) == [
        (
            "alarm corral-spend-spot-eu-west-1-standard",
            f"Spot vCPU alarm corral-spend-spot-eu-west-1-standard is missing in account "
            f"{org.dev} eu-west-1; run `pulumi up --refresh` to recreate it.",
        )
    ]


def test_stackset_instances_fail_when_an_instance_is_not_current(world, monkeypatch) -> None:
    # moto reports every instance CURRENT; AWS reports OUTDATED or INOPERABLE when a stack
    # operation failed. The check must say so.
    from moto.cloudformation.models import StackInstance

    moto_dict = StackInstance.to_dict

    def outdated(self):
        out = moto_dict(self)
        if self.account_id == world["org"].dev and self.region_name == "us-east-1":
            out.update(Status="OUTDATED", StatusReason="Resource handler returned message: denied")
        return out

    monkeypatch.setattr(StackInstance, "to_dict", outdated)
    dev = world["org"].dev
    assert failures(verify(world["spec"])) == [
        (
            f"stack instance {dev} us-east-1",
            f"The stack instance of StackSet corral-spend-detection for account {dev} in "
            "us-east-1 is OUTDATED, not CURRENT (Resource handler returned message: denied), so "
            "its spend detection may be missing or stale; fix the cause and run `pulumi up "
            "--refresh`.",
        )
    ]


def test_stackset_instances_follow_an_account_created_later_in_a_targeted_ou(world) -> None:
    org = client("organizations")
    status = org.create_account(Email="late@example.com", AccountName="late")
    late = status["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=late, SourceParentId=world["org"].root,
                     DestinationParentId=world["org"].workloads)  # fmt: skip
    alarms = member(late, "cloudwatch", "eu-west-1").describe_alarms()["MetricAlarms"]
    assert len(alarms) == 21
    found = verify(world["spec"])
    assert failures(found) == []
    assert late in {f.account for f in found}


OU_ONLY = """\
config:
  aws:region: us-east-1
  corral:mode: organization
  corral:allowedRegions: [us-east-1, eu-west-1]
  corral:exemptPrincipals: ["arn:aws:iam::*:role/corral-break-glass", "{exec}"]
  corral:instances: {{allow: [t3.*]}}
  corral:targets:
    - {{id: {ou}, name: workloads, guardrails: [instances, protection]}}
"""


def test_stackset_instances_follow_accounts_moved_into_and_out_of_a_targeted_ou(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    stacksets.install()
    with mock_aws():
        org = make_org()
        path = tmp_path / "Pulumi.ou.yaml"
        text = OU_ONLY.format(ou=org.workloads, exec="arn:aws:iam::*:role/stacksets-exec-*")
        path.write_text(text + SPEND, encoding="utf-8")
        spec = load(path)
        plan = dataclasses.replace(stackset.stackset_plan(spec), regions=REGIONS)
        apply_stackset(plan, boto3.Session(), spec.region)
        cf, orgs = client("cloudformation"), client("organizations")

        def deployed() -> set[tuple[str, str]]:
            summaries = cf.list_stack_instances(StackSetName=plan.name)["Summaries"]
            return {(s["Account"], s["Region"]) for s in summaries}

        assert deployed() == {(org.dev, r) for r in REGIONS}  # test is in sandbox: untargeted
        late = orgs.create_account(Email="late@example.com", AccountName="late")
        late = late["CreateAccountStatus"]["AccountId"]
        assert {a for a, _ in deployed()} == {org.dev}  # created at the root: not targeted
        orgs.move_account(AccountId=late, SourceParentId=org.root,
                          DestinationParentId=org.workloads)  # fmt: skip
        assert {a for a, _ in deployed()} == {org.dev, late}
        assert len(member(late, "cloudwatch", "eu-west-1").describe_alarms()["MetricAlarms"]) == 21
        assert failures(verify(spec)) == []
        orgs.move_account(AccountId=late, SourceParentId=org.workloads,
                          DestinationParentId=org.sandbox)  # fmt: skip
        assert {a for a, _ in deployed()} == {org.dev}  # RetainStacksOnAccountRemoval: false
        assert member(late, "cloudwatch", "eu-west-1").describe_alarms()["MetricAlarms"] == []


def test_stackset_instances_fail_when_the_stack_set_is_missing(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        org = make_org()
        spec = load(org_stack(tmp_path, org, SPEND))
        found = verify(spec, regions=("us-east-1",))
    assert E.exit_code(found) == E.EXIT_FAIL
    [stack_set] = [f for f in found if f.resource == "StackSet corral-spend-detection"]
    assert stack_set.message.startswith("StackSet corral-spend-detection is missing in us-east-1")
    assert {f.account for f in found if f.status == F.FAIL} >= {org.dev, org.test}


# --------------------------------------------------------------------------- moto's own


@pytest.mark.filterwarnings("ignore:Tried to parse AWS::")  # moto: type not supported
def test_moto_still_lacks_what_the_stackset_stand_in_provides(monkeypatch, tmp_path) -> None:
    """Each assertion fails once moto implements that part: then retire it from the stand-in."""
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert not set(stacksets.STAND_IN_TYPES) & set(stacksets.moto_model_map())
    stacksets.uninstall()
    try:
        with mock_aws():
            org = make_org()
            orgs = client("organizations")
            deep = orgs.create_organizational_unit(ParentId=org.workloads, Name="deep")
            deeper = orgs.create_organizational_unit(
                ParentId=deep["OrganizationalUnit"]["Id"], Name="deeper"
            )["OrganizationalUnit"]["Id"]
            account = orgs.create_account(Email="d@example.com", AccountName="d")
            nested = account["CreateAccountStatus"]["AccountId"]
            orgs.move_account(AccountId=nested, SourceParentId=org.root,
                              DestinationParentId=deeper)  # fmt: skip
            spec = load(org_stack(tmp_path, org, SPEND))
            plan = stackset.stackset_plan(spec)
            cf = client("cloudformation")
            cf.create_stack_set(StackSetName=plan.name, TemplateBody=plan.template_body,
                                PermissionModel="SERVICE_MANAGED",
                                AutoDeployment={"Enabled": True,
                                                "RetainStacksOnAccountRemoval": False})  # fmt: skip
            assert "AutoDeployment" not in cf.describe_stack_set(StackSetName=plan.name)["StackSet"]
            root = {"OrganizationalUnitIds": [org.root]}
            cf.create_stack_instances(
                StackSetName=plan.name, Regions=["us-east-1"], DeploymentTargets=root
            )
            deployed = {s["Account"] for s in cf.list_stack_instances(
                StackSetName=plan.name)["Summaries"]}  # fmt: skip
            assert org.management in deployed  # AWS never deploys to the management account
            assert nested not in deployed  # AWS includes child OUs at any depth
            alarms = member(org.dev, "cloudwatch").describe_alarms()["MetricAlarms"]
            assert alarms == []  # moto's CloudFormation creates no AWS::CloudWatch::Alarm
            late = orgs.create_account(Email="l@example.com", AccountName="l")
            late_id = late["CreateAccountStatus"]["AccountId"]
            deployed = {s["Account"] for s in cf.list_stack_instances(
                StackSetName=plan.name)["Summaries"]}  # fmt: skip
            assert late_id not in deployed  # no automatic deployment
    finally:
        stacksets.install()
