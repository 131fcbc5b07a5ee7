"""guardrail-full-aws-access: corral's deny-only SCPs keep the allow they rely on.

SCPs only filter: without FullAWSAccess (or another allow) at every level, a
deny-only SCP blocks everything. At preview the pack checks what the stack
controls: an organization it manages keeps all features and the SCP policy type
enabled (disabling the type detaches every SCP, FullAWSAccess included); the
attachment-quota rule keeps a slot free for FullAWSAccess. Detaching it outside
the stack is not visible to a preview; `corral verify` checks it live.
"""

from __future__ import annotations

from pulumi_policy import (
    ReportViolation,
    Severity,
    StackValidationArgs,
)

from corral.build import packconfig as P
from corral.spec import keys as K

from . import support as S
from . import tokens as T

ID = P.FULL_AWS_ACCESS
DESCRIPTION = "corral's deny-only SCPs keep FullAWSAccess and the SCP policy type they rely on."
FIX = (
    f"Keep feature set ALL and {T.SCP_TYPE} in enabledPolicyTypes, and leave "
    f"{K.FULL_AWS_ACCESS} attached to every target corral attaches SCPs to."
)


def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report a managed organization that would switch SCPs off."""
    docs = S.guardrail_documents(args)
    if not any(d.resource_type == T.ORG_POLICY for d in docs):
        args.not_applicable("the stack deploys no corral SCPs (account mode)")
    unknowns = S.Unknowns()
    for org in S.by_type(args.resources, T.ORGANIZATION):
        name = S.label(org.resource_type, org.name)
        feature_set = S.get(org.props, "featureSet", unknowns, name) or "ALL"
        types = list(S.items(S.get(org.props, "enabledPolicyTypes", unknowns, name), unknowns))
        if unknowns.errors:
            continue
        if feature_set != "ALL":
            report_violation(
                f"{name} sets featureSet {feature_set}, under which SCPs, {K.FULL_AWS_ACCESS} "
                f"included, do not apply; the {ID} rule forbids this. {FIX}",
                org.urn,
            )
        elif T.SCP_TYPE not in types:
            report_violation(
                f"{name} leaves {T.SCP_TYPE} out of enabledPolicyTypes, which detaches every "
                f"SCP, {K.FULL_AWS_ACCESS} and corral's included; the {ID} rule forbids this. "
                f"{FIX}",
                org.urn,
            )
    unknowns.raise_any()


POLICY = S.stack_policy(ID, DESCRIPTION, validate, Severity.CRITICAL, FIX)
