"""The SCP policy type is enabled on the organization root."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="scp-policy-type-enabled",
    title="Service control policies are enabled on the root",
    severity="critical",
    risk="With the SCP policy type disabled, no SCP is evaluated: every guardrail is inert.",
    remediation="Enable the policy type: aws organizations enable-policy-type "
    "--root-id ROOT --policy-type SERVICE_CONTROL_POLICY.",
    actions=("organizations:ListRoots",),
    modes=(K.ORGANIZATION,),
    scope=VERIFY,
    spec_keys=(K.MODE,),
)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per root."""
    for root in ctx.conn.read("organizations", "ListRoots").get("Roots", []):
        types = {t["Type"]: t["Status"] for t in root.get("PolicyTypes", [])}
        resource = f"root {root['Id']}"
        if types.get("SERVICE_CONTROL_POLICY") == "ENABLED":
            yield passed(
                METADATA,
                ctx.account,
                None,
                resource,
                f"Root {root['Id']} has the SCP policy type enabled.",
            )
        else:
            yield failed(
                METADATA,
                ctx.account,
                None,
                resource,
                f"Root {root['Id']} does not have the SERVICE_CONTROL_POLICY policy type "
                "enabled, so no guardrail is evaluated; enable it with `aws organizations "
                f"enable-policy-type --root-id {root['Id']} --policy-type "
                "SERVICE_CONTROL_POLICY`.",
            )
