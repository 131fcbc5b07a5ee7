"""Shared helpers for the alert tests: deploy what the alerts deploy, with boto3 from the
same builders the program uses (corral.build.alerts), and CloudTrail-shaped events (no tests
here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from test_verify_support import client

from corral.build import alerts
from corral.build.plan import build_plan
from corral.spec import keys as K
from corral.spec.model import Spec

LEAKED_USER = "script"
LEAKED_KEY = "AKIAEXAMPLELEAKED001"
ATTACKER_IP = "203.0.113.7"
INCIDENT = {"us-east-1": 8, "us-east-2": 6, "us-west-1": 6, "us-west-2": 6}
TRAIL = "management"


def deploy_alerts(spec: Spec, regions: Sequence[str] | None = None) -> dict[str, Any]:
    """Create the deploying account's alerts: roles, the gate's table and state machine, the
    rules and targets (only in ``regions``, default all) and the GuardDuty detectors there.
    The spend topic must exist. Returns the account, the site and the gate's ARN."""
    [site] = [s for s in alerts.plan(spec) if s.site.account_id is None]
    account = client("sts").get_caller_identity()["Account"]
    home, n = site.home, alerts.names(spec)
    iam = client("iam")
    for name, (trust, policy) in alerts.expected_roles(spec, site, account).items():
        iam.create_role(RoleName=name, Path=K.IAM_PATH, AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=policy)
    client("dynamodb", region=home).create_table(**alerts.table_request(spec))
    gate = client("stepfunctions", region=home).create_state_machine(
        **alerts.gate_request(spec, site, account)
    )["stateMachineArn"]
    wanted = set(site.regions if regions is None else regions) | {home}
    for rule, pattern in alerts.rules(spec, site, build_plan(spec), account):
        if rule.region not in wanted:
            continue
        events = client("events", region=rule.region)
        events.put_rule(**alerts.rule_request(rule, pattern))
        events.put_targets(
            Rule=rule.name, Targets=[alerts.target_request(spec, site, rule, account)]
        )
    for region in set(site.detector_regions) & wanted:
        client("guardduty", region=region).create_detector(**alerts.detector_request())
    return {"account": account, "site": site, "gate": gate, "home": home, "names": n}


def start_trail(region: str, log_group_arn: str | None = None) -> str:
    """A multi-Region trail logging management events (read and write); returns its ARN."""
    bucket = f"trail-{region}"
    client("s3", region="us-east-1").create_bucket(Bucket=bucket)
    cloudtrail = client("cloudtrail", region=region)
    extra = {}
    if log_group_arn:
        extra = {"CloudWatchLogsLogGroupArn": log_group_arn,
                 "CloudWatchLogsRoleArn": "arn:aws:iam::123456789012:role/trail-logs"}  # fmt: skip
    arn = cloudtrail.create_trail(Name=TRAIL, S3BucketName=bucket, IsMultiRegionTrail=True,
                                  **extra)["TrailARN"]  # fmt: skip
    cloudtrail.start_logging(Name=TRAIL)
    cloudtrail.put_event_selectors(
        TrailName=TRAIL,
        EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}],
    )
    return arn


def denied_launch(account: str, region: str, second: int = 13, key: str = LEAKED_KEY) -> dict:
    """The CloudTrail record of one of the incident's denied RunInstances calls."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLESCRIPT",
            "arn": f"arn:aws:iam::{account}:user/{LEAKED_USER}",
            "accountId": account,
            "accessKeyId": key,
            "userName": LEAKED_USER,
        },
        "eventTime": f"2024-05-01T20:27:{second:02d}Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "awsRegion": region,
        "sourceIPAddress": ATTACKER_IP,
        "userAgent": "Boto3/1.34.0 md/Botocore#1.34.0",
        "errorCode": "Client.UnauthorizedOperation",
        "errorMessage": "You are not authorized to perform this operation.",
        "requestParameters": {
            "instancesSet": {"items": [{"imageId": "ami-12345678", "minCount": 8, "maxCount": 8}]},
            "instanceType": "c5a.24xlarge",
        },
        "responseElements": None,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
    }


def tampering(account: str, rule: str) -> dict:
    """The leaked key deleting one of corral's alert rules (allowed, as if not exempt)."""
    event = denied_launch(account, "us-east-1")
    for key in ("errorCode", "errorMessage"):
        event.pop(key)
    event.update(eventSource="events.amazonaws.com", eventName="DeleteRule",
                 requestParameters={"name": rule, "force": False})  # fmt: skip
    return event


def finding(account: str, region: str, severity: float = 8.0) -> dict:
    """A GuardDuty finding of the incident's kind (the detail of a "GuardDuty Finding")."""
    return {
        "schemaVersion": "2.0",
        "accountId": account,
        "region": region,
        "id": "b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7",
        "type": "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "severity": severity,
        "createdAt": "2024-05-01T20:31:02.000Z",
        "updatedAt": "2024-05-01T20:31:02.000Z",
        "title": "EC2 instance i-0abc is querying a domain name associated with Bitcoin.",
        "resource": {
            "resourceType": "Instance",
            "instanceDetails": {"instanceId": "i-0abc", "instanceType": "c5a.24xlarge"},
        },
    }


def cloudtrail_entry(detail: dict, source: str) -> dict:
    """A PutEvents entry carrying ``detail`` as CloudTrail delivers it to EventBridge."""
    return {"Source": source, "DetailType": "AWS API Call via CloudTrail",
            "Detail": json.dumps(detail)}  # fmt: skip


def inbox(topic: str, region: str) -> str:
    """An SQS queue subscribed to ``topic`` (raw delivery): it stands in for an inbox."""
    sqs = client("sqs", region=region)
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    client("sns", region=region).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                                           Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    return url


def read_inbox(url: str, region: str) -> list[str]:
    """Every message in the inbox (drained)."""
    sqs, found = client("sqs", region=region), []
    while True:
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not out:
            return found
        found += [m["Body"] for m in out]
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(out)
        ])  # fmt: skip
