"""`corral verify` sees the Spot, Fargate and Lambda alarms (alarms-present compares with the
builders, so it follows the plan) and the opt-in anomaly monitor (part of budget-present),
against in-process moto.

The resources are created with boto3 from corral.build.spend_requests, as the program's
requests, then tampered with. moto implements no Cost Explorer anomaly API: the monitor and
its subscription live in the emulator's stand-in (examples/emulator/anomaly_monitors.py),
which checks every request and answer against botocore's ``ce`` model.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws
from test_verify_support import (
    SPEND,
    account_stack,
    client,
    deploy_account,
    deploy_spend,
    load,
    make_account_principals,
    serve_budget_subscribers,
)

from corral.audit import checks
from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.checks._base import VerifyContext
from corral.audit.verify import run_check
from corral.build import spend_plan, spend_requests
from corral.build.plan import build_plan
from corral.cli.verify import required_policy
from examples.emulator import anomaly_monitors

HOME = "us-east-1"
ANOMALY = """\
  corral:anomalyDetection:
    enabled: true
    threshold: 100
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A standalone account with every spend resource (757 alarms) and the anomaly monitor
    deployed once per module; each test that tampers restores what it changed."""
    anomaly_monitors.install()
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        make_account_principals()
        spec = load(account_stack(tmp_path_factory.mktemp("detectors"), extra=SPEND + ANOMALY))
        deploy_account(spec)
        spent = deploy_spend(spec)
        [site] = spend_plan.plan(spec.spend)
        ce = client("ce")
        monitor = ce.create_anomaly_monitor(**spend_requests.anomaly_monitor_request(site.anomaly))
        request = spend_requests.anomaly_subscription_request(
            site.anomaly, monitor["MonitorArn"], spent["topic"]
        )
        subscription = ce.create_anomaly_subscription(**request)["SubscriptionArn"]
        yield {"spec": spec, "site": site, "monitor": monitor["MonitorArn"],
               "subscription": subscription, **spent}  # fmt: skip


def run(spec, *only: str, conn: Connection | None = None) -> list[F.Finding]:
    conn = conn or Connection(region=spec.region, max_attempts=2)
    serve_budget_subscribers(conn.events)
    ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account())
    chosen = [c for c in checks.REGISTRY if c.id in only]
    return [f for c in chosen for f in run_check(c, ctx, ctx.account, None, conn.role_name)]


def bad(found: list[F.Finding]) -> list[F.Finding]:
    return [f for f in found if f.status != F.PASS]


def _request(deployed: dict, name: str) -> dict:
    [alarm] = [a for a in deployed["site"].alarms if a.name == name]
    return spend_requests.alarm_request(alarm, deployed["topic"])


# --------------------------------------------------------------------------- alarms-present


def test_alarms_present_passes_with_every_kind_in_every_region(deployed: dict) -> None:
    found = run(deployed["spec"], "alarms-present")
    assert bad(found) == []
    [home] = [f for f in found if f.region == HOME]
    assert home.message == (
        f"All 22 spend alarms of account {deployed['account']} in us-east-1 are present and "
        f"notify topic {deployed['topic']}."  # 21 capacity alarms and the billing alarm
    )


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("corral-spend-spot-ap-south-1-standard", "Spot vCPU alarm"),
        ("corral-spend-fargate-ap-south-1-spot", "Fargate vCPU alarm"),
        ("corral-spend-lambda-ap-south-1", "Lambda concurrency alarm"),
    ],
)
def test_alarms_present_fails_when_a_new_kind_is_deleted(deployed, name, label) -> None:
    cloudwatch = client("cloudwatch", region="ap-south-1")
    cloudwatch.delete_alarms(AlarmNames=[name])
    try:
        [missing] = bad(run(deployed["spec"], "alarms-present"))
    finally:
        cloudwatch.put_metric_alarm(**_request(deployed, name))
    assert (missing.status, missing.region, missing.resource) == (
        F.FAIL, "ap-south-1", f"alarm {name}"
    )  # fmt: skip
    assert missing.message == (
        f"{label} {name} is missing in account {deployed['account']} ap-south-1; run "
        "`pulumi up --refresh` to recreate it."
    )


def test_alarms_present_fails_when_the_lambda_threshold_is_raised(deployed: dict) -> None:
    name = "corral-spend-lambda-us-east-1"
    cloudwatch = client("cloudwatch", region=HOME)
    cloudwatch.put_metric_alarm(**{**_request(deployed, name), "Threshold": 1000.0})
    try:
        [raised] = bad(run(deployed["spec"], "alarms-present"))
    finally:
        cloudwatch.put_metric_alarm(**_request(deployed, name))
    assert raised.message == (
        f"Lambda concurrency alarm {name} in account {deployed['account']} us-east-1 differs "
        "from the spec: its Threshold is 1000.0 instead of 0.0; run `pulumi up --refresh` to "
        "restore it."
    )


def test_alarms_present_fails_when_a_spot_alarm_watches_another_class(deployed: dict) -> None:
    name = "corral-spend-spot-us-east-1-g"
    request = _request(deployed, name)
    dims = [{**d, "Value": "G/OnDemand"} if d["Name"] == "Class" else d
            for d in request["Dimensions"]]  # fmt: skip
    cloudwatch = client("cloudwatch", region=HOME)
    cloudwatch.put_metric_alarm(**{**request, "Dimensions": dims})
    try:
        [moved] = bad(run(deployed["spec"], "alarms-present"))
    finally:
        cloudwatch.put_metric_alarm(**request)
    assert "its dimensions are [('Class', 'G/OnDemand')" in moved.message
    assert moved.message.startswith(f"Spot vCPU alarm {name} in account ")


# --------------------------------------------------------------------------- anomaly monitor


def _anomaly(found: list[F.Finding]) -> list[F.Finding]:
    return [f for f in found if f.resource == "anomaly monitor corral-spend-anomalies"]


def test_budget_present_passes_with_the_anomaly_monitor(deployed: dict) -> None:
    found = run(deployed["spec"], "budget-present")
    assert bad(found) == []
    [monitor] = _anomaly(found)
    assert (monitor.status, monitor.region) == (F.PASS, None)
    assert monitor.message == (
        f"Cost anomaly monitor corral-spend-anomalies in account {deployed['account']} watches "
        "each service's spend and sends every anomaly of at least 100 USD to topic "
        f"{deployed['topic']} as it is detected."
    )


def test_budget_present_fails_when_the_anomaly_threshold_is_raised(deployed: dict) -> None:
    ce = client("ce")
    dimension = {"Key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
                 "MatchOptions": ["GREATER_THAN_OR_EQUAL"], "Values": ["5000"]}  # fmt: skip
    expression = {"Dimensions": dimension}
    ce.update_anomaly_subscription(
        SubscriptionArn=deployed["subscription"], ThresholdExpression=expression
    )
    try:
        [raised] = _anomaly(bad(run(deployed["spec"], "budget-present")))
    finally:
        original = spend_requests.anomaly_subscription_request(
            deployed["site"].anomaly, deployed["monitor"], deployed["topic"]
        )["AnomalySubscription"]["ThresholdExpression"]
        ce.update_anomaly_subscription(
            SubscriptionArn=deployed["subscription"], ThresholdExpression=original
        )
    assert raised.message == (
        f"Cost anomaly monitor corral-spend-anomalies in account {deployed['account']} differs "
        "from the spec: subscription corral-spend-anomaly-alerts alerts at 5000 USD instead of "
        "100 USD; run `pulumi up --refresh` to restore it."
    )


def test_budget_present_fails_when_anomalies_go_to_another_topic(deployed: dict) -> None:
    ce, elsewhere = client("ce"), "arn:aws:sns:us-east-1:999999999999:somebody-else"
    ce.update_anomaly_subscription(
        SubscriptionArn=deployed["subscription"],
        Subscribers=[{"Type": "SNS", "Address": elsewhere}],
    )
    try:
        [moved] = _anomaly(bad(run(deployed["spec"], "budget-present")))
    finally:
        ce.update_anomaly_subscription(
            SubscriptionArn=deployed["subscription"],
            Subscribers=[{"Type": "SNS", "Address": deployed["topic"]}],
        )
    assert moved.message.endswith(
        f"differs from the spec: subscription corral-spend-anomaly-alerts does not notify topic "
        f"{deployed['topic']}; run `pulumi up --refresh` to restore it."
    )


def test_budget_present_fails_when_the_subscription_or_monitor_is_deleted(deployed: dict) -> None:
    ce, account = client("ce"), deployed["account"]
    request = spend_requests.anomaly_subscription_request(
        deployed["site"].anomaly, deployed["monitor"], deployed["topic"]
    )
    ce.delete_anomaly_subscription(SubscriptionArn=deployed["subscription"])
    try:
        [unsubscribed] = _anomaly(bad(run(deployed["spec"], "budget-present")))
        ce.delete_anomaly_monitor(MonitorArn=deployed["monitor"])
        [missing] = _anomaly(bad(run(deployed["spec"], "budget-present")))
    finally:
        monitor = spend_requests.anomaly_monitor_request(deployed["site"].anomaly)
        if not ce.get_anomaly_monitors()["AnomalyMonitors"]:
            deployed["monitor"] = ce.create_anomaly_monitor(**monitor)["MonitorArn"]
            request["AnomalySubscription"]["MonitorArnList"] = [deployed["monitor"]]
        deployed["subscription"] = ce.create_anomaly_subscription(**request)["SubscriptionArn"]
    assert unsubscribed.message == (
        f"Cost anomaly monitor corral-spend-anomalies in account {account} differs from the "
        "spec: it has no subscription corral-spend-anomaly-alerts, so its anomalies reach no "
        "one; run `pulumi up --refresh` to restore it."
    )
    assert missing.message == (
        f"Cost anomaly monitor corral-spend-anomalies is missing in account {account}, so no "
        "anomaly is reported; run `pulumi up --refresh` to recreate it."
    )
    assert _anomaly(bad(run(deployed["spec"], "budget-present"))) == []


def test_budget_present_reads_no_cost_explorer_when_anomaly_detection_is_off(
    deployed: dict, tmp_path
) -> None:
    spec = load(account_stack(tmp_path, extra=SPEND))
    assert spec.spend.anomaly is False
    conn = Connection(region=HOME, max_attempts=2)
    found = run(spec, "budget-present", conn=conn)
    assert _anomaly(found) == []
    assert not [c for c in conn.calls if c.startswith("ce:")]


def test_budget_present_declares_the_cost_explorer_reads() -> None:
    [check] = [c for c in checks.REGISTRY if c.id == "budget-present"]
    assert {"ce:GetAnomalyMonitors", "ce:GetAnomalySubscriptions"} <= set(check.metadata.actions)
    reads = set(required_policy()["Statement"][0]["Action"])
    assert {"ce:GetAnomalyMonitors", "ce:GetAnomalySubscriptions"} <= reads
