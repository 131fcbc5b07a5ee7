"""instance-types: no resource may launch EC2 capacity of a type the spec forbids.

Covers every pulumi-aws resource that launches or reserves EC2 capacity (see
``capacity.FIELDS``), with the same allow/deny/vCPU-ceiling semantics as
:class:`corral.spec.model.InstanceRule`, built from the rule's settings.
"""

from __future__ import annotations

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    Severity,
)

from corral.build import packconfig as P

from . import capacity
from . import support as S

ID = P.INSTANCE_TYPES
DESCRIPTION = "Resources launch only the EC2 instance types the corral spec permits."
FIX = (
    "Use only instance types the corral spec permits (`corral instance-types` lists them), "
    "or change corral:instances and regenerate the pack config with `corral policy-config`."
)


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Report every forbidden instance type the resource can launch."""
    if args.resource_type not in capacity.FIELDS:
        args.not_applicable("the resource launches no EC2 capacity")
    rule = P.instance_rule(args.get_config())
    if not rule.restricts:
        args.not_applicable("the pack config sets no instance rule")
    unknowns = S.Unknowns()
    name = S.label(args.resource_type, args.name)
    for problem in capacity.problems(args.resource_type, args.props, rule, unknowns):
        report_violation(f"{name} {problem}; the {ID} rule forbids this. {FIX}", None)
    unknowns.raise_any()


POLICY = S.resource_policy(ID, DESCRIPTION, validate, Severity.CRITICAL, FIX)
