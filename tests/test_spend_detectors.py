"""The detectors beyond EC2 On-Demand: Spot, Fargate and Lambda alarms in every region, and the
opt-in Cost Anomaly Detection. Their keys and defaults (corral.spec.spend_detectors), how the
stack config reaches them (corral.spec.load), the plan, the request builders and the manifest.
The requests are checked against botocore's models here; tests/test_spend_moto.py creates them
in moto."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from corral.build import spend_manifest, spend_plan, spend_requests
from corral.spec import catalog, quotas
from corral.spec import spend as spend_spec
from corral.spec.load import from_config

EMAIL = {"emails": ["ops@example.com"]}
MEMBERS = ("111111111111", "222222222222")
TOPIC = "arn:aws:sns:eu-west-1:999999999999:corral-spend-alerts"
REGIONS = catalog.regions("aws")


def parse(values, mode="account", accounts=(), **extra) -> spend_spec.SpendSpec:
    return spend_spec.parse(
        {"notifications": EMAIL, **values}, mode=mode, partition="aws", region="eu-west-1",
        account_ids=accounts, **extra,
    )  # fmt: skip


def validate(service: str, operation: str, params: dict) -> None:
    shape = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(params, shape.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def kinds(site: spend_plan.SitePlan, region: str) -> dict[str, spend_plan.AlarmPlan]:
    return {a.name: a for a in site.alarms if a.region == region}


# --------------------------------------------------------------------------- classes and metrics


def test_spot_classes_are_the_eight_spot_quotas():
    """AWS's Spot quotas: DL, F, G and VT, Inf, P, Standard, Trn, X; HPC and High Memory
    instances are On-Demand only."""
    assert quotas.spot_classes() == ("DL", "F", "G", "Inf", "P", "Standard", "Trn", "X")
    assert set(quotas.vcpu_classes()) - set(quotas.spot_classes()) == {"HPC", "HighMem"}


def test_usage_dimensions_are_those_aws_publishes():
    assert dict(quotas.usage_dimensions("EC2", "G", "Spot")) == {
        "Service": "EC2", "Type": "Resource", "Resource": "vCPU", "Class": "G/Spot"
    }  # fmt: skip
    assert dict(quotas.usage_dimensions("Fargate", "Standard", "OnDemand")) == {
        "Service": "Fargate", "Type": "Resource", "Resource": "vCPU", "Class": "Standard/OnDemand"
    }  # fmt: skip


# --------------------------------------------------------------------------- defaults


def test_spot_defaults_follow_instances_spot():
    denied = parse({"alarms": {"vcpu": {"thresholds": {"G": 8}}}})
    assert dict(denied.spot_thresholds_for(None)) == dict.fromkeys(quotas.spot_classes(), 0)
    allowed = parse({"alarms": {"vcpu": {"thresholds": {"G": 8}}}}, spot_allowed=True)
    assert dict(allowed.spot_thresholds_for(None)) == {
        "DL": 0, "F": 0, "G": 8, "Inf": 0, "P": 0, "Standard": 64, "Trn": 0, "X": 0
    }  # fmt: skip


def test_spot_thresholds_set_in_the_spec_win_over_the_defaults():
    spend = parse({"alarms": {"spot": {"thresholds": {"Standard": 4}}}}, spot_allowed=True)
    assert dict(spend.spot_thresholds_for(None))["Standard"] == 4
    assert dict(spend.spot_thresholds_for(None))["G"] == 0


def test_an_account_targets_own_spot_rule_decides_its_spot_defaults():
    spend = parse({}, mode="organization", accounts=MEMBERS,
                  spot_overrides={MEMBERS[0]: True})  # fmt: skip
    management, spot_ok, spot_denied = spend_plan.plan(spend)
    assert dict(spend.spot_thresholds_for(MEMBERS[0]))["Standard"] == 64
    threshold = {s.key: kinds(s, "eu-west-1") for s in (management, spot_ok, spot_denied)}
    name = "corral-spend-spot-eu-west-1-standard"
    assert threshold[MEMBERS[0]][name].threshold == 64.0
    assert threshold[MEMBERS[1]][name].threshold == 0.0
    assert threshold["management"][name].threshold == 0.0


@pytest.mark.parametrize(
    ("allowed", "fargate", "concurrency"),
    [
        ((), {"OnDemand": 0, "Spot": 0}, 0),
        (("eks",), {"OnDemand": 64, "Spot": 0}, 0),  # EKS runs no Fargate Spot
        (("ecs",), {"OnDemand": 64, "Spot": 64}, 0),
        (("batch", "lambda"), {"OnDemand": 64, "Spot": 64}, 100),
    ],
)
def test_fargate_and_lambda_defaults_follow_compute_allow(allowed, fargate, concurrency):
    spend = parse({}, compute_allowed=("ec2", *allowed))
    assert dict(spend.fargate_thresholds) == fargate
    assert spend.lambda_threshold == concurrency


def test_fargate_and_lambda_thresholds_set_in_the_spec():
    values = {"fargate": {"thresholds": {"Spot": 8}, "period": 600},
              "lambda": {"threshold": 50, "period": 60}}  # fmt: skip
    spend = parse({"alarms": values}, compute_allowed=("ec2", "ecs"))
    assert spend.fargate_thresholds == (("OnDemand", 64), ("Spot", 8))
    assert (spend.fargate_period, spend.lambda_threshold, spend.lambda_period) == (600, 50, 60)


def test_the_stack_config_reaches_the_defaults():
    config = {
        "aws:region": "us-east-1",
        "corral:mode": "organization",
        "corral:allowedRegions": ["us-east-1"],
        "corral:exemptPrincipals": [
            "arn:aws:iam::*:role/bg", "arn:aws:iam::*:role/OrganizationAccountAccessRole",
            "arn:aws:iam::*:role/stacksets-exec-*",
        ],
        "corral:instances": {"allow": ["t3.*"]},
        "corral:compute": {"allow": ["ecs", "lambda"]},
        "corral:targets": [
            {"id": "r-abcd", "name": "root", "guardrails": ["regions"]},
            {"id": MEMBERS[0], "name": "batch", "guardrails": ["instances"],
             "instances": {"allow": ["c7i.*"], "spot": True}},
            {"id": MEMBERS[1], "name": "web", "guardrails": ["instances"]},
        ],
        "corral:notifications": EMAIL,
    }  # fmt: skip
    spend = from_config(config).spend
    assert (spend.spot_allowed, spend.spot_overrides) == (False, ((MEMBERS[0], True),))
    assert spend.fargate_thresholds == (("OnDemand", 64), ("Spot", 64))
    assert spend.lambda_threshold == 100
    assert dict(spend.spot_thresholds_for(MEMBERS[0]))["Standard"] == 64
    assert dict(spend.spot_thresholds_for(MEMBERS[1]))["Standard"] == 0


# --------------------------------------------------------------------------- plan


def test_every_region_has_21_capacity_alarms():
    [site] = spend_plan.plan(parse({}))
    for region in REGIONS:
        counts = {}
        for alarm in site.alarms:
            if alarm.region == region and alarm.kind != "billing":
                counts[alarm.kind] = counts.get(alarm.kind, 0) + 1
        assert counts == {"vcpu": 10, "spot": 8, "fargate": 2, "lambda": 1}, region
    assert len(site.alarms) == 1 + 21 * len(REGIONS)


def test_spot_fargate_and_lambda_alarms_watch_what_aws_publishes():
    [site] = spend_plan.plan(parse({}))
    home, other = kinds(site, "eu-west-1"), kinds(site, "ap-south-1")
    spot = home["corral-spend-spot-eu-west-1-g"]
    assert (spot.kind, spot.namespace, spot.metric, spot.statistic) == (
        "spot", "AWS/Usage", "ResourceCount", "Maximum"
    )  # fmt: skip
    assert dict(spot.dimensions) == {
        "Class": "G/Spot", "Resource": "vCPU", "Service": "EC2", "Type": "Resource"
    }  # fmt: skip
    assert spot.description == (
        "corral: running Spot G instances in eu-west-1 use more than 0 vCPUs; find and stop "
        "any instance nobody launched."
    )
    fargate = home["corral-spend-fargate-eu-west-1-spot"]
    assert dict(fargate.dimensions) == {
        "Class": "Standard/Spot", "Resource": "vCPU", "Service": "Fargate", "Type": "Resource"
    }  # fmt: skip
    assert fargate.description == (
        "corral: running Fargate Spot tasks and pods in eu-west-1 use more than 0 vCPUs; find "
        "and stop any task nobody started."
    )
    assert dict(home["corral-spend-fargate-eu-west-1-ondemand"].dimensions)["Class"] == (
        "Standard/OnDemand"
    )
    lam = other["corral-spend-lambda-ap-south-1"]
    assert (lam.namespace, lam.metric, lam.dimensions, lam.threshold) == (
        "AWS/Lambda", "ConcurrentExecutions", (), 0.0
    )  # fmt: skip
    assert lam.description == (
        "corral: Lambda functions in ap-south-1 run more than 0 concurrent executions; find "
        "and remove any function nobody deployed."
    )
    # The forwarding design: home-region alarms notify the topic, the others are forwarded.
    assert {a.direct for a in home.values()} == {True}
    assert {a.direct for a in other.values()} == {False}
    assert all(a.name.startswith("corral-spend-") for a in site.alarms)
    labels = {a.kind: a.label for a in site.alarms}
    assert labels == {
        "billing": "Billing alarm", "vcpu": "vCPU alarm", "spot": "Spot vCPU alarm",
        "fargate": "Fargate vCPU alarm", "lambda": "Lambda concurrency alarm",
    }  # fmt: skip


def test_each_kind_can_be_turned_off():
    off = {"enabled": False}
    [site] = spend_plan.plan(parse({"alarms": {"spot": off, "lambda": off}}))
    assert {a.kind for a in site.alarms} == {"billing", "vcpu", "fargate"}


def test_anomaly_detection_is_off_by_default_and_planned_where_the_budgets_are():
    assert spend_plan.plan(parse({}))[0].anomaly is None
    sites = spend_plan.plan(
        parse({"anomalyDetection": {"enabled": True}}, mode="organization", accounts=MEMBERS)
    )
    assert [s.anomaly is not None for s in sites] == [True, False, False]
    assert sites[0].key == "management"


# --------------------------------------------------------------------------- requests


def test_every_new_alarm_request_is_valid_for_cloudwatch():
    [site] = spend_plan.plan(parse({}))
    for alarm in site.alarms:
        if alarm.region in ("eu-west-1", "ap-south-1"):
            validate("cloudwatch", "PutMetricAlarm", spend_requests.alarm_request(alarm, TOPIC))


def test_anomaly_monitor_and_subscription_requests():
    spend = parse({"anomalyDetection": {"enabled": True, "threshold": 250.5}})
    [site] = spend_plan.plan(spend)
    monitor = spend_requests.anomaly_monitor_request(site.anomaly)
    assert monitor == {
        "AnomalyMonitor": {
            "MonitorName": "corral-spend-anomalies",
            "MonitorType": "DIMENSIONAL",
            "MonitorDimension": "SERVICE",
        },
        "ResourceTags": [{"Key": "corral:managed", "Value": "true"}],
    }
    validate("ce", "CreateAnomalyMonitor", monitor)
    arn = "arn:aws:ce::999999999999:anomalymonitor/0f2a"
    subscription = spend_requests.anomaly_subscription_request(site.anomaly, arn, TOPIC)
    assert subscription["AnomalySubscription"] == {
        "SubscriptionName": "corral-spend-anomaly-alerts",
        "MonitorArnList": [arn],
        "Subscribers": [{"Type": "SNS", "Address": TOPIC}],
        "Frequency": "IMMEDIATE",
        "ThresholdExpression": {
            "Dimensions": {
                "Key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
                "MatchOptions": ["GREATER_THAN_OR_EQUAL"],
                "Values": ["250.5"],
            }
        },
    }
    validate("ce", "CreateAnomalySubscription", subscription)


@pytest.mark.parametrize(
    ("value", "text"), [(100.0, "100"), (12.5, "12.5"), (0.01, "0.01"), (1e9, "1000000000")]
)
def test_amounts_are_plain_decimal_text(value, text):
    assert spend_requests.amount(value) == text


def test_topic_policy_lets_cost_anomaly_detection_publish_only_when_on():
    account = "999999999999"
    for on in (False, True):
        spend = parse({"anomalyDetection": {"enabled": on}})
        [site] = spend_plan.plan(spend)
        document = json.loads(spend_requests.topic_policy(spend, site, TOPIC, account))
        by_sid = {s["Sid"]: s for s in document["Statement"]}
        assert ("CorralCostAnomalyPublish" in by_sid) is on
    assert by_sid["CorralCostAnomalyPublish"] == {
        "Sid": "CorralCostAnomalyPublish",
        "Effect": "Allow",
        "Principal": {"Service": "costalerts.amazonaws.com"},
        "Action": "SNS:Publish",
        "Resource": TOPIC,
        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
    }


# --------------------------------------------------------------------------- manifest and render


def test_manifest_and_render_show_the_new_detectors():
    spend = parse({"anomalyDetection": {"enabled": True, "threshold": 40}})
    ids = {
        "account/anomaly/corral-spend-anomalies": "arn:aws:ce::9:anomalymonitor/m",
        "account/anomaly-subscription/corral-spend-anomaly-alerts": "arn:aws:ce::9:sub/s",
    }
    manifest = spend_manifest.manifest_entries(spend, ids)
    assert manifest["anomalyDetection"] == [
        {"site": "account", "accountId": None, "name": "corral-spend-anomalies",
         "monitorType": "DIMENSIONAL", "monitorDimension": "SERVICE",
         "subscription": "corral-spend-anomaly-alerts", "threshold": "40",
         "frequency": "IMMEDIATE", "id": "arn:aws:ce::9:anomalymonitor/m",
         "subscriptionId": "arn:aws:ce::9:sub/s"}
    ]  # fmt: skip
    kinds_seen = {a["kind"] for a in manifest["alarms"]}
    assert kinds_seen == {"billing", "vcpu", "spot", "fargate", "lambda"}
    view = spend_manifest.render(spend)
    assert view["spotClasses"] == [f"{c}/Spot" for c in quotas.spot_classes()]
    assert view["fargateClasses"] == ["Standard/OnDemand", "Standard/Spot"]
    assert view["lambdaMetric"] == "AWS/Lambda ConcurrentExecutions"
    assert spend_manifest.manifest_entries(parse({}))["anomalyDetection"] == []
    json.dumps(view)
