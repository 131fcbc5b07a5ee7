"""The root user has no access keys."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks._base import SWEEP_ACCOUNT, CheckMetadata, SweepContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="root-access-keys",
    title="The root user has no access keys",
    severity="critical",
    risk="Root access keys cannot be restricted by SCPs or IAM policies; leaked, they own "
    "the account.",
    remediation="Sign in as root and delete the access keys (Security credentials page).",
    actions=("iam:GetAccountSummary",),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=SWEEP_ACCOUNT,
    spec_keys=(K.TARGETS, K.MODE),
)


def run(ctx: SweepContext) -> Iterator[Finding]:
    """One finding per account."""
    summary = ctx.conn.read("iam", "GetAccountSummary", account=ctx.account)["SummaryMap"]
    present = summary.get("AccountAccessKeysPresent", 0)
    resource = f"root user of {ctx.account}"
    if present:
        yield failed(
            METADATA,
            ctx.account,
            None,
            resource,
            f"The root user of account {ctx.account} has access keys, which no guardrail can "
            "restrict; sign in as root and delete them under Security credentials.",
        )
    else:
        yield passed(
            METADATA,
            ctx.account,
            None,
            resource,
            f"The root user of account {ctx.account} has no access keys.",
        )
