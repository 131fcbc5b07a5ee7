"""The fast circuit breaker on the emulator (``corral:circuitBreaker.trigger: alarm``): a
capacity alarm enters ALARM, the breaker's state machine attaches the deny-launch policy, and
a launch the spec allows is denied afterwards.

What moto 5.2.5 runs itself, and what stands in:

- **CloudWatch emits no event**: moto's ``SetAlarmState`` changes the alarm's state but puts
  no "CloudWatch Alarm State Change" event on any bus. :func:`trip` sets the alarm to ALARM
  with moto's SetAlarmState, then puts the event AWS sends for that change (:func:`alarm_event`,
  the shape of the CloudWatch User Guide's *Alarm events and EventBridge*) on the alarm
  region's default bus with PutEvents. From there moto's EventBridge does the rest: the
  ``<prefix>-spend-forward`` rule matches it and moto forwards it to the home region's bus.
- **Forwarding keeps less than AWS does**: moto re-puts a forwarded event with the home
  region and no ``resources``, where AWS keeps the original event's region. The breaker's
  rule matches either way (its pattern names no region); its notification then names the
  home region as the alarm's region.
- **EventBridge -> Step Functions**: moto's EventBridge cannot start a state machine;
  :func:`examples.emulator.alert_handlers.install` stands in (StartExecution with the event
  as it is, since the breaker's target has no input transformer) and waits for the end.
- **Not stood in**: moto's Step Functions interpreter runs corral's definition as written:
  the Parallel state's ``aws-sdk:iam:attachGroupPolicy`` / ``attachUserPolicy`` tasks call
  moto's IAM, and ``sns:publish`` calls moto's SNS. (moto names AWS SDK integration errors
  after the API action rather than the service, and its Organizations ``AttachPolicy`` never
  raises ``DuplicatePolicyAttachmentException``; the organization-mode catch of that error
  is checked against the Amazon States Language, not executed here.)

:func:`launch_decision` then asks corral's evaluator, on the policies moto holds for the
principal, whether it may launch: the same engine ``corral verify`` and ``corral explain`` use.

Organization mode (:func:`replay_organization`): the alarm is a member account's, whose
``<prefix>-spend-relay`` rule (from corral's StackSet) targets the management account's home
default bus; the state machine there attaches the breaker SCP to the alarm's account.

- **Bus-to-bus delivery** (stood in by :func:`relay_as_aws`, during the organization replay
  only): moto re-puts an event sent to another bus with PutEvents *as the receiving account
  and region*, so the event reaching the management bus carries ``account`` = the management
  account, and the breaker would skip it as the management account's own alarm; and moto
  sends an event on from bus to bus any number of times. AWS keeps the original event's
  ``account`` and ``region``, and delivers one bus-to-bus hop only (EventBridge User Guide,
  *Sending and receiving events between AWS accounts*), which is why every member region has
  its own relay rule. The stand-in delivers the event, unchanged, to the rules of the target
  bus, no further bus after that. Kept unchanged, a member's event forwarded home matches
  the member's ``<prefix>-spend-deliver`` rule, whose SNS target moto's EventBridge does not
  implement (NotImplementedError): the stand-in publishes the event to the topic with moto's
  SNS, as EventBridge does. Every other target stays moto's.
  moto neither enforces the management bus's policy (nor does the stand-in): ``corral
  verify``'s ``breaker-trigger`` check reads corral's statement on it instead.
- **Not stood in**: moto's Step Functions interpreter runs the Choice state and the
  ``aws-sdk:organizations:attachPolicy`` task against moto's Organizations, and
  ``sns:publish`` against moto's SNS. :func:`scp_launch_decision` asks corral's evaluator with
  the SCPs moto holds for the root, OUs and account.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3

from corral.evaluate.engine import Decision, evaluate
from corral.evaluate.policy import PolicyRef, Request

ALARM_EVENT = "CloudWatch Alarm State Change"
# The leaked key's own rights (the incident's user was an administrator): the identity
# policy the guardrails have to overrule.
ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def alarm_event(alarm: dict, reason: str) -> dict:
    """The PutEvents entry of the event CloudWatch sends when ``alarm`` (a DescribeAlarms
    member) goes from OK to ALARM."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
    metric = {
        "namespace": alarm["Namespace"],
        "name": alarm["MetricName"],
        "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
    }
    detail = {
        "alarmName": alarm["AlarmName"],
        "configuration": {
            "description": alarm.get("AlarmDescription", ""),
            "metrics": [
                {
                    "id": "m1",
                    "metricStat": {
                        "metric": metric,
                        "period": alarm["Period"],
                        "stat": alarm["Statistic"],
                    },
                    "returnData": True,
                }
            ],
        },
        "previousState": {"value": "OK", "reason": "Threshold Crossed", "timestamp": now},
        "state": {"value": "ALARM", "reason": reason, "timestamp": now},
    }
    return {
        "Source": "aws.cloudwatch",
        "DetailType": ALARM_EVENT,
        "Resources": [alarm["AlarmArn"]],
        "Detail": json.dumps(detail),
    }


def trip(session: boto3.Session, url: str, region: str, alarm_name: str) -> dict:
    """Set ``alarm_name`` in ``region`` to ALARM and put AWS's event for it on the region's
    default bus; return the alarm as DescribeAlarms shows it afterwards."""
    cloudwatch = session.client("cloudwatch", region_name=region, endpoint_url=url)
    reason = "Threshold Crossed: 1 datapoint [768.0] was greater than the threshold (32.0)."
    cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason=reason)
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
    events = session.client("events", region_name=region, endpoint_url=url)
    answer = events.put_events(Entries=[alarm_event(alarm, reason)])
    if answer.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents refused the alarm event: {answer['Entries']}")
    return alarm


def executions(session: boto3.Session, url: str, region: str, machine: str) -> list[dict]:
    """The breaker's executions (newest first) with their status."""
    sfn = session.client("stepfunctions", region_name=region, endpoint_url=url)
    arn = next(
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"] == machine
    )
    return sfn.list_executions(stateMachineArn=arn)["executions"]


def attached(session: boto3.Session, url: str, user: str) -> list[PolicyRef]:
    """Every managed policy that applies to IAM user ``user``: its own and its groups'."""
    iam = session.client("iam", endpoint_url=url)
    arns = [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    ]
    for group in iam.list_groups_for_user(UserName=user)["Groups"]:
        listed = iam.list_attached_group_policies(GroupName=group["GroupName"])
        arns += [p["PolicyArn"] for p in listed["AttachedPolicies"]]
    return [_managed(iam, arn, user) for arn in dict.fromkeys(arns)]


def _managed(iam: Any, arn: str, target: str) -> PolicyRef:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return PolicyRef(arn.rsplit("/", 1)[-1], target, document)


def launch_decision(
    session: boto3.Session, url: str, user: str, region: str, instance_type: str
) -> Decision:
    """Whether ``user`` may RunInstances of ``instance_type`` in ``region``, on the policies
    moto holds for it (its boundary too) beside full administrator rights of its own."""
    iam = session.client("iam", endpoint_url=url)
    found = iam.get_user(UserName=user)["User"]
    boundary = found.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
    account = found["Arn"].split(":")[4]
    request = Request(
        "ec2:RunInstances",
        resource=f"arn:aws:ec2:{region}:{account}:instance/*",
        context={"aws:RequestedRegion": region, "ec2:InstanceType": instance_type},
        principal_arn=found["Arn"],
        account=account,
    )
    policies = [PolicyRef("leaked key's own rights", user, ADMIN), *attached(session, url, user)]
    return evaluate(
        request,
        identity_policies=policies,
        permissions_boundary=[_managed(iam, boundary, user)] if boundary else None,
    )


def inbox(session: boto3.Session, url: str, home: str, queue: str = "inbox") -> list[str]:
    """Drain the queue :func:`examples.emulator.alert_replay.replay` subscribed to the topic."""
    sqs = session.client("sqs", region_name=home, endpoint_url=url)
    address = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    messages = []
    while batch := sqs.receive_message(QueueUrl=address, MaxNumberOfMessages=10).get("Messages"):
        messages += [m["Body"] for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=address, ReceiptHandle=m["ReceiptHandle"])
    return messages


def replay(
    session: boto3.Session, url: str, spend: Any, region: str, user: str, instance_type: str
) -> list[str]:
    """The incident's capacity trips the breaker: ``user`` may launch ``instance_type`` at
    home before; the Standard vCPU alarm in ``region`` enters ALARM; the breaker's state
    machine runs; the same launch is denied after. Returns the story, a line each."""
    from corral.build import spend_plan  # noqa: PLC0415 - the example's own imports

    home, names = spend.region, spend_plan.names(spend)
    before = launch_decision(session, url, user, home, instance_type)
    alarm = f"{names['alarm_prefix']}vcpu-{region}-standard"
    trip(session, url, region, alarm)
    runs = executions(session, url, home, names["trip_machine"])
    after = launch_decision(session, url, user, home, instance_type)
    sids = sorted({r.sid for r in after.reasons if r.sid})
    lines = [
        f"before: {user} RunInstances {instance_type} in {home}: {before.decision}",
        f"alarm {alarm} in {region} -> ALARM; the event went to {region}'s default bus",
        f"state machine {names['trip_machine']}: {', '.join(r['status'] for r in runs)}",
        f"after:  {user} RunInstances {instance_type} in {home}: {after.decision}"
        + (f" ({', '.join(sids)})" if sids else ""),
    ]
    tripped = [m for m in inbox(session, url, home) if m.startswith("corral circuit breaker")]
    return lines + [f"notice: {m[:160]}..." for m in tripped]


def subscribe_inbox(session: boto3.Session, url: str, home: str, topic: str, queue: str) -> None:
    """Subscribe an SQS queue (raw delivery) to the alert topic ``topic``, to read the notice."""
    sqs = session.client("sqs", region_name=home, endpoint_url=url)
    address = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=address, AttributeNames=["QueueArn"])["Attributes"]
    sns = session.client("sns", region_name=home, endpoint_url=url)
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    sns.subscribe(TopicArn=next(t for t in topics if t.endswith(f":{topic}")), Protocol="sqs",
                  Endpoint=arn["QueueArn"], Attributes={"RawMessageDelivery": "true"})  # fmt: skip


# --------------------------------------------------------------------------- organization mode


@contextlib.contextmanager
def relay_as_aws() -> Iterator[None]:
    """While inside, deliver an event a rule sends to another event bus (another account's, or
    another region's) as AWS does: unchanged, its ``account`` and ``region`` kept, and one
    bus-to-bus hop only: an event that came from another bus is not sent on to a further bus
    (EventBridge User Guide, *Sending and receiving events between AWS accounts*). Every other
    target stays moto's. See the module."""
    from moto.events import models  # noqa: PLC0415 - moto only here

    current = models.Rule.send_to_targets

    def send_to_targets(self, event, transform_input=True):
        own = f"arn:aws:events:{self.region_name}:{self.account_id}:event-bus/"
        buses = [t for t in self.targets if _is_bus(t["Arn"]) and not t["Arn"].startswith(own)]
        topics = [t for t in self.targets if t["Arn"].split(":")[2] == "sns"]
        if not buses and not topics:
            return current(self, event, transform_input)
        everything = self.targets
        self.targets = [t for t in self.targets if t not in buses and t not in topics]
        try:
            current(self, event, transform_input)
        finally:
            self.targets = everything
        if not self.event_pattern.matches_event(event):
            return None
        for target in topics:  # moto's EventBridge has no SNS target: publish the event
            _publish(target["Arn"], event)
        if not getattr(_HOP, "relayed", False):
            for target in buses:
                _deliver(target["Arn"], event)
        return None

    send_to_targets.corral_relay = True
    send_to_targets.moto = current  # what ran before, for the test that proves the gap
    models.Rule.send_to_targets = send_to_targets
    try:
        yield
    finally:
        models.Rule.send_to_targets = current


_HOP = threading.local()  # set while a bus-to-bus delivery runs: no further hop


def _is_bus(arn: str) -> bool:
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[2] == "events" and parts[5].startswith("event-bus/")


def _publish(arn: str, event: dict) -> None:
    from moto.sns.models import sns_backends  # noqa: PLC0415

    _, _, _, region, account, _ = arn.split(":", 5)
    sns_backends[account][region].topics[arn].publish(json.dumps(event))


def _deliver(arn: str, event: dict) -> None:
    from moto.events.models import events_backends  # noqa: PLC0415

    _, _, _, region, account, resource = arn.split(":", 5)
    bus = events_backends[account][region].describe_event_bus(resource.split("/", 1)[1])
    _HOP.relayed = True
    try:
        for rule in list(bus.rules.values()):
            rule.send_to_targets(copy.deepcopy(event))
    finally:
        _HOP.relayed = False


def scp_chain(session: boto3.Session, url: str, account: str) -> list[list[PolicyRef]]:
    """The SCPs that apply to ``account``, root first, account last, as moto holds them."""
    org = session.client("organizations", endpoint_url=url)
    targets, child = [account], account
    while parents := org.list_parents(ChildId=child)["Parents"]:
        child = parents[0]["Id"]
        targets.insert(0, child)
    chain = []
    for target in targets:
        listed = org.list_policies_for_target(TargetId=target, Filter="SERVICE_CONTROL_POLICY")
        level = []
        for p in listed["Policies"]:
            content = org.describe_policy(PolicyId=p["Id"])["Policy"]["Content"]
            level.append(PolicyRef(p["Name"], target, content))
        chain.append(level)
    return chain


def scp_launch_decision(
    session: boto3.Session, url: str, account: str, user: str, region: str, instance_type: str
) -> Decision:
    """Whether ``user`` of member ``account``, with full rights of its own, may RunInstances of
    ``instance_type`` in ``region`` under the SCPs moto holds."""
    request = Request(
        "ec2:RunInstances",
        resource=f"arn:aws:ec2:{region}:{account}:instance/*",
        context={"aws:RequestedRegion": region, "ec2:InstanceType": instance_type},
        principal_arn=f"arn:aws:iam::{account}:user/{user}",
        account=account,
    )
    policies = [PolicyRef("leaked key's own rights", user, ADMIN)]
    return evaluate(request, scp_chain=scp_chain(session, url, account), identity_policies=policies)


def replay_organization(
    session: boto3.Session, member: boto3.Session, url: str, spend: Any, account: str,
    region: str, user: str, instance_type: str,
) -> list[str]:  # fmt: skip
    """A member's capacity trips the breaker: ``user`` of member ``account`` (``member``: a
    session in it) may launch before; the member's Standard vCPU alarm in ``region`` enters
    ALARM; its relay delivers the event to the management account, whose state machine
    attaches the breaker SCP to ``account``; the same launch is denied after."""
    from corral.build import spend_plan  # noqa: PLC0415 - the example's own imports

    home, names = spend.region, spend_plan.names(spend)
    subscribe_inbox(session, url, home, names["topic"], "breaker-inbox")
    before = scp_launch_decision(session, url, account, user, home, instance_type)
    alarm = f"{names['alarm_prefix']}vcpu-{region}-standard"
    with relay_as_aws():
        trip(member, url, region, alarm)
    runs = executions(session, url, home, names["trip_machine"])
    sfn = session.client("stepfunctions", region_name=home, endpoint_url=url)
    got = json.loads(sfn.describe_execution(executionArn=runs[0]["executionArn"])["input"])
    after = scp_launch_decision(session, url, account, user, home, instance_type)
    sids = sorted({r.sid for r in after.reasons if r.sid})
    lines = [
        f"before: {user} of member {account} RunInstances {instance_type} in {home}: "
        f"{before.decision}",
        f"alarm {alarm} of member {account} in {region} -> ALARM; {names['relay_rule']} "
        f"relayed it: the management account's machine got the event of account {got['account']}",
        f"state machine {names['trip_machine']} (management account): "
        f"{', '.join(r['status'] for r in runs)}",
        f"after:  {user} of member {account} RunInstances {instance_type} in {home}: "
        f"{after.decision}" + (f" ({', '.join(sids)})" if sids else ""),
    ]
    notices = inbox(session, url, home, "breaker-inbox")
    tripped = [m for m in notices if m.startswith("corral circuit breaker")]
    return lines + [f"notice: {m[:160]}..." for m in tripped]
