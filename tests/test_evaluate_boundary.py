"""The evaluator's permissions boundaries and the actions no policy can deny (AWS "Policy
evaluation logic": permissions boundaries; `sts:GetCallerIdentity`)."""

from __future__ import annotations

import json

from evaluate_support import (
    ACCOUNT,
    REGION_DENY,
    USER,
    doc,
    full,
)

from corral.evaluate.engine import (
    ALLOW,
    DENY,
    IMPLICIT_DENY,
    NON_DENIABLE_ACTIONS,
    Decision,
    Reason,
    evaluate,
)
from corral.evaluate.policy import PolicyRef, Request

# --------------------------------------------------------------------------- permissions boundary

ADMIN = PolicyRef("admin", USER, doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))
DENY_ALL_SCP = PolicyRef(
    "deny-all", "r-root", doc({"Effect": "Deny", "Action": "*", "Resource": "*"})
)


def boundary(*statements: dict) -> list[PolicyRef]:
    """A permissions boundary of ``statements`` set on USER."""
    return [PolicyRef("dev-boundary", USER, doc(*statements))]


S3_ONLY = {"Sid": "S3Only", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}


def test_boundary_explicit_deny_denies_and_names_the_boundary_statement():
    """Policy evaluation logic: an explicit deny in a permissions boundary denies the
    request, whatever the identity policies allow."""
    cap = boundary(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "NoKeys", "Effect": "Deny", "Action": "iam:CreateAccessKey", "Resource": "*"},
    )
    request = Request("iam:CreateAccessKey", principal_arn=USER)
    decision = evaluate(request, identity_policies=[ADMIN], permissions_boundary=cap)
    assert decision == Decision(
        DENY,
        (
            Reason(
                "dev-boundary",
                USER,
                "NoKeys",
                "Deny",
                f"Statement NoKeys of permissions boundary 'dev-boundary' on {USER!r} explicitly "
                "denies iam:CreateAccessKey on *.",
            ),
        ),
    )


def test_boundary_without_an_allow_is_an_implicit_deny_naming_the_boundary():
    """Permissions boundaries for IAM entities: the effective permissions are the
    intersection of the identity policies and the boundary."""
    cap = boundary(S3_ONLY)
    run = Request("ec2:RunInstances", principal_arn=USER)
    decision = evaluate(run, identity_policies=[ADMIN], permissions_boundary=cap)
    assert decision == Decision(
        IMPLICIT_DENY,
        (
            Reason(
                "dev-boundary",
                USER,
                None,
                "ImplicitDeny",
                f"The permissions boundary of {USER} ('dev-boundary') does not allow "
                "ec2:RunInstances on *; the boundary caps what identity policies can grant, so "
                "allow it in the boundary policy too.",
            ),
        ),
    )
    listing = evaluate(
        Request("s3:ListBuckets", principal_arn=USER),
        identity_policies=[ADMIN],
        permissions_boundary=cap,
    )
    assert listing.decision == ALLOW
    assert [(r.policy, r.sid, r.effect) for r in listing.reasons] == [
        ("dev-boundary", "S3Only", "Allow"),
        ("admin", "#0", "Allow"),
    ]
    assert listing.reasons[0].note == (
        f"Statement S3Only of permissions boundary 'dev-boundary' on {USER!r} allows "
        "s3:ListBuckets on *."
    )


def test_boundary_grants_nothing_by_itself():
    """Permissions boundaries for IAM entities: a boundary does not grant permissions;
    the identity policy must allow the request too."""
    s3_only = PolicyRef("s3", USER, doc(S3_ONLY))
    request = Request("iam:ListUsers", principal_arn=USER)
    everything = boundary({"Effect": "Allow", "Action": "*", "Resource": "*"})
    decision = evaluate(request, identity_policies=[s3_only], permissions_boundary=everything)
    assert decision.decision == IMPLICIT_DENY
    assert [(r.policy, r.target, r.effect) for r in decision.reasons] == [
        (None, USER, "ImplicitDeny")
    ]
    assert decision.reasons[0].note.startswith(f"No identity policy of {USER} allows")


def test_boundary_constrains_a_judgement_of_the_guardrails_alone():
    """identity_allows_all=True stands in for the identity policies only; the boundary
    still caps the request."""
    chain = [[full("r-root")], [full(ACCOUNT)]]
    cap = boundary(S3_ONLY)
    run = Request("ec2:RunInstances", principal_arn=USER)
    decision = evaluate(run, scp_chain=chain, identity_allows_all=True, permissions_boundary=cap)
    assert decision.decision == IMPLICIT_DENY
    assert [(r.policy, r.effect) for r in decision.reasons] == [("dev-boundary", "ImplicitDeny")]
    listing = Request("s3:ListBuckets", principal_arn=USER)
    allowed = evaluate(listing, scp_chain=chain, identity_allows_all=True, permissions_boundary=cap)
    assert [(r.target, r.effect) for r in allowed.reasons] == [
        ("r-root", "Allow"),
        (ACCOUNT, "Allow"),
        (USER, "Allow"),
        (USER, "Allow"),
    ]
    assert evaluate(run, scp_chain=chain, identity_allows_all=True).decision == ALLOW


def test_any_explicit_deny_comes_before_every_missing_allow():
    """Policy evaluation logic: explicit denies (SCP, boundary, identity) decide first;
    then the missing allows of the SCP levels, the boundary and the identity policies, in
    that order."""
    ec2_only = PolicyRef(
        "ec2-only", "ou-dev", doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})
    )
    deny_iam = PolicyRef(
        "no-iam", USER, doc({"Sid": "NoIam", "Effect": "Deny", "Action": "iam:*", "Resource": "*"})
    )
    cap = boundary({"Sid": "NoIamCap", "Effect": "Deny", "Action": "iam:*", "Resource": "*"})
    chain = [[full("r-root")], [ec2_only]]
    users = Request("iam:ListUsers", principal_arn=USER)
    denied = evaluate(
        users, scp_chain=chain, identity_policies=[deny_iam], permissions_boundary=cap
    )
    assert denied.decision == DENY
    assert [(r.policy, r.sid) for r in denied.reasons] == [
        ("dev-boundary", "NoIamCap"),
        ("no-iam", "NoIam"),
    ]
    buckets = Request("s3:ListBuckets", principal_arn=USER)
    ec2_cap = boundary({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})
    gaps = evaluate(buckets, scp_chain=chain, identity_policies=[], permissions_boundary=ec2_cap)
    assert gaps.decision == IMPLICIT_DENY
    assert [(r.policy, r.target, r.effect) for r in gaps.reasons] == [
        (None, "ou-dev", "ImplicitDeny"),
        ("dev-boundary", USER, "ImplicitDeny"),
        (None, USER, "ImplicitDeny"),
    ]
    scp_deny = evaluate(
        buckets,
        scp_chain=[[full("r-root"), DENY_ALL_SCP]],
        identity_policies=[],
        permissions_boundary=cap,
    )
    assert [(r.policy, r.effect) for r in scp_deny.reasons] == [("deny-all", "Deny")]


def test_empty_boundary_allows_nothing_and_none_means_no_boundary():
    """A boundary set to no policy allows nothing; ``None`` (the default) is no boundary."""
    request = Request("s3:ListBuckets", principal_arn=USER)
    empty = evaluate(request, identity_policies=[ADMIN], permissions_boundary=[])
    assert empty.decision == IMPLICIT_DENY
    assert empty.reasons == (
        Reason(
            None,
            USER,
            None,
            "ImplicitDeny",
            f"The permissions boundary of {USER} (no policy) does not allow s3:ListBuckets "
            "on *; the boundary caps what identity policies can grant, so allow it in the "
            "boundary policy too.",
        ),
    )
    assert evaluate(request, identity_policies=[ADMIN], permissions_boundary=None).decision == ALLOW


def test_service_linked_roles_have_no_permissions_boundary():
    """IAM API Reference, PutRolePermissionsBoundary: you cannot set the boundary for a
    service-linked role, so a boundary passed for one does not constrain it."""
    slr = (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"
    )
    deny_everything = boundary({"Effect": "Deny", "Action": "*", "Resource": "*"})
    decision = evaluate(
        Request("ec2:RunInstances", principal_arn=slr),
        identity_allows_all=True,
        permissions_boundary=deny_everything,
    )
    assert decision == Decision(
        ALLOW,
        (
            Reason(
                None,
                slr,
                None,
                "Exempt",
                f"The service-linked role {slr} has no permissions boundary.",
            ),
            Reason(
                None,
                slr,
                None,
                "Allow",
                f"Identity policies of {slr} were not evaluated and are taken to allow.",
            ),
        ),
    )


def test_boundary_applies_in_the_management_account():
    """Service control policies: SCPs don't affect the management account; a permissions
    boundary is IAM's and still applies there."""
    request = Request("ec2:RunInstances", principal_arn=USER, account=ACCOUNT)
    decision = evaluate(
        request,
        scp_chain=[[DENY_ALL_SCP]],
        identity_policies=[ADMIN],
        is_management_account=True,
        permissions_boundary=boundary(S3_ONLY),
    )
    assert decision.decision == IMPLICIT_DENY
    assert [(r.policy, r.effect) for r in decision.reasons] == [("dev-boundary", "ImplicitDeny")]


# --------------------------------------------------------------------------- non-deniable actions


def test_get_caller_identity_is_allowed_whatever_the_policies():
    """AWS STS API Reference, GetCallerIdentity: "No permissions are required to perform
    this operation. If an administrator attaches a policy to your identity that
    explicitly denies access to the sts:GetCallerIdentity action, you can still perform
    this operation." """
    deny_sts = PolicyRef(
        "no-sts", USER, doc({"Effect": "Deny", "Action": "sts:*", "Resource": "*"})
    )
    cap = boundary({"Effect": "Deny", "Action": "*", "Resource": "*"})
    request = Request(
        "sts:GetCallerIdentity", context={"aws:RequestedRegion": "af-south-1"}, principal_arn=USER
    )
    expected = Decision(
        ALLOW,
        (
            Reason(
                None,
                USER,
                None,
                "Exempt",
                "No policy applies to sts:GetCallerIdentity: AWS performs it without "
                "authorizing it, so no SCP, permissions boundary or identity policy can deny "
                "it (AWS STS API Reference, GetCallerIdentity).",
            ),
        ),
    )
    decision = evaluate(
        request,
        scp_chain=[[full("r-root"), DENY_ALL_SCP], [full(ACCOUNT)]],
        identity_policies=[deny_sts],
        permissions_boundary=cap,
    )
    assert decision == expected
    assert evaluate(request, identity_policies=[]) == expected
    assert evaluate(request, scp_chain=[[REGION_DENY]], identity_allows_all=True) == expected
    shouted = evaluate(Request("STS:getcalleridentity"), identity_policies=[deny_sts])
    assert shouted.decision == ALLOW
    assert shouted.reasons[0].target == "the principal"
    assert shouted.reasons[0].note.startswith("No policy applies to STS:getcalleridentity:")


def test_other_sts_actions_stay_deniable():
    """Only the documented action is exempt: sts:AssumeRole and sts:GetAccessKeyInfo are
    authorized like any other action, so a deny applies to them."""
    assert dict(NON_DENIABLE_ACTIONS) == {
        "sts:getcalleridentity": "AWS STS API Reference, GetCallerIdentity"
    }
    deny_sts = PolicyRef(
        "no-sts", USER, doc({"Effect": "Deny", "Action": "sts:*", "Resource": "*"})
    )
    for action in ("sts:AssumeRole", "sts:GetAccessKeyInfo"):
        assert evaluate(Request(action), identity_policies=[deny_sts]).decision == DENY


def test_decision_to_dict_is_json_ready():
    decision = evaluate(
        Request("s3:ListBuckets"), scp_chain=[[full("r-root")]], identity_allows_all=True
    )
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["decision"] == "ALLOW"
    assert data["reasons"][0] == {
        "policy": "FullAWSAccess",
        "target": "r-root",
        "sid": "#0",
        "effect": "Allow",
        "note": "Statement #0 of SCP 'FullAWSAccess' on 'r-root' allows s3:ListBuckets on * at "
        "level 0.",
    }
    assert isinstance(decision, Decision)
