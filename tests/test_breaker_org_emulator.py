"""The fast circuit breaker in organization mode on the emulator.

- moto's own bus-to-bus EventBridge delivery rewrites the event's ``account`` to the
  receiving account, and sends an event on from bus to bus more than once (both proved here),
  where AWS keeps the sender's ``account`` and delivers one bus-to-bus hop only;
  and moto's EventBridge has no SNS target (proved here); examples/emulator/
  breaker_replay.py's ``relay_as_aws`` stands in for exactly those, during the replay;
- the demo's organization world on moto_server: the real program deploys the StackSet (whose
  template carries the member relay) and the management account's machine, `corral verify`
  passes, a member's vCPU alarm in us-east-2 reaches the management bus through that region's
  relay rule, once, moto's Step
  Functions interpreter runs the Choice state and ``aws-sdk:organizations:attachPolicy``
  against moto's Organizations, and a launch the spec allows in that member is denied after;
  a capacity alarm of the management account itself attaches nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.core.config import default_user_config
from moto.events import models

from corral.build import spend_plan
from corral.spec.load import load_stack_file
from examples.emulator import alert_replay, breaker_replay, demo, incident, server

SENDER, RECEIVER, REGION, AWAY = "111111111111", "222222222222", "us-east-1", "eu-west-1"
PATTERN = json.dumps({"source": ["corral.test"]})


@pytest.fixture
def moto_delivery() -> Iterator[None]:
    """In-process moto, its bus-to-bus delivery as moto ships it (the stand-in is a context)."""
    assert not getattr(models.Rule.send_to_targets, "corral_relay", False)
    with mock_aws():
        yield


def seen_by_receiver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ``account`` of every event RECEIVER's rule ``seen`` matches (what the breaker's
    rule sees in the management account), recorded as moto routes them."""
    seen, inner = [], models.Rule.send_to_targets

    def record(self, event, transform_input=True):
        if self.name == "seen":
            seen.append(event.get("account"))
        return inner(self, event, transform_input)

    monkeypatch.setattr(models.Rule, "send_to_targets", record)
    return seen


def relay_world() -> None:
    """RECEIVER's rule ``seen``; SENDER's relay rule in REGION and AWAY straight to RECEIVER's
    bus, and its forward rule from AWAY to its own REGION bus (as a member account has)."""
    as_account(RECEIVER).client("events", region_name=REGION).put_rule(
        Name="seen", EventPattern=PATTERN
    )
    bus = f"arn:aws:events:{REGION}:{RECEIVER}:event-bus/default"
    role = f"arn:aws:iam::{SENDER}:role/corral/corral-spend-relay"
    for region in (REGION, AWAY):
        sender = as_account(SENDER).client("events", region_name=region)
        sender.put_rule(Name="relay", EventPattern=PATTERN)
        sender.put_targets(Rule="relay", Targets=[{"Id": "corral", "Arn": bus, "RoleArn": role}])
    home = f"arn:aws:events:{REGION}:{SENDER}:event-bus/default"
    away = as_account(SENDER).client("events", region_name=AWAY)
    away.put_rule(Name="forward", EventPattern=PATTERN)
    away.put_targets(Rule="forward", Targets=[{"Id": "corral", "Arn": home, "RoleArn": role}])


def send(region: str) -> None:
    entry = {"Source": "corral.test", "DetailType": "t", "Detail": "{}"}
    sender = as_account(SENDER).client("events", region_name=region)
    assert sender.put_events(Entries=[entry])["FailedEntryCount"] == 0


def as_account(account: str) -> boto3.Session:
    sts = boto3.client("sts", region_name=REGION)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/x", RoleSessionName="test")
    c = creds["Credentials"]
    return boto3.Session(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def test_moto_rewrites_the_account_and_relays_more_than_one_hop(moto_delivery, monkeypatch):
    """The gaps the stand-in fills: the home event arrives as the receiving account; the
    away event arrives twice (relayed directly, and again after the forward to home)."""
    seen = seen_by_receiver(monkeypatch)
    relay_world()
    send(REGION)
    assert seen == [RECEIVER]
    send(AWAY)
    assert seen == [RECEIVER] * 3


def test_the_stand_in_keeps_the_account_and_stops_after_one_hop(moto_delivery, monkeypatch):
    seen = seen_by_receiver(monkeypatch)
    relay_world()
    with breaker_replay.relay_as_aws():
        send(REGION)
        assert seen == [SENDER]
        send(AWAY)
        assert seen == [SENDER] * 2
    assert not getattr(models.Rule.send_to_targets, "corral_relay", False)  # moto's again


@pytest.mark.slow
def test_the_demo_organization_trips_the_breaker_in_the_member(tmp_path, monkeypatch) -> None:
    for key, value in {**server.FAKE_CREDENTIALS, **server.SERVER_ENV}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MOTO_PORT", "5000")  # restored afterwards; prepare() sets the real one
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": False})
    with server.moto_server() as url:
        alert_replay.prepare(url)
        session = boto3.Session(region_name="us-east-1")
        org = demo.setup_organization(session, url)
        config = demo.with_member_detection(demo.organization_stack(org))
        stack = demo.write_stack(tmp_path, "org-breaker", config)
        demo.apply_program(config, session, url)
        verified = demo.corral("verify", stack, url, tmp_path)
        assert verified.code == 0, [f["message"] for f in verified.findings
                                    if f["status"] != "PASS"]  # fmt: skip
        spend, dev = load_stack_file(stack).spend, org.accounts["dev"]
        member = incident.member_session(session, url, dev)
        rules = member.client("events", region_name="us-east-1", endpoint_url=url)
        [relay] = rules.list_targets_by_rule(Rule="corral-spend-relay")["Targets"]
        away = member.client("events", region_name="us-east-2", endpoint_url=url)
        assert away.list_targets_by_rule(Rule="corral-spend-relay")["Targets"] == [relay]
        assert relay["Arn"] == f"arn:aws:events:us-east-1:{org.management}:event-bus/default"
        lines = breaker_replay.replay_organization(
            session, member, url, spend, dev, "us-east-2", "script", "t3.micro"
        )
        orgs = session.client("organizations", endpoint_url=url)
        name = spend_plan.names(spend)["breaker_policy"]
        [scp] = [p for p in orgs.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
                 if p["Name"] == name]  # fmt: skip
        targets = orgs.list_targets_for_policy(PolicyId=scp["Id"])["Targets"]
        # the management account's own alarm: SCPs do not affect it, the machine skips it
        breaker_replay.trip(session, url, "us-east-1", "corral-spend-vcpu-us-east-1-standard")
        runs = breaker_replay.executions(session, url, "us-east-1", "corral-circuit-breaker")
        skipped = breaker_replay.inbox(session, url, "us-east-1", "breaker-inbox")
        again = orgs.list_targets_for_policy(PolicyId=scp["Id"])["Targets"]
    assert lines[0] == f"before: script of member {dev} RunInstances t3.micro in us-east-1: ALLOW"
    assert lines[1].endswith(f"the management account's machine got the event of account {dev}")
    assert lines[2] == "state machine corral-circuit-breaker (management account): SUCCEEDED"
    assert lines[3] == (
        f"after:  script of member {dev} RunInstances t3.micro in us-east-1: "
        "DENY (CorralCircuitBreakerDenyLaunch)"
    )
    assert lines[4].startswith(
        "notice: corral circuit breaker tripped: capacity alarm "
        f"corral-spend-vcpu-us-east-2-standard entered ALARM in account {dev}, region us-east-2."
    )
    assert [t["TargetId"] for t in targets] == [dev]
    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert [t["TargetId"] for t in again] == [dev]  # nothing attached to the management account
    [notice] = skipped
    assert notice.startswith(
        "corral circuit breaker NOT applied: capacity alarm corral-spend-vcpu-us-east-1-standard "
        f"entered ALARM in account {org.management}, region us-east-1, the management account"
    )


@pytest.mark.slow
def test_a_foreign_statement_on_the_management_bus_survives_the_apply(
    tmp_path, monkeypatch
) -> None:
    """corral adds its one statement to the management bus's policy (PutPermission): the
    user's own cross-account grant on that bus stays, and `corral verify` passes."""
    for key, value in {**server.FAKE_CREDENTIALS, **server.SERVER_ENV}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MOTO_PORT", "5000")  # restored afterwards; prepare() sets the real one
    theirs = {"StatementId": "their-partner-integration", "Principal": "444455556666",
              "Action": "events:PutEvents"}  # fmt: skip
    with server.moto_server() as url:
        server.reset(url)  # the in-process backends outlive an earlier test's server
        alert_replay.prepare(url)
        session = boto3.Session(region_name="us-east-1")
        org = demo.setup_organization(session, url)
        bus = session.client("events", region_name="us-east-1", endpoint_url=url)
        bus.put_permission(**theirs)
        before = json.loads(bus.describe_event_bus()["Policy"])["Statement"]
        config = demo.with_member_detection(demo.organization_stack(org))
        stack = demo.write_stack(tmp_path, "org-foreign", config)
        demo.apply_program(config, session, url)
        verified = demo.corral("verify", stack, url, tmp_path)
        after = json.loads(bus.describe_event_bus()["Policy"])["Statement"]
    assert verified.code == 0, [f["message"] for f in verified.findings
                                if f["status"] != "PASS"]  # fmt: skip
    [kept] = [s for s in after if s["Sid"] == "their-partner-integration"]
    assert [kept] == before  # untouched
    [corral] = [s for s in after if s["Sid"] == "corral-spend-relay"]
    assert corral["Principal"] == "*" and corral["Action"] == "events:PutEvents"
    assert list(corral["Condition"]) == ["StringEquals"]
    assert list(corral["Condition"]["StringEquals"]) == ["aws:PrincipalOrgID"]
    assert len(after) == 2


def test_moto_has_no_sns_target_the_stand_in_publishes(moto_delivery) -> None:
    """moto's EventBridge raises on an SNS target (a member's deliver rule, once a forwarded
    event keeps its region); inside the stand-in the event is published to the topic."""
    session = as_account(SENDER)
    sns, sqs = session.client("sns", region_name=REGION), session.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="corral-spend-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    events = session.client("events", region_name=REGION)
    events.put_rule(Name="deliver", EventPattern=PATTERN)
    events.put_targets(Rule="deliver", Targets=[{"Id": "topic", "Arn": topic}])
    with pytest.raises(NotImplementedError):
        send(REGION)
    with breaker_replay.relay_as_aws():
        send(REGION)
    [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert json.loads(message["Body"])["source"] == "corral.test"
