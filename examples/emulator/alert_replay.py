"""The alerts on the emulator: a trail for them to rely on, and the incident's denied calls
replayed as CloudTrail delivers them to EventBridge.

moto's CloudTrail emits no event, so :func:`replay` puts CloudTrail-shaped events on each
region's default bus with PutEvents; moto's EventBridge matches corral's rules, forwards to
the home region, and the gate (started by the stand-in of :mod:`alert_handlers`) sends what
passes to the topic, where an SQS queue stands in for the inbox.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

import boto3

from examples.emulator import alert_handlers, incident

LEAKED_USER = "script"  # incident.leak_access_key's user
TRAIL = "management"


def prepare(url: str) -> None:
    """Before the program runs: let moto run the gate (its Step Functions interpreter calls
    the emulator back on MOTO_PORT) and start Step Functions targets."""
    os.environ["MOTO_PORT"] = str(urlsplit(url).port)
    alert_handlers.install()


def start_trail(session: boto3.Session, url: str, organization: bool = False) -> None:
    """The owner's multi-Region trail, logging all management events (an organization trail
    from the management account): `corral verify` (cloudtrail-logging) requires one."""
    region = session.region_name or "us-east-1"
    session.client("s3", endpoint_url=url).create_bucket(Bucket="trail-logs")
    cloudtrail = session.client("cloudtrail", region_name=region, endpoint_url=url)
    cloudtrail.create_trail(Name=TRAIL, S3BucketName="trail-logs", IsMultiRegionTrail=True,
                            IsOrganizationTrail=organization)  # fmt: skip
    cloudtrail.start_logging(Name=TRAIL)
    cloudtrail.put_event_selectors(
        TrailName=TRAIL, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    )


def replay(session: boto3.Session, url: str, home: str) -> list[str]:
    """The incident's 26 denied RunInstances calls and one tamper event, put as CloudTrail
    delivers them; return the messages that reached the topic's inbox."""
    account = session.client("sts", endpoint_url=url).get_caller_identity()["Account"]
    sqs = session.client("sqs", region_name=home, endpoint_url=url)
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns = session.client("sns", region_name=home, endpoint_url=url)
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"]
                 if t["TopicArn"].endswith(":corral-spend-alerts"))  # fmt: skip
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    for region, count in incident.INCIDENT.items():
        entries = [_entry(account, region, second) for second in range(count)]
        events = session.client("events", region_name=region, endpoint_url=url)
        events.put_events(Entries=entries)
    tamper = _entry(account, home, 30, DeleteRule={"name": "corral-spend-attempts-1"})
    session.client("events", region_name=home, endpoint_url=url).put_events(Entries=[tamper])
    messages = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        messages += [m["Body"] for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return messages


def _entry(account: str, region: str, second: int, **change: dict) -> dict:
    """A PutEvents entry: a denied c5a.24xlarge launch, or (``change``) an allowed change."""
    detail = {
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/{LEAKED_USER}",
                         "accessKeyId": "AKIAEXAMPLELEAKED001", "userName": LEAKED_USER},
        "eventTime": f"2024-05-01T20:27:{second:02d}Z", "awsRegion": region,
        "sourceIPAddress": "203.0.113.7", "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances", "errorCode": "Client.UnauthorizedOperation",
        "requestParameters": {"instanceType": "c5a.24xlarge"},
    }  # fmt: skip
    source = "aws.ec2"
    for name, parameters in change.items():
        del detail["errorCode"]
        detail.update(eventSource="events.amazonaws.com", eventName=name,
                      requestParameters=parameters)  # fmt: skip
        source = "aws.events"
    return {"Source": source, "DetailType": "AWS API Call via CloudTrail",
            "Detail": json.dumps(detail)}  # fmt: skip


def summary(message: str) -> str:
    """One line of a message: who, with which key, did what, where."""
    fields = dict(line.split(": ", 1) for line in message.splitlines() if ": " in line)
    what = fields.get("What", "").split(",")[0]
    return (f"{fields.get('Who')} ({fields.get('Access key')}): {what} in "
            f"{fields.get('Where', '').split(',')[0]}"
            + (f", {fields['Instance type (launches only)']}"
               if fields.get("Instance type (launches only)") else ""))  # fmt: skip
