"""Every document the spec builds is deployed (found by name or by the manifest's id)."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _deployed
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="guardrail-document-present",
    title="Every guardrail document is deployed",
    severity="critical",
    risk="A guardrail document that does not exist denies nothing.",
    remediation="Deploy the stack again with `pulumi up --refresh`.",
    actions=("organizations:ListPolicies", "iam:ListPolicies"),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.TARGETS, K.PRINCIPALS),
)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per planned document."""
    if not ctx.org_level:
        return
    found = _deployed.listed(ctx)
    what = "SCP" if ctx.spec.mode == K.ORGANIZATION else "IAM policy"
    for doc in ctx.plan.documents:
        wanted = ctx.policy_ids.get(doc.name) or found.get(doc.name)
        if wanted is not None and wanted in found.values():
            yield passed(
                METADATA,
                ctx.account,
                None,
                doc.name,
                f"The {what} {doc.name} is deployed as {wanted}.",
            )
        else:
            yield failed(
                METADATA,
                ctx.account,
                None,
                doc.name,
                f"The {what} {doc.name} ({', '.join(doc.guardrails)}) is not deployed, so its "
                "guardrails deny nothing; run `pulumi up --refresh` for this stack.",
            )
