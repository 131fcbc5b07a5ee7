"""The emulator path for spend detection: SpendGuardrails run under the emulator's mocks
(examples/emulator: spend_handlers turn each registered resource into its boto3 request), in
in-process moto, then read back by `corral verify`'s spend checks.

This is what `python -m examples.emulator.demo` does for the whole program, narrowed to the
spend component: every Spot, Fargate and Lambda alarm and the anomaly monitor and its
subscription go through the same handlers. moto has no anomaly API; the emulator's stand-in
(examples/emulator/anomaly_monitors.py) answers those calls, checked against botocore's model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pulumi
import pytest
from moto import mock_aws
from test_verify_support import SPEND, account_stack, load, serve_budget_subscribers

from components.spend import SpendGuardrails, SpendGuardrailsArgs
from corral.audit import checks
from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.checks._base import VerifyContext
from corral.audit.verify import run_check
from corral.build.plan import build_plan
from corral.spec import catalog, quotas
from examples.emulator import (
    anomaly_monitors,
    spend_handlers,  # noqa: F401 - registers the spend handlers
)
from examples.emulator.mocks import EmulatorMocks

ANOMALY = """\
  corral:anomalyDetection:
    enabled: true
    threshold: 250
"""
SPEND_CHECKS = ("budget-present", "alarms-present", "topic-subscriptions")


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    anomaly_monitors.install()
    with mock_aws():
        yield boto3.Session()


def apply_spend(spec, session: boto3.Session) -> tuple[dict[str, str], EmulatorMocks]:
    pulumi.runtime.reset_options(project="corral", stack="emulator", preview=False)
    mocks = EmulatorMocks(session=session, endpoint_url=None, default_region=spec.region)
    pulumi.runtime.set_mocks(mocks, project="corral", stack="emulator", preview=False)
    box: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        component = SpendGuardrails("spend", SpendGuardrailsArgs(spec.spend))
        return component.ids.apply(lambda ids: box.update(ids=ids))

    program()
    return box["ids"], mocks


def test_spend_detection_applies_on_the_emulator_and_verifies(moto, tmp_path: Path) -> None:
    spec = load(account_stack(tmp_path, extra=SPEND + ANOMALY))
    ids, mocks = apply_spend(spec, moto)
    made = Counter(c.type for c in mocks.created)
    regions = len(catalog.regions("aws"))
    per_region = len(quotas.vcpu_classes()) + len(quotas.spot_classes()) + 2 + 1
    assert made["aws:cloudwatch/metricAlarm:MetricAlarm"] == 1 + per_region * regions
    assert made["aws:costexplorer/anomalyMonitor:AnomalyMonitor"] == 1
    assert made["aws:costexplorer/anomalySubscription:AnomalySubscription"] == 1
    ce = moto.client("ce", region_name="us-east-1")
    [monitor] = ce.get_anomaly_monitors()["AnomalyMonitors"]
    assert ids["account/anomaly/corral-spend-anomalies"] == monitor["MonitorArn"]
    [subscription] = ce.get_anomaly_subscriptions()["AnomalySubscriptions"]
    assert subscription["ThresholdExpression"]["Dimensions"]["Values"] == ["250"]
    lam = moto.client("cloudwatch", region_name="sa-east-1").describe_alarms(
        AlarmNames=["corral-spend-lambda-sa-east-1"]
    )["MetricAlarms"]
    assert [(a["Namespace"], a["MetricName"], a["Dimensions"]) for a in lam] == [
        ("AWS/Lambda", "ConcurrentExecutions", [])
    ]
    conn = Connection(region=spec.region, max_attempts=2)
    serve_budget_subscribers(conn.events)
    ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account())
    found = [
        f
        for c in checks.REGISTRY
        if c.id in SPEND_CHECKS
        for f in run_check(c, ctx, ctx.account, None, conn.role_name)
    ]
    assert [f.message for f in found if f.status != F.PASS] == []
    [anomaly] = [f for f in found if f.resource == "anomaly monitor corral-spend-anomalies"]
    assert "every anomaly of at least 250 USD" in anomaly.message
