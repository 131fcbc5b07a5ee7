"""Probes: requests derived from a spec, with the outcome the guardrails must give.

A probe is one API call, as the set of authorizations AWS makes for it (``RunInstances``
is authorized once per resource it touches: instance, image, subnet, network interface,
security group, volume and key pair; ``ec2:InstanceType`` is present only on the
instance resource). A call is *denied* when any of its authorizations is denied,
explicitly or implicitly; it is *not denied* when every one is allowed.

The probes cover, for one scope (a target's chain in organization mode, the account in
account mode): the incident's launch of ``c5a.24xlarge`` into every region the spec
disallows and into each allowed one; a permitted launch into each disallowed region;
representative permitted types in each allowed region; types the deny list or the vCPU
ceiling forbids; global services; the exempt principals; the protection statements; and
the attacker paths of :mod:`corral.evaluate.attack_paths` (identities, Spot, other
compute services, purchases, what stays open) and :mod:`corral.evaluate.detection_paths`
(silencing spend detection), with their twins of
:mod:`corral.evaluate.twins` (each exempt principal; in account mode, a principal
created under corral's permissions boundary). The probe record and the request helpers
are :mod:`corral.evaluate.probe_kit`, re-exported here.

:mod:`corral.evaluate.scope` says what the spec promises for a chain;
:mod:`corral.evaluate.judge` evaluates the probes against the documents the spec builds,
or against the policies actually deployed. Pure: no I/O.

Example::

    >>> from corral.evaluate.scope import scope_for
    >>> from corral.spec.load import from_config
    >>> spec = from_config({"aws:region": "us-east-1", "corral:mode": "account",
    ...     "corral:allowedRegions": ["us-east-1"], "corral:instances": {"allow": ["t3.*"]},
    ...     "corral:exemptPrincipals": ["arn:aws:iam::*:role/BreakGlass"],
    ...     "corral:principals": {"users": ["dev"]}})
    >>> probes = probes_for(spec, scope_for(spec))
    >>> probes[0].id, probes[0].expected, len(probes[0].requests)
    ('incident-launch-af-south-1', 'deny', 7)
"""

from __future__ import annotations

from collections.abc import Sequence

from corral.build.plan import Plan
from corral.evaluate import attack_paths, detection_paths, twins
from corral.evaluate.probe_kit import (
    BOUNDARY_KEY,
    EXPECT_DENY,
    EXPECT_NOT_DENIED,
    EXPECT_OPEN,
    INCIDENT_TYPE,
    INSTANCE_TYPE_KEY,
    LAUNCH_RESOURCES,
    MARKET_TYPE_KEY,
    POLICY_ARN_KEY,
    PROBE_ROLE,
    REGION_KEY,
    Expected,
    Probe,
    call,
    concrete_principal,
    global_region,
    launch,
    make,
    slug,
)
from corral.evaluate.scope import PROBE_USER, Scope, forbidden_types, representative_types
from corral.evaluate.twins import PATH_EXEMPT
from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.model import Spec

__all__ = [  # the probe record and request helpers live in probe_kit; re-exported here
    "BOUNDARY_KEY",
    "EXPECT_DENY",
    "EXPECT_NOT_DENIED",
    "EXPECT_OPEN",
    "GLOBAL_CALLS",
    "INCIDENT_TYPE",
    "INSTANCE_TYPE_KEY",
    "LAUNCH_RESOURCES",
    "MARKET_TYPE_KEY",
    "POLICY_ARN_KEY",
    "PROBE_ROLE",
    "REGION_KEY",
    "Expected",
    "Probe",
    "call",
    "concrete_principal",
    "global_region",
    "launch",
    "probes_for",
]

# Calls to global services; the region they are signed for comes from botocore.
GLOBAL_CALLS = (
    ("iam:CreateRole", "iam", "arn:{p}:iam::{a}:role/corral-probe-new"),
    ("sts:GetCallerIdentity", "sts", "*"),
    ("organizations:DescribeOrganization", "organizations", "*"),
)


# --------------------------------------------------------------------------- probe sets

# Protection probes: (Protections flag, action, resource, signing region, mode it applies to).
# Templates: {p} partition, {a} account, {r} a regional region, {policy} corral's IAM policy.
PROTECTION_PROBES = (
    ("access_keys", "iam:CreateAccessKey", "arn:{p}:iam::{a}:user/" + PROBE_USER, "iam", None),
    ("cloudtrail", "cloudtrail:StopLogging", "arn:{p}:cloudtrail:{r}:{a}:trail/org", "", None),
    ("guardduty", "guardduty:DeleteDetector", "arn:{p}:guardduty:{r}:{a}:detector/0a1b", "", None),
    ("config", "config:StopConfigurationRecorder", "*", "", None),
    ("guardrails", "organizations:DetachPolicy",
     "arn:{p}:organizations::{a}:policy/o-exampleorg/service_control_policy/p-example",
     "organizations", K.ORGANIZATION),
    ("leave_organization", "organizations:LeaveOrganization", "*", "organizations",
     K.ORGANIZATION),
    ("guardrails", "iam:DetachRolePolicy", "arn:{p}:iam::{a}:role/" + PROBE_ROLE, "iam",
     K.ACCOUNT),
    ("guardrails", "iam:CreatePolicyVersion", "{policy}", "iam", K.ACCOUNT),
)  # fmt: skip


# What each protection probe stands for in SECURITY.md's table.
PROTECTION_PATHS = {
    "access_keys": "Mint a long-lived access key (`iam:CreateAccessKey`)",
    "cloudtrail": "Stop CloudTrail logging (`cloudtrail:StopLogging`)",
    "guardduty": "Delete the GuardDuty detector (`guardduty:DeleteDetector`)",
    "config": "Stop AWS Config recording (`config:StopConfigurationRecorder`)",
    "leave_organization": "Leave the Organization (`organizations:LeaveOrganization`)",
}
PATH_INCIDENT_OUTSIDE = (
    f"The incident's launch ({INCIDENT_TYPE}, `ec2:RunInstances`) into a disallowed region"
)
PATH_INCIDENT_INSIDE = f"The incident's type ({INCIDENT_TYPE}) launched into an allowed region"
PATH_OUTSIDE = "A permitted type launched into a disallowed region"
PATH_PERMITTED = "Permitted work: an On-Demand launch of a permitted type in an allowed region"


def _outside(scope: Scope) -> list[str]:
    if scope.regions is None:
        return []
    return [r for r in catalog.regions(scope.partition) if r not in scope.regions]


def region_probes(scope: Scope) -> list[Probe]:
    """The incident's launch, and a permitted launch, into every disallowed region."""
    ordinary = (representative_types(scope) or ("t3.micro",))[0]
    probes = []
    for region in _outside(scope):
        where = f"into {region}, a region the spec disallows,"
        text = f"The incident's launch of {INCIDENT_TYPE} {where}"
        requests = launch(scope, region, INCIDENT_TYPE, scope.principal)
        probes.append(make(scope, f"incident-launch-{region}", text, requests, EXPECT_DENY,
                           K.REGIONS, path=PATH_INCIDENT_OUTSIDE))  # fmt: skip
        pid = f"region-deny-launch-{slug(ordinary)}-{region}"
        requests = launch(scope, region, ordinary, scope.principal)
        probes.append(make(scope, pid, f"A launch of {ordinary} {where}", requests, EXPECT_DENY,
                           K.REGIONS, path=PATH_OUTSIDE))  # fmt: skip
    return probes


def instance_probes(scope: Scope) -> list[Probe]:
    """The incident's type, forbidden types and permitted types in each allowed region."""
    if not scope.rules:
        return []
    incident = EXPECT_NOT_DENIED if scope.permits(INCIDENT_TYPE) else EXPECT_DENY
    why = "which the spec permits" if incident == EXPECT_NOT_DENIED else "outside the allow-list"
    forbidden = "A type the instance rule forbids (deny pattern, vCPU ceiling) in an allowed region"
    cases = [(INCIDENT_TYPE, "incident-launch", f"The incident's launch of {INCIDENT_TYPE} "
              f"({why})", incident, PATH_INCIDENT_INSIDE)]  # fmt: skip
    cases += [(name, f"forbidden-type-{slug(name)}", f"A launch of {name} (forbidden: {why})",
               EXPECT_DENY, forbidden) for name, why in forbidden_types(scope)]  # fmt: skip
    cases += [(name, f"allowed-type-{slug(name)}", f"A launch of {name} (permitted)",
               EXPECT_NOT_DENIED, PATH_PERMITTED)
              for name in representative_types(scope)]  # fmt: skip
    probes = []
    for region in scope.regions or (scope.home_region,):
        for name, pid, what, expected, path in cases:
            requests = launch(scope, region, name, scope.principal)
            text = f"{what} into {region}, an allowed region,"
            probes.append(make(scope, f"{pid}-{region}", text, requests, expected,
                               K.INSTANCE_TYPES, path=path))  # fmt: skip
    return probes


def global_probes(scope: Scope) -> list[Probe]:
    """Global services from their global endpoint, and STS from a disallowed region."""
    if scope.regions is None:
        return []
    calls = []
    for action, service, template in GLOBAL_CALLS:
        region = global_region(scope.partition, service) or scope.home_region
        resource = template.format(p=scope.partition, a=scope.account)
        calls.append((f"{slug(action)}-{region}", action, resource, region, "signed for"))
    for region in _outside(scope)[:1]:
        calls.append((f"sts-getcalleridentity-from-{region}", "sts:GetCallerIdentity", "*",
                      region, "called from"))  # fmt: skip
    # Account mode requires corral's boundary on new roles; the probe sets it, as users must.
    extra = {BOUNDARY_KEY: scope.boundary_arn} if scope.mode == K.ACCOUNT else {}
    return [
        make(scope, f"global-{pid}", f"The global-service call {action} ({how} {region})",
             [call(scope, action, resource, region, **extra)], EXPECT_NOT_DENIED, K.REGIONS)
        for pid, action, resource, region, how in calls
    ]  # fmt: skip


def exempt_probes(scope: Scope, patterns: Sequence[str]) -> list[Probe]:
    """Each exempt principal launching the incident's type outside and inside the
    allowed regions (:func:`corral.evaluate.attack_paths.exempt_twins` does the rest)."""
    outside = _outside(scope)
    regions = [*outside[:1], scope.regional()] if scope.regions is not None or scope.rules else []
    probes = []
    for pattern in patterns:
        who = concrete_principal(pattern, scope.partition, scope.account)
        name = slug(who.rsplit(":", 1)[-1])
        for region in regions:
            text = f"The exempt principal {who} launching {INCIDENT_TYPE} into {region}"
            guardrail = K.REGIONS if region in outside else K.INSTANCE_TYPES
            probes.append(make(scope, f"exempt-{name}-launch-{region}", text,
                               launch(scope, region, INCIDENT_TYPE, who), EXPECT_NOT_DENIED,
                               guardrail, path=PATH_EXEMPT))  # fmt: skip
    return probes


def protection_probes(spec: Spec, scope: Scope) -> list[Probe]:
    """One probe per protection that is on, each with a representative action."""
    if not scope.protection:
        return []
    policy = f"arn:{scope.partition}:iam::{scope.account}:policy{K.IAM_PATH}"
    policy += f"{scope.name_prefix}-guardrails"
    probes = []
    for flag, action, template, service, mode in PROTECTION_PROBES:
        if not getattr(spec.protections, flag) or mode not in (None, scope.mode):
            continue
        region = (global_region(scope.partition, service) if service else None) or scope.regional()
        resource = template.format(p=scope.partition, a=scope.account, r=region, policy=policy)
        extra = {POLICY_ARN_KEY: policy} if action == "iam:DetachRolePolicy" else {}
        text = f"The call {action} on {resource} by an ordinary principal"
        path = PROTECTION_PATHS.get(flag, f"Detach or edit corral's guardrails (`{action}`)")
        probes.append(make(scope, f"protect-{slug(action)}", text,
                           [call(scope, action, resource, region, **extra)], EXPECT_DENY,
                           K.PROTECTION, path=path))  # fmt: skip
    return probes


def probes_for(spec: Spec, scope: Scope, plan: Plan | None = None) -> list[Probe]:
    """Every probe the spec implies for ``scope``. In account mode ``plan`` (default: the
    spec's) sets what the probes of a principal created under the boundary expect."""
    probes = [
        *region_probes(scope),
        *instance_probes(scope),
        *global_probes(scope),
        *exempt_probes(scope, spec.exempt_principals),
        *protection_probes(spec, scope),
        *attack_paths.identity_probes(spec, scope),
        *detection_paths.detection_probes(spec, scope),
        *attack_paths.capacity_probes(scope),
        *attack_paths.open_probes(scope),
    ]
    incidents = (PATH_INCIDENT_OUTSIDE, PATH_INCIDENT_INSIDE)  # exempt_probes launches them
    probes += twins.exempt_twins(
        scope, spec.exempt_principals, [p for p in probes if p.path not in incidents]
    )
    return probes + twins.bounded_probes(spec, scope, probes, plan)
