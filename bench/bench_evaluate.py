"""Decisions per second of corral.evaluate.engine against a 5-level organization.

Five levels (root, three nested OUs, the account), five SCPs each: FullAWSAccess, a
region deny (NotAction over the global services in corral/spec/data/global_services.json,
ArnNotLike break-glass exemption), an instance-type deny, a guardrail-protection deny and
a large-instance deny. About 200 requests mix the incident's launches with ordinary work.

The baseline, measured in the same run, is ``json.loads`` of the same 25 policy texts
once per request: the cost of merely reading the policies for each decision. Figures
are printed, never asserted. Run: ``.venv/bin/python bench/bench_evaluate.py``.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from importlib import resources

from support import best_of

from corral.evaluate.engine import evaluate
from corral.evaluate.policy import PolicyRef, Request

ACCOUNT = "111122223333"
LEVELS = ("r-root", "ou-workloads", "ou-prod", "ou-team", ACCOUNT)
ALLOWED_REGIONS = ["eu-west-1", "eu-central-1"]
ALL_REGIONS = [*ALLOWED_REGIONS, "us-east-1", "us-east-2", "us-west-1", "us-west-2"]
BREAK_GLASS = "arn:aws:iam::*:role/BreakGlass"
USER = f"arn:aws:iam::{ACCOUNT}:user/dev"


def global_actions() -> list[str]:
    """The global-service actions the project exempts from its region deny."""
    text = resources.files("corral.spec.data").joinpath("global_services.json").read_text()
    return json.loads(text)["actions"]


def level_policies(level: int, exempt: list[str]) -> list[dict]:
    """The five SCP documents attached at one level."""
    allowed_types = ["t3.micro", "t3.small", "m6i.large"][: 1 + level % 3]
    statements = [
        [{"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"}],
        [{"Sid": "DenyOutsideRegions", "Effect": "Deny", "NotAction": exempt, "Resource": "*",
          "Condition": {"StringNotEquals": {"aws:RequestedRegion": ALLOWED_REGIONS},
                        "ArnNotLike": {"aws:PrincipalARN": [BREAK_GLASS]}}}],
        [{"Sid": "DenyInstanceTypes", "Effect": "Deny",
          "Action": ["ec2:RunInstances", "ec2:StartInstances"],
          "Resource": "arn:aws:ec2:*:*:instance/*",
          "Condition": {"StringNotEquals": {"ec2:InstanceType": allowed_types}}}],
        [{"Sid": "ProtectGuardrails", "Effect": "Deny",
          "Action": ["organizations:LeaveOrganization", "organizations:DetachPolicy",
                     "cloudtrail:StopLogging", "cloudtrail:DeleteTrail",
                     "guardduty:DeleteDetector", "config:StopConfigurationRecorder",
                     "iam:CreateAccessKey"],
          "Resource": "*", "Condition": {"ArnNotLike": {"aws:PrincipalARN": [BREAK_GLASS]}}}],
        [{"Sid": "DenyLargeInstances", "Effect": "Deny", "Action": "ec2:RunInstances",
          "Resource": "arn:aws:ec2:*:*:instance/*",
          "Condition": {"StringLike": {"ec2:InstanceType": ["*.24xlarge", "*.metal", "p4d.*"]}}}],
    ]  # fmt: skip
    return [{"Version": "2012-10-17", "Statement": s} for s in statements]


def organization_texts(exempt: list[str]) -> list[list[tuple[str, str, str]]]:
    """(name, target, JSON text) for every SCP, level by level."""
    names = ("FullAWSAccess", "regions", "instances", "protection", "large")
    return [
        [(name, target, json.dumps(document)) for name, document in zip(names, docs, strict=True)]
        for level, target in enumerate(LEVELS)
        for docs in [level_policies(level, exempt)]
    ]


def requests(count: int) -> list[Request]:
    """The incident's 26 launches first, then a seeded mix of ordinary requests."""
    made = [
        launch(region, "c5a.24xlarge", USER)
        for region, n in (("us-east-1", 8), ("us-east-2", 6), ("us-west-1", 6), ("us-west-2", 6))
        for _ in range(n)
    ]
    rng = random.Random(7)
    ordinary = [
        ("iam:CreateRole", "*"),
        ("s3:GetObject", "arn:aws:s3:::data/key"),
        ("cloudtrail:StopLogging", "*"),
        ("ec2:DescribeInstances", "*"),
    ]
    while len(made) < count:
        region = rng.choice(ALL_REGIONS)
        principal = f"arn:aws:iam::{ACCOUNT}:role/BreakGlass" if rng.random() < 0.1 else USER
        if rng.random() < 0.25:
            instance_type = rng.choice(["t3.micro", "m6i.large", "c5a.24xlarge"])
            made.append(launch(region, instance_type, principal))
            continue
        action, resource = rng.choice(ordinary)
        if action.startswith("iam:"):
            region = "us-east-1"
        context = {"aws:RequestedRegion": region}
        made.append(Request(action, resource, context, principal, ACCOUNT))
    return made


def launch(region: str, instance_type: str, principal: str) -> Request:
    """The instance-resource authorization of one RunInstances call."""
    arn = f"arn:aws:ec2:{region}:{ACCOUNT}:instance/*"
    context = {"aws:RequestedRegion": region, "ec2:InstanceType": instance_type}
    return Request("ec2:RunInstances", arn, context, principal, ACCOUNT)


def main(argv: list[str] | None = None) -> None:
    """Build the organization, time compile, evaluate and the json.loads baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one repeat only")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    exempt = global_actions()
    texts = organization_texts(exempt)
    flat = [text for level in texts for (_, _, text) in level]
    batch = requests(args.requests)

    def build() -> list[list[PolicyRef]]:
        return [[PolicyRef(n, t, json.loads(x)) for n, t, x in level] for level in texts]

    compile_s = best_of(args.repeats, build)
    chain = build()

    def decide() -> list[str]:
        return [evaluate(r, scp_chain=chain, identity_allows_all=True).decision for r in batch]

    def read_only() -> None:
        for _ in batch:
            for text in flat:
                json.loads(text)

    tally = Counter(decide())
    eval_s = best_of(args.repeats, decide)
    loads_s = best_of(args.repeats, read_only)
    n = len(batch)
    print(f"organization: {len(LEVELS)} levels x 5 SCPs; region deny exempts {len(exempt)} actions")
    print(f"requests: {n}; decisions: {dict(sorted(tally.items()))}")
    print(f"compile 25 SCPs (json.loads + validate + regex): {compile_s * 1e3:.2f} ms")
    print(f"evaluate: {eval_s * 1e3:.2f} ms for {n} = {n / eval_s:,.0f} decisions/s")
    print(
        f"baseline json.loads of the 25 SCPs per request: {loads_s * 1e3:.2f} ms "
        f"= {n / loads_s:,.0f} requests/s"
    )
    print(f"ratio evaluate / baseline: {eval_s / loads_s:.2f} (time to decide / time to read)")


if __name__ == "__main__":
    main()
