"""Spend detection: parse the spend keys of the spec and build every AWS resource's parameters.

Four reserved keys drive it (``SPEND_KEYS``): ``notifications`` (who is told),
``budgets`` (monthly cost budgets with ACTUAL/FORECASTED notifications),
``alarms`` (a billing alarm and EC2 vCPU usage alarms in every region of the
partition) and ``circuitBreaker`` (an opt-in budget action that applies a
deny-launch policy). Spend detection is off while none of the keys is set; as
soon as one is, ``notifications.emails`` is required.

Everything here is pure. :func:`plan` lays out which resources exist in which
account ("site") and region; the ``*_request`` builders turn one planned
resource into the exact request parameters of its AWS API (boto3 names), given
the ARNs AWS assigns at deploy time. The Pulumi component, the tests (moto and
botocore's validator) and the manifest all consume the same output.

CloudWatch only delivers an alarm action to an SNS topic in the alarm's own
region, so alarms outside the home region carry no action: an EventBridge rule
in their region forwards their ALARM state change to the home region's default
event bus, where one rule delivers it to the site's single topic. Subscribers
confirm one topic per account, not one per region.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from corral import catalog
from corral import keys as K
from corral.spec import SpecError, as_bool, as_mapping, decode, reject_unknown

# --------------------------------------------------------------------------- keys and limits

NOTIFICATIONS = "notifications"
BUDGETS = "budgets"
ALARMS = "alarms"
CIRCUIT_BREAKER = "circuitBreaker"
SPEND_KEYS = (BUDGETS, ALARMS, NOTIFICATIONS, CIRCUIT_BREAKER)

EMAILS = "emails"
HTTPS = "https"
NOTIFICATION_KEYS = (EMAILS, HTTPS)

ENABLED = "enabled"
LIMIT = "limit"
ORGANIZATION_LIMIT = "organizationLimit"
BUDGET_NOTIFICATIONS = "notifications"
DEPLOYMENT = "deployment"
MEMBER_ROLE = "memberRole"
BUDGET_KEYS = (ENABLED, LIMIT, ORGANIZATION_LIMIT, BUDGET_NOTIFICATIONS, DEPLOYMENT, MEMBER_ROLE)
NOTIFICATION_TYPE = "type"
THRESHOLD = "threshold"
BUDGET_NOTIFICATION_KEYS = (NOTIFICATION_TYPE, THRESHOLD)

BILLING = "billing"
VCPU = "vcpu"
ALARM_KEYS = (BILLING, VCPU)
BILLING_KEYS = (ENABLED, THRESHOLD)
THRESHOLDS = "thresholds"
PERIOD = "period"
VCPU_KEYS = (ENABLED, THRESHOLDS, PERIOD)

APPROVAL = "approval"
BREAKER_KEYS = (ENABLED, THRESHOLD, APPROVAL)

ACTUAL = "ACTUAL"
FORECASTED = "FORECASTED"
NOTIFICATION_TYPES = {"actual": ACTUAL, "forecasted": FORECASTED}
MANAGEMENT = "management"
MEMBER = "member"
DEPLOYMENTS = (MEMBER, MANAGEMENT)
APPROVALS = {"automatic": "AUTOMATIC", "manual": "MANUAL"}

DEFAULT_NOTIFICATIONS = ((ACTUAL, 50.0), (ACTUAL, 80.0), (ACTUAL, 100.0), (FORECASTED, 100.0))
DEFAULT_LIMIT = 100.0
DEFAULT_MEMBER_ROLE = "OrganizationAccountAccessRole"
DEFAULT_VCPU_PERIOD = 300
DEFAULT_BREAKER_THRESHOLD = 120.0
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
SERVICE_EVENTS = "events.amazonaws.com"

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_HTTPS = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[^\s]*)?$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")

# --------------------------------------------------------------------------- vCPU quota classes

# AWS's Running On-Demand vCPU quotas and the ``Class`` each publishes on
# ``AWS/Usage ResourceCount`` (Service=EC2, Type=Resource, Resource=vCPU) as
# "<class>/OnDemand". Quota names: Standard (A, C, D, H, I, M, R, T, Z), F,
# G and VT, P, X, Inf, DL, Trn, HPC, High Memory. Longer family prefixes are
# tried first, so ``inf2`` is Inf and not Standard (I).
QUOTA_PREFIXES = (
    ("hpc", "HPC"),
    ("inf", "Inf"),
    ("trn", "Trn"),
    ("dl", "DL"),
    ("vt", "G"),
    ("u", "HighMem"),
    ("f", "F"),
    ("g", "G"),
    ("p", "P"),
    ("x", "X"),
    *((letter, "Standard") for letter in "acdhimrtz"),
)
# Mac instances run only on Dedicated Hosts, which have host quotas, not vCPU quotas.
DEDICATED_HOST_FAMILIES = ("mac",)
USAGE_NAMESPACE = "AWS/Usage"
USAGE_METRIC = "ResourceCount"
DEFAULT_VCPU_THRESHOLDS = {"Standard": 64}  # every other class: any running vCPU alarms


def quota_class(instance_type: str) -> str | None:
    """The On-Demand vCPU quota class of ``instance_type``, or None for Dedicated-Host-only."""
    family = catalog.family(instance_type)
    if family.startswith(DEDICATED_HOST_FAMILIES):
        return None
    for prefix, name in QUOTA_PREFIXES:
        if family.startswith(prefix):
            return name
    raise ValueError(f"instance family {family} has no known On-Demand quota class.")


def vcpu_classes() -> tuple[str, ...]:
    """The On-Demand classes of every instance type in the catalog, sorted."""
    found = {quota_class(t) for t in catalog.instance_types()}
    return tuple(sorted(c for c in found if c is not None))


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
    breaker: bool = False
    breaker_threshold: float = DEFAULT_BREAKER_THRESHOLD
    breaker_approval: str = "AUTOMATIC"
    exempt_principals: tuple[str, ...] = ()
    principals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

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


def _key(*parts: str | int) -> str:
    path = f"{K.NAMESPACE}:"
    for i, part in enumerate(parts):
        path += f"[{part}]" if isinstance(part, int) else (part if i == 0 else f".{part}")
    return path


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
) -> SpendSpec:
    """Validate the spend keys present in config (``values`` maps key to raw value).

    ``account_ids`` are the account-type targets (organization mode);
    ``principals`` maps groups/users/roles to names (account mode). Raises
    :class:`~corral.spec.SpecError` naming the full key path.
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
    )
    reject_unknown(values, SPEND_KEYS, f"{K.NAMESPACE}:", sep="")
    if not values:
        return base
    emails, https = _notifications(values.get(NOTIFICATIONS))
    budgets = _budgets(values.get(BUDGETS), mode)
    alarms = _alarms(values.get(ALARMS))
    breaker = _breaker(values.get(CIRCUIT_BREAKER))
    spend = replace(base, enabled=True, emails=emails, https=https, **budgets, **alarms, **breaker)
    _check_breaker(spend)
    return spend


def _number(value: Any, key: str, what: str) -> float:
    number = decode(value, key, (int, float), what)
    if isinstance(number, bool):
        raise SpecError(key, f"must be {what}, got bool.")
    return float(number)


def _positive(value: Any, key: str, ceiling: float, unit: str) -> float:
    number = _number(value, key, f"a number of {unit}")
    if number <= 0:
        raise SpecError(key, f"{number:g} is not more than 0; set a positive amount of {unit}.")
    if number > ceiling:
        raise SpecError(key, f"{number:g} is more than {ceiling:g} {unit}; lower it.")
    return number


def _string_list(value: Any, key: str) -> list[Any]:
    return decode(value, key, list, "a list")


def _notifications(value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    key = _key(NOTIFICATIONS)
    if value is None:
        raise SpecError(
            key, "is required for spend detection; list at least one address under emails."
        )
    raw = as_mapping(value, key)
    reject_unknown(raw, NOTIFICATION_KEYS, key)
    emails = tuple(_string_list(raw.get(EMAILS, []), f"{key}.{EMAILS}"))
    if not emails:
        raise SpecError(f"{key}.{EMAILS}", "is empty; list at least one address to alert.")
    for i, email in enumerate(emails):
        where = f"{key}.{EMAILS}[{i}]"
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
    hooks = tuple(_string_list(raw.get(HTTPS, []), f"{key}.{HTTPS}"))
    for i, url in enumerate(hooks):
        if not isinstance(url, str) or not _HTTPS.match(url) or url in hooks[:i]:
            raise SpecError(
                f"{key}.{HTTPS}[{i}]",
                f"{url!r:.60} is not a distinct https:// URL; use e.g. https://hooks.example.com/aws.",
            )
    return emails, hooks


def _budgets(value: Any, mode: str) -> dict[str, Any]:
    key = _key(BUDGETS)
    raw = as_mapping(value, key) if value is not None else {}
    reject_unknown(raw, BUDGET_KEYS, key)
    result: dict[str, Any] = {"budgets": as_bool(raw.get(ENABLED, True), f"{key}.{ENABLED}")}
    result["limit"] = _positive(raw.get(LIMIT, DEFAULT_LIMIT), f"{key}.{LIMIT}", MAX_AMOUNT, "USD")
    if ORGANIZATION_LIMIT in raw:
        if mode != K.ORGANIZATION:
            raise SpecError(f"{key}.{ORGANIZATION_LIMIT}", "applies to organization mode only.")
        result["organization_limit"] = _positive(
            raw[ORGANIZATION_LIMIT], f"{key}.{ORGANIZATION_LIMIT}", MAX_AMOUNT, "USD"
        )
    result["notifications"] = _budget_notifications(raw.get(BUDGET_NOTIFICATIONS), key)
    for name in (DEPLOYMENT, MEMBER_ROLE):
        if name in raw and mode != K.ORGANIZATION:
            raise SpecError(f"{key}.{name}", "applies to organization mode only; remove it.")
    deployment = raw.get(DEPLOYMENT, MEMBER)
    if deployment not in DEPLOYMENTS:
        raise SpecError(
            f"{key}.{DEPLOYMENT}", f"{deployment!r:.60} is not valid; use member or management."
        )
    role = raw.get(MEMBER_ROLE, DEFAULT_MEMBER_ROLE)
    if not isinstance(role, str) or not _ROLE_NAME.match(role):
        raise SpecError(f"{key}.{MEMBER_ROLE}", f"{role!r:.60} is not a valid IAM role name.")
    result["deployment"] = deployment
    result["member_role"] = role
    return result


def _budget_notifications(value: Any, key: str) -> tuple[Notification, ...]:
    if value is None:
        return tuple(Notification(kind, t) for kind, t in DEFAULT_NOTIFICATIONS)
    key = f"{key}.{BUDGET_NOTIFICATIONS}"
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
        reject_unknown(raw, BUDGET_NOTIFICATION_KEYS, where)
        kind = raw.get(NOTIFICATION_TYPE)
        if kind not in NOTIFICATION_TYPES:
            raise SpecError(
                f"{where}.{NOTIFICATION_TYPE}",
                f"{kind!r:.60} is not valid; use actual or forecasted.",
            )
        if THRESHOLD not in raw:
            raise SpecError(f"{where}.{THRESHOLD}", "is required; give a percentage such as 80.")
        threshold = _positive(
            raw[THRESHOLD], f"{where}.{THRESHOLD}", MAX_THRESHOLD_PERCENT, "percent"
        )
        note = Notification(NOTIFICATION_TYPES[kind], threshold)
        if note in result:
            raise SpecError(where, f"repeats {kind} at {threshold:g} %; list each once.")
        result.append(note)
    return tuple(result)


def _alarms(value: Any) -> dict[str, Any]:
    key = _key(ALARMS)
    raw = as_mapping(value, key) if value is not None else {}
    reject_unknown(raw, ALARM_KEYS, key)
    billing_key = f"{key}.{BILLING}"
    billing = as_mapping(raw.get(BILLING, {}), billing_key)
    reject_unknown(billing, BILLING_KEYS, billing_key)
    result: dict[str, Any] = {
        "billing": as_bool(billing.get(ENABLED, True), f"{billing_key}.{ENABLED}")
    }
    if THRESHOLD in billing:
        result["billing_threshold"] = _positive(
            billing[THRESHOLD], f"{billing_key}.{THRESHOLD}", MAX_AMOUNT, "USD"
        )
    vcpu_key = f"{key}.{VCPU}"
    vcpu = as_mapping(raw.get(VCPU, {}), vcpu_key)
    reject_unknown(vcpu, VCPU_KEYS, vcpu_key)
    result["vcpu"] = as_bool(vcpu.get(ENABLED, True), f"{vcpu_key}.{ENABLED}")
    result["vcpu_thresholds"] = _vcpu_thresholds(vcpu.get(THRESHOLDS), f"{vcpu_key}.{THRESHOLDS}")
    period = decode(vcpu.get(PERIOD, DEFAULT_VCPU_PERIOD), f"{vcpu_key}.{PERIOD}", int, "seconds")
    if period < 60 or period > 86400 or period % 60:
        raise SpecError(
            f"{vcpu_key}.{PERIOD}", f"{period} is not valid; use a multiple of 60 up to 86400."
        )
    result["vcpu_period"] = period
    return result


def _vcpu_thresholds(value: Any, key: str) -> tuple[tuple[str, int], ...]:
    classes = vcpu_classes()
    thresholds = {c: DEFAULT_VCPU_THRESHOLDS.get(c, 0) for c in classes}
    raw = as_mapping(value, key) if value is not None else {}
    reject_unknown(raw, classes, key)
    for name, count in raw.items():
        number = decode(count, f"{key}.{name}", int, "a whole number of vCPUs")
        if not 0 <= number <= 1_000_000:
            raise SpecError(f"{key}.{name}", f"{number} is out of range; use 0 to 1000000.")
        thresholds[name] = number
    return tuple(sorted(thresholds.items()))


def _breaker(value: Any) -> dict[str, Any]:
    key = _key(CIRCUIT_BREAKER)
    if value is None:
        return {}
    raw = as_mapping(value, key)
    reject_unknown(raw, BREAKER_KEYS, key)
    result: dict[str, Any] = {"breaker": as_bool(raw.get(ENABLED, False), f"{key}.{ENABLED}")}
    result["breaker_threshold"] = _positive(
        raw.get(THRESHOLD, DEFAULT_BREAKER_THRESHOLD),
        f"{key}.{THRESHOLD}",
        MAX_THRESHOLD_PERCENT,
        "percent",
    )
    approval = raw.get(APPROVAL, "automatic")
    if approval not in APPROVALS:
        raise SpecError(
            f"{key}.{APPROVAL}", f"{approval!r:.60} is not valid; use automatic or manual."
        )
    result["breaker_approval"] = APPROVALS[approval]
    return result


def _check_breaker(spend: SpendSpec) -> None:
    key = _key(CIRCUIT_BREAKER)
    if not spend.breaker:
        return
    if not spend.budgets:
        raise SpecError(key, f"acts on the budgets, but {_key(BUDGETS)}.enabled is false.")
    if spend.mode == K.ACCOUNT:
        if not any(spend.principals.values()):
            raise SpecError(key, "needs corral:principals to name who the deny policy applies to.")
        return
    if spend.deployment != MANAGEMENT:
        raise SpecError(
            key,
            "in organization mode applies an SCP, which only the management account can do; "
            f"set {_key(BUDGETS)}.{DEPLOYMENT}: management.",
        )
    if not spend.account_ids:
        raise SpecError(key, "names no account; list member accounts under corral:targets.")


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
    kind: str  # "billing" or "vcpu"
    region: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int
    threshold: float
    description: str
    direct: bool


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
        "alarm_prefix": f"{p}-spend-",
    }


def service_roles(spend: SpendSpec | None) -> frozenset[str]:
    """Names of the IAM roles spend detection deploys (assumable only by AWS services)."""
    if spend is None or not spend.enabled:
        return frozenset()
    n = names(spend)
    roles = {n["forward_role"]}
    if spend.breaker:
        roles.add(n["breaker_role"])
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
        return (_site(spend, "account", None, budgets=[budget], alarms=alarms, breakers=breakers),)
    return (_management_site(spend), *(_member_site(spend, a) for a in spend.account_ids))


def _site(spend, key, account_id, *, budgets, alarms, breakers) -> SitePlan:
    role = None
    if account_id is not None:
        role = f"arn:{spend.partition}:iam::{account_id}:role/{spend.member_role}"
    alarms = tuple(alarms) + (_vcpu_alarms(spend) if spend.vcpu else ())
    return SitePlan(
        key=key,
        account_id=account_id,
        role_arn=role,
        home=spend.region,
        topic=names(spend)["topic"],
        budgets=tuple(b for b in (budgets or ()) if b),
        alarms=alarms,
        breakers=tuple(breakers),
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
    return _site(spend, MANAGEMENT, None, budgets=budgets, alarms=alarms, breakers=breakers)


def _member_site(spend: SpendSpec, account: str) -> SitePlan:
    budgets = []
    if spend.deployment == MEMBER:
        budgets.append(_budget(spend, f"{spend.name_prefix}-monthly", spend.limit, None))
    return _site(spend, account, account, budgets=budgets, alarms=(), breakers=())


def _budget(spend, name, limit, linked) -> BudgetPlan | None:
    if not spend.budgets:
        return None
    return BudgetPlan(name, limit, linked, spend.notifications)


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
                name, BILLING, BILLING_REGION, "AWS/Billing", "EstimatedCharges", tuple(dims),
                "Maximum", BILLING_PERIOD, threshold, description, spend.region == BILLING_REGION,
            )
        )  # fmt: skip
    return tuple(alarms)


def _vcpu_alarms(spend: SpendSpec) -> tuple[AlarmPlan, ...]:
    alarms = []
    for region in spend.regions:
        for cls, threshold in spend.vcpu_thresholds:
            dims = (
                ("Class", f"{cls}/OnDemand"),
                ("Resource", "vCPU"),
                ("Service", "EC2"),
                ("Type", "Resource"),
            )
            description = (
                f"corral: running On-Demand {cls} instances in {region} use more than "
                f"{threshold} vCPUs; find and stop any instance nobody launched."
            )
            alarms.append(
                AlarmPlan(
                    f"{spend.name_prefix}-spend-vcpu-{region}-{cls.lower()}", VCPU, region,
                    USAGE_NAMESPACE, USAGE_METRIC, dims, "Maximum", spend.vcpu_period,
                    float(threshold), description, region == spend.region,
                )
            )  # fmt: skip
    return tuple(alarms)


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
