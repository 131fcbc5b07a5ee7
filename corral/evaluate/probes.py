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
ceiling forbids; global services; the exempt principals; and the protection statements.

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

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import botocore.loaders

from corral.evaluate.policy import Request
from corral.evaluate.scope import PROBE_USER, Scope, forbidden_types, representative_types
from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.model import Spec

EXPECT_DENY = "deny"
EXPECT_NOT_DENIED = "not-denied"
Expected = Literal["deny", "not-denied"]

PROBE_ROLE = "corral-probe-role"
INCIDENT_TYPE = "c5a.24xlarge"
REGION_KEY = "aws:RequestedRegion"
INSTANCE_TYPE_KEY = "ec2:InstanceType"
POLICY_ARN_KEY = "iam:PolicyARN"

# What RunInstances authorizes, in the order AWS lists them; ``{r}`` region, ``{a}`` account.
LAUNCH_RESOURCES = (
    ("instance", "arn:{p}:ec2:{r}:{a}:instance/*"),
    ("image", "arn:{p}:ec2:{r}::image/ami-0123456789abcdef0"),
    ("subnet", "arn:{p}:ec2:{r}:{a}:subnet/subnet-0123456789abcdef0"),
    ("network-interface", "arn:{p}:ec2:{r}:{a}:network-interface/*"),
    ("security-group", "arn:{p}:ec2:{r}:{a}:security-group/sg-0123456789abcdef0"),
    ("volume", "arn:{p}:ec2:{r}:{a}:volume/*"),
    ("key-pair", "arn:{p}:ec2:{r}:{a}:key-pair/corral-probe"),
)
# Calls to global services; the region they are signed for comes from botocore.
GLOBAL_CALLS = (
    ("iam:CreateRole", "iam", "arn:{p}:iam::{a}:role/corral-probe-new"),
    ("sts:GetCallerIdentity", "sts", "*"),
    ("organizations:DescribeOrganization", "organizations", "*"),
)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Probe:
    """One API call and the outcome the guardrails must give it.

    ``requests`` are the call's authorizations (the first is the main one);
    ``guardrail`` is the guardrail id it tests; ``target`` the spec target whose chain
    it was derived for (None in account mode).
    """

    id: str
    description: str
    requests: tuple[Request, ...]
    expected: Expected
    guardrail: str
    target: str | None = None

    @property
    def request(self) -> Request:
        """The main authorization (the instance resource for a launch)."""
        return self.requests[0]


# --------------------------------------------------------------------------- requests


def launch(scope: Scope, region: str, instance_type: str, principal: str) -> tuple[Request, ...]:
    """The authorizations of one ``ec2:RunInstances`` call, instance resource first."""
    made = []
    for kind, template in LAUNCH_RESOURCES:
        arn = template.format(p=scope.partition, r=region, a=scope.account)
        context = {REGION_KEY: region}
        if kind == "instance":
            context[INSTANCE_TYPE_KEY] = instance_type
        made.append(Request("ec2:RunInstances", arn, context, principal, scope.account))
    return tuple(made)


def call(scope: Scope, action: str, resource: str, region: str, **extra: str) -> Request:
    """One authorization of ``action`` by the probe user, signed for ``region``."""
    context = {REGION_KEY: region, **extra}
    return Request(action, resource, context, scope.principal, scope.account)


@functools.cache
def global_region(partition: str, service: str) -> str | None:
    """The region a global service's partition endpoint signs for (botocore data)."""
    data = botocore.loaders.create_loader().load_data("endpoints")
    for raw in data["partitions"]:
        if raw["partition"] != partition:
            continue
        service_data = raw["services"].get(service, {})
        endpoint = service_data.get("endpoints", {}).get(service_data.get("partitionEndpoint"))
        return (endpoint or {}).get("credentialScope", {}).get("region")
    return None


def concrete_principal(pattern: str, partition: str, account: str) -> str:
    """A real ARN matched by an exempt-principal pattern (wildcards filled in)."""
    _, part, _, _, acct, name = pattern.split(":", 5)
    partition = partition if part == "*" else part
    account = account if acct == "*" else acct
    return f"arn:{partition}:iam::{account}:{name.replace('*', 'x').replace('?', 'x')}"


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


def _probe(scope: Scope, pid: str, text: str, requests: Iterable[Request], expected: Expected,
           guardrail: str) -> Probe:  # fmt: skip
    return Probe(pid, text, tuple(requests), expected, guardrail, scope.target)


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
        probes.append(_probe(scope, f"incident-launch-{region}", text, requests, EXPECT_DENY,
                             K.REGIONS))  # fmt: skip
        pid = f"region-deny-launch-{_slug(ordinary)}-{region}"
        requests = launch(scope, region, ordinary, scope.principal)
        probes.append(_probe(scope, pid, f"A launch of {ordinary} {where}", requests, EXPECT_DENY,
                             K.REGIONS))  # fmt: skip
    return probes


def instance_probes(scope: Scope) -> list[Probe]:
    """The incident's type, forbidden types and permitted types in each allowed region."""
    if not scope.rules:
        return []
    incident = EXPECT_NOT_DENIED if scope.permits(INCIDENT_TYPE) else EXPECT_DENY
    why = "which the spec permits" if incident == EXPECT_NOT_DENIED else "outside the allow-list"
    cases = [(INCIDENT_TYPE, "incident-launch", f"The incident's launch of {INCIDENT_TYPE} "
              f"({why})", incident)]  # fmt: skip
    cases += [(name, f"forbidden-type-{_slug(name)}", f"A launch of {name} (forbidden: {why})",
               EXPECT_DENY) for name, why in forbidden_types(scope)]  # fmt: skip
    cases += [(name, f"allowed-type-{_slug(name)}", f"A launch of {name} (permitted)",
               EXPECT_NOT_DENIED) for name in representative_types(scope)]  # fmt: skip
    probes = []
    for region in scope.regions or (scope.home_region,):
        for name, pid, text, expected in cases:
            requests = launch(scope, region, name, scope.principal)
            probes.append(_probe(scope, f"{pid}-{region}", f"{text} into {region}, an allowed "
                                 "region,", requests, expected, K.INSTANCE_TYPES))  # fmt: skip
    return probes


def global_probes(scope: Scope) -> list[Probe]:
    """Global services from their global endpoint, and STS from a disallowed region."""
    if scope.regions is None:
        return []
    calls = []
    for action, service, template in GLOBAL_CALLS:
        region = global_region(scope.partition, service) or scope.home_region
        resource = template.format(p=scope.partition, a=scope.account)
        calls.append((f"{_slug(action)}-{region}", action, resource, region, "signed for"))
    for region in _outside(scope)[:1]:
        calls.append((f"sts-getcalleridentity-from-{region}", "sts:GetCallerIdentity", "*",
                      region, "called from"))  # fmt: skip
    return [
        _probe(scope, f"global-{pid}", f"The global-service call {action} ({how} {region})",
               [call(scope, action, resource, region)], EXPECT_NOT_DENIED, K.REGIONS)
        for pid, action, resource, region, how in calls
    ]  # fmt: skip


def exempt_probes(scope: Scope, patterns: Sequence[str], protect: Probe | None) -> list[Probe]:
    """Each exempt principal launching the incident's type outside and inside the
    allowed regions, and doing what the protection statements deny others."""
    outside = _outside(scope)
    regions = [*outside[:1], scope.regional()] if scope.regions is not None or scope.rules else []
    probes = []
    for pattern in patterns:
        who = concrete_principal(pattern, scope.partition, scope.account)
        slug = _slug(who.rsplit(":", 1)[-1])
        for region in regions:
            text = f"The exempt principal {who} launching {INCIDENT_TYPE} into {region}"
            guardrail = K.REGIONS if region in outside else K.INSTANCE_TYPES
            probes.append(_probe(scope, f"exempt-{slug}-launch-{region}", text,
                                 launch(scope, region, INCIDENT_TYPE, who), EXPECT_NOT_DENIED,
                                 guardrail))  # fmt: skip
        if protect is not None:
            text = f"The exempt principal {who} calling {protect.request.action}"
            requests = [_as(r, who) for r in protect.requests]
            probes.append(_probe(scope, f"exempt-{slug}-{protect.id}", text, requests,
                                 EXPECT_NOT_DENIED, K.PROTECTION))  # fmt: skip
    return probes


def _as(request: Request, principal: str) -> Request:
    return Request(request.action, request.resource, request.context, principal, request.account)


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
        probes.append(_probe(scope, f"protect-{_slug(action)}", text,
                             [call(scope, action, resource, region, **extra)], EXPECT_DENY,
                             K.PROTECTION))  # fmt: skip
    return probes


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def probes_for(spec: Spec, scope: Scope) -> list[Probe]:
    """Every probe the spec implies for ``scope``."""
    protect = protection_probes(spec, scope)
    guard = next((p for p in protect if "detach" in p.id), protect[0] if protect else None)
    return [
        *region_probes(scope),
        *instance_probes(scope),
        *global_probes(scope),
        *exempt_probes(scope, spec.exempt_principals, guard),
        *protect,
    ]
