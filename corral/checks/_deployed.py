"""Reading what is deployed: corral's SCPs or IAM policies, their content and attachments.

Shared by the verify checks; every read goes through the memoised
:meth:`corral.aws.Connection.read`, so checks that need the same data read it once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from corral import keys as K
from corral.checks._base import VerifyContext

SCP = "SERVICE_CONTROL_POLICY"


@dataclass(frozen=True)
class Deployed:
    """One deployed policy: its name, id (SCP id or IAM ARN) and JSON content."""

    name: str
    id: str
    content: str

    @property
    def label(self) -> str:
        """``name (id)`` for messages."""
        return f"{self.name} ({self.id})"


def is_corral_name(ctx: VerifyContext, name: str) -> bool:
    """True for names corral's builders produce (``<prefix>-...``)."""
    return name.startswith(f"{ctx.spec.name_prefix}-")


def listed(ctx: VerifyContext) -> dict[str, str]:
    """Every candidate policy by name -> id: SCPs, or customer IAM policies at corral's path."""
    if ctx.spec.mode == K.ORGANIZATION:
        out = ctx.conn.read("organizations", "ListPolicies", Filter=SCP)
        return {p["Name"]: p["Id"] for p in out.get("Policies", [])}
    out = ctx.conn.read("iam", "ListPolicies", Scope="Local", PathPrefix=K.IAM_PATH)
    return {p["PolicyName"]: p["Arn"] for p in out.get("Policies", [])}


def content(ctx: VerifyContext, name: str, policy_id: str) -> Deployed:
    """The deployed document ``policy_id`` with its content."""
    if ctx.spec.mode == K.ORGANIZATION:
        out = ctx.conn.read("organizations", "DescribePolicy", PolicyId=policy_id)
        return Deployed(name, policy_id, out["Policy"]["Content"])
    policy = ctx.conn.read("iam", "GetPolicy", PolicyArn=policy_id)["Policy"]
    version = ctx.conn.read(
        "iam", "GetPolicyVersion", PolicyArn=policy_id, VersionId=policy["DefaultVersionId"]
    )["PolicyVersion"]["Document"]
    return Deployed(name, policy_id, version if isinstance(version, str) else json.dumps(version))


def find(ctx: VerifyContext, name: str) -> Deployed | None:
    """The deployed document called ``name`` (or with the manifest's id), or None."""
    candidates = listed(ctx)
    policy_id = ctx.policy_ids.get(name) or candidates.get(name)
    if policy_id is None or policy_id not in candidates.values():
        return None
    return content(ctx, name, policy_id)


def attached_to(ctx: VerifyContext, deployed: Deployed) -> set[str]:
    """Target ids (SCP) or principal names (IAM) ``deployed`` is attached to."""
    if ctx.spec.mode == K.ORGANIZATION:
        out = ctx.conn.read("organizations", "ListTargetsForPolicy", PolicyId=deployed.id)
        return {t["TargetId"] for t in out.get("Targets", [])}
    out = ctx.conn.read("iam", "ListEntitiesForPolicy", PolicyArn=deployed.id)
    return (
        {f"group:{g['GroupName']}" for g in out.get("PolicyGroups", [])}
        | {f"user:{u['UserName']}" for u in out.get("PolicyUsers", [])}
        | {f"role:{r['RoleName']}" for r in out.get("PolicyRoles", [])}
    )


def scps_on(ctx: VerifyContext, target_id: str) -> dict[str, str]:
    """SCPs attached directly to ``target_id``: name -> id."""
    out = ctx.conn.read("organizations", "ListPoliciesForTarget", TargetId=target_id, Filter=SCP)
    return {p["Name"]: p["Id"] for p in out.get("Policies", [])}
