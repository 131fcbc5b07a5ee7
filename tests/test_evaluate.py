"""Statement matching, decision rules, SCP chains and AWS's documented examples.

Expected results follow AWS's documentation, cited by title in each test: "Policy
evaluation logic", "IAM JSON policy elements: Action / NotAction / Resource",
AWS Organizations "SCP evaluation", "Service control policies (SCPs)" and
"General examples" (Deny access to AWS based on the requested AWS Region).
"""

from __future__ import annotations

import doctest

import pytest
from evaluate_support import (
    ACCOUNT,
    INSTANCE,
    USER,
    applies,
    doc,
    full,
)

import corral.evaluate.engine
from corral.evaluate.engine import (
    ALLOW,
    DENY,
    IMPLICIT_DENY,
    Reason,
    evaluate,
)
from corral.evaluate.policy import PolicyRef, Request


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
