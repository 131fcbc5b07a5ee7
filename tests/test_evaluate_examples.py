"""AWS's documented SCP examples (Deny access to AWS based on the requested AWS Region; the
instance-type example) judged by the evaluator, the incident's launches, and parsing of
policy documents."""

from __future__ import annotations

import json

import pytest
from evaluate_support import (
    ACCOUNT,
    FULL_ACCESS,
    IMAGE,
    INSTANCE,
    REGION_DENY,
    SUBNET,
    USER,
    VOLUME,
    doc,
    full,
)

from corral.evaluate.engine import (
    ALLOW,
    DENY,
    IMPLICIT_DENY,
    Decision,
    evaluate,
)
from corral.evaluate.policy import PolicyRef, Request

# --------------------------------------------------------------------------- AWS examples

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
