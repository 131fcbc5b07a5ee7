"""Shared requests, documents and helpers of the evaluator tests (test_evaluate*.py)."""

from __future__ import annotations

from corral.evaluate.engine import ALLOW, evaluate
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


# AWS Organizations "General examples": Deny access to AWS based on the requested AWS Region.
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
