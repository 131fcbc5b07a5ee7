"""no-iam-access-keys: no long-lived IAM user access keys.

Leaked user keys are how the incident's miners got in; workloads use roles,
people use SSO or short-lived credentials.
"""

from __future__ import annotations

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    Severity,
)

from corral.build import packconfig as P

from . import support as S
from . import tokens as T

ID = P.NO_ACCESS_KEYS
DESCRIPTION = "Stacks create no long-lived IAM user access keys."
FIX = (
    "Remove the access key; give workloads an IAM role and people SSO or other short-lived "
    "credentials."
)


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Report every IAM access key the stack creates."""
    if args.resource_type != T.ACCESS_KEY:
        args.not_applicable("the resource is not an IAM access key")
    unknowns = S.Unknowns()
    user = S.get(args.props, "user", unknowns)
    owner = f" for IAM user '{user}'" if isinstance(user, str) else ""
    report_violation(
        f"{S.label(args.resource_type, args.name)} creates a long-lived access key{owner}; "
        f"the {ID} rule forbids this. {FIX}",
        None,
    )


POLICY = S.resource_policy(ID, DESCRIPTION, validate, Severity.HIGH, FIX)
