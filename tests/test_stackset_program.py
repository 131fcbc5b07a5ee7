"""The program under pulumi.runtime.set_mocks registers, in organization mode, corral's
StackSet with automatic deployment to every targeted root and OU, one instance per region."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
from test_program import as_engine, run_main, stack_config

from corral.build import breaker_trip, stackset
from corral.spec import catalog
from corral.spec.load import from_config
from tests.conftest import ACCOUNT_ID

EXAMPLE = Path(__file__).resolve().parent.parent / "Pulumi.example.yaml"
STACK_SET = "aws:cloudformation/stackSet:StackSet"
INSTANCE = "aws:cloudformation/stackSetInstance:StackSetInstance"
ACCOUNT = "123456789012"
DEPLOYER = ACCOUNT_ID  # the mocks' caller
BUS_PERMISSION = "aws:cloudwatch/eventPermission:EventPermission"


def org_config(accounts: bool = False) -> dict:
    config = stack_config(EXAMPLE)
    config["corral:notifications"] = {"emails": ["ops@example.com"]}
    config["corral:exemptPrincipals"] = [
        *config["corral:exemptPrincipals"],
        "arn:aws:iam::*:role/stacksets-exec-*",
        "arn:aws:iam::*:role/OrganizationAccountAccessRole",
    ]
    if accounts:
        target = {"id": ACCOUNT, "name": "special", "guardrails": ["regions"]}
        config["corral:targets"] = [*config["corral:targets"], target]
    return config


def test_organization_mode_registers_a_stackset_deploying_to_every_targeted_ou(
    pulumi_mocks, deploy
) -> None:
    config = org_config()
    pulumi.runtime.set_all_config(as_engine(config))
    deploy(run_main)
    spec = from_config(config)
    [stack_set] = [c for c in pulumi_mocks.created if c.type == STACK_SET]
    inputs = stack_set.inputs
    assert inputs["name"] == "corral-spend-detection"
    assert inputs["permissionModel"] == "SERVICE_MANAGED"
    assert inputs["autoDeployment"] == {"enabled": True, "retainStacksOnAccountRemoval": False}
    assert inputs["capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert inputs["callAs"] == "SELF"
    assert inputs["templateBody"] == stackset.stackset_plan(spec).template_body
    instances = [c.inputs for c in pulumi_mocks.created if c.type == INSTANCE]
    assert sorted(i["stackSetInstanceRegion"] for i in instances) == sorted(catalog.regions("aws"))
    units = sorted(t["id"] for t in config["corral:targets"])
    assert {tuple(i["deploymentTargets"]["organizationalUnitIds"]) for i in instances} == {
        tuple(units)
    }
    assert all("accounts" not in i["deploymentTargets"] for i in instances)


def test_account_targets_are_left_out_of_the_stackset_and_keep_their_own_site(
    pulumi_mocks, deploy
) -> None:
    config = org_config(accounts=True)
    pulumi.runtime.set_all_config(as_engine(config))
    deploy(run_main)
    instances = [c.inputs for c in pulumi_mocks.created if c.type == INSTANCE]
    assert {i["deploymentTargets"]["accountFilterType"] for i in instances} == {"DIFFERENCE"}
    assert {tuple(i["deploymentTargets"]["accounts"]) for i in instances} == {(ACCOUNT,)}
    providers = [c for c in pulumi_mocks.created if c.type == "pulumi:providers:aws"]
    roles = {str(p.inputs.get("assumeRoles")) for p in providers}
    assert any(ACCOUNT in r for r in roles)


def test_fast_breaker_sets_the_management_account_for_the_members_relay(
    pulumi_mocks, deploy, monkeypatch
) -> None:
    """With ``trigger: alarm`` the template carries the relay and the StackSet sets its
    ``ManagementAccountId`` parameter to the deploying account; the management bus gets its
    policy from the organization's id."""
    answer = pulumi_mocks.call

    def call(args):
        if args.token == "aws:organizations/getOrganization:getOrganization":
            return {"id": "o-abcd123456", "masterAccountId": DEPLOYER}
        return answer(args)

    monkeypatch.setattr(pulumi_mocks, "call", call)
    config = org_config()
    config["corral:budgets"] = {"deployment": "management"}
    config["corral:circuitBreaker"] = {"enabled": True, "trigger": "alarm"}
    pulumi.runtime.set_all_config(as_engine(config))
    deploy(run_main)
    spec = from_config(config)
    [stack_set] = [c for c in pulumi_mocks.created if c.type == STACK_SET]
    assert stack_set.inputs["parameters"] == {"ManagementAccountId": DEPLOYER}
    assert "RelayRule" in json.loads(stack_set.inputs["templateBody"])["Resources"]
    assert stack_set.inputs["templateBody"] == stackset.stackset_plan(spec).template_body
    [permission] = [c for c in pulumi_mocks.created if c.type == BUS_PERMISSION]
    wanted = breaker_trip.bus_permission(spec.spend, "o-abcd123456")
    assert permission.inputs["statementId"] == wanted["StatementId"]
    assert permission.inputs["condition"]["value"] == "o-abcd123456"
