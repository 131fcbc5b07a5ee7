"""The exact AWS request parameters (boto3 names) of each planned spend resource: the alert
topic, budgets, alarms, alarm forwarding and the anomaly monitor. The circuit breaker's are in
:mod:`corral.build.spend_breaker`, the manifest and render views in
:mod:`corral.build.spend_manifest`."""

from __future__ import annotations

import json
from typing import Any

from corral.build.spend_plan import (
    AlarmPlan,
    AnomalyPlan,
    BudgetPlan,
    SitePlan,
    names,
)
from corral.spec import keys as K
from corral.spec.spend import (
    CURRENCY,
    SERVICE_BUDGETS,
    SERVICE_CLOUDWATCH,
    SERVICE_COST_ALERTS,
    SERVICE_EVENTS,
    Notification,
    SpendSpec,
)

# --------------------------------------------------------------------------- requests (boto3 names)


def document_json(document: dict) -> str:
    """A policy or pattern document as corral sends it: sorted keys, minified."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _tags() -> list[dict[str, str]]:
    return [{"Key": K.MANAGED_TAG, "Value": "true"}]


def topic_request(site: SitePlan) -> dict:
    """``sns:CreateTopic`` parameters for the site's alert topic."""
    return {"Name": site.topic, "Tags": _tags()}


def topic_policy(spend: SpendSpec, site: SitePlan, topic_arn: str, account_id: str) -> str:
    """Topic policy: only Budgets, CloudWatch, corral's delivery rule and (when the site has an
    anomaly monitor) Cost Anomaly Detection, each on behalf of this account, publish."""
    p = spend.partition
    statements = [
        _publish("CorralBudgetsPublish", SERVICE_BUDGETS, topic_arn, account_id,
                 f"arn:{p}:budgets::{account_id}:*"),
        _publish("CorralCloudWatchPublish", SERVICE_CLOUDWATCH, topic_arn, account_id,
                 f"arn:{p}:cloudwatch:{site.home}:{account_id}:alarm:*"),
    ]  # fmt: skip
    if site.forward_regions:
        rule = rule_arn(spend, site.home, account_id, names(spend)["deliver_rule"])
        statements.append(
            _publish("CorralEventBridgePublish", SERVICE_EVENTS, topic_arn, account_id, rule)
        )
    if site.anomaly:
        # AWS's documented grant names no source ARN, only the subscription's account.
        statements.append(
            _publish("CorralCostAnomalyPublish", SERVICE_COST_ALERTS, topic_arn, account_id, None)
        )
    return document_json(
        {"Version": "2012-10-17", "Id": f"{site.topic}-policy", "Statement": statements}
    )


def _publish(sid: str, service: str, topic_arn: str, account_id: str, source: str | None) -> dict:
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source is not None:
        condition["ArnLike"] = {"aws:SourceArn": source}
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "SNS:Publish",
        "Resource": topic_arn,
        "Condition": condition,
    }


def subscription_requests(spend: SpendSpec, topic_arn: str) -> list[dict]:
    """``sns:Subscribe`` parameters: every email, then every HTTPS endpoint."""
    subs = [{"TopicArn": topic_arn, "Protocol": "email", "Endpoint": e} for e in spend.emails]
    subs += [{"TopicArn": topic_arn, "Protocol": "https", "Endpoint": u} for u in spend.https]
    return subs


def notification_request(note: Notification) -> dict:
    """A budgets ``Notification`` structure."""
    return {
        "NotificationType": note.kind,
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": note.threshold,
        "ThresholdType": "PERCENTAGE",
    }


def subscribers(spend: SpendSpec, topic_arn: str) -> list[dict]:
    """Budget subscribers: every email (direct, no confirmation needed) and the topic."""
    emails = [{"SubscriptionType": "EMAIL", "Address": e} for e in spend.emails]
    return [*emails, {"SubscriptionType": "SNS", "Address": topic_arn}]


def budget_request(spend: SpendSpec, budget: BudgetPlan, account_id: str, topic_arn: str) -> dict:
    """``budgets:CreateBudget`` parameters, notifications and subscribers included."""
    body: dict[str, Any] = {
        "BudgetName": budget.name,
        "BudgetLimit": {"Amount": money(budget.limit), "Unit": CURRENCY},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
    }
    if budget.linked_account:
        body["CostFilters"] = {"LinkedAccount": [budget.linked_account]}
    return {
        "AccountId": account_id,
        "Budget": body,
        "NotificationsWithSubscribers": [
            {"Notification": notification_request(n), "Subscribers": subscribers(spend, topic_arn)}
            for n in budget.notifications
        ],
    }


def money(amount: float) -> str:
    """A budget amount as AWS writes it."""
    return f"{amount:.2f}"


def amount(value: float) -> str:
    """A USD amount as plain decimal text, never in exponent form: ``100``, ``12.5``."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def alarm_request(alarm: AlarmPlan, topic_arn: str | None) -> dict:
    """``cloudwatch:PutMetricAlarm`` parameters; actions only for direct alarms."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "ActionsEnabled": True,
        "AlarmActions": [topic_arn] if alarm.direct and topic_arn else [],
        "Namespace": alarm.namespace,
        "MetricName": alarm.metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in alarm.dimensions],
        "Statistic": alarm.statistic,
        "Period": alarm.period,
        "EvaluationPeriods": 1,
        "Threshold": alarm.threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "Tags": _tags(),
    }


ANOMALY_FREQUENCY = "IMMEDIATE"  # the only frequency Cost Anomaly Detection sends to SNS
ANOMALY_IMPACT = "ANOMALY_TOTAL_IMPACT_ABSOLUTE"


def anomaly_monitor_request(anomaly: AnomalyPlan) -> dict:
    """``ce:CreateAnomalyMonitor``: an AWS services monitor (each service's spend apart)."""
    monitor = {
        "MonitorName": anomaly.monitor,
        "MonitorType": "DIMENSIONAL",
        "MonitorDimension": "SERVICE",
    }
    return {"AnomalyMonitor": monitor, "ResourceTags": _tags()}


def anomaly_subscription_request(anomaly: AnomalyPlan, monitor_arn: str, topic_arn: str) -> dict:
    """``ce:CreateAnomalySubscription``: each anomaly of the monitor whose total impact is at
    least the threshold goes, as it is detected, to the topic (and so to every address)."""
    expression = {
        "Dimensions": {
            "Key": ANOMALY_IMPACT,
            "MatchOptions": ["GREATER_THAN_OR_EQUAL"],
            "Values": [amount(anomaly.threshold)],
        }
    }
    subscription = {
        "SubscriptionName": anomaly.subscription,
        "MonitorArnList": [monitor_arn],
        "Subscribers": [{"Type": "SNS", "Address": topic_arn}],
        "Frequency": ANOMALY_FREQUENCY,
        "ThresholdExpression": expression,
    }
    return {"AnomalySubscription": subscription, "ResourceTags": _tags()}


def rule_arn(spend: SpendSpec, region: str, account_id: str, name: str) -> str:
    """ARN of an EventBridge rule on the default bus."""
    return f"arn:{spend.partition}:events:{region}:{account_id}:rule/{name}"


def bus_arn(spend: SpendSpec, region: str, account_id: str) -> str:
    """ARN of a region's default event bus."""
    return f"arn:{spend.partition}:events:{region}:{account_id}:event-bus/default"


def alarm_pattern(spend: SpendSpec, exclude_region: str | None = None) -> str:
    """Event pattern matching corral's spend alarms entering ALARM."""
    pattern: dict[str, Any] = {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "alarmName": [{"prefix": names(spend)["alarm_prefix"]}],
            "state": {"value": ["ALARM"]},
        },
    }
    if exclude_region:
        pattern["region"] = [{"anything-but": [exclude_region]}]
    return document_json(pattern)


def forward_rule_request(spend: SpendSpec) -> dict:
    """``events:PutRule`` in a region whose alarms are forwarded home."""
    return {
        "Name": names(spend)["forward_rule"],
        "Description": f"corral: forward spend alarms to {spend.region}, where the topic is.",
        "EventPattern": alarm_pattern(spend),
        "State": "ENABLED",
        "Tags": _tags(),
    }


def deliver_rule_request(spend: SpendSpec) -> dict:
    """``events:PutRule`` in the home region: forwarded alarms to the topic."""
    return {
        "Name": names(spend)["deliver_rule"],
        "Description": "corral: deliver spend alarms forwarded from other regions to the topic.",
        "EventPattern": alarm_pattern(spend, exclude_region=spend.region),
        "State": "ENABLED",
        "Tags": _tags(),
    }


def forward_role_trust(account_id: str) -> str:
    """Trust policy of the role EventBridge uses to forward events home."""
    return service_trust(SERVICE_EVENTS, account_id)


def forward_role_policy(spend: SpendSpec, account_id: str) -> str:
    """Least privilege for forwarding: PutEvents on the home default bus only."""
    return document_json(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CorralForwardSpendAlarms",
                    "Effect": "Allow",
                    "Action": "events:PutEvents",
                    "Resource": bus_arn(spend, spend.region, account_id),
                }
            ],
        }
    )


def service_trust(service: str, account_id: str) -> str:
    """Trust policy letting ``service`` assume a role on behalf of this account only."""
    return document_json(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                }
            ],
        }
    )
