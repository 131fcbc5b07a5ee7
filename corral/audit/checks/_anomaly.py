"""The opt-in Cost Explorer anomaly monitor of a site, and how it differs from the plan.

Part of ``budget-present`` (the spend detector that watches money rather than capacity):
when ``corral:anomalyDetection`` is on, the monitor must exist as
:func:`corral.build.spend_requests.anomaly_monitor_request` builds it, with its subscription
sending every anomaly of at least the threshold to the site's topic, as it is detected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corral.audit.checks import _spend
from corral.audit.checks._base import CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.build import spend_plan, spend_requests

ACTIONS = ("ce:GetAnomalyMonitors", "ce:GetAnomalySubscriptions")


def findings(ctx: VerifyContext, site: _spend.Site, meta: CheckMetadata) -> list[Finding]:
    """One finding for the site's anomaly monitor (none when anomaly detection is off)."""
    anomaly, a = site.plan.anomaly, site.account
    if anomaly is None:
        return []
    resource, label = (
        f"anomaly monitor {anomaly.monitor}",
        f"Cost anomaly monitor {anomaly.monitor}",
    )
    monitors = site.read(ctx, "ce", "GetAnomalyMonitors").get("AnomalyMonitors", [])
    monitor = next((m for m in monitors if m.get("MonitorName") == anomaly.monitor), None)
    if monitor is None:
        message = (
            f"{label} is missing in account {a}, so no anomaly is reported; {_spend.REDEPLOY}."
        )
        return [failed(meta, a, None, resource, message)]
    want = spend_requests.anomaly_monitor_request(anomaly)["AnomalyMonitor"]
    changes = [
        f"its {key} is {monitor.get(key)!r} instead of {value!r}"
        for key, value in want.items()
        if monitor.get(key) != value
    ]
    arn = monitor["MonitorArn"]
    listed = site.read(ctx, "ce", "GetAnomalySubscriptions", MonitorArn=arn)
    subscriptions = listed.get("AnomalySubscriptions", [])
    found = next(
        (s for s in subscriptions if s.get("SubscriptionName") == anomaly.subscription), None
    )
    if found is None:
        changes.append(
            f"it has no subscription {anomaly.subscription}, so its anomalies reach no one"
        )
    else:
        changes += _subscription_changes(anomaly, arn, site.topic_arn, found)
    if changes:
        message = (f"{label} in account {a} differs from the spec: {'; '.join(changes)}; "
                   f"{_spend.RESTORE}.")  # fmt: skip
        return [failed(meta, a, None, resource, message)]
    message = (f"{label} in account {a} watches each service's spend and sends every anomaly "
               f"of at least {spend_requests.amount(anomaly.threshold)} USD to topic "
               f"{site.topic_arn} as it is detected.")  # fmt: skip
    return [passed(meta, a, None, resource, message)]


def _subscription_changes(
    anomaly: spend_plan.AnomalyPlan, monitor: str, topic: str, have: Mapping[str, Any]
) -> list[str]:
    """How subscription ``have`` differs from what the builder requests."""
    want = spend_requests.anomaly_subscription_request(anomaly, monitor, topic)
    want = want["AnomalySubscription"]
    name = anomaly.subscription
    changes = []
    if have.get("Frequency") != want["Frequency"]:
        changes.append(f"subscription {name} sends {have.get('Frequency')} instead of "
                       f"{want['Frequency']}")  # fmt: skip
    subscriber = next(
        (
            s
            for s in have.get("Subscribers", [])
            if (s.get("Type"), s.get("Address")) == ("SNS", topic)
        ),
        None,
    )
    if subscriber is None:
        changes.append(f"subscription {name} does not notify topic {topic}")
    elif subscriber.get("Status", "CONFIRMED") != "CONFIRMED":
        changes.append(f"subscription {name}'s topic {topic} is {subscriber['Status']}")
    if _threshold(have) != _threshold(want):
        shown = _threshold(have) or "no threshold"
        changes.append(f"subscription {name} alerts at {shown} instead of {_threshold(want)}")
    return changes


def _threshold(subscription: Mapping[str, Any]) -> str | None:
    """The subscription's absolute-impact threshold as corral writes it, numerically compared
    (``100.0`` and ``100`` are the same); None for any other expression."""
    dimension = (subscription.get("ThresholdExpression") or {}).get("Dimensions") or {}
    values = dimension.get("Values") or []
    if (
        dimension.get("Key") != spend_requests.ANOMALY_IMPACT
        or dimension.get("MatchOptions") != ["GREATER_THAN_OR_EQUAL"]
        or len(values) != 1
    ):
        return None
    try:
        return f"{spend_requests.amount(float(values[0]))} USD"
    except ValueError:
        return None
