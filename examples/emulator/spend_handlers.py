"""Emulator handlers for the spend resources: topic, budgets, alarms, rules, roles, and the
Cost Explorer anomaly monitor and subscription.

Each handler turns the inputs the program registered into the boto3 request of
the same AWS API and sends it to the emulator. moto has no API for budget
actions: CreateBudgetAction is answered by the emulator's stand-in
(:class:`examples.emulator.server.BudgetActions`), which checks the request against
botocore's Budgets model and keeps the action for DescribeBudgetActionsForBudget. Nor has
it anomaly monitors: CreateAnomalyMonitor and CreateAnomalySubscription are answered by
:mod:`examples.emulator.anomaly_monitors`, checked against botocore's ``ce`` model.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi

from examples.emulator.mocks import EmulatorMocks, Site, _tags, handles

Args = pulumi.runtime.MockResourceArgs


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@handles("aws:sns/topic:Topic")
def _topic(mocks: EmulatorMocks, args: Args, site: Site):
    arn = mocks.client("sns", site).create_topic(Name=args.inputs["name"], Tags=_tags(args.inputs))
    return arn["TopicArn"], {"arn": arn["TopicArn"]}


@handles("aws:sns/topicPolicy:TopicPolicy")
def _topic_policy(mocks: EmulatorMocks, args: Args, site: Site):
    arn = args.inputs["arn"]
    mocks.client("sns", site).set_topic_attributes(
        TopicArn=arn, AttributeName="Policy", AttributeValue=_json(args.inputs["policy"])
    )
    return arn, {}


@handles("aws:sns/topicSubscription:TopicSubscription")
def _subscription(mocks: EmulatorMocks, args: Args, site: Site):
    answer = mocks.client("sns", site).subscribe(
        TopicArn=args.inputs["topic"],
        Protocol=args.inputs["protocol"],
        Endpoint=args.inputs["endpoint"],
        ReturnSubscriptionArn=True,
    )
    return answer["SubscriptionArn"], {"arn": answer["SubscriptionArn"]}


@handles("aws:budgets/budget:Budget")
def _budget(mocks: EmulatorMocks, args: Args, site: Site):
    i = args.inputs
    budget = {
        "BudgetName": i["name"],
        "BudgetType": i["budgetType"],
        "BudgetLimit": {"Amount": str(i["limitAmount"]), "Unit": i["limitUnit"]},
        "TimeUnit": i["timeUnit"],
    }
    if i.get("costFilters"):
        budget["CostFilters"] = {f["name"]: f["values"] for f in i["costFilters"]}
    notifications = []
    for n in i.get("notifications", []):
        emails = n.get("subscriberEmailAddresses", [])
        topics = n.get("subscriberSnsTopicArns", [])
        subscribers = [{"SubscriptionType": "EMAIL", "Address": a} for a in emails] + [
            {"SubscriptionType": "SNS", "Address": a} for a in topics
        ]
        notifications.append(
            {
                "Notification": {
                    "NotificationType": n["notificationType"],
                    "ComparisonOperator": n["comparisonOperator"],
                    "Threshold": float(n["threshold"]),
                    "ThresholdType": n["thresholdType"],
                },
                "Subscribers": subscribers,
            }
        )
    account = i["accountId"]
    mocks.client("budgets", site).create_budget(
        AccountId=account, Budget=budget, NotificationsWithSubscribers=notifications
    )
    arn = f"arn:aws:budgets::{account}:budget/{i['name']}"
    return f"{account}:{i['name']}", {"arn": arn}


@handles("aws:budgets/budgetAction:BudgetAction")
def _budget_action(mocks: EmulatorMocks, args: Args, site: Site):
    """CreateBudgetAction, answered by the emulator's stand-in (moto has no such API)."""
    i = args.inputs
    definition = i["definition"]
    if "scpActionDefinition" in definition:
        scp = definition["scpActionDefinition"]
        shaped = {
            "ScpActionDefinition": {"PolicyId": scp["policyId"], "TargetIds": scp["targetIds"]}
        }
    else:
        iam = definition["iamActionDefinition"]
        shaped = {
            "IamActionDefinition": {
                "PolicyArn": iam["policyArn"],
                **{k.capitalize(): iam[k] for k in ("groups", "users", "roles") if iam.get(k)},
            }
        }
    request = {
        "AccountId": i["accountId"],
        "BudgetName": i["budgetName"],
        "NotificationType": i["notificationType"],
        "ActionType": i["actionType"],
        "ActionThreshold": {
            "ActionThresholdValue": float(i["actionThreshold"]["actionThresholdValue"]),
            "ActionThresholdType": i["actionThreshold"]["actionThresholdType"],
        },
        "Definition": shaped,
        "ExecutionRoleArn": i["executionRoleArn"],
        "ApprovalModel": i["approvalModel"],
        "Subscribers": [
            {"SubscriptionType": s["subscriptionType"], "Address": s["address"]}
            for s in i["subscribers"]
        ],
    }
    action_id = mocks.client("budgets", site).create_budget_action(**request)["ActionId"]
    arn = f"arn:aws:budgets::{i['accountId']}:budget/{i['budgetName']}/action/{action_id}"
    return action_id, {"arn": arn, "actionId": action_id}


@handles("aws:cloudwatch/metricAlarm:MetricAlarm")
def _alarm(mocks: EmulatorMocks, args: Args, site: Site):
    i = args.inputs
    client = mocks.client("cloudwatch", site)
    client.put_metric_alarm(
        AlarmName=i["name"],
        AlarmDescription=i.get("alarmDescription", ""),
        ActionsEnabled=i.get("actionsEnabled", True),
        AlarmActions=i.get("alarmActions", []),
        Namespace=i["namespace"],
        MetricName=i["metricName"],
        Dimensions=[{"Name": k, "Value": v} for k, v in sorted(i.get("dimensions", {}).items())],
        Statistic=i["statistic"],
        Period=int(i["period"]),
        EvaluationPeriods=int(i["evaluationPeriods"]),
        Threshold=float(i["threshold"]),
        ComparisonOperator=i["comparisonOperator"],
        TreatMissingData=i.get("treatMissingData", "missing"),
        Tags=_tags(i),
    )
    arn = client.describe_alarms(AlarmNames=[i["name"]])["MetricAlarms"][0]["AlarmArn"]
    return i["name"], {"arn": arn}


@handles("aws:cloudwatch/eventRule:EventRule")
def _rule(mocks: EmulatorMocks, args: Args, site: Site):
    i = args.inputs
    arn = mocks.client("events", site).put_rule(
        Name=i["name"],
        Description=i.get("description", ""),
        EventPattern=_json(i["eventPattern"]),
        State=i.get("state", "ENABLED"),
        Tags=_tags(i),
    )["RuleArn"]
    return i["name"], {"arn": arn, "name": i["name"]}


@handles("aws:cloudwatch/eventTarget:EventTarget")
def _target(mocks: EmulatorMocks, args: Args, site: Site):
    i = args.inputs
    target = {"Id": "corral", "Arn": i["arn"]}
    if i.get("roleArn"):
        target["RoleArn"] = i["roleArn"]
    mocks.client("events", site).put_targets(Rule=i["rule"], Targets=[target])
    return f"{i['rule']}-corral", {}


@handles("aws:iam/role:Role")
def _role(mocks: EmulatorMocks, args: Args, site: Site):
    i = args.inputs
    role = mocks.client("iam", site).create_role(
        RoleName=i["name"],
        Path=i.get("path", "/"),
        AssumeRolePolicyDocument=_json(i["assumeRolePolicy"]),
        Tags=_tags(i),
    )["Role"]
    return role["RoleName"], {"arn": role["Arn"], "name": role["RoleName"]}


@handles("aws:iam/rolePolicy:RolePolicy")
def _role_policy(mocks: EmulatorMocks, args: Args, site: Site):
    i = args.inputs
    name = args.name
    mocks.client("iam", site).put_role_policy(
        RoleName=i["role"], PolicyName=name, PolicyDocument=_json(i["policy"])
    )
    return f"{i['role']}:{name}", {}


@handles("aws:costexplorer/anomalyMonitor:AnomalyMonitor")
def _anomaly_monitor(mocks: EmulatorMocks, args: Args, site: Site):
    """CreateAnomalyMonitor, answered by the emulator's stand-in (moto has no such API)."""
    i = args.inputs
    monitor = {"MonitorName": i["name"], "MonitorType": i["monitorType"]}
    if i.get("monitorDimension"):
        monitor["MonitorDimension"] = i["monitorDimension"]
    arn = mocks.client("ce", site).create_anomaly_monitor(
        AnomalyMonitor=monitor, ResourceTags=_tags(i)
    )["MonitorArn"]
    return arn, {"arn": arn}


@handles("aws:costexplorer/anomalySubscription:AnomalySubscription")
def _anomaly_subscription(mocks: EmulatorMocks, args: Args, site: Site):
    """CreateAnomalySubscription, answered by the emulator's stand-in."""
    i = args.inputs
    subscription = {
        "SubscriptionName": i["name"],
        "MonitorArnList": list(i["monitorArnLists"]),
        "Subscribers": [{"Type": s["type"], "Address": s["address"]} for s in i["subscribers"]],
        "Frequency": i["frequency"],
    }
    dimension = (i.get("thresholdExpression") or {}).get("dimension")
    if dimension:
        subscription["ThresholdExpression"] = {
            "Dimensions": {
                "Key": dimension["key"],
                "MatchOptions": list(dimension["matchOptions"]),
                "Values": list(dimension["values"]),
            }
        }
    arn = mocks.client("ce", site).create_anomaly_subscription(
        AnomalySubscription=subscription, ResourceTags=_tags(i)
    )["SubscriptionArn"]
    return arn, {"arn": arn}
