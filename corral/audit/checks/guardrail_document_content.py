"""Each deployed document says what the spec builds (semantic comparison, not names)."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _deployed, _policy
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="guardrail-document-content",
    title="Deployed guardrail documents match the spec",
    severity="critical",
    risk="A document edited in the console may still carry the right name while allowing "
    "more regions, more instance types or more principals than the spec.",
    remediation="Run `pulumi up --refresh` to restore the documents the spec builds.",
    actions=(
        "organizations:ListPolicies",
        "organizations:DescribePolicy",
        "iam:ListPolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
    ),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.TARGETS, K.PRINCIPALS),
)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per planned document that is deployed (absence is another check)."""
    if not ctx.org_level:
        return
    for doc in ctx.plan.documents:
        deployed = _deployed.find(ctx, doc.name)
        if deployed is None:
            continue
        changes = _policy.describe_changes(doc.content, deployed.content)
        if not changes:
            yield passed(
                METADATA,
                ctx.account,
                None,
                deployed.label,
                f"{deployed.label} has the content the spec builds.",
            )
            continue
        yield failed(
            METADATA,
            ctx.account,
            None,
            deployed.label,
            f"{deployed.label} differs from what the spec builds: {'; '.join(changes)}; "
            "run `pulumi up --refresh` to restore it.",
            changes=changes,
        )
