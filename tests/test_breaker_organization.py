"""The fast circuit breaker in organization mode (``trigger: alarm`` with
``budgets.deployment: management``): the key, the plan, the state machine's management-account
guard, its role, the member relay (rule, target, role), the management bus policy, the relay
in corral's StackSet template, and ``corral explain`` on the relay's protection.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.intrinsic.intrinsic_parser import IntrinsicParser
from statelint.linter import Linter

from corral.build import breaker_trip, detection, spend_plan, stackset
from corral.cli import main as cli
from corral.evaluate.engine import ALLOW, DENY
from corral.spec import keys as K
from corral.spec import spend as spend_spec
from corral.spec.readers import SpecError
from tests.conftest import ROOT

MANAGEMENT = "999999999999"
MEMBER = "111111111111"
ORG_ID = "o-abcd123456"
TOPIC = f"arn:aws:sns:eu-west-1:{MANAGEMENT}:corral-spend-alerts"
SCP_ID = "p-abcd1234"
SCP_ARN = f"arn:aws:organizations::{MANAGEMENT}:policy/{ORG_ID}/service_control_policy/{SCP_ID}"
BUS = f"arn:aws:events:eu-west-1:{MANAGEMENT}:event-bus/default"
FAST = {
    "notifications": {"emails": ["ops@example.com"]},
    "budgets": {"deployment": "management"},
    "circuitBreaker": {"enabled": True, "trigger": "alarm"},
}


def parse(values=FAST, ids=()) -> spend_spec.SpendSpec:
    return spend_spec.parse(
        values, mode="organization", partition="aws", region="eu-west-1", account_ids=ids,
        exempt_principals=["arn:aws:iam::*:role/corral-break-glass"],
    )  # fmt: skip


def error(values, ids=()) -> str:
    with pytest.raises(SpecError) as caught:
        parse(values, ids)
    return str(caught.value)


@pytest.fixture
def spend() -> spend_spec.SpendSpec:
    return parse(ids=(MEMBER,))


# --------------------------------------------------------------------------- the key and plan


def test_trigger_alarm_is_accepted_in_organization_mode(spend) -> None:
    assert spend.fast_breaker
    # below a root or OU only: the fast breaker acts in any member, no account target needed
    assert parse().fast_breaker


def test_organization_still_needs_the_management_deployment() -> None:
    values = {**FAST, "budgets": {"deployment": "member"}}
    assert error(values, (MEMBER,)) == (
        "corral:circuitBreaker: in organization mode applies an SCP, which only the management "
        "account can do; set corral:budgets.deployment: management."
    )


def test_the_budget_trigger_still_needs_an_account_target() -> None:
    values = {**FAST, "circuitBreaker": {"enabled": True}}
    assert error(values) == (
        "corral:circuitBreaker: names no account; list member accounts under corral:targets, "
        "or set trigger: alarm, which trips it in any member account."
    )


def test_the_plan_puts_the_machine_in_the_management_site_and_relays_in_members(spend) -> None:
    management, member = spend_plan.plan(spend)
    assert (management.key, management.trip, management.relay) == ("management", True, False)
    assert (member.account_id, member.trip, member.relay) == (MEMBER, False, True)
    assert [b.targets for b in management.breakers] == [(MEMBER,)]  # the budget backstop
    assert "corral-spend-relay" in spend_plan.service_roles(spend)
    slow = parse({**FAST, "circuitBreaker": {"enabled": True}}, (MEMBER,))
    assert not any(s.trip or s.relay for s in spend_plan.plan(slow))
    assert "corral-spend-relay" not in spend_plan.service_roles(slow)


# --------------------------------------------------------------------------- the state machine


def definition(spend) -> dict:
    return json.loads(breaker_trip.definition(spend, SCP_ID, TOPIC, MANAGEMENT))


def test_the_definition_is_valid_amazon_states_language(spend) -> None:
    text = breaker_trip.machine_request(spend, MANAGEMENT, SCP_ID, TOPIC)["definition"]
    assert Linter.validate(text) == []
    AmazonStateLanguageParser.parse(text)
    for state in ("Notify", "NotifyFailure", "NotifyManagement"):
        IntrinsicParser.parse(json.loads(text)["States"][state]["Parameters"]["Message.$"])


def test_the_management_account_is_never_a_target(spend) -> None:
    machine = definition(spend)
    assert machine["StartAt"] == "SkipManagementAccount"
    choice = machine["States"]["SkipManagementAccount"]
    assert choice == {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.account", "StringEquals": MANAGEMENT, "Next": "NotifyManagement"}
        ],
        "Default": "ApplyDenyLaunch",
    }
    skipped = machine["States"]["NotifyManagement"]
    assert skipped["End"] is True and skipped["Parameters"]["TopicArn"] == TOPIC
    text = skipped["Parameters"]["Message.$"]
    assert "Service control policies do not affect the management account" in text
    assert machine["States"]["ApplyDenyLaunch"]["Parameters"]["TargetId.$"] == "$.account"


def test_the_trip_role_attaches_in_any_member_but_never_the_management(spend) -> None:
    roles = breaker_trip.expected_roles(spend, MANAGEMENT, SCP_ARN, TOPIC)
    attach, never, notify = json.loads(roles["corral-circuit-breaker-trip"][1])["Statement"]
    accounts = f"arn:aws:organizations::{MANAGEMENT}:account/o-*/"
    assert attach == {
        "Sid": "CorralTripCircuitBreaker", "Effect": "Allow",
        "Action": ["organizations:AttachPolicy"], "Resource": [SCP_ARN, accounts + "*"],
    }  # fmt: skip
    assert never == {
        "Sid": "CorralTripNeverManagement", "Effect": "Deny",
        "Action": ["organizations:AttachPolicy"], "Resource": [accounts + MANAGEMENT],
    }  # fmt: skip
    assert notify["Action"] == ["sns:Publish"] and notify["Resource"] == [TOPIC]


# --------------------------------------------------------------------------- relay and bus


def test_the_relay_rule_sends_the_breaker_pattern_to_the_management_bus(spend) -> None:
    rule = breaker_trip.relay_rule_request(spend)
    assert rule["Name"] == "corral-spend-relay" and rule["State"] == "ENABLED"
    assert rule["EventPattern"] == breaker_trip.trip_pattern(spend)
    target = breaker_trip.relay_target_request(spend, MEMBER, MANAGEMENT)
    assert target == {
        "Id": "corral", "Arn": BUS,
        "RoleArn": f"arn:aws:iam::{MEMBER}:role/corral/corral-spend-relay",
    }  # fmt: skip


def test_the_relay_role_may_only_put_events_on_that_bus(spend) -> None:
    [(name, (trust, policy))] = breaker_trip.relay_roles(spend, MEMBER, MANAGEMENT).items()
    assert name == "corral-spend-relay"
    [trusted] = json.loads(trust)["Statement"]
    assert trusted["Principal"] == {"Service": "events.amazonaws.com"}
    assert trusted["Condition"] == {"StringEquals": {"aws:SourceAccount": MEMBER}}
    [grant] = json.loads(policy)["Statement"]
    assert (grant["Effect"], grant["Action"], grant["Resource"]) == (
        "Allow", ["events:PutEvents"], [BUS],
    )  # fmt: skip
    slow = parse({**FAST, "circuitBreaker": {"enabled": True}}, (MEMBER,))
    assert breaker_trip.relay_roles(slow, MEMBER, MANAGEMENT) == {}


def test_the_bus_permission_adds_one_statement_for_the_organization_only(spend) -> None:
    # PutPermission with a StatementId adds corral's statement beside the bus's others
    assert breaker_trip.bus_permission(spend, ORG_ID) == {
        "EventBusName": "default", "StatementId": "corral-spend-relay", "Principal": "*",
        "Action": "events:PutEvents",
        "Condition": {"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": ORG_ID},
    }  # fmt: skip
    assert not hasattr(breaker_trip, "bus_policy")  # no whole-policy document any more


# --------------------------------------------------------------------------- StackSet template


def test_the_stackset_template_carries_the_relay_in_the_home_region(spend) -> None:
    template = stackset.template(spend)
    assert template["Parameters"]["ManagementAccountId"]["AllowedPattern"] == "^[0-9]{12}$"
    role, rule = template["Resources"]["RelayRole"], template["Resources"]["RelayRule"]
    assert role["Condition"] == rule["Condition"] == stackset.IS_HOME
    assert role["Properties"]["RoleName"] == "corral-spend-relay"
    assert role["Properties"]["Path"] == K.IAM_PATH
    [grant] = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    bus = {"Fn::Sub": "arn:aws:events:eu-west-1:${ManagementAccountId}:event-bus/default"}
    assert grant["Action"] == ["events:PutEvents"] and grant["Resource"] == [bus]
    props = rule["Properties"]
    assert props["Name"] == "corral-spend-relay"
    assert props["EventPattern"] == json.loads(breaker_trip.trip_pattern(spend))
    relay_role = {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/corral/corral-spend-relay"}
    assert props["Targets"] == [{"Id": "corral", "Arn": bus, "RoleArn": relay_role}]
    # every other region relays straight to the management bus too: EventBridge delivers an
    # event one bus-to-bus hop only, so the forward rule's copy could not be relayed again
    elsewhere = template["Resources"]["RelayForwardedRule"]
    assert elsewhere["Condition"] == stackset.IS_FORWARDED
    assert elsewhere["Properties"] == props


def test_no_relay_in_the_template_without_the_fast_trigger() -> None:
    template = stackset.template(parse({**FAST, "circuitBreaker": {"enabled": True}}, (MEMBER,)))
    assert "Parameters" not in template and "RelayRule" not in template["Resources"]


# --------------------------------------------------------------------------- corral explain

RELAY_RULE = f"arn:aws:events:eu-west-1:{MEMBER}:rule/corral-spend-relay"
RELAY_ROLE = f"arn:aws:iam::{MEMBER}:role/corral/corral-spend-relay"
EXPLAINED = [
    ("events:DeleteRule", RELAY_RULE, f"arn:aws:events:eu-west-1:{MEMBER}:rule/app-nightly",
     "CorralProtectDetection"),
    ("events:RemoveTargets", RELAY_RULE, f"arn:aws:events:eu-west-1:{MEMBER}:rule/app-nightly",
     "CorralProtectDetection"),
    ("iam:PutRolePolicy", RELAY_ROLE, f"arn:aws:iam::{MEMBER}:role/app-worker",
     "CorralProtectIdentities"),
]  # fmt: skip


@pytest.fixture
def org_stack(tmp_path) -> str:
    """The organization example with spend detection and ``trigger: alarm``."""
    config = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())["config"]
    config["corral:exemptPrincipals"] += ["arn:aws:iam::*:role/stacksets-exec-*"]
    config.update({f"corral:{k}": v for k, v in FAST.items()})
    path = tmp_path / "Pulumi.org-fast.yaml"
    path.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    return str(path)


def explain(capsys, stack: str, *flags: str) -> dict:
    argv = ["explain", "--config", stack, "--target", "workloads", "--region", "eu-west-1",
            "--account", MEMBER, *flags, "--format", "json"]  # fmt: skip
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "")
    return json.loads(captured.out)


@pytest.mark.parametrize(("action", "mine", "other", "sid"), EXPLAINED)
def test_explain_denies_tampering_with_the_relay(capsys, org_stack, action, mine, other, sid):
    denied = explain(capsys, org_stack, "--action", action, "--resource", mine)
    assert denied["decision"] == DENY, denied
    assert denied["reasons"][0]["sid"] == sid
    assert explain(capsys, org_stack, "--action", action, "--resource", other)["decision"] == ALLOW
    exempt = f"arn:aws:iam::{MEMBER}:role/corral-break-glass"
    flags = ("--action", action, "--resource", mine, "--principal", exempt)
    assert explain(capsys, org_stack, *flags)["decision"] == ALLOW


def test_explain_denies_the_relay_role_without_the_principal_protection(capsys, org_stack):
    """With ``protections.principals: false`` the spend service roles have their own statement;
    it names the relay role too."""
    path = Path(org_stack)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["config"]["corral:protections"]["principals"] = False
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    denied = explain(capsys, org_stack, "--action", "iam:PutRolePolicy", "--resource", RELAY_ROLE)
    assert denied["decision"] == DENY, denied
    assert denied["reasons"][0]["sid"] == detection.SID_DETECTION_ROLES
