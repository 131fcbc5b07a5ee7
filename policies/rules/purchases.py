"""purchases: no resource commits money in a purchase category the spec does not allow.

``tokens.PURCHASE_CATEGORY`` maps each pulumi-aws resource that buys a reservation, a
commitment or a subscription to its category in corral/spec/data/purchases.json; a
category not in ``allow`` (``corral:purchases.allow``; empty by default) is refused.
``tokens.PURCHASE_EXCEPTIONS`` names the input with which a resource commits nothing.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from corral.build import packconfig as P

from . import support as S
from . import tokens as T

ID = P.PURCHASES
DESCRIPTION = "Resources commit money only in the purchase categories the corral spec allows."
FIX = (
    "Remove the purchase (pay as you go instead), or add its category to "
    "corral:purchases.allow and regenerate the pack config with `corral policy-config`."
)


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Report a resource that buys in a category the spec does not allow."""
    category = T.PURCHASE_CATEGORY.get(args.resource_type)
    if category is None:
        args.not_applicable("the resource buys no reservation, commitment or subscription")
    if category in P.allowed_names(args.get_config()):
        args.not_applicable(f"the pack config allows the purchase category {category}")
    unknowns = S.Unknowns()
    exception = T.PURCHASE_EXCEPTIONS.get(args.resource_type)
    if exception is not None:
        key, free = exception
        value = S.get(args.props, key, unknowns)
        unknowns.raise_any()
        if value is free:
            args.not_applicable(f"the resource commits nothing with {key} {str(free).lower()}")
    report_violation(
        f"{S.label(args.resource_type, args.name)} commits money in the purchase category "
        f"{category}, which corral:purchases.allow does not list; the {ID} rule forbids this. "
        f"{FIX}",
        None,
    )


POLICY = S.resource_policy(ID, DESCRIPTION, validate, Severity.CRITICAL, FIX)
