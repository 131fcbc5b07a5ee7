"""The fast circuit breaker (``corral:circuitBreaker.trigger: alarm``): the key, the pure
builders of corral.build.breaker_trip (event pattern, rule, state machine definition, the
two roles). Its protection is tests/test_breaker_protection.py.

The definition is checked against the Amazon States Language by two independent parsers:
``statelint`` (PyPI, a port of AWS Labs' statelint: every state, transition and field) and
moto's own ASL parser (the interpreter that runs it on the emulator), and its intrinsic
``States.Format`` call by moto's intrinsic-function parser.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.intrinsic.intrinsic_parser import IntrinsicParser
from statelint.linter import Linter

from corral.build import breaker_trip, spend_breaker, spend_plan
from corral.evaluate.engine import ALLOW, evaluate
from corral.evaluate.policy import PolicyRef, Request
from corral.spec import keys as K
from corral.spec import spend as spend_spec
from corral.spec.readers import SpecError

ACCOUNT = "123456789012"
TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:corral-spend-alerts"
PRINCIPALS = {"groups": ["developers"], "users": ["ci-deployer", "script"], "roles": ["deploy"]}
EXEMPT = ["arn:aws:iam::*:role/corral-break-glass"]
FAST = {
    "notifications": {"emails": ["ops@example.com"]},
    "circuitBreaker": {"enabled": True, "trigger": "alarm"},
}


def parse(values, mode="account", **extra):
    return spend_spec.parse(
        values,
        mode=mode,
        partition="aws",
        region="eu-west-1",
        account_ids=extra.pop("ids", ()),
        principals=extra.pop("principals", PRINCIPALS),
        exempt_principals=EXEMPT,
        **extra,
    )


def error(values, **kwargs) -> str:
    with pytest.raises(SpecError) as caught:
        parse(values, **kwargs)
    return str(caught.value)


@pytest.fixture
def spend() -> spend_spec.SpendSpec:
    return parse(FAST)


def policy(spend) -> str:
    return breaker_trip.iam_policy_arn(spend, ACCOUNT)


def definition(spend, ref=None) -> dict:
    return json.loads(breaker_trip.definition(spend, ref or policy(spend), TOPIC))


def organization(spend) -> spend_spec.SpendSpec:
    """The same spec in organization mode (tests/test_breaker_organization.py has the rest)."""
    return replace(spend, mode=K.ORGANIZATION, account_ids=("111111111111", "222222222222"))


# --------------------------------------------------------------------------- the key


def test_trigger_defaults_to_budget_and_accepts_alarm(spend) -> None:
    assert K.TRIGGER in K.BREAKER_KEYS
    slow = parse({**FAST, "circuitBreaker": {"enabled": True}})
    assert slow.breaker_trigger == "budget" and not slow.fast_breaker
    assert spend.breaker_trigger == "alarm" and spend.fast_breaker
    # The budget action stays planned beside it: the slow backstop.
    [site] = spend_plan.plan(spend)
    assert [b.budget for b in site.breakers] == ["corral-monthly"]


def test_trigger_off_with_the_breaker_off() -> None:
    spend = parse({**FAST, "circuitBreaker": {"enabled": False, "trigger": "alarm"}})
    assert not spend.fast_breaker
    assert "corral-circuit-breaker-trip" not in spend_plan.service_roles(spend)


def test_trigger_typo_names_the_key_and_suggests() -> None:
    message = error({**FAST, "circuitBreaker": {"enabled": True, "trigger": "alarms"}})
    assert message == (
        "corral:circuitBreaker.trigger: 'alarms' is not a valid value; did you mean 'alarm'?"
    )
    message = error({**FAST, "circuitBreaker": {"enabled": True, "triger": "alarm"}})
    assert (
        message.startswith("corral:circuitBreaker.triger:") and "did you mean 'trigger'" in message
    )


def test_trigger_alarm_needs_a_capacity_alarm() -> None:
    off = {kind: {"enabled": False} for kind in ("vcpu", "spot", "fargate", "lambda")}
    message = error({**FAST, "alarms": off})
    assert message == (
        "corral:circuitBreaker.trigger: alarm needs a capacity alarm, but every kind under "
        "corral:alarms is off; enable one or use trigger: budget."
    )


def test_trigger_alarm_in_organization_mode_needs_the_management_deployment() -> None:
    values = {**FAST, "budgets": {"deployment": "member"}}
    message = error(values, mode="organization", ids=("111111111111",), principals={})
    assert message == (
        "corral:circuitBreaker: in organization mode applies an SCP, which only the management "
        "account can do; set corral:budgets.deployment: management."
    )
    values = {**FAST, "budgets": {"deployment": "management"}}
    assert parse(values, mode="organization", ids=("111111111111",), principals={}).fast_breaker


# --------------------------------------------------------------------------- rule and pattern


def test_pattern_matches_capacity_alarms_entering_alarm_only(spend) -> None:
    pattern = json.loads(breaker_trip.trip_pattern(spend))
    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"]["state"] == {"value": ["ALARM"]}
    assert "region" not in pattern  # home alarms and those forwarded from every region
    prefixes = [p["prefix"] for p in pattern["detail"]["alarmName"]]
    assert prefixes == [
        "corral-spend-vcpu-",
        "corral-spend-spot-",
        "corral-spend-fargate-",
        "corral-spend-lambda-",
    ]
    alarms = [a.name for a in spend_plan.plan(spend)[0].alarms]
    capacity = [a for a in alarms if not a.startswith("corral-spend-billing")]
    assert capacity and all(any(a.startswith(p) for p in prefixes) for a in capacity)
    assert not any(a.startswith(p) for p in prefixes for a in alarms if "billing" in a)
    assert not any("unauthorized".startswith(p) for p in prefixes)  # the CIS alarm


def test_pattern_follows_the_alarm_kinds_switched_on() -> None:
    spend = parse({**FAST, "alarms": {"spot": {"enabled": False}, "lambda": {"enabled": False}}})
    names = [
        p["prefix"] for p in json.loads(breaker_trip.trip_pattern(spend))["detail"]["alarmName"]
    ]
    assert names == ["corral-spend-vcpu-", "corral-spend-fargate-"]


def test_rule_and_target(spend) -> None:
    rule = breaker_trip.rule_request(spend)
    assert rule["Name"] == "corral-spend-breaker" and rule["State"] == "ENABLED"
    assert rule["Name"].startswith(spend_plan.names(spend)["alarm_prefix"])  # protected rules
    assert breaker_trip.target_request(spend, ACCOUNT) == {
        "Id": "corral",
        "Arn": f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:corral-circuit-breaker",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/corral/corral-circuit-breaker-start",
    }


# --------------------------------------------------------------------------- the definition


def test_account_definition_is_valid_amazon_states_language(spend) -> None:
    text = breaker_trip.definition(spend, policy(spend), TOPIC)
    assert Linter.validate(text) == []
    AmazonStateLanguageParser.parse(text)
    for state in ("Notify", "NotifyFailure"):
        IntrinsicParser.parse(json.loads(text)["States"][state]["Parameters"]["Message.$"])


def test_organization_definition_is_valid_amazon_states_language(spend) -> None:
    text = breaker_trip.definition(organization(spend), "p-abcd1234", TOPIC, "999999999999")
    assert Linter.validate(text) == []
    AmazonStateLanguageParser.parse(text)


def test_the_linter_catches_a_broken_definition(spend) -> None:
    broken = breaker_trip.definition(spend, policy(spend), TOPIC).replace(
        '"Next":"Notify"', '"Next":"Nowhere"', 1
    )
    assert any("Nowhere" in p for p in Linter.validate(broken))


def test_account_definition_attaches_to_every_guarded_principal(spend) -> None:
    machine = definition(spend)
    apply = machine["States"][machine["StartAt"]]
    assert apply["Type"] == "Parallel" and apply["Next"] == "Notify"
    assert apply["ResultPath"] is None  # the event reaches Notify unchanged
    assert apply["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}
    ]
    tasks = [state for b in apply["Branches"] for state in b["States"].values()]
    assert [(t["Resource"], t["Parameters"]) for t in tasks] == [
        (
            "arn:aws:states:::aws-sdk:iam:attachGroupPolicy",
            {"GroupName": "developers", "PolicyArn": policy(spend)},
        ),
        (
            "arn:aws:states:::aws-sdk:iam:attachUserPolicy",
            {"UserName": "ci-deployer", "PolicyArn": policy(spend)},
        ),
        (
            "arn:aws:states:::aws-sdk:iam:attachUserPolicy",
            {"UserName": "script", "PolicyArn": policy(spend)},
        ),
        (
            "arn:aws:states:::aws-sdk:iam:attachRolePolicy",
            {"RoleName": "deploy", "PolicyArn": policy(spend)},
        ),
    ]
    assert all(t["End"] and "Lambda" not in t["Resource"] for t in tasks)


def test_account_notification_says_who_where_and_how_to_detach(spend) -> None:
    machine = definition(spend)
    notify = machine["States"]["Notify"]
    assert notify["End"] is True
    assert notify["Resource"] == "arn:aws:states:::sns:publish"
    assert notify["Parameters"]["TopicArn"] == TOPIC
    call = notify["Parameters"]["Message.$"]
    assert call.startswith("States.Format('corral circuit breaker tripped: capacity alarm {} ")
    assert call.endswith("', $.detail.alarmName, $.account, $.region)")
    template = call[len("States.Format('") : call.rindex("', ")]
    assert template.count("{}") == 3 and "'" not in template and "\\" not in template
    arn = policy(spend)
    for command in (
        f"aws iam detach-group-policy --group-name developers --policy-arn {arn}",
        f"aws iam detach-user-policy --user-name script --policy-arn {arn}",
        f"aws iam detach-role-policy --role-name deploy --policy-arn {arn}",
    ):
        assert command in template
    assert "Only a corral:exemptPrincipals (break-glass) principal may detach it" in template


def test_failure_is_notified_and_fails_the_execution(spend) -> None:
    states = definition(spend)["States"]
    failure = states["NotifyFailure"]
    assert failure["Next"] == "Failed" and states["Failed"]["Type"] == "Fail"
    call = failure["Parameters"]["Message.$"]
    assert call.endswith("', $.detail.alarmName, $.account, $.region, $.error.Error)")
    assert "aws iam attach-user-policy --user-name script" in call


def test_organization_definition_attaches_the_scp_to_the_alarm_account(spend) -> None:
    machine = definition(organization(spend), "p-abcd1234")
    apply = machine["States"]["ApplyDenyLaunch"]
    assert apply["Resource"] == "arn:aws:states:::aws-sdk:organizations:attachPolicy"
    assert apply["Parameters"] == {"PolicyId": "p-abcd1234", "TargetId.$": "$.account"}
    duplicate = "Organizations.DuplicatePolicyAttachmentException"
    assert apply["Retry"][0] == {"ErrorEquals": [duplicate], "MaxAttempts": 0}
    assert apply["Catch"][0] == {"ErrorEquals": [duplicate], "ResultPath": None, "Next": "Notify"}
    assert apply["Catch"][1]["ErrorEquals"] == ["States.ALL"]
    call = machine["States"]["Notify"]["Parameters"]["Message.$"]
    assert "aws organizations detach-policy --policy-id p-abcd1234 --target-id {}" in call
    assert call.endswith("$.detail.alarmName, $.account, $.region, $.account, $.account)")


# --------------------------------------------------------------------------- the roles


def test_machine_request_is_a_standard_workflow_with_its_role(spend) -> None:
    request = breaker_trip.machine_request(spend, ACCOUNT, policy(spend), TOPIC)
    assert request["type"] == "STANDARD" and request["name"] == "corral-circuit-breaker"
    assert request["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/corral/corral-circuit-breaker-trip"


def test_roles_are_least_privilege(spend) -> None:
    roles = breaker_trip.expected_roles(spend, ACCOUNT, policy(spend), TOPIC)
    trip, start = roles["corral-circuit-breaker-trip"], roles["corral-circuit-breaker-start"]
    assert json.loads(trip[0])["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    assert json.loads(start[0])["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    for trust, _ in roles.values():
        condition = json.loads(trust)["Statement"][0]["Condition"]
        assert condition == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    statements = {s["Sid"]: s for s in json.loads(trip[1])["Statement"]}
    only = {"ArnEquals": {"iam:PolicyArn": policy(spend)}}
    assert statements["CorralTripCircuitBreakerGroups"] == {
        "Sid": "CorralTripCircuitBreakerGroups",
        "Effect": "Allow",
        "Action": ["iam:AttachGroupPolicy"],
        "Condition": only,
        "Resource": [
            f"arn:aws:iam::{ACCOUNT}:group/developers",
            f"arn:aws:iam::{ACCOUNT}:group/*/developers",
        ],
    }
    # corral:principals are names: a principal under an IAM path is covered too
    assert statements["CorralTripCircuitBreakerUsers"]["Resource"] == [
        f"arn:aws:iam::{ACCOUNT}:user/ci-deployer",
        f"arn:aws:iam::{ACCOUNT}:user/*/ci-deployer",
        f"arn:aws:iam::{ACCOUNT}:user/script",
        f"arn:aws:iam::{ACCOUNT}:user/*/script",
    ]
    assert statements["CorralTripNotify"]["Resource"] == [TOPIC]
    actions = {a for s in statements.values() for a in s["Action"]}
    assert not any("Detach" in a for a in actions)  # it can trip the breaker, never reset it
    [grant] = json.loads(start[1])["Statement"]
    assert grant["Action"] == ["states:StartExecution"]
    assert grant["Resource"] == [breaker_trip.machine_arn(spend, ACCOUNT)]


def test_organization_role_attaches_to_member_accounts_only(spend) -> None:
    org = organization(spend)
    arn = "arn:aws:organizations::999999999999:policy/o-x/service_control_policy/p-abcd1234"
    roles = breaker_trip.expected_roles(org, "999999999999", arn, TOPIC)
    [attach, never, _] = json.loads(roles["corral-circuit-breaker-trip"][1])["Statement"]
    assert attach["Action"] == never["Action"] == ["organizations:AttachPolicy"]
    # accounts below an OU are not known in advance: any account of the organization...
    assert attach["Resource"] == [arn, "arn:aws:organizations::999999999999:account/o-*/*"]
    # ...but never the management account, which SCPs do not affect
    assert (never["Effect"], never["Resource"]) == (
        "Deny", ["arn:aws:organizations::999999999999:account/o-*/999999999999"],
    )  # fmt: skip


def test_no_roles_without_the_fast_trigger() -> None:
    slow = parse({**FAST, "circuitBreaker": {"enabled": True}})
    assert breaker_trip.expected_roles(slow, ACCOUNT, "arn", TOPIC) == {}
    assert spend_plan.service_roles(slow) == {"corral-spend-forwarder", "corral-circuit-breaker"}


def test_the_same_deny_policy_as_the_budget_action(spend) -> None:
    """The state machine attaches the policy the budget action applies, by its name."""
    assert policy(spend).endswith(f"/corral/{spend_plan.names(spend)['breaker_policy']}")
    assert "CorralCircuitBreakerDenyLaunch" in spend_breaker.deny_launch_policy(spend)


@pytest.mark.parametrize(
    ("user", "decision"),
    [("ci-deployer", ALLOW), ("teams/build/ci-deployer", ALLOW), ("ci-deployer-2", "denied"),
     ("teams/ci-deployer-2", "denied"), ("teams/other", "denied")],
)  # fmt: skip
def test_the_trip_role_may_attach_to_a_named_user_under_any_path(spend, user, decision) -> None:
    """corral:principals are names; the user's ARN carries its IAM path (user/<path>/<name>),
    and IAM authorizes iam:AttachUserPolicy on that ARN."""
    grant = breaker_trip.trip_role_policy(spend, ACCOUNT, policy(spend), TOPIC)
    request = Request(
        "iam:AttachUserPolicy",
        resource=f"arn:aws:iam::{ACCOUNT}:user/{user}",
        context={"iam:PolicyArn": policy(spend)},
        principal_arn=f"arn:aws:iam::{ACCOUNT}:role/corral/corral-circuit-breaker-trip",
        account=ACCOUNT,
    )
    found = evaluate(request, identity_policies=[PolicyRef("trip", "role", grant)])
    assert (found.decision == ALLOW) == (decision == ALLOW), found
