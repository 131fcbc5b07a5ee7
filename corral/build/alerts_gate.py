"""The alert gate: the messages a person reads, and the rate limit in front of the topic. Pure.

EventBridge can deliver a matched event to an SNS topic, but it cannot rate-limit or
aggregate: an attack loop of thousands of denied calls would be thousands of emails. So the
rules at home do not target the topic. Their input transformer turns each event into a
readable message and a *key* (who, which key, which region; for a finding, its id), and
starts the gate, an Express Step Functions workflow that:

1. puts ``<key>|<hour of the event>`` into a DynamoDB table, on the condition that it is
   not there yet;
2. publishes the message to the topic only when that put succeeded.

So each key sends at most one message per clock hour of its events: the incident's loop of
denied ``RunInstances`` in four regions is four messages, however long it runs; a new key,
region or finding is sent at once. Any other failure of step 1 still publishes (the gate
fails open: a lost alert is worse than a repeated one).

Values go into the message inside JSON strings, where EventBridge inserts them as they are
(its documented input-transformer rule); only fields AWS writes (ARNs, key ids, names,
codes, regions, times, addresses, enumerations) are used, never free text such as a user
agent or an error message, which could carry a quote and break the JSON.
"""

from __future__ import annotations

import json

KEY = "key"  # the table's hash key, and the gate input's dedup key
SUBJECT_MAX = 100  # SNS: at most 100 printable ASCII characters
NEXT_KEY = (
    "If this was not you: disable the key now (aws iam update-access-key --access-key-id "
    "<key> --status Inactive --user-name <user>; for a role session key, ASIA..., revoke the "
    "role's active sessions in the IAM console)"
)

ATTEMPT_PATHS = {
    "who": "$.detail.userIdentity.arn",
    "key": "$.detail.userIdentity.accessKeyId",
    "user": "$.detail.userIdentity.userName",
    "event": "$.detail.eventName",
    "source": "$.detail.eventSource",
    "error": "$.detail.errorCode",
    "region": "$.detail.awsRegion",
    "ip": "$.detail.sourceIPAddress",
    "time": "$.detail.eventTime",
    "type": "$.detail.requestParameters.instanceType",
    "account": "$.account",
}
ATTEMPT_TEXT = (
    "corral alert: AWS denied a call that corral's guardrails block. A leaked key is the "
    "likeliest cause.\n\n"
    "Who: <who>\nAccess key: <key>\nWhat: <event> (<source>), denied with <error>\n"
    "Where: <region>, from <ip>\nWhen: <time>\nInstance type (launches only): <type>\n"
    "Account: <account>\n\n"
    f"Next:\n1. {NEXT_KEY}.\n"
    "2. Run `corral sweep` to find what the key may have started, and `corral verify` to "
    "prove the guardrails still hold.\n"
    "3. Every call of the key: aws cloudtrail lookup-events --region <region> "
    "--lookup-attributes AttributeKey=AccessKeyId,AttributeValue=<key>\n\n"
    "More denied calls of this key in <region> within the hour are not sent again."
)
TAMPER_TEXT = (
    "corral alert: someone changed, or tried to change, what guards this account.\n\n"
    "Who: <who>\nAccess key: <key>\nWhat: <event> (<source>)\n"
    "Error (none when it succeeded): <error>\nWhere: <region>, from <ip>\nWhen: <time>\n"
    "Account: <account>\n\n"
    "Next:\n1. If this was you or your deployment (`pulumi up`), nothing to do.\n"
    "2. Otherwise run `corral verify` to see what changed and `pulumi up --refresh` to restore "
    "it. "
    f"{NEXT_KEY}, then run `corral sweep`.\n\n"
    "More changes by this principal within the hour are not sent again."
)
FINDING_PATHS = {
    "type": "$.detail.type",
    "severity": "$.detail.severity",
    "id": "$.detail.id",
    "region": "$.detail.region",
    "account": "$.detail.accountId",
    "time": "$.detail.updatedAt",
    "first": "$.detail.createdAt",
    "resource": "$.detail.resource.resourceType",
    "instance": "$.detail.resource.instanceDetails.instanceId",
    "key": "$.detail.resource.accessKeyDetails.accessKeyId",
    "user": "$.detail.resource.accessKeyDetails.userName",
}
FINDING_TEXT = (
    "corral alert: GuardDuty reports <type>, severity <severity>.\n\n"
    "Resource: <resource>\nInstance (if any): <instance>\nAccess key (if any): <key> of <user>\n"
    "Account: <account>, region <region>\nWhen: <time> (first seen <first>)\nFinding: <id>\n\n"
    "Next: open the finding in the GuardDuty console in <region>. For a CryptoCurrency or "
    "credential finding, stop the instance or disable the key it names, then run "
    "`corral sweep`.\n\n"
    "Updates of this finding within the hour are not sent again."
)
MESSAGES = {
    "attempts": (ATTEMPT_PATHS, "attempt|<who>|<key>|<region>",
                 "corral: AWS denied <event> in <region>", ATTEMPT_TEXT),
    "tamper": (ATTEMPT_PATHS, "tamper|<who>|<key>",
               "corral: <event> on corral's guardrails", TAMPER_TEXT),
    "findings": (FINDING_PATHS, "finding|<id>",
                 "corral: GuardDuty finding, severity <severity>, <region>", FINDING_TEXT),
}  # fmt: skip


def transformer(kind: str) -> dict:
    """The ``InputTransformer`` of a home rule of ``kind``: the gate's JSON input, every value
    inside a JSON string."""
    paths, key, subject, text = MESSAGES[kind]
    fields = {KEY: key, "time": "<time>", "subject": subject, "text": text}
    template = json.dumps(fields, separators=(",", ":"))
    used = {name: path for name, path in paths.items() if f"<{name}>" in template}
    return {"InputPathsMap": used, "InputTemplate": template}


def definition(table: str, topic_arn: str) -> str:
    """The gate's Amazon States Language definition (JSONPath), deterministic; the service
    integrations are named in the topic's partition."""
    partition = topic_arn.split(":")[1]
    hour = "States.ArrayGetItem(States.StringSplit($.time, ':'), 0)"
    states = {
        "Remember": {
            "Type": "Task",
            "Resource": f"arn:{partition}:states:::dynamodb:putItem",
            "Parameters": {
                "TableName": table,
                "Item": {KEY: {"S.$": f"States.Format('{{}}|{{}}', $.{KEY}, {hour})"}},
                "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": KEY},
            },
            "ResultPath": None,
            "Catch": [
                {"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "Next": "Repeat"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Notify"},
            ],
            "Next": "Notify",
        },
        "Notify": {
            "Type": "Task",
            "Resource": f"arn:{partition}:states:::sns:publish",
            "Parameters": {"TopicArn": topic_arn, "Subject.$": "$.subject", "Message.$": "$.text"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 3}],
            "End": True,
        },
        "Repeat": {"Type": "Succeed", "Comment": "sent already this hour for this key"},
    }
    document = {
        "Comment": "corral alert gate: one message per key and hour to the spend topic",
        "StartAt": "Remember",
        "States": states,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
