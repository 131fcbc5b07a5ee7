"""breaker-trigger against in-process moto: with ``circuitBreaker.trigger: alarm`` the rule, its
target, the state machine and both roles are as corral builds them; each tamper step is a FAIL
naming the resource. Also: identities-trusted accepts the two roles as corral's own.

moto implements every API read here (EventBridge ListRules/ListTargetsByRule, Step Functions
ListStateMachines/DescribeStateMachine, IAM); the budget action beside it goes through the
emulator's budget-action stand-in, as in test_verify_budget_actions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_verify_support import (
    BREAKER,
    SPEND,
    account_stack,
    client,
    deploy_account,
    deploy_breakers,
    deploy_org,
    deploy_spend,
    load,
    make_account_principals,
    make_org,
    org_stack,
    serve_budget_actions,
)

from corral.audit import checks
from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.checks._base import VerifyContext
from corral.audit.verify import run_check
from corral.build import breaker_trip, spend_plan, stackset
from corral.build.plan import build_plan
from corral.spec import keys as K
from examples.emulator import server, stackset_handlers

FAST = BREAKER + "    trigger: alarm\n"
TRIP_ROLE = "corral-circuit-breaker-trip"
START_ROLE = "corral-circuit-breaker-start"
MACHINE = "corral-circuit-breaker"


def deploy_fast_breaker(spec, topic: str, policy_arn: str, endpoint: str | None = None) -> dict:
    """Create, from corral.build.breaker_trip, what components.breaker deploys: both roles
    with their inline policy, the state machine, the rule and its target (home region)."""
    spend, region = spec.spend, spec.spend.region
    account = client("sts", endpoint).get_caller_identity()["Account"]
    iam = client("iam", endpoint)
    for name, (trust, policy) in breaker_trip.expected_roles(
        spend, account, policy_arn, topic
    ).items():
        iam.create_role(RoleName=name, Path=K.IAM_PATH, AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=policy)
    request = breaker_trip.machine_request(spend, account, policy_arn, topic)
    machine = client("stepfunctions", endpoint, region).create_state_machine(**request)
    events = client("events", endpoint, region)
    rule = breaker_trip.rule_request(spend)
    events.put_rule(**rule)
    events.put_targets(Rule=rule["Name"], Targets=[breaker_trip.target_request(spend, account)])
    return {"account": account, "machine": machine["stateMachineArn"]}


@pytest.fixture
def world(aws: None, tmp_path: Path) -> Iterator[dict]:
    """A standalone account with its guardrails, spend detection and the fast breaker."""
    make_account_principals()
    spec = load(account_stack(tmp_path, extra=SPEND + FAST))
    deploy_account(spec)
    spent = deploy_spend(spec, regions=[spec.region])
    breakers = deploy_breakers(spec, spent["topic"])
    made = deploy_fast_breaker(spec, spent["topic"], breakers["policy"])
    yield {"spec": spec, **spent, **breakers, **made}
    server.BUDGET_ACTIONS.clear()


def run(spec, check_id: str = "breaker-trigger", regions=None) -> list[F.Finding]:
    conn = Connection(region=spec.region, max_attempts=2)
    serve_budget_actions(conn.events)
    ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account(), regions=regions)
    [check] = [c for c in checks.REGISTRY if c.id == check_id]
    return run_check(check, ctx, ctx.account, None, conn.role_name)


def fails(findings: list[F.Finding]) -> list[F.Finding]:
    return [f for f in findings if f.status == F.FAIL]


def test_breaker_trigger_passes_as_deployed(world: dict) -> None:
    [finding] = run(world["spec"])
    assert finding.status == F.PASS
    assert finding.message == (
        f"EventBridge rule corral-spend-breaker in account {world['account']} us-east-1 starts "
        f"state machine {world['machine']} on any capacity alarm entering ALARM, and the machine "
        "and its roles are exactly as corral builds them."
    )


def test_breaker_trigger_is_silent_without_the_fast_trigger(aws: None, tmp_path: Path) -> None:
    make_account_principals()
    spec = load(account_stack(tmp_path, extra=SPEND + BREAKER))
    assert run(spec) == []


def test_breaker_trigger_fails_on_a_disabled_rule(world: dict) -> None:
    client("events").disable_rule(Name="corral-spend-breaker")
    [finding] = fails(run(world["spec"]))
    assert finding.resource == "rule corral-spend-breaker"
    assert finding.message == (
        f"EventBridge rule corral-spend-breaker in account {world['account']} us-east-1 differs "
        "from the spec: it is DISABLED instead of ENABLED, so no capacity alarm trips the "
        "circuit breaker; run `pulumi up --refresh` to restore it."
    )


def test_breaker_trigger_fails_on_a_changed_target(world: dict) -> None:
    other = world["machine"].replace(MACHINE, "somebody-else")
    client("events").put_targets(
        Rule="corral-spend-breaker",
        Targets=[{"Id": "corral", "Arn": other, "RoleArn": world["machine"]}],
    )
    [finding] = fails(run(world["spec"]))
    assert finding.resource == "rule corral-spend-breaker"
    assert f"it has no target {world['machine']}" in finding.message


def test_breaker_trigger_fails_on_a_target_role_changed(world: dict) -> None:
    account = world["account"]
    client("events").put_targets(
        Rule="corral-spend-breaker",
        Targets=[
            {
                "Id": "corral",
                "Arn": world["machine"],
                "RoleArn": f"arn:aws:iam::{account}:role/attacker",
            }
        ],
    )
    [finding] = fails(run(world["spec"]))
    assert f"uses role arn:aws:iam::{account}:role/attacker instead of" in finding.message


def test_breaker_trigger_fails_on_a_changed_definition(world: dict) -> None:
    gutted = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    client("stepfunctions").update_state_machine(
        stateMachineArn=world["machine"], definition=json.dumps(gutted)
    )
    [finding] = fails(run(world["spec"]))
    assert finding.resource == f"state machine {world['machine']}"
    assert finding.message == (
        f"State machine {MACHINE} in account {world['account']} us-east-1 differs from the spec: "
        "its definition is not the one corral builds (it must attach the deny-launch policy and "
        "notify the topic); run `pulumi up --refresh` to restore it."
    )


def test_breaker_trigger_fails_on_a_deleted_machine(world: dict) -> None:
    client("stepfunctions").delete_state_machine(stateMachineArn=world["machine"])
    [finding] = fails(run(world["spec"]))
    assert finding.message.startswith(f"State machine {MACHINE} is missing in account")


@pytest.mark.parametrize("role", [TRIP_ROLE, START_ROLE])
def test_breaker_trigger_fails_on_a_gutted_role(world: dict, role: str) -> None:
    client("iam").delete_role_policy(RoleName=role, PolicyName=f"{role}-policy")
    [finding] = fails(run(world["spec"]))
    assert finding.resource == f"role {role}"
    assert finding.message.startswith(
        f"Role {role} in account {world['account']} lacks the inline policy corral deploys for it"
    )


def test_breaker_trigger_fails_on_a_retrusted_role(world: dict) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            }
        ],
    }
    client("iam").update_assume_role_policy(RoleName=TRIP_ROLE, PolicyDocument=json.dumps(trust))
    [finding] = fails(run(world["spec"]))
    assert finding.resource == f"role {TRIP_ROLE}"
    assert "it trusts arn:aws:iam::210987654321:root" in finding.message
    assert "it no longer trusts the AWS service states.amazonaws.com" in finding.message


def test_breaker_trigger_fails_on_a_deleted_role(world: dict) -> None:
    iam = client("iam")
    iam.delete_role_policy(RoleName=START_ROLE, PolicyName=f"{START_ROLE}-policy")
    iam.delete_role(RoleName=START_ROLE)
    [finding] = fails(run(world["spec"]))
    assert finding.message == (
        f"Role {START_ROLE} is missing in account {world['account']}, so the circuit breaker "
        "cannot trip in minutes; run `pulumi up --refresh` to recreate it."
    )


def test_breaker_trigger_roles_are_corral_own_for_identities_trusted(world: dict) -> None:
    found = {f.resource: f for f in run(world["spec"], "identities-trusted")}
    for role in (TRIP_ROLE, START_ROLE):
        assert found[f"role {role}"].status == F.PASS, found[f"role {role}"].message
    assert spend_plan.service_roles(world["spec"].spend) >= {TRIP_ROLE, START_ROLE}


# --------------------------------------------------------------------------- organization mode

ORG_FAST = """\
  corral:notifications:
    emails: [ops@example.com]
  corral:budgets:
    limit: 200
    deployment: management
  corral:circuitBreaker:
    enabled: true
    trigger: alarm
"""
RELAY = "corral-spend-relay"
REGIONS = ("us-east-1", "eu-west-1")


def member_client(account: str, service: str, region: str = "us-east-1"):
    creds = client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="test",
    )["Credentials"]
    return client(service, region=region, aws_access_key_id=creds["AccessKeyId"],
                  aws_secret_access_key=creds["SecretAccessKey"],
                  aws_session_token=creds["SessionToken"])  # fmt: skip


@pytest.fixture
def org_world(aws: None, tmp_path: Path) -> Iterator[dict]:
    """An organization: the management account's spend detection, budget breaker, fast breaker
    and bus policy; account target dev with its relay; the StackSet and its parameter."""
    org = make_org()
    spec = load(org_stack(tmp_path, org, extra=ORG_FAST, accounts=[org.dev]))
    spend, home = spec.spend, spec.spend.region
    deploy_org(spec)
    spent = deploy_spend(spec, regions=[home])
    breakers = deploy_breakers(spec, spent["topic"])
    a, scp = spent["account"], breakers["policy"]
    scp_arn = client("organizations").describe_policy(PolicyId=scp)["Policy"]["PolicySummary"]
    for name, (trust, policy) in breaker_trip.expected_roles(
        spend, a, scp_arn["Arn"], spent["topic"]
    ).items():
        client("iam").create_role(RoleName=name, Path=K.IAM_PATH, AssumeRolePolicyDocument=trust)
        client("iam").put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy)
    request = breaker_trip.machine_request(spend, a, scp, spent["topic"])
    client("stepfunctions", region=home).create_state_machine(**request)
    events = client("events", region=home)
    events.put_rule(**breaker_trip.rule_request(spend))
    events.put_targets(Rule="corral-spend-breaker", Targets=[breaker_trip.target_request(spend, a)])
    org_id = client("organizations").describe_organization()["Organization"]["Id"]
    grant = breaker_trip.bus_permission(spend, org_id)
    events.put_permission(**grant)  # corral's one statement, as the emulator adds it
    stackset_handlers.principal_as_eventbridge(a, home, "default", grant["StatementId"])
    iam = member_client(org.dev, "iam")
    for name, (trust, policy) in breaker_trip.relay_roles(spend, org.dev, a).items():
        iam.create_role(RoleName=name, Path=K.IAM_PATH, AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy)
    target = breaker_trip.relay_target_request(spend, org.dev, a)
    for region in REGIONS:  # the relay is in every region; the check judges these two
        relay_events = member_client(org.dev, "events", region)
        relay_events.put_rule(**breaker_trip.relay_rule_request(spend))
        relay_events.put_targets(Rule=RELAY, Targets=[target])
    member_events = member_client(org.dev, "events", home)
    plan = stackset.stackset_plan(spec)
    client("cloudformation", region=home).create_stack_set(
        StackSetName=plan.name, TemplateBody=plan.template_body, PermissionModel="SERVICE_MANAGED",
        Parameters=[{"ParameterKey": "ManagementAccountId", "ParameterValue": a}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )  # fmt: skip
    yield {"spec": spec, "org": org, "account": a, "org_id": org_id, "target": target,
           "member_events": member_events, "member_iam": iam, "events": events}  # fmt: skip
    server.BUDGET_ACTIONS.clear()


def test_organization_breaker_trigger_passes_as_deployed(org_world: dict) -> None:
    found = run(org_world["spec"], regions=REGIONS)
    assert [f.status for f in found] == [F.PASS, F.PASS], [f.message for f in found]
    dev, a = org_world["org"].dev, org_world["account"]
    relay = next(f for f in found if f.account == dev)
    assert relay.message == (
        f"EventBridge rule corral-spend-relay in account {dev}, in every region, relays corral's "
        f"capacity alarms to arn:aws:events:us-east-1:{a}:event-bus/default with role "
        f"arn:aws:iam::{dev}:role/corral/corral-spend-relay, as corral builds them."
    )


RELAY_SID = "corral-spend-relay"


def test_organization_breaker_trigger_fails_without_corral_s_bus_statement(
    org_world: dict,
) -> None:
    org_world["events"].remove_permission(StatementId=RELAY_SID)
    [finding] = fails(run(org_world["spec"], regions=REGIONS))
    a, org_id = org_world["account"], org_world["org_id"]
    assert finding.resource == f"event bus default@us-east-1 statement {RELAY_SID}"
    assert finding.message == (
        f"The default event bus of account {a} us-east-1 does not hold statement {RELAY_SID} as "
        f"corral adds it (events:PutEvents for the accounts of organization {org_id} only): "
        f"statement {RELAY_SID} is missing, so member accounts' capacity alarms cannot reach "
        "the circuit breaker, or others can put events there; run `pulumi up --refresh` to "
        "restore it."
    )


def test_organization_breaker_trigger_fails_on_corral_s_bus_statement_changed(
    org_world: dict,
) -> None:
    a, org_id = org_world["account"], org_world["org_id"]
    org_world["events"].put_permission(
        StatementId=RELAY_SID, Principal="*", Action="events:PutEvents",
        Condition={"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": "o-other12345"},
    )  # fmt: skip
    stackset_handlers.principal_as_eventbridge(a, "us-east-1", "default", RELAY_SID)
    [finding] = fails(run(org_world["spec"], regions=REGIONS))
    assert finding.resource == f"event bus default@us-east-1 statement {RELAY_SID}"
    assert (
        f"statement {RELAY_SID} adds to StringEquals aws:principalorgid: o-other12345; "
        f"statement {RELAY_SID} removes from StringEquals aws:principalorgid: {org_id}"
    ) in finding.message


def test_organization_breaker_trigger_ignores_the_bus_s_other_statements(
    org_world: dict,
) -> None:
    """The user's own statements on that bus are theirs: present or not, corral's passes."""
    org_world["events"].put_permission(
        StatementId="their-partner-integration", Principal="444455556666",
        Action="events:PutEvents",
    )  # fmt: skip
    found = run(org_world["spec"], regions=REGIONS)
    assert [f.status for f in found] == [F.PASS, F.PASS], [f.message for f in found]
    policy = json.loads(org_world["events"].describe_event_bus()["Policy"])
    assert {s["Sid"] for s in policy["Statement"]} == {RELAY_SID, "their-partner-integration"}


def test_organization_breaker_trigger_fails_on_a_relay_retargeted(org_world: dict) -> None:
    elsewhere = {
        **org_world["target"],
        "Arn": "arn:aws:events:us-east-1:444455556666:event-bus/default",
    }
    org_world["member_events"].put_targets(Rule=RELAY, Targets=[elsewhere])
    [finding] = fails(run(org_world["spec"], regions=REGIONS))
    assert finding.account == org_world["org"].dev and finding.resource == f"rule {RELAY}"
    assert f"it has no target {org_world['target']['Arn']}" in finding.message


def test_organization_breaker_trigger_fails_on_a_gutted_relay_role(org_world: dict) -> None:
    org_world["member_iam"].delete_role_policy(RoleName=RELAY, PolicyName="p")
    [finding] = fails(run(org_world["spec"], regions=REGIONS))
    assert finding.account == org_world["org"].dev and finding.resource == f"role {RELAY}"


def test_organization_breaker_trigger_fails_on_the_stackset_parameter(org_world: dict) -> None:
    plan = stackset.stackset_plan(org_world["spec"])
    client("cloudformation").update_stack_set(
        StackSetName=plan.name, TemplateBody=plan.template_body,
        Parameters=[{"ParameterKey": "ManagementAccountId", "ParameterValue": "444455556666"}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )  # fmt: skip
    [finding] = fails(run(org_world["spec"], regions=REGIONS))
    assert finding.resource == "stack set corral-spend-detection"
    assert finding.message.startswith(
        "StackSet corral-spend-detection sets ManagementAccountId to '444455556666' instead of "
        f"'{org_world['account']}', so its members relay capacity alarms elsewhere"
    )


def test_organization_relay_role_is_corral_own_for_identities_trusted(org_world: dict) -> None:
    found = run(org_world["spec"], "identities-trusted", REGIONS)
    relay = [f for f in found if f.resource == f"role {RELAY}"]
    assert relay and all(f.status == F.PASS for f in relay), [f.message for f in relay]


def test_organization_breaker_trigger_fails_on_a_relay_deleted_in_one_region(
    org_world: dict,
) -> None:
    events = member_client(org_world["org"].dev, "events", "eu-west-1")
    events.remove_targets(Rule=RELAY, Ids=["corral"])
    events.delete_rule(Name=RELAY)
    [finding] = fails(run(org_world["spec"], regions=REGIONS))
    assert (finding.account, finding.resource) == (org_world["org"].dev, f"rule {RELAY}")
    assert finding.message.startswith(
        f"EventBridge rule {RELAY} is missing in account {org_world['org'].dev} eu-west-1"
    )
