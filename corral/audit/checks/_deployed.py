"""Reading what is deployed: corral's SCPs or IAM policies, their content and attachments.

Shared by the verify checks; every read goes through the memoised
:meth:`corral.audit.aws.Connection.read`, so checks that need the same data read it once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from corral.audit.aws import Connection
from corral.audit.checks import _accounts
from corral.audit.checks._base import VerifyContext
from corral.spec import keys as K

SCP = "SERVICE_CONTROL_POLICY"


class ChainProblem(ValueError):
    """The chain cannot be evaluated (a level without exactly one parent or without SCPs, a
    malformed document)."""


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


def chain_ids(conn: Connection, account_id: str, *, tree: bool = False) -> list[str]:
    """Ids from the root down to ``account_id``; ChainProblem when a level has other than one
    parent. When the account list was read from the tree, every level's parent comes from
    it (:func:`_accounts.parents`); else from ``ListParents`` (memoised: each level is read
    once per run however many accounts share it), and with ``tree`` an OU's place from the
    tree read from the roots down (:func:`tree_path`)."""
    known = _accounts.parents(conn)
    ids = [account_id]
    while not ids[-1].startswith("r-"):
        if known is not None:
            if ids[-1] not in known or len(ids) > len(known):
                raise ChainProblem(f"{ids[-1]} is not listed below any root of the organization")
            ids.append(known[ids[-1]])
            continue
        if tree and ids[-1].startswith("ou-"):
            return [*tree_path(conn, ids[-1]), *ids[-2::-1]]
        parents = conn.read("organizations", "ListParents", ChildId=ids[-1])["Parents"]
        if len(parents) != 1:
            raise ChainProblem(f"{ids[-1]} has {len(parents)} parents instead of one")
        ids.append(parents[0]["Id"])
    return ids[::-1]


def tree_path(conn: Connection, ou: str) -> list[str]:
    """Ids from the root down to ``ou``, read from the roots down (``ListRoots``, then
    ``ListOrganizationalUnitsForParent`` level by level until ``ou`` is listed): the reads a
    verify makes of the whole tree anyway, and a level's answer arrives one round trip
    sooner than asking each OU above an account for its parent in turn. ChainProblem when
    no root has ``ou`` below it."""
    paths = [[r["Id"]] for r in conn.read("organizations", "ListRoots")["Roots"]]
    while paths:
        below = []
        for path in paths:
            out = conn.read("organizations", "ListOrganizationalUnitsForParent", ParentId=path[-1])
            for child in out.get("OrganizationalUnits", []):
                if child["Id"] == ou:
                    return [*path, ou]
                below.append([*path, child["Id"]])
        paths = below
    raise ChainProblem(f"{ou} is not listed below any root of the organization")


def allows(ctx: VerifyContext, policy_id: str) -> bool:
    """True when the SCP ``policy_id`` has an Allow statement (it lets something through)."""
    content = ctx.conn.read("organizations", "DescribePolicy", PolicyId=policy_id)
    statements = json.loads(content["Policy"]["Content"]).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return any(s.get("Effect") == "Allow" for s in statements)


def level_name(ctx: VerifyContext, level: str, parent: str | None) -> tuple[str, str]:
    """(kind, name) of the root (``parent`` None), OU or account ``level``, as Organizations
    names it (the OU among its parent's children); its id when it has no name there."""
    if parent is None:
        roots = ctx.conn.read("organizations", "ListRoots")["Roots"]
        return K.ROOT, next((r["Name"] for r in roots if r["Id"] == level), level)
    if level.startswith("ou-"):
        out = ctx.conn.read("organizations", "ListOrganizationalUnitsForParent", ParentId=parent)
        ous = out.get("OrganizationalUnits", [])
        return K.OU, next((o["Name"] for o in ous if o["Id"] == level), level)
    listed = _accounts.listed(ctx.conn)
    return K.ACCOUNT_TARGET, next((a["Name"] for a in listed if a["Id"] == level), level)
