"""The requests corral.build.spend_requests and spend_breaker build are valid AWS API calls:
created in moto, read back.

boto3 validates every parameter against botocore's service model before a call
leaves the client, so each call below is also a model check. Moto implements
no AWS Budgets subscriber or budget-action API (CreateSubscriber,
DescribeSubscribersForNotification, CreateBudgetAction): those requests are
checked with botocore's ParamValidator against the operation's input shape. Nor does it
implement Cost Explorer anomaly monitors: those round-trip through the emulator's stand-in
(examples/emulator/anomaly_monitors.py), which checks each request and answer against
botocore's ``ce`` model and stores nothing moto would not reset.
"""

from __future__ import annotations

import inspect
import json

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator
from moto import mock_aws
from moto.ce import responses as moto_ce

from corral.build import spend_breaker, spend_plan, spend_requests
from corral.spec import catalog
from corral.spec import spend as spend_spec
from examples.emulator import anomaly_monitors

EMAILS = ["ops@example.com", "finance@example.com"]
HOOK = "https://hooks.example.com/aws"
HOME = "eu-west-1"


@pytest.fixture
def aws(monkeypatch):
    # botocore knows regions newer than moto's list; let moto serve every one of them.
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    with mock_aws():
        yield boto3.session.Session()


def account_spend() -> spend_spec.SpendSpec:
    return spend_spec.parse(
        {
            "notifications": {"emails": EMAILS, "https": [HOOK]},
            "budgets": {"limit": 200},
            "circuitBreaker": {"enabled": True},
        },
        mode="account", partition="aws", region=HOME, account_ids=(),
        exempt_principals=["arn:aws:iam::*:role/corral-break-glass"],
        principals={"groups": ["developers"], "users": [], "roles": ["Admin"]},
    )  # fmt: skip


def validate(service: str, operation: str, params: dict) -> None:
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()


def create_topic(aws, spend, site, account):
    sns = aws.client("sns", region_name=site.home)
    arn = sns.create_topic(**spend_requests.topic_request(site))["TopicArn"]
    policy = spend_requests.topic_policy(spend, site, arn, account)
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=policy)
    for request in spend_requests.subscription_requests(spend, arn):
        sns.subscribe(**request)
    return sns, arn, policy


def test_topic_policy_and_subscriptions_round_trip(aws):
    spend = account_spend()
    [site] = spend_plan.plan(spend)
    account = aws.client("sts", region_name=HOME).get_caller_identity()["Account"]
    sns, arn, policy = create_topic(aws, spend, site, account)
    assert arn == f"arn:aws:sns:{HOME}:{account}:corral-spend-alerts"
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert json.loads(attributes["Policy"]) == json.loads(policy)
    subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subs) == sorted(
        [("email", e) for e in EMAILS] + [("https", HOOK)]
    )
    tags = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
    assert tags == [{"Key": "corral:managed", "Value": "true"}]


def test_budget_and_notifications_round_trip(aws):
    spend = account_spend()
    [site] = spend_plan.plan(spend)
    account = aws.client("sts", region_name=HOME).get_caller_identity()["Account"]
    _, topic, _ = create_topic(aws, spend, site, account)
    budgets = aws.client("budgets", region_name="us-east-1")
    [budget] = site.budgets
    request = spend_requests.budget_request(spend, budget, account, topic)
    budgets.create_budget(**request)
    stored = budgets.describe_budget(AccountId=account, BudgetName=budget.name)["Budget"]
    assert stored["BudgetName"] == "corral-monthly"
    assert float(stored["BudgetLimit"]["Amount"]) == 200.0
    assert stored["BudgetLimit"]["Unit"] == "USD"
    assert (stored["TimeUnit"], stored["BudgetType"]) == ("MONTHLY", "COST")
    notes = budgets.describe_notifications_for_budget(AccountId=account, BudgetName=budget.name)
    expected = [n["Notification"] for n in request["NotificationsWithSubscribers"]]
    assert sorted(notes["Notifications"], key=repr) == sorted(expected, key=repr)
    # Moto has no subscriber API: check each notification's subscribers against the model.
    for item in request["NotificationsWithSubscribers"]:
        for subscriber in item["Subscribers"]:
            validate("budgets", "CreateSubscriber", {
                "AccountId": account, "BudgetName": budget.name,
                "Notification": item["Notification"], "Subscriber": subscriber,
            })  # fmt: skip
        assert len(item["Subscribers"]) == len(EMAILS) + 1


def test_linked_account_budget_round_trip(aws):
    values = {"notifications": {"emails": EMAILS}, "budgets": {"deployment": "management"}}
    spend = spend_spec.parse(values, mode="organization", partition="aws", region="us-east-1",
                    account_ids=["111111111111"])  # fmt: skip
    management = spend_plan.plan(spend)[0]
    account = aws.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    _, topic, _ = create_topic(aws, spend, management, account)
    budgets = aws.client("budgets", region_name="us-east-1")
    for budget in management.budgets:
        budgets.create_budget(**spend_requests.budget_request(spend, budget, account, topic))
    stored = budgets.describe_budgets(AccountId=account)["Budgets"]
    by_name = {b["BudgetName"]: b for b in stored}
    assert sorted(by_name) == ["corral-111111111111", "corral-organization"]
    assert by_name["corral-111111111111"]["CostFilters"] == {"LinkedAccount": ["111111111111"]}


def test_every_alarm_round_trips_in_its_region(aws):
    spend = account_spend()
    [site] = spend_plan.plan(spend)
    account = aws.client("sts", region_name=HOME).get_caller_identity()["Account"]
    _, topic, _ = create_topic(aws, spend, site, account)
    by_region: dict[str, list[dict]] = {}
    for alarm in site.alarms:
        by_region.setdefault(alarm.region, []).append(spend_requests.alarm_request(alarm, topic))
    assert sorted(by_region) == sorted(catalog.regions("aws"))
    for region, requests in by_region.items():
        cloudwatch = aws.client("cloudwatch", region_name=region)
        for request in requests:
            cloudwatch.put_metric_alarm(**request)
        stored = cloudwatch.describe_alarms(AlarmNamePrefix="corral-spend-")["MetricAlarms"]
        assert len(stored) == len(requests)
        wanted = {r["AlarmName"]: r for r in requests}
        for alarm in stored:
            request = wanted[alarm["AlarmName"]]
            for name in ("Namespace", "MetricName", "Statistic", "Period", "Threshold",
                         "ComparisonOperator", "TreatMissingData", "AlarmActions",
                         "EvaluationPeriods", "AlarmDescription"):  # fmt: skip
                assert alarm[name] == request[name], (alarm["AlarmName"], name)
            assert sorted(alarm["Dimensions"], key=repr) == sorted(request["Dimensions"], key=repr)
    home = aws.client("cloudwatch", region_name=HOME).describe_alarms()["MetricAlarms"]
    assert {tuple(a["AlarmActions"]) for a in home} == {(topic,)}
    billing = aws.client("cloudwatch", region_name="us-east-1").describe_alarms(
        AlarmNames=["corral-spend-billing"]
    )["MetricAlarms"]
    assert billing[0]["Dimensions"] == [{"Name": "Currency", "Value": "USD"}]
    assert billing[0]["AlarmActions"] == []


def test_forwarding_rules_targets_and_role_round_trip(aws):
    spend = account_spend()
    [site] = spend_plan.plan(spend)
    account = aws.client("sts", region_name=HOME).get_caller_identity()["Account"]
    _, topic, _ = create_topic(aws, spend, site, account)
    iam = aws.client("iam", region_name="us-east-1")
    names = spend_plan.names(spend)
    role = iam.create_role(
        RoleName=names["forward_role"], Path="/corral/",
        AssumeRolePolicyDocument=spend_requests.forward_role_trust(account),
    )["Role"]  # fmt: skip
    iam.put_role_policy(
        RoleName=names["forward_role"], PolicyName="forward",
        PolicyDocument=spend_requests.forward_role_policy(spend, account),
    )  # fmt: skip
    for region in site.forward_regions[:3]:
        events = aws.client("events", region_name=region)
        request = spend_requests.forward_rule_request(spend)
        events.put_rule(**request)
        bus = spend_requests.bus_arn(spend, HOME, account)
        events.put_targets(
            Rule=request["Name"], Targets=[{"Id": "home", "Arn": bus, "RoleArn": role["Arn"]}]
        )
        stored = events.describe_rule(Name=request["Name"])
        assert json.loads(stored["EventPattern"]) == json.loads(request["EventPattern"])
        [target] = events.list_targets_by_rule(Rule=request["Name"])["Targets"]
        assert target["Arn"] == bus
    events = aws.client("events", region_name=HOME)
    deliver = spend_requests.deliver_rule_request(spend)
    arn = events.put_rule(**deliver)["RuleArn"]
    assert arn == spend_requests.rule_arn(spend, HOME, account, names["deliver_rule"])
    events.put_targets(Rule=deliver["Name"], Targets=[{"Id": "topic", "Arn": topic}])
    assert events.list_targets_by_rule(Rule=deliver["Name"])["Targets"][0]["Arn"] == topic


def test_circuit_breaker_policy_role_and_action(aws):
    spend = account_spend()
    [site] = spend_plan.plan(spend)
    account = aws.client("sts", region_name=HOME).get_caller_identity()["Account"]
    _, topic, _ = create_topic(aws, spend, site, account)
    iam = aws.client("iam", region_name="us-east-1")
    names = spend_plan.names(spend)
    deny = iam.create_policy(
        PolicyName=names["breaker_policy"], Path="/corral/",
        PolicyDocument=spend_breaker.deny_launch_policy(spend),
    )["Policy"]  # fmt: skip
    role = iam.create_role(
        RoleName=names["breaker_role"], Path="/corral/",
        AssumeRolePolicyDocument=spend_breaker.breaker_role_trust(account),
    )["Role"]  # fmt: skip
    [breaker] = site.breakers
    grant = spend_breaker.breaker_role_policy(spend, breaker, deny["Arn"])
    iam.put_role_policy(RoleName=names["breaker_role"], PolicyName="apply", PolicyDocument=grant)
    stored = iam.get_role_policy(RoleName=names["breaker_role"], PolicyName="apply")
    assert stored["PolicyDocument"] == json.loads(grant)
    version = iam.get_policy_version(PolicyArn=deny["Arn"], VersionId=deny["DefaultVersionId"])
    assert version["PolicyVersion"]["Document"] == json.loads(
        spend_breaker.deny_launch_policy(spend)
    )
    # Moto has no budget-action API: check the request against CreateBudgetAction's model.
    request = spend_breaker.breaker_request(
        spend, breaker, account_id=account, role_arn=role["Arn"], policy_ref=deny["Arn"],
        topic_arn=topic,
    )  # fmt: skip
    validate("budgets", "CreateBudgetAction", request)
    assert request["Definition"]["IamActionDefinition"] == {
        "PolicyArn": deny["Arn"], "Groups": ["developers"], "Roles": ["Admin"]
    }  # fmt: skip


def test_scp_circuit_breaker_request_is_valid():
    values = {
        "notifications": {"emails": EMAILS},
        "budgets": {"deployment": "management"},
        "circuitBreaker": {"enabled": True, "approval": "manual"},
    }
    spend = spend_spec.parse(values, mode="organization", partition="aws", region="us-east-1",
                    account_ids=["111111111111"])  # fmt: skip
    [breaker] = spend_plan.plan(spend)[0].breakers
    request = spend_breaker.breaker_request(
        spend, breaker, account_id="999999999999",
        role_arn="arn:aws:iam::999999999999:role/corral/corral-circuit-breaker",
        policy_ref="p-abcd1234", topic_arn="arn:aws:sns:us-east-1:999999999999:corral-spend-alerts",
    )  # fmt: skip
    validate("budgets", "CreateBudgetAction", request)
    assert request["ActionType"] == "APPLY_SCP_POLICY"
    assert request["Definition"] == {
        "ScpActionDefinition": {"PolicyId": "p-abcd1234", "TargetIds": ["111111111111"]}
    }
    with pytest.raises(AssertionError):
        validate("budgets", "CreateBudgetAction", {**request, "ApprovalModel": 7})


def test_every_kind_of_capacity_alarm_is_stored_in_every_region(aws):
    spend = account_spend()
    [site] = spend_plan.plan(spend)
    for region in ("eu-west-1", "sa-east-1"):
        cloudwatch = aws.client("cloudwatch", region_name=region)
        for alarm in (a for a in site.alarms if a.region == region):
            cloudwatch.put_metric_alarm(**spend_requests.alarm_request(alarm, None))
        stored = cloudwatch.describe_alarms(AlarmNamePrefix="corral-spend-")["MetricAlarms"]
        watched = sorted(
            (a["Namespace"], a["MetricName"], tuple(sorted((d["Name"], d["Value"])
                                                          for d in a["Dimensions"])))
            for a in stored
        )  # fmt: skip
        g_spot = (("Class", "G/Spot"), ("Resource", "vCPU"), ("Service", "EC2"),
                  ("Type", "Resource"))  # fmt: skip
        assert [w for w in watched if ("Class", "G/Spot") in w[2]] == [
            ("AWS/Usage", "ResourceCount", g_spot)
        ]
        fargate = [w for w in watched if ("Service", "Fargate") in w[2]]
        assert [dict(w[2])["Class"] for w in fargate] == ["Standard/OnDemand", "Standard/Spot"]
        assert ("AWS/Lambda", "ConcurrentExecutions", ()) in watched
        assert len(stored) == 21 + (region == "us-east-1")


def test_moto_implements_no_anomaly_monitor_api():
    """Why the anomaly requests below go through the emulator's stand-in."""
    source = inspect.getsource(moto_ce)
    assert "def create_anomaly_monitor" not in source
    assert "def get_anomaly_subscriptions" not in source


def test_anomaly_monitor_and_subscription_round_trip(aws):
    anomaly_monitors.install()
    spend = spend_spec.parse(
        {"notifications": {"emails": EMAILS}, "anomalyDetection": {"enabled": True}},
        mode="account", partition="aws", region=HOME, account_ids=(),
    )  # fmt: skip
    [site] = spend_plan.plan(spend)
    account = aws.client("sts", region_name=HOME).get_caller_identity()["Account"]
    _, topic, policy = create_topic(aws, spend, site, account)
    publishers = {s["Principal"]["Service"] for s in json.loads(policy)["Statement"]}
    assert "costalerts.amazonaws.com" in publishers
    ce = aws.client("ce", region_name=HOME)
    monitor_request = spend_requests.anomaly_monitor_request(site.anomaly)
    arn = ce.create_anomaly_monitor(**monitor_request)["MonitorArn"]
    assert arn.startswith(f"arn:aws:ce::{account}:anomalymonitor/")
    request = spend_requests.anomaly_subscription_request(site.anomaly, arn, topic)
    subscription = ce.create_anomaly_subscription(**request)["SubscriptionArn"]
    [monitor] = ce.get_anomaly_monitors()["AnomalyMonitors"]
    assert {k: monitor[k] for k in monitor_request["AnomalyMonitor"]} == (
        monitor_request["AnomalyMonitor"]
    )
    [stored] = ce.get_anomaly_subscriptions(MonitorArn=arn)["AnomalySubscriptions"]
    assert stored["SubscriptionArn"] == subscription
    for key, value in request["AnomalySubscription"].items():
        if key != "Subscribers":
            assert stored[key] == value, key
    assert [(s["Type"], s["Address"]) for s in stored["Subscribers"]] == [("SNS", topic)]
    tags = ce.list_tags_for_resource(ResourceArn=arn)["ResourceTags"]
    assert tags == [{"Key": "corral:managed", "Value": "true"}]
    # AWS allows one AWS services monitor per account; a second is refused.
    with pytest.raises(ce.exceptions.LimitExceededException):
        ce.create_anomaly_monitor(**monitor_request)
