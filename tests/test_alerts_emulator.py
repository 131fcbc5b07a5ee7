"""The alerts proved on the emulator (in-process moto): the incident's denied calls, a tamper
event and a GuardDuty finding, put on EventBridge as CloudTrail and GuardDuty deliver them,
reach the topic as readable messages (an SQS queue subscribed to the topic is the inbox), and
an attack loop of 1,000 calls in a minute is a handful of messages.

What moto does not do, and what stands in (examples/emulator/alert_handlers.py): CloudTrail
emits no event in moto, so the events are put with PutEvents; moto's EventBridge does not
deliver to Step Functions, so the stand-in starts the gate as EventBridge does; everything
else is moto's own: pattern matching, forwarding to the home region's bus, the input
transformer, the gate's execution (DynamoDB conditional put, SNS publish) and SNS to SQS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from alerts_support import (
    ATTACKER_IP,
    INCIDENT,
    LEAKED_KEY,
    LEAKED_USER,
    cloudtrail_entry,
    denied_launch,
    deploy_alerts,
    finding,
    inbox,
    read_inbox,
    tampering,
)
from moto import mock_aws
from moto.core.config import default_user_config
from moto.events.models import EventPattern
from moto.events.utils import EventTemplateParser
from test_verify_support import SPEND, account_stack, client, deploy_spend, load

from corral.build import alerts, alerts_gate
from corral.build.plan import build_plan
from examples.emulator import alert_handlers

HOME = "us-east-1"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A standalone account with spend detection and the alerts in the incident's regions,
    and an inbox subscribed to the topic."""
    saved = dict(default_user_config.get("stepfunctions", {}))
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        alert_handlers.install()
        spec = load(account_stack(tmp_path_factory.mktemp("emulator"), extra=SPEND))
        spent = deploy_spend(spec, regions=[HOME])
        made = deploy_alerts(spec, regions=[HOME, "eu-west-1", *INCIDENT])
        yield {"spec": spec, "inbox": inbox(spent["topic"], HOME), **spent, **made}
    default_user_config["stepfunctions"] = saved


def put(events: list[tuple[str, dict, str]]) -> None:
    """PutEvents, in batches of 10, each ``(region, detail, source)`` in its region."""
    by_region: dict[str, list[dict]] = {}
    for region, detail, source in events:
        by_region.setdefault(region, []).append(cloudtrail_entry(detail, source))
    for region, entries in by_region.items():
        bus = client("events", region=region)
        for i in range(0, len(entries), 10):
            assert bus.put_events(Entries=entries[i : i + 10])["FailedEntryCount"] == 0


def executions(world: dict) -> int:
    """How many times the gate was started."""
    from moto.stepfunctions.responses import get_backend

    backend = get_backend(world["account"], HOME)
    return len(backend.describe_state_machine(world["gate"]).executions)


def test_the_incident_reaches_the_inbox_once_per_region_naming_key_and_type(world: dict) -> None:
    account = world["account"]
    calls = [(region, denied_launch(account, region, second), "aws.ec2")
             for region, count in INCIDENT.items() for second in range(count)]  # fmt: skip
    assert len(calls) == 26
    put(calls)
    messages = read_inbox(world["inbox"], HOME)
    assert len(messages) == 4  # one per region: the gate holds back the other 22
    for region in INCIDENT:
        [message] = [m for m in messages if f"Where: {region}, from {ATTACKER_IP}" in m]
        assert f"Who: arn:aws:iam::{account}:user/{LEAKED_USER}\n" in message
        assert f"Access key: {LEAKED_KEY}\n" in message
        assert (
            "What: RunInstances (ec2.amazonaws.com), denied with Client.UnauthorizedOperation\n"
            in (message)
        )
        assert "Instance type (launches only): c5a.24xlarge\n" in message
        assert (
            "--access-key-id AKIAEXAMPLELEAKED001 --status Inactive --user-name script" in message
        )
        assert "Run `corral sweep`" in message
    # The documented transformation (the stand-in's) and moto's own agree on this event.
    [us_west_2] = [m for m in messages if "Where: us-west-2," in m]
    transformer = alerts_gate.transformer("attempts")
    event = _envelope(denied_launch(account, "us-west-2", 0), "us-west-2")
    moto_text = EventTemplateParser.parse(
        input_template=transformer["InputTemplate"],
        input_paths_map=transformer["InputPathsMap"],
        event=event,
    )["text"]
    assert (
        moto_text
        == us_west_2
        == json.loads(alert_handlers.apply_template(transformer, event))["text"]
    )


@pytest.mark.slow  # about a minute: moto runs each of the 1,000 gate executions
def test_an_attack_loop_of_1000_calls_in_a_minute_is_a_handful_of_messages(world: dict) -> None:
    account, key = world["account"], "AKIAEXAMPLELOOP00001"
    before = executions(world)
    regions = list(INCIDENT)
    calls = []
    for i in range(1000):
        region = regions[i % 4]
        detail = denied_launch(account, region, i * 60 // 1000, key=key)
        detail["eventTime"] = detail["eventTime"].replace("T20:", "T21:")  # a fresh hour
        calls.append((region, detail, "aws.ec2"))
    put(calls)
    messages = read_inbox(world["inbox"], HOME)
    assert executions(world) - before == 1000  # each call starts the gate exactly once
    assert len(messages) == 4  # one per key and region in the hour: a handful, not 1,000
    assert all(f"Access key: {key}\n" in m for m in messages)


def test_a_tamper_event_reaches_the_inbox(world: dict) -> None:
    account = world["account"]
    put([(HOME, tampering(account, "corral-spend-attempts-1"), "aws.events")])
    [message] = read_inbox(world["inbox"], HOME)
    assert message.startswith("corral alert: someone changed, or tried to change, what guards")
    assert f"Who: arn:aws:iam::{account}:user/{LEAKED_USER}\n" in message
    assert "What: DeleteRule (events.amazonaws.com)\n" in message
    assert (
        "run `corral verify` to see what changed and `pulumi up --refresh` to restore it" in message
    )


def test_a_guardduty_finding_reaches_the_inbox_and_a_low_one_does_not(world: dict) -> None:
    account, region = world["account"], "eu-west-1"
    bus = client("events", region=region)
    for severity in (8.0, 2.0):
        entry = {"Source": "aws.guardduty", "DetailType": "GuardDuty Finding",
                 "Detail": json.dumps(finding(account, region, severity))}  # fmt: skip
        assert bus.put_events(Entries=[entry])["FailedEntryCount"] == 0
    [message] = read_inbox(world["inbox"], HOME)
    assert message.startswith(
        "corral alert: GuardDuty reports CryptoCurrency:EC2/BitcoinTool.B!DNS, severity 8.0."
    )
    assert "Instance (if any): i-0abc\n" in message
    assert f"Account: {account}, region {region}\n" in message


def test_attempt_patterns_never_overlap(world: dict) -> None:
    """Each denied call matches exactly one attempt rule, inside or outside the allowed
    regions, so it starts the gate once (checked with moto's own pattern matcher)."""
    spec, account = world["spec"], world["account"]
    patterns = [p for r, p in alerts.rules(spec, world["site"], build_plan(spec), account)
                if r.kind == "attempts" and r.region == HOME]  # fmt: skip
    for region in (HOME, "eu-west-1", "us-west-2"):
        for name, source in (("RunInstances", "ec2"), ("CreateAccessKey", "iam"),
                             ("PurchaseReservedInstancesOffering", "ec2")):  # fmt: skip
            detail = denied_launch(account, region)
            detail.update(eventName=name, eventSource=f"{source}.amazonaws.com")
            event = _envelope(detail, region)
            hits = [p for p in patterns if EventPattern.load(p).matches_event(event)]
            assert len(hits) == 1, (region, name)


def test_moto_still_lacks_eventbridge_delivery_to_step_functions(world: dict) -> None:
    from moto.events.models import Rule

    moto_own = Rule.send_to_targets.moto
    [rule] = [r for r in _rules(HOME) if r.name == "corral-spend-tamper-1"]
    event = _envelope(tampering(world["account"], "corral-spend-attempts-1"), HOME)
    with pytest.raises(NotImplementedError):
        moto_own(rule, event)


def test_moto_leaves_a_missing_path_where_eventbridge_drops_it(world: dict) -> None:
    transformer = alerts_gate.transformer("attempts")
    detail = denied_launch(world["account"], HOME)
    del detail["requestParameters"]["instanceType"]
    event = _envelope(detail, HOME)
    moto_text = EventTemplateParser.parse(
        input_template=transformer["InputTemplate"],
        input_paths_map=transformer["InputPathsMap"],
        event=event,
    )["text"]
    documented = json.loads(alert_handlers.apply_template(transformer, event))["text"]
    assert "Instance type (launches only): <type>\n" in moto_text
    assert "Instance type (launches only): \n" in documented


def _envelope(detail: dict, region: str) -> dict:
    """The event EventBridge matches: the envelope around a CloudTrail ``detail``."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": detail.get("recipientAccountId", "123456789012"),
        "time": detail.get("eventTime", "2024-05-01T20:27:13Z"),
        "region": region,
        "resources": [],
        "detail": detail,
        "ingestion-time": 1714595233.0,
    }


def _rules(region: str) -> list:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.events.models import events_backends

    bus = events_backends[DEFAULT_ACCOUNT_ID][region].event_buses["default"]
    return list(bus.rules.values())
