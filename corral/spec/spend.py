"""The spend keys of the spec: values, limits, the validated :class:`SpendSpec` and :func:`parse`.

The key names are in :mod:`corral.spec.keys`; the vCPU quota classes the alarms watch are in
:mod:`corral.spec.quotas`; the Spot, Fargate and Lambda alarm keys and Cost Anomaly Detection
are read by :mod:`corral.spec.spend_detectors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.quotas import spot_classes, vcpu_classes
from corral.spec.readers import (
    SpecError,
    as_bool,
    as_mapping,
    choice,
    decode,
    key_path,
    positive,
    reject_unknown,
)
from corral.spec.spend_detectors import (
    DEFAULT_ANOMALY_THRESHOLD,
    DEFAULT_PERIOD,
    anomaly_detection,
    capacity_alarms,
    counts,
    enabled,
    period,
    section,
)

# --------------------------------------------------------------------------- values and limits

ACTUAL = "ACTUAL"
FORECASTED = "FORECASTED"
NOTIFICATION_TYPES = {"actual": ACTUAL, "forecasted": FORECASTED}
MANAGEMENT = "management"
MEMBER = "member"
DEPLOYMENTS = (MEMBER, MANAGEMENT)
APPROVALS = {"automatic": "AUTOMATIC", "manual": "MANUAL"}
TRIGGER_BUDGET = "budget"  # the Budgets action alone
TRIGGER_ALARM = "alarm"  # a capacity alarm too, in minutes; the budget action stays the backstop
TRIGGERS = (TRIGGER_BUDGET, TRIGGER_ALARM)

DEFAULT_NOTIFICATIONS = ((ACTUAL, 50.0), (ACTUAL, 80.0), (ACTUAL, 100.0), (FORECASTED, 100.0))
DEFAULT_LIMIT = 100.0
DEFAULT_MEMBER_ROLE = "OrganizationAccountAccessRole"
DEFAULT_VCPU_PERIOD = DEFAULT_PERIOD
DEFAULT_BREAKER_THRESHOLD = 120.0
DEFAULT_VCPU_THRESHOLDS = {"Standard": 64}  # every other class: any running vCPU alarms
BILLING_PERIOD = 21600  # EstimatedCharges is published a few times a day.

# AWS Budgets quotas: notifications per budget; subscribers per notification.
MAX_NOTIFICATIONS = 5
MAX_EMAILS = 10
MAX_SNS = 1
MAX_THRESHOLD_PERCENT = 1000.0
MAX_AMOUNT = 1_000_000_000.0

BILLING_REGION = "us-east-1"  # AWS/Billing metrics exist only there.
CURRENCY = "USD"
SERVICE_BUDGETS = "budgets.amazonaws.com"
SERVICE_CLOUDWATCH = "cloudwatch.amazonaws.com"
SERVICE_COST_ALERTS = "costalerts.amazonaws.com"  # Cost Anomaly Detection
SERVICE_EVENTS = "events.amazonaws.com"

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_HTTPS = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[^\s]*)?$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")

# --------------------------------------------------------------------------- the spend spec


@dataclass(frozen=True)
class Notification:
    """One budget notification: ACTUAL or FORECASTED spend above ``threshold`` percent."""

    kind: str
    threshold: float


@dataclass(frozen=True)
class SpendSpec:
    """The validated spend section of the spec."""

    enabled: bool
    mode: str
    partition: str
    region: str
    name_prefix: str = K.DEFAULT_NAME_PREFIX
    account_ids: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    https: tuple[str, ...] = ()
    budgets: bool = True
    limit: float = DEFAULT_LIMIT
    organization_limit: float | None = None
    notifications: tuple[Notification, ...] = ()
    deployment: str = MEMBER
    member_role: str = DEFAULT_MEMBER_ROLE
    billing: bool = True
    billing_threshold: float | None = None
    vcpu: bool = True
    vcpu_thresholds: tuple[tuple[str, int], ...] = ()
    vcpu_period: int = DEFAULT_VCPU_PERIOD
    spot: bool = True
    spot_thresholds: tuple[tuple[str, int], ...] = ()  # as set; see spot_thresholds_for
    spot_period: int = DEFAULT_PERIOD
    spot_allowed: bool = False  # corral:instances.spot
    spot_overrides: tuple[tuple[str, bool], ...] = ()  # account target -> its instances.spot
    fargate: bool = True
    fargate_thresholds: tuple[tuple[str, int], ...] = ()  # (OnDemand, n), (Spot, n)
    fargate_period: int = DEFAULT_PERIOD
    lambda_alarms: bool = True
    lambda_threshold: int = 0
    lambda_period: int = DEFAULT_PERIOD
    anomaly: bool = False
    anomaly_threshold: float = DEFAULT_ANOMALY_THRESHOLD
    breaker: bool = False
    breaker_threshold: float = DEFAULT_BREAKER_THRESHOLD
    breaker_approval: str = "AUTOMATIC"
    breaker_trigger: str = TRIGGER_BUDGET
    exempt_principals: tuple[str, ...] = ()
    principals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def fast_breaker(self) -> bool:
        """True when a capacity alarm trips the circuit breaker (``trigger: alarm``)."""
        return self.enabled and self.breaker and self.breaker_trigger == TRIGGER_ALARM

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region of the partition: the vCPU alarms watch all of them."""
        return catalog.regions(self.partition)

    @property
    def org_limit(self) -> float:
        """The organization-wide monthly budget (default: limit times budgeted accounts)."""
        if self.organization_limit is not None:
            return self.organization_limit
        return self.limit * max(1, len(self.account_ids))

    def spot_thresholds_for(self, account_id: str | None) -> tuple[tuple[str, int], ...]:
        """Spot vCPU threshold per Spot class in ``account_id`` (None: the deploying account):
        the one set under ``alarms.spot.thresholds``; else, where Spot is allowed
        (``instances.spot``, or an account target's own override), the class's On-Demand
        threshold; else 0, so any Spot use alarms."""
        allowed = dict(self.spot_overrides).get(account_id, self.spot_allowed)
        on_demand, explicit = dict(self.vcpu_thresholds), dict(self.spot_thresholds)
        return tuple(
            (c, explicit.get(c, on_demand.get(c, 0) if allowed else 0)) for c in spot_classes()
        )


def parse(
    values: Mapping[str, Any],
    *,
    mode: str,
    partition: str,
    region: str,
    account_ids: Sequence[str],
    name_prefix: str = K.DEFAULT_NAME_PREFIX,
    exempt_principals: Sequence[str] = (),
    principals: Mapping[str, Sequence[str]] | None = None,
    spot_allowed: bool = False,
    spot_overrides: Mapping[str, bool] | None = None,
    compute_allowed: Sequence[str] = (K.EC2_COMPUTE,),
) -> SpendSpec:
    """Validate the spend keys present in config (``values`` maps key to raw value).

    ``account_ids`` are the account-type targets (organization mode);
    ``principals`` maps groups/users/roles to names (account mode). ``spot_allowed``
    (``instances.spot``), ``spot_overrides`` (account target id to its own override) and
    ``compute_allowed`` (``compute.allow``) set the default thresholds of the Spot, Fargate
    and Lambda alarms. Raises :class:`~corral.spec.readers.SpecError` naming the full key path.
    """
    base = SpendSpec(
        enabled=False,
        mode=mode,
        partition=partition,
        region=region,
        name_prefix=name_prefix,
        account_ids=tuple(account_ids),
        exempt_principals=tuple(exempt_principals),
        principals={k: tuple(v) for k, v in (principals or {}).items()},
        spot_allowed=spot_allowed,
        spot_overrides=tuple(sorted((spot_overrides or {}).items())),
    )
    reject_unknown(values, K.SPEND_KEYS, f"{K.NAMESPACE}:", sep="")
    if not values:
        return base
    emails, https = _notifications(values.get(K.NOTIFICATIONS))
    budgets = _budgets(values.get(K.BUDGETS), mode)
    alarms = _alarms(values.get(K.ALARMS), compute_allowed)
    breaker = _breaker(values.get(K.CIRCUIT_BREAKER))
    anomaly = anomaly_detection(values.get(K.ANOMALY_DETECTION))
    spend = replace(base, enabled=True, emails=emails, https=https, **budgets, **alarms,
                    **breaker, **anomaly)  # fmt: skip
    _check_breaker(spend)
    return spend


def _string_list(value: Any, key: str) -> list[Any]:
    return decode(value, key, list, "a list")


def _notifications(value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    key = key_path(K.NOTIFICATIONS)
    if value is None:
        raise SpecError(
            key, "is required for spend detection; list at least one address under emails."
        )
    raw = as_mapping(value, key)
    reject_unknown(raw, K.NOTIFICATION_KEYS, key)
    emails = tuple(_string_list(raw.get(K.EMAILS, []), f"{key}.{K.EMAILS}"))
    if not emails:
        raise SpecError(f"{key}.{K.EMAILS}", "is empty; list at least one address to alert.")
    for i, email in enumerate(emails):
        where = f"{key}.{K.EMAILS}[{i}]"
        if i >= MAX_EMAILS:
            raise SpecError(
                where,
                f"is address {i + 1}, but AWS Budgets allows at most {MAX_EMAILS} email "
                "subscribers per notification; remove it or use a mailing list.",
            )
        if not isinstance(email, str) or not _EMAIL.match(email):
            raise SpecError(where, f"{email!r:.60} is not an email address; use name@example.com.")
        if email in emails[:i]:
            raise SpecError(where, f"repeats '{email}'; list each address once.")
    hooks = tuple(_string_list(raw.get(K.HTTPS, []), f"{key}.{K.HTTPS}"))
    for i, url in enumerate(hooks):
        if not isinstance(url, str) or not _HTTPS.match(url) or url in hooks[:i]:
            raise SpecError(
                f"{key}.{K.HTTPS}[{i}]",
                f"{url!r:.60} is not a distinct https:// URL; use e.g. https://hooks.example.com/aws.",
            )
    return emails, hooks


def _budgets(value: Any, mode: str) -> dict[str, Any]:
    key = key_path(K.BUDGETS)
    raw = as_mapping(value, key) if value is not None else {}
    reject_unknown(raw, K.BUDGET_KEYS, key)
    result: dict[str, Any] = {"budgets": as_bool(raw.get(K.ENABLED, True), f"{key}.{K.ENABLED}")}
    result["limit"] = positive(
        raw.get(K.LIMIT, DEFAULT_LIMIT), f"{key}.{K.LIMIT}", MAX_AMOUNT, "USD"
    )
    if K.ORGANIZATION_LIMIT in raw:
        if mode != K.ORGANIZATION:
            raise SpecError(f"{key}.{K.ORGANIZATION_LIMIT}", "applies to organization mode only.")
        result["organization_limit"] = positive(
            raw[K.ORGANIZATION_LIMIT], f"{key}.{K.ORGANIZATION_LIMIT}", MAX_AMOUNT, "USD"
        )
    result["notifications"] = _budget_notifications(raw.get(K.BUDGET_NOTIFICATIONS), key)
    for name in (K.DEPLOYMENT, K.MEMBER_ROLE):
        if name in raw and mode != K.ORGANIZATION:
            raise SpecError(f"{key}.{name}", "applies to organization mode only; remove it.")
    deployment = raw.get(K.DEPLOYMENT, MEMBER)
    if deployment not in DEPLOYMENTS:
        raise SpecError(
            f"{key}.{K.DEPLOYMENT}", f"{deployment!r:.60} is not valid; use member or management."
        )
    role = raw.get(K.MEMBER_ROLE, DEFAULT_MEMBER_ROLE)
    if not isinstance(role, str) or not _ROLE_NAME.match(role):
        raise SpecError(f"{key}.{K.MEMBER_ROLE}", f"{role!r:.60} is not a valid IAM role name.")
    result["deployment"] = deployment
    result["member_role"] = role
    return result


def _budget_notifications(value: Any, key: str) -> tuple[Notification, ...]:
    if value is None:
        return tuple(Notification(kind, t) for kind, t in DEFAULT_NOTIFICATIONS)
    key = f"{key}.{K.BUDGET_NOTIFICATIONS}"
    items = _string_list(value, key)
    if not items:
        raise SpecError(key, "is empty; list at least one notification or disable budgets.")
    result: list[Notification] = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if i >= MAX_NOTIFICATIONS:
            raise SpecError(
                where,
                f"is notification {i + 1}, but AWS Budgets allows at most {MAX_NOTIFICATIONS} "
                "per budget; remove it.",
            )
        raw = as_mapping(item, where)
        reject_unknown(raw, K.BUDGET_NOTIFICATION_KEYS, where)
        kind = raw.get(K.NOTIFICATION_TYPE)
        if kind not in NOTIFICATION_TYPES:
            raise SpecError(
                f"{where}.{K.NOTIFICATION_TYPE}",
                f"{kind!r:.60} is not valid; use actual or forecasted.",
            )
        if K.THRESHOLD not in raw:
            raise SpecError(f"{where}.{K.THRESHOLD}", "is required; give a percentage such as 80.")
        threshold = positive(
            raw[K.THRESHOLD], f"{where}.{K.THRESHOLD}", MAX_THRESHOLD_PERCENT, "percent"
        )
        note = Notification(NOTIFICATION_TYPES[kind], threshold)
        if note in result:
            raise SpecError(where, f"repeats {kind} at {threshold:g} %; list each once.")
        result.append(note)
    return tuple(result)


def _alarms(value: Any, compute_allowed: Sequence[str]) -> dict[str, Any]:
    key = key_path(K.ALARMS)
    raw = as_mapping(value, key) if value is not None else {}
    reject_unknown(raw, K.ALARM_KEYS, key)
    billing_key = f"{key}.{K.BILLING}"
    billing = section(raw, K.BILLING, key, K.BILLING_KEYS)
    result: dict[str, Any] = {"billing": enabled(billing, billing_key)}
    if K.THRESHOLD in billing:
        result["billing_threshold"] = positive(
            billing[K.THRESHOLD], f"{billing_key}.{K.THRESHOLD}", MAX_AMOUNT, "USD"
        )
    vcpu_key = f"{key}.{K.VCPU}"
    vcpu = section(raw, K.VCPU, key, K.VCPU_KEYS)
    result["vcpu"] = enabled(vcpu, vcpu_key)
    thresholds = {c: DEFAULT_VCPU_THRESHOLDS.get(c, 0) for c in vcpu_classes()}
    where = f"{vcpu_key}.{K.THRESHOLDS}"
    thresholds.update(counts(vcpu.get(K.THRESHOLDS), where, vcpu_classes(), "vCPUs"))
    result["vcpu_thresholds"] = tuple(sorted(thresholds.items()))
    result["vcpu_period"] = period(vcpu, vcpu_key)
    return {**result, **capacity_alarms(raw, compute_allowed)}


def _breaker(value: Any) -> dict[str, Any]:
    key = key_path(K.CIRCUIT_BREAKER)
    if value is None:
        return {}
    raw = as_mapping(value, key)
    reject_unknown(raw, K.BREAKER_KEYS, key)
    result: dict[str, Any] = {"breaker": as_bool(raw.get(K.ENABLED, False), f"{key}.{K.ENABLED}")}
    result["breaker_threshold"] = positive(
        raw.get(K.THRESHOLD, DEFAULT_BREAKER_THRESHOLD),
        f"{key}.{K.THRESHOLD}",
        MAX_THRESHOLD_PERCENT,
        "percent",
    )
    approval = raw.get(K.APPROVAL, "automatic")
    if approval not in APPROVALS:
        raise SpecError(
            f"{key}.{K.APPROVAL}", f"{approval!r:.60} is not valid; use automatic or manual."
        )
    result["breaker_approval"] = APPROVALS[approval]
    result["breaker_trigger"] = choice(raw, K.TRIGGER, TRIGGERS, f"{key}.{K.TRIGGER}", False)
    return result


def _check_breaker(spend: SpendSpec) -> None:
    key = key_path(K.CIRCUIT_BREAKER)
    if not spend.breaker:
        return
    if not spend.budgets:
        raise SpecError(key, f"acts on the budgets, but {key_path(K.BUDGETS)}.enabled is false.")
    watched = (spend.vcpu, spend.spot, spend.fargate, spend.lambda_alarms)
    if spend.breaker_trigger == TRIGGER_ALARM and not any(watched):
        raise SpecError(
            f"{key}.{K.TRIGGER}",
            f"alarm needs a capacity alarm, but every kind under {key_path(K.ALARMS)} is off; "
            "enable one or use trigger: budget.",
        )
    if spend.mode == K.ACCOUNT:
        if not any(spend.principals.values()):
            raise SpecError(key, "needs corral:principals to name who the deny policy applies to.")
        return
    if spend.deployment != MANAGEMENT:
        raise SpecError(
            key,
            "in organization mode applies an SCP, which only the management account can do; "
            f"set {key_path(K.BUDGETS)}.{K.DEPLOYMENT}: management.",
        )
    if not spend.account_ids and spend.breaker_trigger != TRIGGER_ALARM:
        raise SpecError(
            key,
            "names no account; list member accounts under corral:targets, or set "
            f"{K.TRIGGER}: alarm, which trips it in any member account.",
        )
