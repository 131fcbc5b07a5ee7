"""The fast circuit breaker's effect on the emulator (in-process moto): a capacity alarm in
another region enters ALARM, its event is forwarded home, the rule starts the state machine,
moto's Step Functions interpreter runs corral's definition (the AWS SDK integration calls
``iam:attach*Policy`` on moto's IAM, ``sns:publish`` on moto's SNS), and a launch the spec
allows is denied afterwards by the deny-launch policy, judged by corral's evaluator.

What stands in (examples/emulator/breaker_replay.py says why): moto's CloudWatch emits no
alarm state-change event, so the test puts the one AWS sends on the alarm region's bus; moto's
EventBridge cannot start a state machine, so examples/emulator/alert_handlers.py does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.core.config import default_user_config
from test_verify_breaker_trigger import FAST, deploy_fast_breaker
from test_verify_support import (
    SPEND,
    account_stack,
    client,
    deploy_account,
    deploy_breakers,
    deploy_spend,
    load,
    make_account_principals,
)

from corral.build import breaker_trip
from corral.spec.load import load_stack_file
from examples.emulator import alert_handlers, alert_replay, breaker_replay, demo, server
from examples.emulator.apply import apply_program

HOME, AWAY = "us-east-1", "eu-west-1"
ALARM = f"corral-spend-vcpu-{AWAY}-standard"
GUARDED = (("group", "developers"), ("user", "ci-deployer"), ("role", "AdminRole"))


@pytest.fixture
def world(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A standalone account with spend detection at home and in one other region, the budget
    breaker and the fast breaker, and an SQS inbox subscribed to the topic."""
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    alert_handlers.install()
    make_account_principals()
    spec = load(account_stack(tmp_path, extra=SPEND + FAST))
    deploy_account(spec)
    spent = deploy_spend(spec, regions=[HOME, AWAY])
    breakers = deploy_breakers(spec, spent["topic"])
    made = deploy_fast_breaker(spec, spent["topic"], breakers["policy"])
    sqs = client("sqs")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    client("sns").subscribe(
        TopicArn=spent["topic"],
        Protocol="sqs",
        Endpoint=arn["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    yield {"spec": spec, "session": boto3.Session(region_name=HOME), **spent, **breakers, **made}
    server.BUDGET_ACTIONS.clear()


def attached(policy: str) -> set[tuple[str, str]]:
    iam, found = client("iam"), set()
    for kind, name in GUARDED:
        listed = getattr(iam, f"list_attached_{kind}_policies")(
            **{f"{kind.capitalize()}Name": name}
        )
        if policy in [p["PolicyArn"] for p in listed["AttachedPolicies"]]:
            found.add((kind, name))
    return found


def test_moto_emits_no_alarm_event_so_nothing_trips_without_the_stand_in(world: dict) -> None:
    """moto's SetAlarmState changes the state and nothing else: no execution starts."""
    client("cloudwatch", region=AWAY).set_alarm_state(
        AlarmName=ALARM, StateValue="ALARM", StateReason="test"
    )
    assert breaker_replay.executions(world["session"], None, HOME, "corral-circuit-breaker") == []
    assert attached(world["policy"]) == set()


def test_an_alarm_in_another_region_trips_the_breaker(world: dict) -> None:
    session, user = world["session"], "ci-deployer"
    before = breaker_replay.launch_decision(session, None, user, HOME, "t3.micro")
    assert before.decision == "ALLOW"
    assert attached(world["policy"]) == set()
    breaker_replay.trip(session, None, AWAY, ALARM)
    [run] = breaker_replay.executions(session, None, HOME, "corral-circuit-breaker")
    assert run["status"] == "SUCCEEDED"
    assert attached(world["policy"]) == set(GUARDED)
    after = breaker_replay.launch_decision(session, None, user, HOME, "t3.micro")
    assert after.decision == "DENY"
    assert {r.sid for r in after.reasons} == {"CorralCircuitBreakerDenyLaunch"}
    [message] = breaker_replay.inbox(session, None, HOME)
    assert message.startswith(
        f"corral circuit breaker tripped: capacity alarm {ALARM} entered "
        f"ALARM in account {world['account']}, region "
    )
    assert (
        f"aws iam detach-user-policy --user-name ci-deployer --policy-arn {world['policy']}"
        in message
    )


def test_the_execution_got_the_alarm_event_as_aws_sends_it(world: dict) -> None:
    breaker_replay.trip(world["session"], None, AWAY, ALARM)
    sfn = client("stepfunctions")
    [run] = sfn.list_executions(stateMachineArn=world["machine"])["executions"]
    event = json.loads(sfn.describe_execution(executionArn=run["executionArn"])["input"])
    assert event["source"] == "aws.cloudwatch"
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["detail"]["alarmName"] == ALARM and event["detail"]["state"]["value"] == "ALARM"
    assert event["account"] == world["account"]


def test_a_billing_alarm_does_not_trip_it(world: dict) -> None:
    cloudwatch = client("cloudwatch")
    [alarm] = cloudwatch.describe_alarms(AlarmNames=["corral-spend-billing"])["MetricAlarms"]
    events = client("events")
    events.put_events(Entries=[breaker_replay.alarm_event(alarm, "over budget")])
    assert breaker_replay.executions(world["session"], None, HOME, "corral-circuit-breaker") == []


def test_a_missing_principal_is_notified_and_the_execution_fails(world: dict) -> None:
    iam = client("iam")
    for policy in iam.list_attached_role_policies(RoleName="AdminRole")["AttachedPolicies"]:
        iam.detach_role_policy(RoleName="AdminRole", PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName="AdminRole")
    started = time.monotonic()
    breaker_replay.trip(world["session"], None, HOME, f"corral-spend-vcpu-{HOME}-standard")
    assert time.monotonic() - started < 20  # the retries wait 1 s and 2 s
    [run] = breaker_replay.executions(world["session"], None, HOME, "corral-circuit-breaker")
    assert run["status"] == "FAILED"
    [message] = breaker_replay.inbox(world["session"], None, HOME)
    assert message.startswith("corral circuit breaker FAILED to trip after capacity alarm")
    assert "aws iam attach-role-policy --role-name AdminRole" in message


def test_the_definition_the_emulator_ran_is_the_builder_s(world: dict) -> None:
    spend = world["spec"].spend
    have = client("stepfunctions").describe_state_machine(stateMachineArn=world["machine"])
    want = breaker_trip.definition(spend, world["policy"], world["topic"])
    assert json.loads(have["definition"]) == json.loads(want)


@pytest.mark.slow
def test_the_demo_world_trips_the_breaker_through_moto_server(tmp_path, monkeypatch) -> None:
    """The demo's standalone account on moto_server: the real program deploys the fast breaker,
    `corral verify` passes it, the incident's us-east-1 vCPU alarm trips it (moto's
    interpreter calls moto_server back for IAM and SNS) and a permitted launch is denied."""
    for key, value in {**server.FAKE_CREDENTIALS, **server.SERVER_ENV}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MOTO_PORT", "5000")  # restored afterwards; prepare() sets the real one
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": False})
    with server.moto_server() as url:
        alert_replay.prepare(url)
        session = boto3.Session(region_name="us-east-1")
        demo.setup_account(session, url)
        config = demo.account_stack()
        assert config["corral:circuitBreaker"]["trigger"] == "alarm"
        stack = demo.write_stack(tmp_path, "breaker", config)
        apply_program(config, session, url)
        verified = demo.corral("verify", stack, url, tmp_path)
        assert verified.code == 0, [
            f["message"] for f in verified.findings if f["status"] != "PASS"
        ]
        [passed] = verified.of("breaker-trigger", "PASS")
        assert "corral-spend-breaker" in passed["message"]
        home = config["aws:region"]
        sqs = session.client("sqs", region_name=home, endpoint_url=url)
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
        sns = session.client("sns", region_name=home, endpoint_url=url)
        topic = next(
            t["TopicArn"]
            for t in sns.list_topics()["Topics"]
            if t["TopicArn"].endswith(":corral-spend-alerts")
        )
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        spend = load_stack_file(stack).spend
        lines = breaker_replay.replay(session, url, spend, "us-east-1", "script", "t3.micro")
    assert lines[0] == f"before: script RunInstances t3.micro in {home}: ALLOW"
    assert lines[2] == "state machine corral-circuit-breaker: SUCCEEDED"
    assert lines[3] == (
        f"after:  script RunInstances t3.micro in {home}: DENY (CorralCircuitBreakerDenyLaunch)"
    )
    assert lines[4].startswith(
        "notice: corral circuit breaker tripped: capacity alarm "
        "corral-spend-vcpu-us-east-1-standard entered ALARM"
    )
