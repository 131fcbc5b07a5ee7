"""allowed-regions: regional AWS resources stay in the allowed regions.

A resource's region is its own ``region`` input (pulumi-aws 7) or else its
provider's ``region``; the default provider's comes from the stack's
``aws:region``. Every provider must set a region. Resources of global services
are exempt, as in the region SCP, and so are alarms, their EventBridge forwarding
and SNS topics, which watch every region on purpose.
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

ID = P.ALLOWED_REGIONS
DESCRIPTION = "Regional AWS resources stay in the regions the corral spec allows."
FIX = "Deploy to an allowed region, or add the region to corral:allowedRegions."
PROVIDERS = (T.AWS_PROVIDER, T.AWS_NATIVE_PROVIDER)


def _provider(args: ResourceValidationArgs, allowed: list[str], report: ReportViolation) -> None:
    # Where a provider deploys is judged on the resources that use it (each names it), so a
    # provider that only serves global services or detection resources passes.
    unknowns = S.Unknowns()
    region = S.region_of(args.props, unknowns)
    unknowns.raise_any()
    name = S.label(args.resource_type, args.name)
    if region is None:
        report(
            f"{name} sets no region, so the environment (AWS_REGION or the profile) decides "
            f"where it deploys; the {ID} rule needs it explicit. Set region (aws:region for the "
            f"default provider) to one of {', '.join(allowed)}.",
            None,
        )


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Check a provider's region, or the region a regional AWS resource deploys to."""
    allowed = list(args.get_config().get(P.REGIONS) or ())
    if not allowed:
        args.not_applicable("the pack config lists no allowed regions")
    if args.resource_type in PROVIDERS:
        _provider(args, allowed, report_violation)
        return
    if not args.resource_type.startswith(f"{T.AWS_PACKAGE}:") or S.is_global(args.resource_type):
        args.not_applicable("the resource is not a regional AWS resource")
    if args.resource_type in T.DETECTION_TYPES:
        args.not_applicable("alarms, their forwarding and topics watch every region on purpose")
    unknowns = S.Unknowns()
    region, source = S.region_of(args.props, unknowns), "its region input"
    provider = args.provider
    if region is None and not unknowns.errors and provider is not None:
        where = S.label(provider.resource_type, provider.name)
        region, source = S.region_of(provider.props, unknowns, where), f"provider '{provider.name}'"
    unknowns.raise_any()
    if region is not None and region not in allowed:
        report_violation(
            f"{S.label(args.resource_type, args.name)} deploys to {region} (from {source}), "
            f"outside the allowed regions {', '.join(allowed)}; the {ID} rule forbids this. {FIX}",
            None,
        )


POLICY = S.resource_policy(ID, DESCRIPTION, validate, Severity.HIGH, FIX)
