"""AlertGuardrails under pulumi.runtime.set_mocks: the spend example stack registers attempt
and tamper rules in every region of the partition and a GuardDuty findings rule, all ending
at the spend topic (directly through the gate at home, or forwarded home), with exactly the
parameters corral.build.alerts builds."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import yaml

from components import ALERT_GUARDRAILS, program
from corral.build import alerts, alerts_gate
from corral.build.plan import build_plan
from corral.spec import catalog
from corral.spec.load import from_config

ACCOUNT_ID = "111111111111"  # the account the GuardrailMocks of tests/conftest.py report

ROOT = Path(__file__).resolve().parent.parent
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
GATE = "aws:sfn/stateMachine:StateMachine"
TABLE = "aws:dynamodb/table:Table"
DETECTOR = "aws:guardduty/detector:Detector"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ADMIN = "aws:guardduty/organizationAdminAccount:OrganizationAdminAccount"
MEMBERS = "aws:guardduty/organizationConfiguration:OrganizationConfiguration"
HOME = "eu-west-1"  # aws:region of the spend example
TOPIC = f"arn:aws:sns:{HOME}:{ACCOUNT_ID}:corral-spend-alerts"
GATE_ARN = f"arn:aws:states:{HOME}:{ACCOUNT_ID}:stateMachine:corral-alerts-gate"
BUS = f"arn:aws:events:{HOME}:{ACCOUNT_ID}:event-bus/default"


def spend_example() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.spend-example.yaml").read_text())["config"]


def run(config: dict, deploy) -> None:
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v)
                                   for k, v in config.items()})  # fmt: skip
    deploy(lambda: program.deploy(program.stack_config()))


def targets_by_rule(mocks) -> dict[tuple[str, str], dict]:
    """Each rule's target inputs, by (rule name, region)."""
    return {(t.inputs["rule"], t.inputs.get("region")): t.inputs for t in mocks.of_type(TARGET)}


def test_spend_example_alerts_every_region_and_ends_at_the_topic(pulumi_mocks, deploy) -> None:
    config = spend_example()
    run(config, deploy)
    spec = from_config(config)
    [site] = alerts.plan(spec)
    planned = alerts.rules(spec, site, build_plan(spec), ACCOUNT_ID)
    rules = {(r.inputs["name"], r.inputs["region"]): r.inputs for r in pulumi_mocks.of_type(RULE)
             if r.inputs["name"].startswith(("corral-spend-attempts", "corral-spend-tamper",
                                             "corral-spend-findings"))}  # fmt: skip
    assert len(rules) == len(planned) == 7 * len(catalog.regions("aws")) + 1
    regions = {region for _, region in rules}
    assert regions == set(catalog.regions("aws"))
    targets = targets_by_rule(pulumi_mocks)
    events_role = f"arn:aws:iam::{ACCOUNT_ID}:role/corral/corral-alerts-events"
    for rule, pattern in planned:
        inputs = rules[(rule.name, rule.region)]
        assert json.loads(inputs["eventPattern"]) == json.loads(pattern)
        assert inputs["state"] == rule.state
        target = targets[(rule.name, rule.region)]
        assert target["roleArn"] == events_role
        if rule.region == HOME:
            assert target["arn"] == GATE_ARN
            assert target["inputTransformer"] == {
                "inputPaths": alerts_gate.transformer(rule.kind)["InputPathsMap"],
                "inputTemplate": alerts_gate.transformer(rule.kind)["InputTemplate"],
            }
        else:
            assert target["arn"] == BUS and "inputTransformer" not in target
    kinds = {(name.rsplit("-", 1)[0] if "findings" not in name else name, region)
             for name, region in rules}  # fmt: skip
    assert ("corral-spend-findings", HOME) in kinds
    for region in catalog.regions("aws"):
        assert {("corral-spend-attempts", region), ("corral-spend-tamper", region)} <= kinds
    [gate] = pulumi_mocks.of_type(GATE)
    definition = json.loads(gate.inputs["definition"])
    assert definition["States"]["Notify"]["Parameters"]["TopicArn"] == TOPIC
    assert gate.inputs["type"] == "EXPRESS" and gate.inputs["region"] == HOME
    assert [t.inputs["name"] for t in pulumi_mocks.of_type(TABLE)] == ["corral-alerts-seen"]
    assert [d.inputs["region"] for d in pulumi_mocks.of_type(DETECTOR)] == [HOME]
    [component] = [c for c in pulumi_mocks.created if c.type == ALERT_GUARDRAILS]
    assert component.name == "corral-alerts"


def test_spend_example_alert_roles_are_least_privilege(pulumi_mocks, deploy) -> None:
    run(spend_example(), deploy)
    roles = {r.inputs["name"]: r.inputs for r in pulumi_mocks.of_type(ROLE)}
    policies = [json.loads(p.inputs["policy"]) for p in pulumi_mocks.of_type(ROLE_POLICY)
                if p.name.startswith("corral-alerts-")]  # fmt: skip
    grants = {s["Action"]: s["Resource"] for p in policies for s in p["Statement"]}
    assert grants["events:PutEvents"] == BUS
    assert grants["states:StartExecution"] == GATE_ARN
    assert (
        grants["dynamodb:PutItem"]
        == f"arn:aws:dynamodb:{HOME}:{ACCOUNT_ID}:table/corral-alerts-seen"
    )
    assert grants["sns:Publish"] == TOPIC
    for name, service in (("corral-alerts-events", "events"), ("corral-alerts-gate", "states")):
        [statement] = json.loads(roles[name]["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Service": f"{service}.amazonaws.com"}
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
        assert roles[name]["path"] == "/corral/"


def test_organization_mode_delegates_guardduty_and_auto_enables_members(
    pulumi_mocks, deploy
) -> None:
    config = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())["config"]
    config["corral:notifications"] = {"emails": ["ops@example.com"]}
    config["corral:exemptPrincipals"].append("arn:aws:iam::*:role/OrganizationAccountAccessRole")
    config["corral:exemptPrincipals"].append("arn:aws:iam::*:role/stacksets-exec-*")
    run(config, deploy)
    spec = from_config(config)
    allowed = sorted(spec.allowed_regions)
    admins = pulumi_mocks.of_type(ADMIN)
    assert sorted(a.inputs["region"] for a in admins) == allowed
    assert {a.inputs["adminAccountId"] for a in admins} == {ACCOUNT_ID}
    members = pulumi_mocks.of_type(MEMBERS)
    assert sorted(m.inputs["region"] for m in members) == allowed
    assert {m.inputs["autoEnableOrganizationMembers"] for m in members} == {"ALL"}
    detectors = {d.id: d.inputs["region"] for d in pulumi_mocks.of_type(DETECTOR)}
    assert {detectors[m.inputs["detectorId"]] for m in members} == set(allowed)


def test_alerts_and_guardduty_can_be_turned_off(pulumi_mocks, deploy) -> None:
    config = spend_example()
    config["corral:alerts"] = {"enabled": False}
    config["corral:guardDuty"] = {"enable": False}
    run(config, deploy)
    assert not [c for c in pulumi_mocks.created if c.type == ALERT_GUARDRAILS]
    names = [r.inputs["name"] for r in pulumi_mocks.of_type(RULE)]
    assert not [n for n in names if "attempts" in n or "tamper" in n or "findings" in n]
