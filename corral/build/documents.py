"""Pure builders: from a :class:`~corral.spec.model.Spec` to AWS policy statements.

The same builders feed the Pulumi program, the policy pack and the verifier.
Output is deterministic (sorted keys, sorted values, minified JSON);
:mod:`corral.build.plan` packs the statements into as few documents as fit
AWS's size limits.

Instance launches are denied on every API path where AWS evaluates the
instance type in a request (see ``LAUNCH_PATHS``). Paths a deny rule cannot
close are listed in ``UNCLOSED_PATHS``; the vCPU alarms are their backstop.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from importlib import resources

from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.model import InstanceRule, Spec

# Where AWS evaluates ec2:InstanceType on the instance resource of the request.
EC2_INSTANCE_ACTIONS = ("ec2:RunInstances", "ec2:StartInstances")
# Auto Scaling calls that carry instance types in autoscaling:InstanceTypes
# (launch configurations and mixed-instances overrides).
AUTOSCALING_ACTIONS = (
    "autoscaling:CreateAutoScalingGroup",
    "autoscaling:CreateLaunchConfiguration",
    "autoscaling:UpdateAutoScalingGroup",
)
LAUNCH_PATHS = {
    "ec2:RunInstances": "direct launches, with or without a launch template (instance resource)",
    "ec2:StartInstances": "restarting a stopped instance resized to a forbidden type",
    "autoscaling:CreateLaunchConfiguration": "launch configurations (autoscaling:InstanceTypes)",
    "autoscaling:CreateAutoScalingGroup": "mixed-instances overrides (autoscaling:InstanceTypes)",
    "autoscaling:UpdateAutoScalingGroup": "mixed-instances overrides (autoscaling:InstanceTypes)",
}
UNCLOSED_PATHS = {
    "Auto Scaling from a launch template without overrides": (
        "the group launches through its service-linked role, which SCPs do not restrict, and "
        "no condition key carries the template's instance type"
    ),
    "EC2 Fleet (ec2:CreateFleet) and Spot Fleet (ec2:RequestSpotFleet), once ec2-fleet is "
    "in compute.allow": (
        "maintain-type fleets launch through service-linked roles; the request carries no "
        "instance-type condition key (denied while ec2-fleet is not allowed)"
    ),
    "EKS managed node groups, AWS Batch, EMR, Elastic Beanstalk, once allowed": (
        "they launch through Auto Scaling or their own service-linked roles (denied while the "
        "service is not in compute.allow)"
    ),
}

SID_REGIONS = "CorralDenyOutsideAllowedRegions"
SID_INSTANCES_ALLOW = "CorralDenyInstanceTypesNotAllowed"
SID_INSTANCES_DENY = "CorralDenyInstanceTypesDenied"
SID_ASG_ALLOW = "CorralDenyAutoScalingTypesNotAllowed"
SID_ASG_DENY = "CorralDenyAutoScalingTypesDenied"

PROTECTION_ACTIONS = {
    "ProtectGuardrailsOrg": (
        "organizations:DeletePolicy",
        "organizations:DetachPolicy",
        "organizations:DisablePolicyType",
        "organizations:MoveAccount",
        "organizations:UpdatePolicy",
    ),
    "ProtectLeaveOrganization": ("organizations:LeaveOrganization",),
    "ProtectCloudTrail": (
        "cloudtrail:DeleteTrail",
        "cloudtrail:PutEventSelectors",
        "cloudtrail:StopLogging",
        "cloudtrail:UpdateTrail",
    ),
    "ProtectGuardDuty": (
        "guardduty:DeleteDetector",
        "guardduty:DisassociateFromAdministratorAccount",
        "guardduty:DisassociateFromMasterAccount",
        "guardduty:DisassociateMembers",
        "guardduty:StopMonitoringMembers",
        "guardduty:UpdateDetector",
    ),
    "ProtectConfig": (
        "config:DeleteConfigurationRecorder",
        "config:DeleteDeliveryChannel",
        "config:StopConfigurationRecorder",
    ),
    "ProtectAccessKeys": ("iam:CreateAccessKey",),
    "ProtectGuardrailsIam": (
        "iam:CreatePolicyVersion",
        "iam:DeletePolicy",
        "iam:DeletePolicyVersion",
        "iam:SetDefaultPolicyVersion",
    ),
    "ProtectGuardrailsIamDetach": (
        "iam:DetachGroupPolicy",
        "iam:DetachRolePolicy",
        "iam:DetachUserPolicy",
    ),
}


# --------------------------------------------------------------------------- data


@functools.cache
def global_actions() -> tuple[str, ...]:
    """Actions of global services, exempted from the region restriction."""
    text = resources.files("corral.spec.data").joinpath("global_services.json").read_text("utf-8")
    return tuple(sorted(json.loads(text)["actions"]))


def minify(policy: dict) -> str:
    """Deterministic, minified JSON for a policy document."""
    return json.dumps(policy, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------- statements


def deny(
    sid: str, actions: Sequence[str], condition: dict, resource: str | list[str] = "*"
) -> dict:
    """One Deny statement; ``condition`` may be empty."""
    statement = {"Sid": sid, "Effect": "Deny", "Action": list(actions), "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def exempt_condition(spec: Spec) -> dict:
    if not spec.exempt_principals:
        return {}
    return {"ArnNotLike": {"aws:PrincipalARN": list(spec.exempt_principals)}}


def region_statements(spec: Spec, regions: Sequence[str]) -> list[dict]:
    """Deny every non-global action outside ``regions``."""
    condition = {"StringNotEquals": {"aws:RequestedRegion": sorted(regions)}}
    condition.update(exempt_condition(spec))
    return [
        {
            "Sid": SID_REGIONS,
            "Effect": "Deny",
            "NotAction": list(global_actions()),
            "Resource": "*",
            "Condition": condition,
        }
    ]


@functools.cache
def instance_patterns(rule: InstanceRule) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(allowed, denied)`` patterns expressing ``rule`` for ``ec2:InstanceType``.

    A launch is denied when its type matches no ``allowed`` pattern (if any are
    given) or matches a ``denied`` one. A vCPU ceiling becomes the compressed
    list of permitted catalog types plus the exceptions the compression needs.
    """
    if rule.max_vcpus is not None:
        allowed, exceptions = catalog.compress(rule.permitted_types())
        return allowed, tuple(sorted(set(rule.deny) | set(exceptions)))
    return rule.allow, rule.deny


def instance_statements(spec: Spec, rule: InstanceRule, limit: int = K.SCP_MAX_CHARS) -> list[dict]:
    """Deny launching instance types the rule does not permit, on every closable path.

    A deny list too long for one document is split over several statements
    (``...Denied``, ``...Denied2``, ...); an allow list cannot be split, since two
    "not in" denies would together deny everything outside their intersection.
    """
    if not rule.restricts:
        return []
    exempt = exempt_condition(spec)
    instance_arn = f"arn:{spec.partition}:ec2:*:*:instance/*"
    allowed, denied = instance_patterns(rule)
    statements = []
    if allowed:
        statements.append(
            _launch(SID_INSTANCES_ALLOW, "StringNotLike", allowed, instance_arn, exempt)
        )
        statements.append(_scaling(SID_ASG_ALLOW, "ForAnyValue:StringNotLike", allowed, exempt))
    for i, chunk in enumerate(_chunks(denied, limit - 600 - len(minify(exempt))), 1):
        suffix = "" if i == 1 else str(i)
        statements.append(
            _launch(SID_INSTANCES_DENY + suffix, "StringLike", chunk, instance_arn, exempt)
        )
        statements.append(_scaling(SID_ASG_DENY + suffix, "ForAnyValue:StringLike", chunk, exempt))
    return statements


def _chunks(patterns: Sequence[str], budget: int) -> list[list[str]]:
    """Split sorted patterns into runs whose JSON list fits ``budget`` characters."""
    chunks: list[list[str]] = []
    used = budget + 1
    for pattern in sorted(patterns):
        size = len(pattern) + 3
        if used + size > budget:
            chunks.append([])
            used = 2
        chunks[-1].append(pattern)
        used += size
    return chunks


def _launch(sid: str, op: str, patterns: Iterable[str], arn: str, exempt: dict) -> dict:
    condition = {op: {"ec2:InstanceType": sorted(patterns)}, **exempt}
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Action": list(EC2_INSTANCE_ACTIONS),
        "Resource": arn,
        "Condition": condition,
    }


def _scaling(sid: str, op: str, patterns: Iterable[str], exempt: dict) -> dict:
    # ForAnyValue on a missing key is false, so groups that name no type are not blocked.
    condition = {op: {"autoscaling:InstanceTypes": sorted(patterns)}, **exempt}
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Action": list(AUTOSCALING_ACTIONS),
        "Resource": "*",
        "Condition": condition,
    }


def protection_statements(spec: Spec) -> list[dict]:
    """Deny weakening the guardrails and the services that watch the account."""
    p = spec.protections
    wanted = []
    if p.guardrails:
        if spec.mode == K.ORGANIZATION:
            wanted.append("ProtectGuardrailsOrg")
        elif not p.principals:  # else CorralProtectIdentities covers /corral/ policies
            wanted += ["ProtectGuardrailsIam", "ProtectGuardrailsIamDetach"]
        else:
            wanted.append("ProtectGuardrailsIamDetach")
    if p.leave_organization and spec.mode == K.ORGANIZATION:
        wanted.append("ProtectLeaveOrganization")
    for flag, sid in (
        (p.cloudtrail, "ProtectCloudTrail"),
        (p.guardduty, "ProtectGuardDuty"),
        (p.config, "ProtectConfig"),
        (p.access_keys, "ProtectAccessKeys"),
    ):
        if flag:
            wanted.append(sid)
    exempt = exempt_condition(spec)
    policy_arn = f"arn:{spec.partition}:iam::*:policy{K.IAM_PATH}*"
    statements = []
    for sid in wanted:
        statement = {
            "Sid": f"Corral{sid}",
            "Effect": "Deny",
            "Action": list(PROTECTION_ACTIONS[sid]),
            "Resource": "*",
        }
        condition = dict(exempt)
        if sid == "ProtectGuardrailsIam":
            statement["Resource"] = policy_arn
        if sid == "ProtectGuardrailsIamDetach":
            condition["ArnLike"] = {"iam:PolicyARN": [policy_arn]}
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return statements
