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

``run_probes`` evaluates them with :mod:`corral.evaluate.engine` against the documents the
spec builds, or against the policies actually deployed. Pure: no I/O.

Example::

    >>> from corral.spec.model import from_config
    >>> spec = from_config({"aws:region": "us-east-1", "corral:mode": "account",
    ...     "corral:allowedRegions": ["us-east-1"], "corral:instances": {"allow": ["t3.*"]},
    ...     "corral:exemptPrincipals": ["arn:aws:iam::*:role/BreakGlass"],
    ...     "corral:principals": {"users": ["dev"]}})
    >>> results = run_probes(spec)
    >>> all(r.passed for r in results), results[0].probe.id
    (True, 'incident-launch-af-south-1')
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import botocore.loaders

from corral.build.documents import Plan, build_plan
from corral.evaluate.engine import ALLOW, DENY, Decision, PolicyRef, Reason, Request, evaluate
from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.model import InstanceRule, Spec, Target

EXPECT_DENY = "deny"
EXPECT_NOT_DENIED = "not-denied"
Expected = Literal["deny", "not-denied"]

PROBE_ACCOUNT = "111122223333"
PROBE_USER = "corral-probe"
PROBE_ROLE = "corral-probe-role"
INCIDENT_TYPE = "c5a.24xlarge"
ALLOW_ALL_POLICY = "principal-own-permissions"
FULL_AWS_ACCESS_DOCUMENT = (
    '{"Statement":[{"Action":"*","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}'
)
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

Cache = dict[tuple, Decision]
"""Decisions already made against one chain and set of policies, by authorization."""


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


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe: the deciding decision, whether it passed, and why."""

    probe: Probe
    decision: Decision
    passed: bool
    message: str
    resource: str

    def to_dict(self) -> dict:
        """A JSON-ready view."""
        return {
            "id": self.probe.id,
            "target": self.probe.target,
            "guardrail": self.probe.guardrail,
            "expected": self.probe.expected,
            "passed": self.passed,
            "resource": self.resource,
            "message": self.message,
            **self.decision.to_dict(),
        }


@dataclass(frozen=True)
class Scope:
    """What the spec promises for one chain: regions (None when the region guardrail
    does not apply), the instance rules that apply, and whether protection applies."""

    mode: str
    partition: str
    home_region: str
    name_prefix: str
    account: str
    regions: tuple[str, ...] | None
    rules: tuple[InstanceRule, ...]
    protection: bool
    target: str | None = None

    @property
    def principal(self) -> str:
        """The ordinary IAM user the probes run as."""
        return f"arn:{self.partition}:iam::{self.account}:user/{PROBE_USER}"

    def permits(self, instance_type: str) -> bool:
        """Whether every instance rule in scope permits ``instance_type``."""
        return all(rule.permits(instance_type) for rule in self.rules)

    def regional(self) -> str:
        """A region where regional calls are allowed."""
        return self.regions[0] if self.regions else self.home_region


# --------------------------------------------------------------------------- scope


def scope_for(spec: Spec, target_ids: Iterable[str] = (), account: str | None = None) -> Scope:
    """The promises of ``spec`` for a chain holding ``target_ids`` (org mode), or for
    the account (account mode)."""
    if spec.mode == K.ACCOUNT:
        return Scope(
            spec.mode,
            spec.partition,
            spec.region,
            spec.name_prefix,
            account or PROBE_ACCOUNT,
            spec.allowed_regions,
            (spec.instances,) if spec.instances.restricts else (),
            spec.protections.any,
        )
    ids = set(target_ids)
    chain = [t for t in spec.targets if t.id in ids]
    regions = None
    for t in chain:
        if K.REGIONS in t.guardrails:
            mine = set(spec.regions_for(t))
            regions = tuple(sorted(mine if regions is None else mine & set(regions)))
    rules = tuple(
        spec.instances_for(t)
        for t in chain
        if K.INSTANCE_TYPES in t.guardrails and spec.instances_for(t).restricts
    )
    protection = spec.protections.any and any(K.PROTECTION in t.guardrails for t in chain)
    leaf = chain[-1].id if chain else None
    if account is None:
        account = next((t.id for t in reversed(chain) if t.kind == K.ACCOUNT_TARGET), None)
    return Scope(
        spec.mode,
        spec.partition,
        spec.region,
        spec.name_prefix,
        account or PROBE_ACCOUNT,
        regions,
        rules,
        protection,
        leaf,
    )


def spec_chain_ids(spec: Spec, target: Target) -> tuple[str, ...]:
    """The spec targets on ``target``'s chain: the spec's roots, then ``target``."""
    roots = [t.id for t in spec.targets if t.kind == K.ROOT and t.id != target.id]
    return (*roots, target.id)


def find_target(spec: Spec, target: Target | str) -> Target:
    """The spec target with this id or name; ``ValueError`` naming the choices if none."""
    if isinstance(target, Target):
        return target
    for t in spec.targets:
        if target in (t.id, t.name):
            return t
    choices = ", ".join(t.id for t in spec.targets) or "none (account mode)"
    raise ValueError(f"Target {target!r} is not in the spec's targets; use one of {choices}.")


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


def representative_types(scope: Scope) -> tuple[str, ...]:
    """The smallest and largest permitted type matching each allow pattern in scope
    (each rule without allow patterns contributes the smallest and largest overall)."""
    counts = catalog.vcpus()
    permitted = sorted(
        (t for t in catalog.instance_types() if scope.permits(t)),
        key=lambda t: (counts.get(t, 0), t),
    )
    chosen: dict[str, None] = {}
    for rule in scope.rules:
        for pattern in rule.allow or ("*",):
            hits = [t for t in permitted if catalog.matches(pattern, t)]
            if hits:
                chosen.update(dict.fromkeys((hits[0], hits[-1])))
    return tuple(chosen)


def forbidden_types(scope: Scope) -> tuple[tuple[str, str], ...]:
    """``(type, why)`` for one type per deny pattern and one above each vCPU ceiling,
    preferring types the allow patterns would otherwise let through."""
    counts = catalog.vcpus()
    types = sorted(catalog.instance_types(), key=lambda t: (counts.get(t, 0), t))
    found: dict[str, str] = {}
    for rule in scope.rules:

        def allowed_by_patterns(t: str, rule: InstanceRule = rule) -> bool:
            return not rule.allow or any(catalog.matches(p, t) for p in rule.allow)

        for pattern in rule.deny:
            hits = [t for t in types if catalog.matches(pattern, t) and not scope.permits(t)]
            best = [t for t in hits if allowed_by_patterns(t)] or hits
            if best:
                found.setdefault(best[0], f"it matches the deny pattern {pattern}")
        if rule.max_vcpus is not None:
            above = [t for t in types if counts.get(t, 0) > rule.max_vcpus]
            best = [t for t in above if allowed_by_patterns(t)] or above
            if best:
                found.setdefault(best[0], f"it has more than {rule.max_vcpus} vCPUs")
    return tuple(found.items())


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


# --------------------------------------------------------------------------- policies


def full_aws_access(target: str) -> PolicyRef:
    """AWS's ``FullAWSAccess`` SCP attached at ``target``."""
    return PolicyRef(K.FULL_AWS_ACCESS, target, FULL_AWS_ACCESS_DOCUMENT)


def spec_scp_chain(plan: Plan, target_ids: Sequence[str]) -> list[list[PolicyRef]]:
    """The SCP chain the plan deploys along ``target_ids`` (root first), with
    ``FullAWSAccess`` at every level, as AWS attaches by default."""
    return [
        [full_aws_access(tid)]
        + [PolicyRef(d.name, tid, d.content) for d in plan.documents_for(tid)]
        for tid in target_ids
    ]


def spec_identity_policies(plan: Plan, principal: str) -> list[PolicyRef]:
    """The plan's IAM documents, as attached to ``principal`` in account mode."""
    return [PolicyRef(d.name, principal, d.content) for d in plan.documents if d.kind == "iam"]


@functools.lru_cache(maxsize=256)
def allow_all(principal: str) -> PolicyRef:
    """The principal's own permissions, taken to allow everything."""
    return PolicyRef(ALLOW_ALL_POLICY, principal, FULL_AWS_ACCESS_DOCUMENT)


# --------------------------------------------------------------------------- running


def run_probes(
    spec: Spec,
    *,
    target: Target | str | None = None,
    scp_chain: Sequence[Sequence[PolicyRef]] | None = None,
    identity_policies: Sequence[PolicyRef] | None = None,
    account: str | None = None,
) -> list[ProbeResult]:
    """Run the spec's probes against the policies it builds, or those given.

    Organization mode: with ``scp_chain`` (root first, as deployed) the spec targets
    whose ids appear in it (plus ``target``) set the expectations; without it the chain
    is the spec's root -> ``target`` with ``FullAWSAccess`` at each level, for
    ``target`` or, when None, for every target in turn. Account mode: the identity
    policies (default: the spec's IAM documents) plus an allow-all policy standing for
    the principal's own permissions, since the probes ask what the guardrails deny.
    """
    plan = build_plan(spec)
    if spec.mode == K.ACCOUNT:
        scope = scope_for(spec, account=account)
        given = identity_policies
        policies = list(given if given is not None else spec_identity_policies(plan, "principal"))
        cache: Cache = {}
        return [judge(p, scp_chain or (), policies, cache) for p in probes_for(spec, scope)]
    if scp_chain is not None:
        ids = {p.target for level in scp_chain for p in level}
        if target is not None:
            ids.update(spec_chain_ids(spec, find_target(spec, target)))
        scope = scope_for(spec, ids, account)
        cache = {}
        return [judge(p, scp_chain, None, cache) for p in probes_for(spec, scope)]
    targets = spec.targets if target is None else (find_target(spec, target),)
    results = []
    for t in targets:
        ids = spec_chain_ids(spec, t)
        chain = spec_scp_chain(plan, ids)
        cache = {}
        scope = scope_for(spec, ids, account)
        results += [judge(p, chain, None, cache) for p in probes_for(spec, scope)]
    return results


def judge(
    probe: Probe,
    chain: Sequence[Sequence[PolicyRef]],
    guardrails: Sequence[PolicyRef] | None,
    cache: Cache | None = None,
) -> ProbeResult:
    """Evaluate ``probe`` against an SCP chain and, in account mode, the guardrail
    identity policies (an allow-all policy for the principal is added; ``None`` judges
    the SCPs alone). Stops at the first denied authorization once that settles it.
    ``cache`` (one per chain and policies) reuses decisions of identical authorizations,
    such as the image or subnet of launches in the same region."""
    decided: list[tuple[Request, Decision]] = []
    denied: list[tuple[Request, Decision]] = []
    for request in probe.requests:
        decision = _decide(request, chain, guardrails, {} if cache is None else cache)
        decided.append((request, decision))
        if decision.decision != ALLOW:
            denied.append((request, decision))
            if probe.expected == EXPECT_DENY:
                break
    if probe.expected == EXPECT_DENY:
        passed = bool(denied)
        request, decision = denied[0] if passed else decided[0]
        message = _denied_ok(probe, decision) if passed else _slipped(probe, decision)
        return ProbeResult(probe, decision, passed, message, request.resource)
    if not denied:
        request, decision = decided[0]
        message = f"{probe.description} is not denied on any of its resources, as expected."
        return ProbeResult(probe, decision, True, message, request.resource)
    request, decision = denied[0]
    message = _over_blocked(probe, request, decision, len(denied) - 1)
    return ProbeResult(probe, decision, False, message, request.resource)


def _decide(
    request: Request,
    chain: Sequence[Sequence[PolicyRef]],
    guardrails: Sequence[PolicyRef] | None,
    cache: Cache,
) -> Decision:
    key = (request.action.lower(), request.resource, tuple(sorted(request.facts.items())))
    if key not in cache:
        if guardrails is None:
            cache[key] = evaluate(request, scp_chain=chain, identity_allows_all=True)
        else:
            identity = [*guardrails, allow_all(request.principal_arn or "principal")]
            cache[key] = evaluate(request, scp_chain=chain, identity_policies=identity)
    return cache[key]


def _deciding(decision: Decision) -> Reason:
    return decision.reasons[0]


def _denied_ok(probe: Probe, decision: Decision) -> str:
    return f"{probe.description} is denied, as expected. {_deciding(decision).note}"


def _slipped(probe: Probe, decision: Decision) -> str:
    request = probe.request
    allowed_by = _deciding(decision).note if decision.reasons else ""
    return (
        f"{probe.description} is not denied: {request.action} on {request.resource} slipped "
        f"through, though the {probe.guardrail} guardrail must deny it. {allowed_by} Deploy "
        "the documents the spec builds (`corral render`) so a statement denies it."
    ).replace("  ", " ")


def _over_blocked(probe: Probe, request: Request, decision: Decision, others: int) -> str:
    reason = _deciding(decision)
    more = f" (and on {others} more of its resources)" if others else ""
    if decision.decision != DENY:
        return (
            f"{probe.description} is implicitly denied on {request.resource}{more}, but the "
            f"spec permits it. {reason.note}"
        )
    return (
        f"{probe.description} is denied on {request.resource}{more} by statement {reason.sid} "
        f"of policy {reason.policy} on {reason.target}, but the spec permits it; narrow that "
        f"statement's Resource or Condition so it no longer matches {request.resource}."
    )
