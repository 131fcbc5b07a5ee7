"""Statement matching, decision rules, SCP chains and AWS's documented examples.

Expected results follow AWS's documentation, cited by title in each test: "Policy
evaluation logic", "IAM JSON policy elements: Action / NotAction / Resource",
AWS Organizations "SCP evaluation", "Service control policies (SCPs)" and
"General examples" (Deny access to AWS based on the requested AWS Region).
"""

from __future__ import annotations

import doctest
import json

import pytest

import corral.evaluate.engine
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

ACCOUNT = "111122223333"
USER = f"arn:aws:iam::{ACCOUNT}:user/dev"
INSTANCE = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*"
IMAGE = "arn:aws:ec2:us-east-1::image/ami-0abcdef1234567890"
SUBNET = f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/subnet-0123"
VOLUME = f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/*"
FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def doc(*statements: dict) -> dict:
    """A Version 2012-10-17 policy document holding ``statements``."""
    return {"Version": "2012-10-17", "Statement": list(statements)}


def full(target: str) -> PolicyRef:
    """AWS's FullAWSAccess SCP attached at ``target``."""
    return PolicyRef("FullAWSAccess", target, FULL_ACCESS)


def applies(statement: dict, request: Request) -> bool:
    """Whether one Allow statement, as the only identity policy, allows ``request``."""
    policy = PolicyRef("p", "principal", doc({"Effect": "Allow", **statement}))
    return evaluate(request, identity_policies=[policy]).decision == ALLOW


def test_module_docstring_example_runs():
    assert doctest.testmod(corral.evaluate.engine).failed == 0


# --------------------------------------------------------------------------- Action


def test_action_wildcards_anywhere_match_case_insensitively():
    """IAM JSON policy elements: Action: action names are case-insensitive and can use *
    and ? anywhere."""
    run = Request("ec2:RunInstances")
    for pattern in ("ec2:Run*", "EC2:runinstances", "ec2:*Instances", "ec2:R?nInstances", "*"):
        assert applies({"Action": pattern, "Resource": "*"}, run), pattern
    for pattern in ("ec2:Describe*", "ec2:R?Instances", "s3:*", "ec2:RunInstance"):
        assert not applies({"Action": pattern, "Resource": "*"}, run), pattern
    assert applies({"Action": ["s3:GetObject", "ec2:run*"], "Resource": "*"}, run)
    assert applies({"Action": "ec2:run*", "Resource": "*"}, Request("EC2:RUNINSTANCES"))


def test_not_action_matches_every_action_not_listed():
    """IAM JSON policy elements: NotAction."""
    statement = {"NotAction": ["iam:*", "organizations:*"], "Resource": "*"}
    assert applies(statement, Request("ec2:RunInstances"))
    assert not applies(statement, Request("IAM:CreateUser"))


# --------------------------------------------------------------------------- Resource


def test_resource_wildcards_are_case_sensitive_and_may_cross_colons():
    """IAM JSON policy elements: Resource: resource ARNs are case-sensitive; a * that ends
    an ARN segment can expand beyond the colon boundary."""
    request = Request("ec2:RunInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1")
    assert applies({"Action": "*", "Resource": "arn:aws:ec2:*:*:instance/*"}, request)
    assert applies({"Action": "*", "Resource": "arn:aws:ec2:*"}, request)
    assert applies({"Action": "*", "Resource": "arn:aws:ec2:us-east-?:*"}, request)
    assert not applies({"Action": "*", "Resource": "arn:aws:ec2:*:*:Instance/*"}, request)
    assert not applies({"Action": "*", "Resource": "arn:aws:ec2:*:*:volume/*"}, request)
    assert not applies({"Action": "*", "Resource": INSTANCE}, Request("ec2:RunInstances"))


def test_not_resource_matches_every_resource_not_listed():
    """IAM JSON policy elements: NotResource."""
    statement = {"Action": "s3:*", "NotResource": "arn:aws:s3:::audit-logs/*"}
    assert applies(statement, Request("s3:GetObject", "arn:aws:s3:::data/x"))
    assert not applies(statement, Request("s3:GetObject", "arn:aws:s3:::audit-logs/x"))


def test_variables_in_resource_resolve_per_request():
    """IAM policy elements: Variables and tags: variables in Resource, including
    aws:PrincipalAccount filled from the request's account."""
    statement = {
        "Action": "iam:*AccessKey*",
        "Resource": "arn:aws:iam::${aws:PrincipalAccount}:user/${aws:username}",
    }
    own = f"arn:aws:iam::{ACCOUNT}:user/dev"
    ctx = {"aws:username": "dev"}
    assert applies(statement, Request("iam:CreateAccessKey", own, ctx, USER, ACCOUNT))
    other = f"arn:aws:iam::{ACCOUNT}:user/admin"
    assert not applies(statement, Request("iam:CreateAccessKey", other, ctx, USER, ACCOUNT))
    assert not applies(statement, Request("iam:CreateAccessKey", own, {}, USER, ACCOUNT))


def test_operators_and_keys_in_a_condition_block_are_anded():
    """Conditions with multiple context keys or values: several condition operators, and
    several keys under one operator, are evaluated with a logical AND."""
    statement = {
        "Action": "ec2:RunInstances",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:RequestedRegion": "eu-west-1", "ec2:InstanceType": "t3.micro"},
            "Bool": {"aws:SecureTransport": "true"},
        },
    }
    good = {"aws:RequestedRegion": "eu-west-1", "ec2:InstanceType": "t3.micro"}
    secure = {**good, "aws:SecureTransport": True}
    assert applies(statement, Request("ec2:RunInstances", context=secure))
    assert not applies(statement, Request("ec2:RunInstances", context=good))
    wrong_type = {**secure, "ec2:InstanceType": "c5a.24xlarge"}
    assert not applies(statement, Request("ec2:RunInstances", context=wrong_type))


# --------------------------------------------------------------------------- identity rules


def test_identity_explicit_deny_beats_allow_and_no_allow_is_implicit_deny():
    """Policy evaluation logic: an explicit deny overrides any allow; without an allow the
    request is implicitly denied."""
    allow = PolicyRef("admin", USER, doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    deny = PolicyRef(
        "no-keys",
        USER,
        doc({"Sid": "NoKeys", "Effect": "Deny", "Action": "iam:CreateAccessKey", "Resource": "*"}),
    )
    request = Request("iam:CreateAccessKey", principal_arn=USER)
    decision = evaluate(request, identity_policies=[allow, deny])
    assert decision.decision == DENY
    assert decision.reasons == (
        Reason(
            "no-keys",
            USER,
            "NoKeys",
            "Deny",
            f"Statement NoKeys of identity policy 'no-keys' on {USER!r} explicitly denies "
            "iam:CreateAccessKey on *.",
        ),
    )
    assert evaluate(Request("s3:ListBuckets"), identity_policies=[allow, deny]).decision == ALLOW
    nothing = evaluate(request, identity_policies=[])
    assert nothing.decision == IMPLICIT_DENY
    assert nothing.reasons[0].note == (
        f"No identity policy of {USER} allows iam:CreateAccessKey on *; "
        "attach a policy that allows it."
    )


def test_evaluate_needs_exactly_one_identity_choice():
    message = (
        "evaluate() needs exactly one of identity_policies (the principal's policies) and "
        "identity_allows_all=True (judge the SCPs alone); pass one of them."
    )
    with pytest.raises(ValueError) as info:
        evaluate(Request("s3:ListBuckets"), scp_chain=[[full("r-1")]])
    assert str(info.value) == message
    with pytest.raises(ValueError):
        evaluate(Request("s3:ListBuckets"), identity_policies=[], identity_allows_all=True)


# --------------------------------------------------------------------------- SCP chain rules


def test_full_access_at_every_level_allows_and_names_each_level():
    """SCP evaluation: a permission is allowed only if every level from the root to the
    account allows it; FullAWSAccess does so."""
    chain = [[full("r-root")], [full("ou-prod")], [full(ACCOUNT)]]
    decision = evaluate(Request("s3:ListBuckets"), scp_chain=chain, identity_allows_all=True)
    assert decision.decision == ALLOW
    assert [r.target for r in decision.reasons] == ["r-root", "ou-prod", ACCOUNT, "the principal"]
    assert [r.sid for r in decision.reasons[:3]] == ["#0", "#0", "#0"]


def test_middle_ou_without_an_allow_is_an_implicit_deny_naming_that_level():
    """SCP evaluation: if FullAWSAccess is removed at a level and nothing replaces it, no
    action is allowed for the OUs and accounts below it."""
    ec2_only = PolicyRef(
        "ec2-only", "ou-dev", doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})
    )
    chain = [[full("r-root")], [full("ou-workloads")], [ec2_only], [full(ACCOUNT)]]
    request = Request("s3:ListBuckets", account=ACCOUNT)
    decision = evaluate(request, scp_chain=chain, identity_allows_all=True)
    assert decision.decision == IMPLICIT_DENY
    assert decision.to_dict()["reasons"] == [
        {
            "policy": None,
            "target": "ou-dev",
            "sid": None,
            "effect": "ImplicitDeny",
            "note": "No SCP attached at level 2 (ou-dev) allows s3:ListBuckets on *; attach "
            "FullAWSAccess or an SCP that allows it there.",
        }
    ]
    ec2 = evaluate(Request("ec2:DescribeInstances"), scp_chain=chain, identity_allows_all=True)
    assert ec2.decision == ALLOW


def test_deny_at_any_level_wins_over_allows_everywhere():
    """SCP evaluation: a Deny in an SCP at any level applies to all accounts below it."""
    no_leave = PolicyRef(
        "protect",
        "ou-prod",
        doc(
            {
                "Sid": "NoLeave",
                "Effect": "Deny",
                "Action": "organizations:LeaveOrganization",
                "Resource": "*",
            }
        ),
    )
    chain = [[full("r-root")], [full("ou-prod"), no_leave], [full(ACCOUNT)]]
    decision = evaluate(
        Request("organizations:LeaveOrganization"), scp_chain=chain, identity_allows_all=True
    )
    assert decision.decision == DENY
    assert [(r.policy, r.target, r.sid) for r in decision.reasons] == [
        ("protect", "ou-prod", "NoLeave")
    ]


def test_scp_deny_beats_identity_allow_and_scp_allow_does_not_grant():
    """Service control policies: SCPs never grant permissions; the identity policy must
    also allow. Policy evaluation logic: an explicit deny in either wins."""
    admin = PolicyRef("admin", USER, doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    s3_only = PolicyRef("s3", USER, doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
    deny_ec2 = PolicyRef(
        "no-ec2", "r-root", doc({"Effect": "Deny", "Action": "ec2:*", "Resource": "*"})
    )
    chain = [[full("r-root"), deny_ec2]]
    run = Request("ec2:RunInstances", principal_arn=USER)
    assert evaluate(run, scp_chain=chain, identity_policies=[admin]).decision == DENY
    listing = Request("iam:ListUsers", principal_arn=USER)
    assert evaluate(listing, scp_chain=chain, identity_policies=[s3_only]).decision == IMPLICIT_DENY
    assert evaluate(listing, scp_chain=chain, identity_policies=[admin]).decision == ALLOW


def test_management_account_is_not_subject_to_scps():
    """Service control policies: SCPs don't affect users or roles in the management
    account; its identity policies still apply."""
    deny_all = PolicyRef(
        "deny-all", "r-root", doc({"Effect": "Deny", "Action": "*", "Resource": "*"})
    )
    request = Request("ec2:RunInstances", principal_arn=USER, account=ACCOUNT)
    decision = evaluate(
        request, scp_chain=[[deny_all]], identity_allows_all=True, is_management_account=True
    )
    assert decision.decision == ALLOW
    assert decision.reasons[0] == Reason(
        None, ACCOUNT, None, "Exempt", f"The management account {ACCOUNT} is not subject to SCPs."
    )
    assert evaluate(request, scp_chain=[[deny_all]], identity_allows_all=True).decision == DENY
    no_identity = evaluate(
        request, scp_chain=[[deny_all]], identity_policies=[], is_management_account=True
    )
    assert no_identity.decision == IMPLICIT_DENY


def test_service_linked_roles_are_not_subject_to_scps():
    """Service control policies: SCPs do not affect service-linked roles."""
    deny_all = PolicyRef(
        "deny-all", "r-root", doc({"Effect": "Deny", "Action": "*", "Resource": "*"})
    )
    slr = (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"
    )
    decision = evaluate(
        Request("ec2:RunInstances", principal_arn=slr),
        scp_chain=[[deny_all]],
        identity_allows_all=True,
    )
    assert decision.decision == ALLOW
    assert decision.reasons[0].effect == "Exempt"
    assert decision.reasons[0].note == f"The service-linked role {slr} is not subject to SCPs."


def test_empty_chain_level_is_rejected():
    with pytest.raises(ValueError, match="SCP chain level 1 has no policies"):
        evaluate(Request("s3:ListBuckets"), scp_chain=[[full("r")], []], identity_allows_all=True)


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


# --------------------------------------------------------------------------- AWS examples

GLOBAL_ACTIONS = [
    "a4b:*",
    "acm:*",
    "aws-marketplace-management:*",
    "aws-marketplace:*",
    "aws-portal:*",
    "budgets:*",
    "ce:*",
    "chime:*",
    "cloudfront:*",
    "config:*",
    "cur:*",
    "directconnect:*",
    "ec2:DescribeRegions",
    "ec2:DescribeTransitGateways",
    "ec2:DescribeVpnGateways",
    "fms:*",
    "globalaccelerator:*",
    "health:*",
    "iam:*",
    "importexport:*",
    "kms:*",
    "mobileanalytics:*",
    "networkmanager:*",
    "organizations:*",
    "pricing:*",
    "route53:*",
    "route53domains:*",
    "route53-recovery-cluster:*",
    "route53-recovery-control-config:*",
    "route53-recovery-readiness:*",
    "s3:GetAccountPublic*",
    "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints",
    "s3:PutAccountPublic*",
    "shield:*",
    "sts:*",
    "support:*",
    "trustedadvisor:*",
    "waf-regional:*",
    "waf:*",
    "wafv2:*",
    "wellarchitected:*",
]
EXEMPT_ROLES = [
    "arn:aws:iam::*:role/Role1AllowedToBypassThisSCP",
    "arn:aws:iam::*:role/Role2AllowedToBypassThisSCP",
]
REGION_DENY = PolicyRef(
    "region-deny",
    "r-root",
    doc(
        {
            "Sid": "DenyAllOutsideEU",
            "Effect": "Deny",
            "NotAction": GLOBAL_ACTIONS,
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"aws:RequestedRegion": ["eu-central-1", "eu-west-1"]},
                "ArnNotLike": {"aws:PrincipalARN": EXEMPT_ROLES},
            },
        }
    ),
)
INSTANCE_DENY = PolicyRef(
    "instance-deny",
    "r-root",
    doc(
        {
            "Sid": "RequireMicroInstanceType",
            "Effect": "Deny",
            "Action": "ec2:RunInstances",
            "Resource": "arn:aws:ec2:*:*:instance/*",
            "Condition": {"StringNotEquals": {"ec2:InstanceType": "t2.micro"}},
        }
    ),
)


def guardrails(request: Request) -> Decision:
    """The two AWS example SCPs at the root over FullAWSAccess at root, OU and account."""
    chain = [[full("r-root"), REGION_DENY, INSTANCE_DENY], [full("ou-prod")], [full(ACCOUNT)]]
    return evaluate(request, scp_chain=chain, identity_allows_all=True)


def launch(region: str, resource: str, instance_type: str | None, principal: str = USER) -> Request:
    """One RunInstances authorization check, as EC2 makes one per resource of a launch."""
    context: dict[str, str] = {"aws:RequestedRegion": region}
    if instance_type is not None:
        context["ec2:InstanceType"] = instance_type
    return Request("ec2:RunInstances", resource, context, principal, ACCOUNT)


def test_region_deny_example_denies_outside_the_requested_regions():
    """General examples (AWS Organizations): Deny access to AWS based on the requested
    AWS Region: denies operations outside eu-central-1 and eu-west-1."""
    decision = guardrails(Request("s3:CreateBucket", context={"aws:RequestedRegion": "us-east-1"}))
    assert decision.decision == DENY
    assert [(r.policy, r.sid) for r in decision.reasons] == [("region-deny", "DenyAllOutsideEU")]
    inside = Request("s3:CreateBucket", context={"aws:RequestedRegion": "eu-west-1"})
    assert guardrails(inside).decision == ALLOW


def test_region_deny_example_exempts_global_services_through_not_action():
    """General examples: requests to global services in us-east-1 are allowed if the
    service is in the NotAction element."""
    for action in (
        "iam:CreateRole",
        "sts:AssumeRole",
        "ec2:DescribeRegions",
        "s3:ListAllMyBuckets",
    ):
        request = Request(action, context={"aws:RequestedRegion": "us-east-1"})
        assert guardrails(request).decision == ALLOW, action
    other_ec2 = Request("ec2:DescribeInstances", context={"aws:RequestedRegion": "us-east-1"})
    assert guardrails(other_ec2).decision == DENY


def test_region_deny_example_exempts_the_named_principals():
    """General examples: the ArnNotLike aws:PrincipalARN condition exempts requests made
    by either of the two administrator roles, in any account."""
    role = "arn:aws:iam::444455556666:role/Role2AllowedToBypassThisSCP"
    request = Request(
        "s3:CreateBucket", context={"aws:RequestedRegion": "us-west-2"}, principal_arn=role
    )
    assert guardrails(request).decision == ALLOW
    lookalike = "arn:aws:iam::444455556666:role/Role2AllowedToBypassThisSCP-copy"
    request = Request(
        "s3:CreateBucket", context={"aws:RequestedRegion": "us-west-2"}, principal_arn=lookalike
    )
    assert guardrails(request).decision == DENY


def test_region_deny_with_region_key_missing_denies():
    """Condition operators: StringNotEquals on a missing aws:RequestedRegion is true, so a
    request without the key is denied unless its action is exempted."""
    assert guardrails(Request("s3:CreateBucket")).decision == DENY


def test_instance_type_example_denies_other_types_on_the_instance_resource_only():
    """General examples: require a specific instance type (t2.micro): deny RunInstances
    on arn:aws:ec2:*:*:instance/* when StringNotEquals ec2:InstanceType. The image,
    subnet and volume authorizations carry no ec2:InstanceType and are not matched."""
    big = guardrails(
        launch("eu-west-1", INSTANCE.replace("us-east-1", "eu-west-1"), "c5a.24xlarge")
    )
    assert big.decision == DENY
    assert [(r.policy, r.sid) for r in big.reasons] == [
        ("instance-deny", "RequireMicroInstanceType")
    ]
    micro = guardrails(launch("eu-west-1", INSTANCE.replace("us-east-1", "eu-west-1"), "t2.micro"))
    assert micro.decision == ALLOW
    for resource in (IMAGE, SUBNET, VOLUME):
        eu = resource.replace("us-east-1", "eu-west-1")
        assert guardrails(launch("eu-west-1", eu, None)).decision == ALLOW, resource


def test_negated_operator_on_resource_star_over_blocks_the_launch():
    """Condition operators (Important box): a negated operator is true when the key is
    absent. A StringNotLike ec2:InstanceType deny on Resource "*" therefore also denies
    the image, subnet and volume checks of the same launch, which carry no
    ec2:InstanceType: every launch is blocked, even of an allowed type."""
    over = PolicyRef(
        "over-broad",
        "r-root",
        doc(
            {
                "Sid": "OnlyT3",
                "Effect": "Deny",
                "Action": "ec2:RunInstances",
                "Resource": "*",
                "Condition": {"StringNotLike": {"ec2:InstanceType": "t3.*"}},
            }
        ),
    )
    chain = [[full("r-root"), over]]
    allowed_type = launch("us-east-1", INSTANCE, "t3.micro")
    assert evaluate(allowed_type, scp_chain=chain, identity_allows_all=True).decision == ALLOW
    for resource in (IMAGE, SUBNET, VOLUME):
        decision = evaluate(
            launch("us-east-1", resource, None), scp_chain=chain, identity_allows_all=True
        )
        assert decision.decision == DENY, resource
    if_exists = PolicyRef(
        "if-exists",
        "r-root",
        doc(
            {
                "Effect": "Deny",
                "Action": "ec2:RunInstances",
                "Resource": "*",
                "Condition": {"StringNotLikeIfExists": {"ec2:InstanceType": "t3.*"}},
            }
        ),
    )
    image = launch("us-east-1", IMAGE, None)
    assert (
        evaluate(image, scp_chain=[[full("r-root"), if_exists]], identity_allows_all=True).decision
        == DENY
    )
    positive = PolicyRef(
        "positive",
        "r-root",
        doc(
            {
                "Effect": "Deny",
                "Action": "ec2:RunInstances",
                "Resource": "*",
                "Condition": {"StringLike": {"ec2:InstanceType": ["c5a.*", "p4d.*"]}},
            }
        ),
    )
    chain = [[full("r-root"), positive]]
    assert evaluate(image, scp_chain=chain, identity_allows_all=True).decision == ALLOW
    c5a = launch("us-east-1", INSTANCE, "c5a.24xlarge")
    assert evaluate(c5a, scp_chain=chain, identity_allows_all=True).decision == DENY


def test_the_incident_launches_are_all_denied():
    """The incident: 26 c5a.24xlarge launched in four US regions with leaked keys. Both
    example guardrails deny every one, and the reasons name both statements."""
    launches = {"us-east-1": 8, "us-east-2": 6, "us-west-1": 6, "us-west-2": 6}
    decisions = [
        guardrails(launch(region, INSTANCE.replace("us-east-1", region), "c5a.24xlarge"))
        for region, count in launches.items()
        for _ in range(count)
    ]
    assert len(decisions) == 26
    assert {d.decision for d in decisions} == {DENY}
    assert {tuple(r.sid for r in d.reasons) for d in decisions} == {
        ("DenyAllOutsideEU", "RequireMicroInstanceType")
    }


# --------------------------------------------------------------------------- parsing


def test_documents_are_accepted_as_json_text_and_compiled_once():
    text = json.dumps(FULL_ACCESS)
    first, second = PolicyRef("a", "r", text), PolicyRef("b", "ou", text)
    assert first.statements is second.statements
    request = Request("s3:ListBuckets")
    assert evaluate(request, scp_chain=[[first]], identity_allows_all=True).decision == ALLOW


def test_single_statement_object_and_legacy_version_are_accepted():
    """IAM JSON policy elements: Version: without 2012-10-17, variables are plain text."""
    legacy = {
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::${aws:username}",
        }
    }
    policy = PolicyRef("legacy", USER, legacy)
    literal = Request("s3:GetObject", "arn:aws:s3:::${aws:username}", {"aws:username": "dev"})
    assert evaluate(literal, identity_policies=[policy]).decision == ALLOW
    resolved = Request("s3:GetObject", "arn:aws:s3:::dev", {"aws:username": "dev"})
    assert evaluate(resolved, identity_policies=[policy]).decision == IMPLICIT_DENY


def test_malformed_operator_names_the_policy_target_and_element():
    bad = doc(
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEqualz": {"k": "v"}},
        }
    )
    with pytest.raises(ValueError) as info:
        PolicyRef("region-deny", "r-root", bad)
    assert str(info.value) == (
        "Policy 'region-deny' attached to 'r-root' has a malformed "
        "Statement[0].Condition.StringEqualz: 'StringEqualz' is not a condition operator; "
        "use one listed in 'IAM JSON policy elements: Condition operators'."
    )


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json", "document: is not valid JSON"),
        ([], "document: is not a JSON object"),
        ({"Statement": []}, "Statement: is missing or empty"),
        ({"Version": "2012-10-18", "Statement": {}}, "Version: '2012-10-18' is unknown"),
        ({"Statement": {}, "Extra": 1}, "'Extra': is not a policy element"),
        (
            doc({"Effect": "Permit", "Action": "*", "Resource": "*"}),
            "Statement[0].Effect: is 'Permit'",
        ),
        (
            doc({"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"}),
            "needs exactly one of Action and NotAction",
        ),
        (
            doc({"Effect": "Allow", "Action": "*"}),
            "needs exactly one of Resource and NotResource",
        ),
        (
            doc({"Effect": "Allow", "Action": "RunInstances", "Resource": "*"}),
            "'RunInstances' is not an action",
        ),
        (doc({"Effect": "Allow", "Action": "ec2:", "Resource": "*"}), "'ec2:' is not an action"),
        (
            doc({"Effect": "Allow", "Action": [], "Resource": "*"}),
            "must be a string or a non-empty list",
        ),
        (
            doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}),
            "Statement[0].Principal: is not allowed",
        ),
        (
            doc({"Effect": "Allow", "Action": "*", "Resource": "arn:${}"}),
            "Statement[0].Resource: the policy variable",
        ),
        (
            doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {}}}),
            "must be a non-empty object",
        ),
    ],
)
def test_malformed_documents_are_rejected(document, problem):
    with pytest.raises(ValueError) as info:
        PolicyRef("p", "t", document)
    assert str(info.value).startswith("Policy 'p' attached to 't' has a malformed ")
    assert problem in str(info.value)
