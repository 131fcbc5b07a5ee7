"""Which spend resources exist in which account ("site") and region: :func:`plan`.

Every account gets, in every region of the partition, an alarm per kind of capacity the
spec watches: EC2 On-Demand and Spot vCPUs per quota class, Fargate On-Demand and Spot
vCPUs, and Lambda concurrency; the deploying account also gets the billing alarms and,
when ``corral:anomalyDetection`` is on, a Cost Explorer anomaly monitor.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.spec import keys as K
from corral.spec.quotas import (
    EC2_SERVICE,
    FARGATE_CLASS,
    FARGATE_SERVICE,
    LAMBDA_METRIC,
    LAMBDA_NAMESPACE,
    ON_DEMAND,
    SPOT,
    USAGE_METRIC,
    USAGE_NAMESPACE,
    usage_dimensions,
)
from corral.spec.spend import (
    BILLING_PERIOD,
    BILLING_REGION,
    CURRENCY,
    MANAGEMENT,
    MEMBER,
    Notification,
    SpendSpec,
)

# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class BudgetPlan:
    """One monthly cost budget."""

    name: str
    limit: float
    linked_account: str | None  # cost filter, when created from the management account
    notifications: tuple[Notification, ...]


@dataclass(frozen=True)
class AlarmPlan:
    """One CloudWatch alarm; ``direct`` alarms notify the topic, others are forwarded."""

    name: str
    kind: str  # "billing", "vcpu" (EC2 On-Demand), "spot" (EC2 Spot), "fargate" or "lambda"
    region: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int
    threshold: float
    description: str
    direct: bool

    @property
    def label(self) -> str:
        """What the alarm is, for messages: ``vCPU alarm``, ``Spot vCPU alarm``, ..."""
        return ALARM_LABELS[self.kind]


ALARM_LABELS = {
    K.BILLING: "Billing alarm",
    K.VCPU: "vCPU alarm",
    K.SPOT_ALARMS: "Spot vCPU alarm",
    K.FARGATE: "Fargate vCPU alarm",
    K.LAMBDA: "Lambda concurrency alarm",
}


@dataclass(frozen=True)
class AnomalyPlan:
    """A Cost Explorer anomaly monitor of every service's spend, and its subscription that
    publishes anomalies of at least ``threshold`` USD total impact to the site's topic."""

    monitor: str
    subscription: str
    threshold: float


@dataclass(frozen=True)
class BreakerPlan:
    """The budget action that applies the deny-launch policy to ``targets``."""

    budget: str
    kind: str  # "scp" (targets are account ids) or "iam"
    targets: tuple[str, ...]
    threshold: float
    approval: str


@dataclass(frozen=True)
class SitePlan:
    """Everything deployed in one account: ``account_id`` None is the deploying account."""

    key: str
    account_id: str | None
    role_arn: str | None
    home: str
    topic: str
    budgets: tuple[BudgetPlan, ...]
    alarms: tuple[AlarmPlan, ...]
    breakers: tuple[BreakerPlan, ...]
    anomaly: AnomalyPlan | None = None
    trip: bool = False  # trigger: alarm: the fast breaker's rule and state machine live here
    relay: bool = False  # trigger: alarm, organization: relays alarm events to the management

    @property
    def forward_regions(self) -> tuple[str, ...]:
        """Regions whose alarms reach the topic through EventBridge forwarding."""
        return tuple(sorted({a.region for a in self.alarms if not a.direct}))

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region this site deploys into (home first)."""
        others = sorted({a.region for a in self.alarms} - {self.home})
        return (self.home, *others)


def names(spend: SpendSpec) -> dict[str, str]:
    """Names of the per-account resources, from the name prefix."""
    p = spend.name_prefix
    return {
        "topic": f"{p}-spend-alerts",
        "forward_rule": f"{p}-spend-forward",
        "deliver_rule": f"{p}-spend-deliver",
        "forward_role": f"{p}-spend-forwarder",
        "breaker_role": f"{p}-circuit-breaker",
        "breaker_policy": f"{p}-circuit-breaker",
        "trip_rule": f"{p}-spend-breaker",  # trigger: alarm (corral.build.breaker_trip)
        "trip_machine": f"{p}-circuit-breaker",
        "trip_role": f"{p}-circuit-breaker-trip",
        "trip_start_role": f"{p}-circuit-breaker-start",
        "relay_rule": f"{p}-spend-relay",  # organization: member alarms to the management bus
        "relay_role": f"{p}-spend-relay",
        "alarm_prefix": f"{p}-spend-",
        "anomaly_monitor": f"{p}-spend-anomalies",
        "anomaly_subscription": f"{p}-spend-anomaly-alerts",
    }


def service_roles(spend: SpendSpec | None) -> frozenset[str]:
    """Names of the IAM roles spend detection deploys (assumable only by AWS services)."""
    if spend is None or not spend.enabled:
        return frozenset()
    n = names(spend)
    roles = {n["forward_role"]}
    if spend.breaker:
        roles.add(n["breaker_role"])
    if spend.fast_breaker:
        roles |= {n["trip_role"], n["trip_start_role"]}
    if spend.fast_breaker and spend.mode == K.ORGANIZATION:
        roles.add(n["relay_role"])
    return frozenset(roles)


def deployed_policies(spend: SpendSpec | None) -> frozenset[str]:
    """Names of the policies spend detection deploys beside the guardrails."""
    if spend is None or not spend.enabled or not spend.breaker:
        return frozenset()
    return frozenset({names(spend)["breaker_policy"]})


def plan(spend: SpendSpec) -> tuple[SitePlan, ...]:
    """Every site (account) with its budgets, alarms and circuit breakers."""
    if not spend.enabled:
        return ()
    if spend.mode == K.ACCOUNT:
        budget = _budget(spend, f"{spend.name_prefix}-monthly", spend.limit, None)
        breakers = (_breaker_plan(spend, budget, "iam", ()),) if budget and spend.breaker else ()
        alarms = _billing_alarms(spend, [(f"{spend.name_prefix}-spend-billing", None)])
        return (_site(spend, "account", None, budgets=[budget], alarms=alarms, breakers=breakers,
                      anomaly=_anomaly(spend), trip=spend.fast_breaker),)  # fmt: skip
    return (_management_site(spend), *(_member_site(spend, a) for a in spend.account_ids))


def _site(spend, key, account_id, *, budgets, alarms, breakers, anomaly=None, trip=False,
          relay=False) -> SitePlan:  # fmt: skip
    role = None
    if account_id is not None:
        role = f"arn:{spend.partition}:iam::{account_id}:role/{spend.member_role}"
    alarms = tuple(alarms) + _capacity_alarms(spend, account_id)
    return SitePlan(
        key=key,
        account_id=account_id,
        role_arn=role,
        home=spend.region,
        topic=names(spend)["topic"],
        budgets=tuple(b for b in (budgets or ()) if b),
        alarms=alarms,
        breakers=tuple(breakers),
        anomaly=anomaly,
        trip=trip,
        relay=relay,
    )


def _management_site(spend: SpendSpec) -> SitePlan:
    p = spend.name_prefix
    budgets = [_budget(spend, f"{p}-organization", spend.org_limit, None)]
    breakers = []
    if spend.deployment == MANAGEMENT:
        for account in spend.account_ids:
            budget = _budget(spend, f"{p}-{account}", spend.limit, account)
            budgets.append(budget)
            if budget and spend.breaker:
                breakers.append(_breaker_plan(spend, budget, "scp", (account,)))
    billing = [(f"{p}-spend-billing", None)]
    billing += [(f"{p}-spend-billing-{a}", a) for a in spend.account_ids]
    alarms = _billing_alarms(spend, billing)
    return _site(spend, MANAGEMENT, None, budgets=budgets, alarms=alarms, breakers=breakers,
                 anomaly=_anomaly(spend), trip=spend.fast_breaker)  # fmt: skip


def member_site(spend: SpendSpec, account: str) -> SitePlan:
    """A member account's site: what an account target gets through the assumed role, and
    what corral's StackSet deploys to every account below a targeted root or OU
    (:mod:`corral.build.stackset`; ``account`` may be the template's account token)."""
    return _member_site(spend, account)


def _member_site(spend: SpendSpec, account: str) -> SitePlan:
    budgets = []
    if spend.deployment == MEMBER:
        budgets.append(_budget(spend, f"{spend.name_prefix}-monthly", spend.limit, None))
    return _site(spend, account, account, budgets=budgets, alarms=(), breakers=(),
                 relay=spend.fast_breaker)  # fmt: skip


def _budget(spend, name, limit, linked) -> BudgetPlan | None:
    if not spend.budgets:
        return None
    return BudgetPlan(name, limit, linked, spend.notifications)


def _anomaly(spend: SpendSpec) -> AnomalyPlan | None:
    if not spend.anomaly:
        return None
    n = names(spend)
    return AnomalyPlan(n["anomaly_monitor"], n["anomaly_subscription"], spend.anomaly_threshold)


def _breaker_plan(spend, budget, kind, targets) -> BreakerPlan:
    return BreakerPlan(budget.name, kind, targets, spend.breaker_threshold, spend.breaker_approval)


def _billing_alarms(spend: SpendSpec, entries) -> tuple[AlarmPlan, ...]:
    if not spend.billing:
        return ()
    alarms = []
    for name, linked in entries:
        if linked is None:
            threshold = spend.billing_threshold or (
                spend.org_limit if spend.mode == K.ORGANIZATION else spend.limit
            )
            scope = "the organization" if spend.mode == K.ORGANIZATION else "this account"
        else:
            threshold, scope = spend.billing_threshold or spend.limit, f"account {linked}"
        dims = [("Currency", CURRENCY)] + ([("LinkedAccount", linked)] if linked else [])
        description = (
            f"corral: estimated charges of {scope} this month passed {threshold:g} {CURRENCY}; "
            "check the Billing console for unexpected usage."
        )
        alarms.append(
            AlarmPlan(
                name, K.BILLING, BILLING_REGION, "AWS/Billing", "EstimatedCharges", tuple(dims),
                "Maximum", BILLING_PERIOD, threshold, description, spend.region == BILLING_REGION,
            )
        )  # fmt: skip
    return tuple(alarms)


@dataclass(frozen=True)
class _Watch:
    """One kind of capacity alarm, repeated in every region (``{region}`` in ``text``)."""

    kind: str
    suffix: str  # of the alarm name, after the region; empty for Lambda
    threshold: int
    period: int
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    text: str


def _ec2(kind: str, cls: str, threshold: int, period: int, market: str) -> _Watch:
    what = "On-Demand" if market == ON_DEMAND else "Spot"
    text = (f"running {what} {cls} instances in {{region}} use more than {threshold} vCPUs; "
            "find and stop any instance nobody launched.")  # fmt: skip
    dims = usage_dimensions(EC2_SERVICE, cls, market)
    return _Watch(kind, cls.lower(), threshold, period, USAGE_NAMESPACE, USAGE_METRIC, dims, text)


def _fargate(market: str, threshold: int, period: int) -> _Watch:
    what = "On-Demand" if market == ON_DEMAND else "Spot"
    text = (f"running Fargate {what} tasks and pods in {{region}} use more than {threshold} "
            "vCPUs; find and stop any task nobody started.")  # fmt: skip
    dims = usage_dimensions(FARGATE_SERVICE, FARGATE_CLASS, market)
    return _Watch(K.FARGATE, market.lower(), threshold, period, USAGE_NAMESPACE, USAGE_METRIC,
                  dims, text)  # fmt: skip


def _watches(spend: SpendSpec, account_id: str | None) -> list[_Watch]:
    """The capacity alarm kinds the spec enables: On-Demand and Spot classes, Fargate
    On-Demand and Spot, Lambda concurrency."""
    found = []
    if spend.vcpu:
        found += [
            _ec2(K.VCPU, c, t, spend.vcpu_period, ON_DEMAND) for c, t in spend.vcpu_thresholds
        ]
    if spend.spot:
        found += [
            _ec2(K.SPOT_ALARMS, c, t, spend.spot_period, SPOT)
            for c, t in spend.spot_thresholds_for(account_id)
        ]
    if spend.fargate:
        found += [_fargate(m, t, spend.fargate_period) for m, t in spend.fargate_thresholds]
    if spend.lambda_alarms:
        t = spend.lambda_threshold
        text = (f"Lambda functions in {{region}} run more than {t} concurrent executions; "
                "find and remove any function nobody deployed.")  # fmt: skip
        found.append(_Watch(K.LAMBDA, "", t, spend.lambda_period, LAMBDA_NAMESPACE, LAMBDA_METRIC,
                            (), text))  # fmt: skip
    return found


def _capacity_alarms(spend: SpendSpec, account_id: str | None) -> tuple[AlarmPlan, ...]:
    """Every region's capacity alarms, region by region; home-region alarms are direct."""
    return tuple(a for region in spend.regions for a in region_alarms(spend, account_id, region))


def region_alarms(spend: SpendSpec, account_id: str | None, region: str) -> tuple[AlarmPlan, ...]:
    """One region's capacity alarms (``region`` may be a CloudFormation token such as
    ``${AWS::Region}``); they are direct in the home region."""
    return tuple(
        AlarmPlan(
            "-".join(filter(None, (f"{spend.name_prefix}-spend-{w.kind}", region, w.suffix))),
            w.kind, region, w.namespace, w.metric, w.dimensions, "Maximum", w.period,
            float(w.threshold), "corral: " + w.text.format(region=region),
            region == spend.region,
        )
        for w in _watches(spend, account_id)
    )  # fmt: skip
