"""Attacker probes: what the holder of a guarded principal's leaked key, with admin rights
in that account, would try beyond the incident's launches.

- ``identity-*`` (guardrail ``protection``, where ``protections.principals`` applies):
  minting or taking over a role or user named like an exempt principal; editing or
  deleting corral's own roles and policies (``/corral/``); account mode: creating users
  and roles without corral's permissions boundary, swapping or removing a boundary,
  leaving or deleting a guarded group, creating or joining an Organization. Creating a
  role *with* the boundary is permitted work.
- ``detection-*`` (guardrail ``protection``, with spend detection on): silencing corral's
  alarms, topic, subscriptions, rules, forwarder role, budgets and the breaker's budget
  action, and the same calls on resources that are not corral's
  (:mod:`corral.evaluate.detection_paths`).
- ``capacity-*`` (guardrail ``capacity``, where it is attached): a Spot launch and a Spot
  request, one representative action of every other compute service (SageMaker's with
  ``sagemaker:InstanceTypes``) and of every purchase category; what the spec allows is
  ``open``, with the reason.
- ``open-*``: paths no deny statement closes (Auto Scaling from a launch template; in
  account mode, taking over a role made before corral without the boundary), and
  ``ordinary-*``: permitted work (``s3:GetObject``).

Every probe names its ``path`` in SECURITY.md's table. Exempt twins and the probes of a
principal created under the boundary are :mod:`corral.evaluate.twins`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from corral.evaluate.policy import ContextValue
from corral.evaluate.probe_kit import (
    BOUNDARY_KEY,
    EXPECT_DENY,
    EXPECT_NOT_DENIED,
    EXPECT_OPEN,
    MARKET_TYPE_KEY,
    POLICY_ARN_KEY,
    PROBE_ROLE,
    Expected,
    Probe,
    call,
    concrete_principal,
    launch,
    make,
    signing_region,
    slug,
)
from corral.evaluate.scope import Scope, representative_types
from corral.spec import capacity, catalog
from corral.spec import keys as K
from corral.spec.model import Spec

PERMITTED = "Permitted work: "
NEW_NAME = "corral-probe-new"
ADMIN_POLICY = "arn:{p}:iam::aws:policy/AdministratorAccess"
TYPED_PROBE_TYPE = "p4d.24xlarge"  # a GPU type; SageMaker's ml.p4d.24xlarge
# Resource templates: {p} partition, {a} account, {r} region; "*" when not listed.
RESOURCES = {
    "ec2:CreateFleet": "arn:{p}:ec2:{r}:{a}:fleet/*",
    "ec2:RequestSpotInstances": "arn:{p}:ec2:{r}:{a}:spot-instances-request/*",
    "sagemaker:CreateTrainingJob": "arn:{p}:sagemaker:{r}:{a}:training-job/corral-probe",
    "autoscaling:CreateAutoScalingGroup":
        "arn:{p}:autoscaling:{r}:{a}:autoScalingGroup:*:autoScalingGroupName/corral-probe",
    "s3:GetObject": "arn:{p}:s3:::corral-probe-bucket/key",
}  # fmt: skip
# The action that stands for a compute service or purchase category; else its first action.
REPRESENTATIVE = frozenset({
    "aws-marketplace:Subscribe", "bedrock:InvokeModel", "codebuild:StartBuild",
    "ec2:AllocateHosts", "ec2:CreateCapacityReservation", "ec2:CreateFleet",
    "ec2:PurchaseCapacityBlock", "ec2:PurchaseReservedInstancesOffering", "ecs:RunTask",
    "eks:CreateNodegroup", "elasticmapreduce:RunJobFlow", "lambda:CreateFunction",
    "lightsail:CreateInstances", "route53domains:RegisterDomain",
    "sagemaker:CreateTrainingJob", "shield:CreateSubscription",
})  # fmt: skip
# Calls on corral's own identities (/corral/x): (kind, action).
OWNED_CALLS = (
    (K.ROLE, "iam:PutRolePolicy"), (K.ROLE, "iam:AttachRolePolicy"),
    (K.ROLE, "iam:DeleteRolePolicy"), (K.ROLE, "iam:UpdateAssumeRolePolicy"),
    ("policy", "iam:CreatePolicyVersion"), ("policy", "iam:DeletePolicy"),
)  # fmt: skip
# Account mode: (id, action, resource name, boundary it sets, path); boundary "corral" is
# corral's, "other" AWS's AdministratorAccess, None none.
ACCOUNT_CALLS = (
    ("createuser-without-boundary", "iam:CreateUser", f"user/{NEW_NAME}", None,
     "Create a user without corral's boundary"),
    ("createrole-without-boundary", "iam:CreateRole", f"role/{NEW_NAME}", None,
     "Create a role without corral's boundary"),
    ("putrolepermissionsboundary-other", "iam:PutRolePermissionsBoundary", f"role/{PROBE_ROLE}",
     "other", "Swap a role's boundary for another policy"),
    ("deleterolepermissionsboundary", "iam:DeleteRolePermissionsBoundary", f"role/{PROBE_ROLE}",
     None, "Remove a role's boundary"),
)  # fmt: skip
EXISTING_ROLE = "corral-probe-existing"  # a role made before corral, with no boundary
EXISTING_WHY = (
    "corral denies IAM writes only on exempt and /corral/ identities; a user or role made "
    "before corral, unlisted and without the boundary, is reported by `corral verify` "
    "(principals-bounded) until its boundary is set"
)
LAUNCH_TEMPLATE_WHY = (
    "no condition key carries a launch template's instance type, and the group launches "
    "through its service-linked role, which no SCP, permissions boundary or guardrail "
    "policy restricts"
)


def _probe(scope: Scope, pid: str, action: str, resource: str, label: str,
           expected: Expected = EXPECT_DENY, guardrail: str = K.PROTECTION, why: str = "",
           **extra: ContextValue) -> Probe:  # fmt: skip
    """One call of ``action`` by the probe user, signed where that action is; ``resource``
    may be a template; the path is ``label`` and the action."""
    region = signing_region(scope, action)
    resource = resource.format(p=scope.partition, a=scope.account, r=region)
    text = f"The call {action} on {resource} by an ordinary principal"
    request = call(scope, action, resource, region, **extra)
    why = why if expected == EXPECT_OPEN else ""
    return make(scope, pid, text, [request], expected, guardrail, path=f"{label} (`{action}`)",
                why=why)  # fmt: skip


def _iam(name: str) -> str:
    return "arn:{p}:iam::{a}:" + name


# --------------------------------------------------------------------------- identities


def identity_probes(spec: Spec, scope: Scope) -> list[Probe]:
    """Minting, taking over or unbounding identities, where the principal protections apply."""
    if not scope.identities:
        return []
    bound = {BOUNDARY_KEY: scope.boundary_arn} if scope.mode == K.ACCOUNT else {}
    probes = []
    for pattern in spec.exempt_principals:
        arn = concrete_principal(pattern, scope.partition, scope.account)
        name = arn.split(":", 5)[5]
        kind = name.split("/", 1)[0]
        if kind not in (K.ROLE, K.USER):
            continue
        mint, take = ("iam:CreateRole", "iam:UpdateAssumeRolePolicy") if kind == K.ROLE else (
            "iam:CreateUser", "iam:CreateLoginProfile")  # fmt: skip
        like = f"`{name}`, named like an exempt principal"
        probes.append(_probe(scope, f"identity-create-{slug(name)}", mint, arn, f"Create {like}",
                             **bound))  # fmt: skip
        probes.append(_probe(scope, f"identity-retrust-{slug(name)}", take, arn,
                             f"Take over {like}"))  # fmt: skip
    admin = ADMIN_POLICY.format(p=scope.partition)
    for kind, action in OWNED_CALLS:
        owned = f"{kind}{K.IAM_PATH}x"
        extra = {POLICY_ARN_KEY: admin} if action == "iam:AttachRolePolicy" else {}
        label = f"Edit or delete corral's {kind} `{owned}`"
        pid = f"identity-corral-{kind}-{slug(action[4:])}"
        probes.append(_probe(scope, pid, action, _iam(owned), label, **extra))
    if scope.mode == K.ACCOUNT:
        probes += _account_identity_probes(scope)
    return probes


def _account_identity_probes(scope: Scope) -> list[Probe]:
    boundaries = {"corral": scope.boundary_arn, "other": ADMIN_POLICY.format(p=scope.partition)}
    probes = []
    for pid, action, name, boundary, label in ACCOUNT_CALLS:
        extra = {BOUNDARY_KEY: boundaries[boundary]} if boundary else {}
        probes.append(_probe(scope, f"identity-{pid}", action, _iam(name), label, **extra))
    for group in scope.groups:
        for action in ("iam:RemoveUserFromGroup", "iam:DeleteGroup"):
            probes.append(_probe(scope, f"identity-{slug(action[4:])}-{slug(group)}", action,
                                 _iam(f"group/{group}"), f"Leave or delete the guarded group "
                                 f"`{group}`"))  # fmt: skip
    if scope.new_organization:
        for verb, action in (("Create", "CreateOrganization"), ("Join", "AcceptHandshake")):
            probes.append(_probe(scope, f"identity-{slug(action)}", f"organizations:{action}",
                                 "*", f"{verb} an Organization"))  # fmt: skip
    label = f"{PERMITTED}create a role with corral's boundary"
    probes.append(_probe(scope, "identity-createrole-with-boundary", "iam:CreateRole",
                         _iam(f"role/{NEW_NAME}"), label, EXPECT_NOT_DENIED,
                         **{BOUNDARY_KEY: scope.boundary_arn}))  # fmt: skip
    return probes


# --------------------------------------------------------------------------- capacity


def _representative(actions: Sequence[str]) -> str:
    return next((a for a in actions if a in REPRESENTATIVE), sorted(actions)[0])


def capacity_probes(scope: Scope) -> list[Probe]:
    """Spot, other compute services and purchases, where the capacity guardrail applies."""
    if not scope.capacity:
        return []
    region = scope.regional()
    ordinary = (representative_types(scope) or ("t3.micro",))[0]
    spot = EXPECT_DENY if scope.spot_denied() else EXPECT_OPEN
    requests = launch(scope, region, ordinary, scope.principal, **{MARKET_TYPE_KEY: "spot"})
    text = f"A Spot launch of {ordinary} into {region}, an allowed region,"
    path = ("A Spot launch of a permitted type (`ec2:RunInstances` with "
            "`ec2:InstanceMarketType` spot)")  # fmt: skip
    why = "the spec allows Spot (corral:instances.spot); the instance rule still applies"
    probes = [make(scope, f"capacity-spot-launch-{region}", text, requests, spot, K.CAPACITY,
                   path=path, why="" if spot == EXPECT_DENY else why)]  # fmt: skip
    action = "ec2:RequestSpotInstances"
    spot = EXPECT_DENY if scope.spot_denied(request=True) else EXPECT_OPEN
    probes.append(_probe(scope, f"capacity-spot-request-{region}", action, RESOURCES[action],
                         "A Spot request", spot, K.CAPACITY,
                         "the spec allows Spot and restricts no instance type"))  # fmt: skip
    for name, service in capacity.compute_services().items():
        probes += _compute_probes(scope, name, service)
    for name, category in capacity.purchase_categories().items():
        action = _representative(category.actions)
        allowed = name in scope.purchases_allowed
        why = f"the spec allows {name} (corral:{K.PURCHASES}.{K.ALLOW})"
        probes.append(_probe(scope, f"capacity-purchase-{slug(name)}", action,
                             RESOURCES.get(action, "*"), f"Buy {name}",
                             EXPECT_OPEN if allowed else EXPECT_DENY, K.CAPACITY, why))  # fmt: skip
    return probes


def _compute_probes(scope: Scope, name: str, service: capacity.Capacity) -> list[Probe]:
    """The service's representative action; a typed service (SageMaker) asks for a GPU
    type and, when the spec allows the service, for its smallest permitted type."""
    action = _representative(service.actions)
    resource = RESOURCES.get(action, "*")
    typed = service.types if service.types and action in service.types.actions else None
    allowed = name in scope.compute_allowed
    why = f"the spec allows {name} (corral:{K.COMPUTE}.{K.ALLOW})"
    label, extra, denied = f"Another compute service, {name}", {}, not allowed
    if typed is not None:
        kind = typed.prefix + TYPED_PROBE_TYPE
        label, extra = f"{label}, for {kind}", {typed.key: [kind]}
        denied = not allowed or not scope.capacity_permits(TYPED_PROBE_TYPE)
        if any(rule.restricts for rule in scope.capacity_rules):
            why += f"; its instance types are held to the instance rule through {typed.key}"
    expected = EXPECT_DENY if denied else EXPECT_OPEN
    probes = [_probe(scope, f"capacity-compute-{slug(name)}", action, resource, label, expected,
                     K.CAPACITY, why, **extra)]  # fmt: skip
    if typed is None or not allowed:
        return probes
    counts = catalog.vcpus()
    permitted = sorted((t for t in catalog.instance_types() if scope.capacity_permits(t)),
                       key=lambda t: (counts.get(t, 0), t))  # fmt: skip
    for kind in [typed.prefix + t for t in permitted[:1]]:
        probes.append(_probe(scope, f"capacity-compute-{slug(name)}-permitted", action, resource,
                             f"{PERMITTED}{name} for a permitted type", EXPECT_NOT_DENIED,
                             K.CAPACITY, **{typed.key: [kind]}))  # fmt: skip
    return probes


# --------------------------------------------------------------------------- open, ordinary


def open_probes(scope: Scope) -> list[Probe]:
    """What stays open by design (Auto Scaling from a launch template, where the instance
    rule applies; a role made before corral, in account mode) and permitted work
    (``s3:GetObject`` in an allowed region)."""
    probes = []
    if scope.rules:
        action = "autoscaling:CreateAutoScalingGroup"
        probes.append(_probe(scope, f"open-autoscaling-launch-template-{scope.regional()}",
                             action, RESOURCES[action], "An Auto Scaling group from a launch "
                             "template, without overrides", EXPECT_OPEN, K.INSTANCE_TYPES,
                             LAUNCH_TEMPLATE_WHY))  # fmt: skip
    if scope.mode == K.ACCOUNT and scope.identities:
        action = "iam:UpdateAssumeRolePolicy"
        probes.append(_probe(scope, "open-retrust-existing-role", action,
                             _iam(f"role/{EXISTING_ROLE}"), "Take over a role made before "
                             "corral, without the boundary", EXPECT_OPEN, K.PROTECTION,
                             EXISTING_WHY))  # fmt: skip
    action = "s3:GetObject"
    probes.append(_probe(scope, f"ordinary-s3-getobject-{scope.regional()}", action,
                         RESOURCES[action], f"{PERMITTED}an object read in an allowed region",
                         EXPECT_NOT_DENIED, K.REGIONS))  # fmt: skip
    return probes
