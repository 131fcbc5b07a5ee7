"""spot-instances: no resource may request Spot capacity unless the spec allows it.

``corral:instances.spot`` (a target's ``instances.spot`` with ``--target``) is off by
default. The SCP denies Spot launches through ``RunInstances``; Auto Scaling, fleets, EKS,
Batch and EMR launch through service-linked roles that SCPs do not bind, so the pack
stops them at preview. ``markets.FIELDS`` lists the inputs that ask for Spot.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from corral.build import packconfig as P

from . import markets
from . import support as S

ID = P.SPOT_INSTANCES
DESCRIPTION = "Resources request Spot capacity only when the corral spec allows Spot."
FIX = (
    "Use On-Demand capacity (drop the Spot settings), or set spot: true under corral:instances "
    "(or the target's instances) and regenerate the pack config with `corral policy-config`."
)


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Report every input of the resource that requests Spot capacity."""
    if args.resource_type not in markets.FIELDS:
        args.not_applicable("the resource requests no EC2 capacity")
    if P.spot_allowed(args.get_config()):
        args.not_applicable("the pack config allows Spot capacity")
    unknowns = S.Unknowns()
    name = S.label(args.resource_type, args.name)
    for reason in markets.reasons(args.resource_type, args.props, unknowns):
        report_violation(
            f"{name} requests Spot capacity ({reason}); the {ID} rule forbids this. {FIX}", None
        )
    unknowns.raise_any()


POLICY = S.resource_policy(ID, DESCRIPTION, validate, Severity.HIGH, FIX)
