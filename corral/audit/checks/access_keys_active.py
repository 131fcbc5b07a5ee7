"""IAM users with active access keys: age and last use, so a responder can rotate or delete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from corral.audit.checks._base import SWEEP_ACCOUNT, CheckMetadata, SweepContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="access-keys-active",
    title="No IAM user has active long-lived access keys",
    severity="high",
    risk="Long-lived user keys leak (scripts, repositories, laptops); leaked keys are how "
    "the incident's 26 instances were launched.",
    remediation="Delete the key and use roles or IAM Identity Center for short-lived credentials.",
    actions=("iam:ListUsers", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed"),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=SWEEP_ACCOUNT,
    spec_keys=(K.PROTECTIONS, K.PRINCIPALS),
)


def _age(created: dt.datetime, now: dt.datetime) -> str:
    days = (now - created).days
    return "1 day" if days == 1 else f"{days} days"


def run(ctx: SweepContext) -> Iterator[Finding]:
    """One FAIL per active key, or one PASS."""
    now = dt.datetime.now(dt.UTC)
    count = 0
    for user in ctx.conn.read("iam", "ListUsers", account=ctx.account).get("Users", []):
        name = user["UserName"]
        keys = ctx.conn.read("iam", "ListAccessKeys", account=ctx.account, UserName=name)
        for key in keys.get("AccessKeyMetadata", []):
            if key["Status"] != "Active":
                continue
            count += 1
            key_id = key["AccessKeyId"]
            used = ctx.conn.read(
                "iam", "GetAccessKeyLastUsed", account=ctx.account, AccessKeyId=key_id
            )["AccessKeyLastUsed"]
            last = used.get("LastUsedDate")
            where = (
                f"last used {last.isoformat()} ({used.get('ServiceName')} in {used.get('Region')})"
                if last
                else "never used"
            )
            yield failed(
                METADATA,
                ctx.account,
                None,
                f"user {name} key {key_id}",
                f"IAM user {name} in account {ctx.account} has active access key {key_id}, "
                f"{_age(key['CreateDate'], now)} old, {where}; delete it and use roles or IAM "
                "Identity Center instead.",
                created=key["CreateDate"].isoformat(),
            )
    if not count:
        yield passed(
            METADATA,
            ctx.account,
            None,
            "IAM users",
            f"No IAM user in account {ctx.account} has an active access key.",
        )
