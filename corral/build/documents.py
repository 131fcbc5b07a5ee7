"""Pure builders: from a :class:`~corral.spec.model.Spec` to AWS policy documents.

The same builders feed the Pulumi program, the policy pack and the verifier.
Output is deterministic (sorted keys, sorted values, minified JSON) and within
AWS's size limits; statements are packed into as few documents as possible.

Instance launches are denied on every API path where AWS evaluates the
instance type in a request (see ``LAUNCH_PATHS``). Paths a deny rule cannot
close are listed in ``UNCLOSED_PATHS``; the vCPU alarms are their backstop.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.model import InstanceRule, Spec, Target

VERSION = "2012-10-17"

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
    "EC2 Fleet (ec2:CreateFleet) and Spot Fleet (ec2:RequestSpotFleet)": (
        "maintain-type fleets launch through service-linked roles; the request carries no "
        "instance-type condition key"
    ),
    "EKS managed node groups, AWS Batch, EMR, Elastic Beanstalk": (
        "they launch through Auto Scaling or their own service-linked roles"
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


class BuildError(ValueError):
    """The spec cannot be expressed within AWS's limits; the message names the fix."""


@dataclass(frozen=True)
class Document:
    """One policy document to deploy."""

    name: str
    kind: str  # keys.SCP_KIND or keys.IAM_KIND
    guardrails: tuple[str, ...]
    content: str  # minified JSON, deterministic
    description: str

    @property
    def policy(self) -> dict:
        """The parsed document."""
        return json.loads(self.content)

    @property
    def sids(self) -> tuple[str, ...]:
        """The statement ids, in document order."""
        return tuple(s["Sid"] for s in self.policy["Statement"])


@dataclass(frozen=True)
class Attachment:
    """A document attached to a target (root/OU/account, or IAM group/user/role)."""

    document: str
    target_id: str
    target_kind: str
    target_name: str


@dataclass(frozen=True)
class Plan:
    """Everything one spec deploys: documents and where each is attached."""

    mode: str
    documents: tuple[Document, ...]
    attachments: tuple[Attachment, ...]

    def document(self, name: str) -> Document:
        """The document called ``name``."""
        for doc in self.documents:
            if doc.name == name:
                return doc
        raise KeyError(name)

    def documents_for(self, target_id: str) -> tuple[Document, ...]:
        """The documents attached to ``target_id``, in plan order."""
        names = [a.document for a in self.attachments if a.target_id == target_id]
        return tuple(self.document(n) for n in names)

    def to_dict(self) -> dict:
        """A JSON-ready view (used by ``corral render`` and the manifest)."""
        return {
            "mode": self.mode,
            "documents": [
                {
                    "name": d.name,
                    "kind": d.kind,
                    "guardrails": list(d.guardrails),
                    "description": d.description,
                    "size": len(d.content),
                    "policy": d.policy,
                }
                for d in self.documents
            ],
            "attachments": [
                {
                    "document": a.document,
                    "targetId": a.target_id,
                    "targetKind": a.target_kind,
                    "targetName": a.target_name,
                }
                for a in self.attachments
            ],
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


def _exempt_condition(spec: Spec) -> dict:
    if not spec.exempt_principals:
        return {}
    return {"ArnNotLike": {"aws:PrincipalARN": list(spec.exempt_principals)}}


def region_statements(spec: Spec, regions: Sequence[str]) -> list[dict]:
    """Deny every non-global action outside ``regions``."""
    condition = {"StringNotEquals": {"aws:RequestedRegion": sorted(regions)}}
    condition.update(_exempt_condition(spec))
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
    exempt = _exempt_condition(spec)
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
        else:
            wanted += ["ProtectGuardrailsIam", "ProtectGuardrailsIamDetach"]
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
    exempt = _exempt_condition(spec)
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


# --------------------------------------------------------------------------- packing


def pack(statements: Sequence[dict], limit: int, what: str) -> list[list[dict]]:
    """Pack statements into as few documents as fit within ``limit`` characters.

    First-fit decreasing by size; each document keeps its statements sorted by
    Sid so the output does not depend on the packing order.
    """
    overhead = len(minify({"Version": VERSION, "Statement": []}))
    sized = sorted(statements, key=lambda s: (-len(minify(s)), s["Sid"]))
    bins: list[tuple[int, list[dict]]] = []
    for statement in sized:
        size = len(minify(statement))
        if overhead + size > limit:
            raise BuildError(
                f"{what}: statement {statement['Sid']} is {size} characters, more than one "
                f"document of {limit} can hold; use fewer or broader patterns."
            )
        for i, (used, members) in enumerate(bins):
            if used + size + 1 <= limit:
                bins[i] = (used + size + 1, [*members, statement])
                break
        else:
            bins.append((overhead + size, [statement]))
    groups = [sorted(members, key=lambda s: s["Sid"]) for _, members in bins]
    return sorted(groups, key=lambda g: g[0]["Sid"])


def _documents(
    base_name: str, kind: str, statements_by_guardrail: dict[str, list[dict]], limit: int
) -> list[Document]:
    owner = {s["Sid"]: g for g, stmts in statements_by_guardrail.items() for s in stmts}
    statements = [s for stmts in statements_by_guardrail.values() for s in stmts]
    groups = pack(statements, limit, base_name)
    docs = []
    for i, group in enumerate(groups, 1):
        name = base_name if len(groups) == 1 else f"{base_name}-{i}"
        guardrails = tuple(g for g in K.GUARDRAILS if any(owner[s["Sid"]] == g for s in group))
        content = minify({"Version": VERSION, "Statement": group})
        description = f"corral guardrails ({', '.join(guardrails)}); managed by corral."
        docs.append(Document(name, kind, guardrails, content, description))
    return docs


def _statements(spec: Spec, target: Target | None, guardrails: Iterable[str], limit: int) -> dict:
    result: dict[str, list[dict]] = {}
    for guardrail in guardrails:
        if guardrail == K.REGIONS:
            stmts = region_statements(spec, spec.regions_for(target))
        elif guardrail == K.INSTANCE_TYPES:
            stmts = instance_statements(spec, spec.instances_for(target), limit)
        else:
            stmts = protection_statements(spec)
        if stmts:
            result[guardrail] = stmts
    return result


# --------------------------------------------------------------------------- plans


def build_plan(spec: Spec) -> Plan:
    """Every document and attachment the spec deploys."""
    if spec.mode == K.ORGANIZATION:
        return _organization_plan(spec)
    return _account_plan(spec)


def _organization_plan(spec: Spec) -> Plan:
    documents: list[Document] = []
    attachments: list[Attachment] = []
    by_content: dict[tuple[str, ...], list[Document]] = {}
    for target in spec.targets:
        statements = _statements(spec, target, target.guardrails, K.SCP_MAX_CHARS)
        if not statements:
            continue
        key = tuple(minify(s) for stmts in statements.values() for s in stmts)
        if key not in by_content:
            base = f"{spec.name_prefix}-{target.name}"
            by_content[key] = _documents(base, K.SCP_KIND, statements, K.SCP_MAX_CHARS)
            documents.extend(by_content[key])
        docs = by_content[key]
        if len(docs) + 1 > K.SCP_MAX_PER_TARGET:
            raise BuildError(
                f"target {target.id} would need {len(docs)} corral SCPs plus "
                f"{K.FULL_AWS_ACCESS}, more than the {K.SCP_MAX_PER_TARGET} AWS allows; "
                "use fewer or broader instance patterns."
            )
        attachments.extend(Attachment(d.name, target.id, target.kind, target.name) for d in docs)
    return Plan(K.ORGANIZATION, tuple(documents), tuple(attachments))


def _account_plan(spec: Spec) -> Plan:
    statements = _statements(spec, None, K.GUARDRAILS, K.IAM_POLICY_MAX_CHARS)
    docs = _documents(
        f"{spec.name_prefix}-guardrails", K.IAM_KIND, statements, K.IAM_POLICY_MAX_CHARS
    )
    if len(docs) > K.IAM_MAX_MANAGED_POLICIES_PER_PRINCIPAL:
        raise BuildError(
            f"the account guardrails need {len(docs)} IAM policies, more than the "
            f"{K.IAM_MAX_MANAGED_POLICIES_PER_PRINCIPAL} a principal can carry; "
            "use fewer or broader instance patterns."
        )
    attachments = []
    p = spec.principals
    for kind, names in ((K.GROUP, p.groups), (K.USER, p.users), (K.ROLE, p.roles)):
        for name in names:
            attachments.extend(Attachment(d.name, name, kind, name) for d in docs)
    return Plan(K.ACCOUNT, tuple(docs), tuple(attachments))
