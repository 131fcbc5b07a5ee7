"""Each document is attached to every target (or principal) the spec names."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _deployed
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="guardrail-attached",
    title="Guardrail documents are attached where the spec says",
    severity="critical",
    risk="A detached guardrail protects nothing below the target it was detached from.",
    remediation="Run `pulumi up --refresh` to attach the documents again.",
    actions=(
        "organizations:ListPolicies",
        "organizations:ListTargetsForPolicy",
        "iam:ListPolicies",
        "iam:ListEntitiesForPolicy",
    ),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.TARGETS, K.PRINCIPALS),
)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per planned attachment."""
    if not ctx.org_level:
        return
    org = ctx.spec.mode == K.ORGANIZATION
    found = _deployed.listed(ctx)
    for attachment in ctx.plan.attachments:
        kind = {K.OU: "OU"}.get(attachment.target_kind, attachment.target_kind)
        target = f"{kind} {attachment.target_name}" + (f" ({attachment.target_id})" if org else "")
        key = attachment.target_id if org else f"{attachment.target_kind}:{attachment.target_id}"
        resource = f"{attachment.document} -> {target}"
        policy_id = ctx.policy_ids.get(attachment.document) or found.get(attachment.document)
        if policy_id is None or policy_id not in found.values():
            yield failed(
                METADATA,
                ctx.account,
                None,
                resource,
                f"{attachment.document} cannot be attached to {target} because it is not "
                "deployed; run `pulumi up --refresh` for this stack.",
            )
            continue
        deployed = _deployed.Deployed(attachment.document, policy_id, "")
        if key in _deployed.attached_to(ctx, deployed):
            yield passed(
                METADATA,
                ctx.account,
                None,
                resource,
                f"{attachment.document} is attached to {target}.",
            )
        else:
            yield failed(
                METADATA,
                ctx.account,
                None,
                resource,
                f"{attachment.document} is not attached to {target}, so its guardrails do not "
                f"apply there; attach it again with `pulumi up --refresh`.",
            )
