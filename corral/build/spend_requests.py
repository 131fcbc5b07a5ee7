"""The exact AWS request parameters (boto3 names) of each planned spend resource, the
circuit breaker's documents, and the manifest and render views."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from corral.spec import keys as K
from corral.spec.spend import (
    ACTUAL,
    CURRENCY,
    SERVICE_BUDGETS,
    SERVICE_CLOUDWATCH,
    SERVICE_EVENTS,
    Notification,
    SpendSpec,
    vcpu_classes,
)
from corral.build.spend_plan import (
    AlarmPlan,
    BreakerPlan,
    BudgetPlan,
    SitePlan,
    names,
    plan,
)

# --------------------------------------------------------------------------- requests (boto3 names)


def _json(document: dict) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _tags() -> list[dict[str, str]]:
    return [{"Key": K.MANAGED_TAG, "Value": "true"}]


def topic_request(site: SitePlan) -> dict:
    """``sns:CreateTopic`` parameters for the site's alert topic."""
    return {"Name": site.topic, "Tags": _tags()}


def topic_policy(spend: SpendSpec, site: SitePlan, topic_arn: str, account_id: str) -> str:
    """Topic policy: only Budgets, CloudWatch and corral's delivery rule of this account publish."""
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
    return _json({"Version": "2012-10-17", "Id": f"{site.topic}-policy", "Statement": statements})


def _publish(sid: str, service: str, topic_arn: str, account_id: str, source: str) -> dict:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "SNS:Publish",
        "Resource": topic_arn,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": source},
        },
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
    return _json(pattern)


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
    return _service_trust(SERVICE_EVENTS, account_id)


def forward_role_policy(spend: SpendSpec, account_id: str) -> str:
    """Least privilege for forwarding: PutEvents on the home default bus only."""
    return _json(
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


def _service_trust(service: str, account_id: str) -> str:
    return _json(
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


# --------------------------------------------------------------------------- circuit breaker

BREAKER_ACTIONS = (
    "autoscaling:CreateAutoScalingGroup",
    "autoscaling:SetDesiredCapacity",
    "autoscaling:UpdateAutoScalingGroup",
    "ec2:CreateFleet",
    "ec2:RequestSpotFleet",
    "ec2:RequestSpotInstances",
    "ec2:RunInstances",
    "ec2:StartInstances",
)


def deny_launch_policy(spend: SpendSpec) -> str:
    """The document the circuit breaker applies: no new EC2 capacity, break-glass exempt."""
    statement: dict[str, Any] = {
        "Sid": "CorralCircuitBreakerDenyLaunch",
        "Effect": "Deny",
        "Action": list(BREAKER_ACTIONS),
        "Resource": "*",
    }
    if spend.exempt_principals:
        statement["Condition"] = {"ArnNotLike": {"aws:PrincipalARN": list(spend.exempt_principals)}}
    return _json({"Version": "2012-10-17", "Statement": [statement]})


def breaker_role_trust(account_id: str) -> str:
    """Trust policy of the budget action's execution role."""
    return _service_trust(SERVICE_BUDGETS, account_id)


def breaker_role_policy(spend: SpendSpec, breaker: BreakerPlan, policy_ref: str) -> str:
    """Least privilege for the budget action: attach/detach this one policy to its targets.

    ``policy_ref`` is the deny policy's ARN (both kinds).
    """
    p = spend.partition
    if breaker.kind == "scp":
        accounts = [f"arn:{p}:organizations::*:account/o-*/{a}" for a in breaker.targets]
        statement = {
            "Sid": "CorralApplyCircuitBreaker",
            "Effect": "Allow",
            "Action": ["organizations:AttachPolicy", "organizations:DetachPolicy"],
            "Resource": [policy_ref, *accounts],
        }
    else:
        kinds = (("groups", "group", "Group"), ("users", "user", "User"), ("roles", "role", "Role"))
        resources, actions = [], []
        for key, arn_kind, verb in kinds:
            named = spend.principals.get(key, ())
            if named:
                actions += [f"iam:Attach{verb}Policy", f"iam:Detach{verb}Policy"]
                resources += [f"arn:{p}:iam::*:{arn_kind}/{n}" for n in named]
        statement = {
            "Sid": "CorralApplyCircuitBreaker",
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": resources,
            "Condition": {"ArnEquals": {"iam:PolicyArn": policy_ref}},
        }
    return _json({"Version": "2012-10-17", "Statement": [statement]})


def breaker_request(
    spend: SpendSpec,
    breaker: BreakerPlan,
    *,
    account_id: str,
    role_arn: str,
    policy_ref: str,
    topic_arn: str,
) -> dict:
    """``budgets:CreateBudgetAction`` parameters (``policy_ref``: SCP id or IAM policy ARN)."""
    if breaker.kind == "scp":
        definition = {
            "ScpActionDefinition": {"PolicyId": policy_ref, "TargetIds": list(breaker.targets)}
        }
        action_type = "APPLY_SCP_POLICY"
    else:
        iam: dict[str, Any] = {"PolicyArn": policy_ref}
        for key, field_name in (("groups", "Groups"), ("users", "Users"), ("roles", "Roles")):
            if spend.principals.get(key):
                iam[field_name] = list(spend.principals[key])
        definition = {"IamActionDefinition": iam}
        action_type = "APPLY_IAM_POLICY"
    return {
        "AccountId": account_id,
        "BudgetName": breaker.budget,
        "NotificationType": ACTUAL,
        "ActionType": action_type,
        "ActionThreshold": {
            "ActionThresholdValue": breaker.threshold,
            "ActionThresholdType": "PERCENTAGE",
        },
        "Definition": definition,
        "ExecutionRoleArn": role_arn,
        "ApprovalModel": breaker.approval,
        "Subscribers": subscribers(spend, topic_arn),
    }


# --------------------------------------------------------------------------- manifest and render


def manifest_entries(spend: SpendSpec, ids: Mapping[str, str] | None = None) -> dict:
    """The manifest's ``spend`` section: every topic, budget, alarm, rule and breaker.

    ``ids`` maps ``"<site>/<group>/<name>"`` (rules: ``.../<name>@<region>``) to the
    ARNs AWS assigned, as :class:`components.spend.SpendGuardrails` exports them.
    """
    ids = ids or {}

    def entry(site: SitePlan, group: str, name: str, **extra: Any) -> dict:
        ref = f"{site.key}/{group}/{name}"
        if group == "rule":
            ref += f"@{extra['region']}"
        record = {"site": site.key, "accountId": site.account_id, "name": name, **extra}
        return {**record, **({"id": ids[ref]} if ref in ids else {})}

    sites = plan(spend)
    n = names(spend)
    return {
        "enabled": spend.enabled,
        "sites": [{"key": s.key, "accountId": s.account_id, "roleArn": s.role_arn} for s in sites],
        "topics": [entry(s, "topic", s.topic, region=s.home) for s in sites],
        "budgets": [
            entry(
                s,
                "budget",
                b.name,
                limit=money(b.limit),
                linkedAccount=b.linked_account,
                notifications=[notification_request(x) for x in b.notifications],
            )
            for s in sites
            for b in s.budgets
        ],
        "alarms": [
            entry(
                s,
                "alarm",
                a.name,
                region=a.region,
                kind=a.kind,
                namespace=a.namespace,
                metric=a.metric,
                dimensions=dict(a.dimensions),
                threshold=a.threshold,
                direct=a.direct,
            )
            for s in sites
            for a in s.alarms
        ],
        "forwarding": [
            entry(s, "rule", n["forward_rule"], region=r) for s in sites for r in s.forward_regions
        ]
        + [entry(s, "rule", n["deliver_rule"], region=s.home) for s in sites if s.forward_regions],
        "circuitBreakers": [
            entry(
                s,
                "breaker",
                b.budget,
                kind=b.kind,
                targets=list(b.targets),
                threshold=b.threshold,
                approval=b.approval,
                policy=n["breaker_policy"],
            )
            for s in sites
            for b in s.breakers
        ],
    }


def render(spend: SpendSpec) -> dict:
    """A JSON-ready view for ``corral render``: the manifest entries plus the fixed documents."""
    view = manifest_entries(spend)
    view["vcpuClasses"] = [f"{c}/OnDemand" for c in vcpu_classes()]
    view["regions"] = list(spend.regions) if spend.enabled else []
    if spend.enabled and spend.breaker:
        view["circuitBreakerPolicy"] = json.loads(deny_launch_policy(spend))
    return view
