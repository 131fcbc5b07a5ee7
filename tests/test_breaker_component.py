"""FastBreaker under pulumi.runtime.set_mocks: with ``trigger: alarm`` SpendGuardrails adds the
rule, its target, the state machine and its two roles in the home region, every input as
corral.build.breaker_trip builds it; the budget action stays beside it."""

from __future__ import annotations

import json

import pulumi
from test_spend_component import (
    ACTION,
    DEPLOYER,
    IAM_POLICY,
    MEMBERS,
    ROLE,
    ROLE_POLICY,
    RULE,
    SCP,
    TARGET,
    SpendMocks,
    account_spend,
    deploy,
    mocks,  # noqa: F401 - the fixture
)

from components import FAST_BREAKER, SPEND_RELAY
from corral.build import breaker_trip
from corral.spec import catalog
from corral.spec import spend as spend_spec

MACHINE = "aws:sfn/stateMachine:StateMachine"
MEMBER = MEMBERS[0]
FAST = {"circuitBreaker": {"enabled": True, "threshold": 150, "trigger": "alarm"}}


def test_budget_trigger_deploys_no_fast_breaker(mocks) -> None:  # noqa: F811
    deploy(account_spend())
    assert mocks.of(FAST_BREAKER) == [] and mocks.of(MACHINE) == []
    assert len(mocks.of(ACTION)) == 1


def test_alarm_trigger_deploys_rule_machine_and_roles(mocks) -> None:  # noqa: F811
    spend = account_spend(**FAST)
    deploy(spend)
    [component] = mocks.of(FAST_BREAKER)
    assert component.name == "spend-account-fast-breaker"
    assert len(mocks.of(ACTION)) == 1  # the budget action: the slow backstop
    [deny] = mocks.of(IAM_POLICY)
    [topic] = [m for m in mocks.made if m.type == "aws:sns/topic:Topic"]
    policy_arn, topic_arn = deny.state["arn"], topic.state["arn"]

    [machine] = mocks.of(MACHINE)
    assert mocks.region(machine) == spend.region
    assert machine.inputs["name"] == "corral-circuit-breaker"
    assert machine.inputs["type"] == "STANDARD"
    assert json.loads(machine.inputs["definition"]) == json.loads(
        breaker_trip.definition(spend, policy_arn, topic_arn)
    )
    roles = {r.inputs["name"]: r for r in mocks.of(ROLE)}
    trip, start = roles["corral-circuit-breaker-trip"], roles["corral-circuit-breaker-start"]
    assert machine.inputs["roleArn"] == trip.state["arn"]
    expected = breaker_trip.expected_roles(spend, DEPLOYER, policy_arn, topic_arn)
    grants = {p.inputs["role"]: json.loads(p.inputs["policy"]) for p in mocks.of(ROLE_POLICY)}
    for role in (trip, start):
        assert role.inputs["path"] == "/corral/"
        trust, grant = expected[role.inputs["name"]]
        assert json.loads(role.inputs["assumeRolePolicy"]) == json.loads(trust)
        assert grants[role.id] == json.loads(grant)

    rules = {r.inputs["name"]: r for r in mocks.of(RULE)}
    rule = rules["corral-spend-breaker"]
    assert mocks.region(rule) == spend.region
    assert json.loads(rule.inputs["eventPattern"]) == json.loads(breaker_trip.trip_pattern(spend))
    [target] = [t for t in mocks.of(TARGET) if t.inputs["rule"] == rule.inputs["name"]]
    assert target.inputs["arn"] == machine.state["arn"]
    assert target.inputs["roleArn"] == start.state["arn"]
    assert "inputTransformer" not in target.inputs  # the event as AWS sends it


# --------------------------------------------------------------------------- organization mode

ORG_ID = "o-abcd123456"
BUS_POLICY = "aws:cloudwatch/eventBusPolicy:EventBusPolicy"
BUS_PERMISSION = "aws:cloudwatch/eventPermission:EventPermission"


class OrgMocks(SpendMocks):
    """SpendMocks that also answer getOrganization (the management bus policy reads its id)."""

    def call(self, args):
        if args.token == "aws:organizations/getOrganization:getOrganization":
            return {"id": ORG_ID, "masterAccountId": DEPLOYER}
        return super().call(args)


def test_organization_machine_bus_permission_and_member_relay() -> None:
    pulumi.runtime.reset_options(project="corral", stack="test", preview=False)
    pulumi.runtime.set_all_config({}, [])
    recorder = OrgMocks()
    pulumi.runtime.set_mocks(recorder, project="corral", stack="test", preview=False)
    values = {"notifications": {"emails": ["ops@example.com"]},
              "budgets": {"deployment": "management"},
              "circuitBreaker": {"enabled": True, "trigger": "alarm"}}  # fmt: skip
    spend = spend_spec.parse(values, mode="organization", partition="aws", region="us-east-1",
                             account_ids=(MEMBER,))  # fmt: skip
    deploy(spend)
    [scp] = recorder.of(SCP)
    [machine] = recorder.of(MACHINE)
    assert machine.site == "spend-management"
    assert json.loads(machine.inputs["definition"]) == json.loads(
        breaker_trip.definition(spend, scp.id, topic_arn(recorder, DEPLOYER), DEPLOYER)
    )
    # one statement added to the management bus's policy, never the whole policy replaced
    assert recorder.of(BUS_POLICY) == []
    [permission] = recorder.of(BUS_PERMISSION)
    assert permission.site == "spend-management"
    grant = breaker_trip.bus_permission(spend, ORG_ID)
    assert permission.inputs == {
        "eventBusName": "default", "statementId": "corral-spend-relay", "principal": "*",
        "action": "events:PutEvents",
        "condition": {"key": "aws:PrincipalOrgID", "type": "StringEquals", "value": ORG_ID},
    }  # fmt: skip
    assert grant["StatementId"] == permission.inputs["statementId"]

    [relay] = recorder.of(SPEND_RELAY)
    assert relay.name == f"spend-{MEMBER}-relay"
    # one relay rule per region of the member, each straight to the management bus (one hop)
    rules = [r for r in recorder.of(RULE) if r.inputs["name"] == "corral-spend-relay"]
    assert {r.site for r in rules} == {f"spend-{MEMBER}"}
    assert sorted(recorder.region(r) for r in rules) == sorted(catalog.regions("aws"))
    assert {r.inputs["eventPattern"] for r in rules} == {breaker_trip.trip_pattern(spend)}
    targets = [t for t in recorder.of(TARGET) if t.inputs["rule"] == "corral-spend-relay"]
    assert len(targets) == len(rules)
    [role] = [r for r in recorder.of(ROLE) if r.inputs["name"] == "corral-spend-relay"]
    assert role.site == f"spend-{MEMBER}" and role.inputs["path"] == "/corral/"
    for target in targets:
        assert target.inputs["arn"] == f"arn:aws:events:us-east-1:{DEPLOYER}:event-bus/default"
        assert target.inputs["roleArn"] == role.state["arn"]
    [(trust, grant)] = breaker_trip.relay_roles(spend, MEMBER, DEPLOYER).values()
    assert json.loads(role.inputs["assumeRolePolicy"]) == json.loads(trust)
    [inline] = [p for p in recorder.of(ROLE_POLICY) if p.inputs["role"] == role.id]
    assert json.loads(inline.inputs["policy"]) == json.loads(grant)
    # the member's budget action: the slow backstop of an account target
    assert len(recorder.of(ACTION)) == 1


def topic_arn(recorder, account: str) -> str:
    return next(t.state["arn"] for t in recorder.of("aws:sns/topic:Topic")
                if f":{account}:" in t.state["arn"])  # fmt: skip
