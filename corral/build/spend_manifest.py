"""The spend section of the manifest, and the spend view ``corral render`` prints."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from corral.build.spend_breaker import deny_launch_policy
from corral.build.spend_plan import SitePlan, names, plan
from corral.build.spend_requests import (
    ANOMALY_FREQUENCY,
    amount,
    money,
    notification_request,
)
from corral.spec.quotas import (
    FARGATE_CLASS,
    FARGATE_KINDS,
    LAMBDA_METRIC,
    LAMBDA_NAMESPACE,
    ON_DEMAND,
    SPOT,
    spot_classes,
    vcpu_classes,
)
from corral.spec.spend import SpendSpec


def manifest_entries(spend: SpendSpec, ids: Mapping[str, str] | None = None) -> dict:
    """The manifest's ``spend`` section: every topic, budget, alarm, rule, breaker and
    anomaly monitor.

    ``ids`` maps ``"<site>/<group>/<name>"`` (rules: ``.../<name>@<region>``) to the
    ARNs AWS assigned, as :class:`components.spend.SpendGuardrails` exports them; an anomaly
    monitor's subscription is ``"<site>/anomaly-subscription/<name>"``.
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
        "anomalyDetection": [
            entry(
                s,
                "anomaly",
                s.anomaly.monitor,
                monitorType="DIMENSIONAL",
                monitorDimension="SERVICE",
                subscription=s.anomaly.subscription,
                threshold=amount(s.anomaly.threshold),
                frequency=ANOMALY_FREQUENCY,
                **_subscription_id(ids, s),
            )
            for s in sites
            if s.anomaly
        ],
    }


def _subscription_id(ids: Mapping[str, str], site: SitePlan) -> dict:
    ref = f"{site.key}/anomaly-subscription/{site.anomaly.subscription}"
    return {"subscriptionId": ids[ref]} if ref in ids else {}


def render(spend: SpendSpec) -> dict:
    """A JSON-ready view for ``corral render``: the manifest entries plus the fixed documents."""
    view = manifest_entries(spend)
    view["vcpuClasses"] = [f"{c}/{ON_DEMAND}" for c in vcpu_classes()]
    view["spotClasses"] = [f"{c}/{SPOT}" for c in spot_classes()]
    view["fargateClasses"] = [f"{FARGATE_CLASS}/{k}" for k in FARGATE_KINDS]
    view["lambdaMetric"] = f"{LAMBDA_NAMESPACE} {LAMBDA_METRIC}"
    view["regions"] = list(spend.regions) if spend.enabled else []
    if spend.enabled and spend.breaker:
        view["circuitBreakerPolicy"] = json.loads(deny_launch_policy(spend))
    return view
