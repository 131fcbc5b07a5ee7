"""A swept account can be reached (role assumed) and its enabled regions listed."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks._base import SWEEP_ACCOUNT, CheckMetadata, SweepContext, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="account-reachable",
    title="The account can be swept",
    severity="high",
    risk="An account the sweep cannot enter may hide running capacity.",
    remediation="Make the role assumable from the management account, with the actions "
    "printed by `corral iam-policy`.",
    actions=("sts:AssumeRole", "ec2:DescribeRegions"),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=SWEEP_ACCOUNT,
    spec_keys=(K.TARGETS, K.MODE),
)


def run(ctx: SweepContext) -> Iterator[Finding]:
    """One PASS listing the enabled regions in ``details['regions']``."""
    ctx.conn.enter(ctx.account)
    out = ctx.conn.read("ec2", "DescribeRegions", account=ctx.account)
    regions = sorted(r["RegionName"] for r in out.get("Regions", []))
    how = (
        "with its own credentials"
        if ctx.account == ctx.caller
        else (f"through role {ctx.conn.role_name}")
    )
    yield passed(
        METADATA,
        ctx.account,
        None,
        f"account {ctx.account}",
        f"Account {ctx.account} was reached {how}; {len(regions)} regions are enabled.",
        regions=regions,
    )
