"""compute-services: resources run only on compute services the spec allows.

``tokens.COMPUTE_SERVICE`` maps each pulumi-aws resource that runs compute beyond EC2's
own launches to its service in corral/spec/data/compute_services.json. A service not in
``allow`` (``corral:compute.allow``; ``ec2`` always) is refused. An allowed service that
carries instance types (SageMaker: ``ml.`` and an EC2 type) launches only types whose EC2
counterpart the instance rule in ``instances`` permits, like the SCP's condition key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from corral.build import packconfig as P
from corral.spec import keys as K
from corral.spec.capacity import compute_services
from corral.spec.model import InstanceRule

from . import capacity
from . import support as S
from . import tokens as T

ID = P.COMPUTE_SERVICES
DESCRIPTION = "Resources run only on the compute services the corral spec allows."
FIX = (
    "Run the workload on a compute service the corral spec allows, with instance types its "
    "instance rule permits, or change corral:compute.allow (or corral:instances) and "
    "regenerate the pack config with `corral policy-config`."
)


def type_problems(
    service: str, props: Any, rule: InstanceRule, unknowns: S.Unknowns
) -> Iterator[str]:
    """What is wrong with the instance types an allowed ``service`` launches, one clause each."""
    typed = compute_services()[service].types if service in compute_services() else None
    if typed is None or not rule.restricts:
        return
    for path, value in S.find(props, T.SERVICE_INSTANCE_TYPE, unknowns):
        if not isinstance(value, str) or not value.startswith(typed.prefix):
            continue
        ec2_type = value.removeprefix(typed.prefix)
        if not rule.permits(ec2_type):
            yield (
                f"launches {value} ({path}), held to the instance rule as {ec2_type}, but "
                f"{capacity.why(rule, ec2_type)}"
            )


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Report a resource of a denied service, or instance types an allowed one may not use."""
    service = T.COMPUTE_SERVICE.get(args.resource_type)
    if service is None:
        args.not_applicable("the resource runs no compute service besides EC2")
    config = args.get_config()
    allowed = P.allowed_names(config) | {K.EC2_COMPUTE}
    name = S.label(args.resource_type, args.name)
    if service not in allowed:
        report_violation(
            f"{name} runs on {service}, a compute service the spec does not allow "
            f"(corral:compute.allow lists {', '.join(sorted(allowed))}); the {ID} rule forbids "
            f"this. {FIX}",
            None,
        )
        return
    unknowns = S.Unknowns()
    rule = P.instance_rule(config.get(P.INSTANCES) or {})
    for problem in type_problems(service, args.props, rule, unknowns):
        report_violation(f"{name} {problem}; the {ID} rule forbids this. {FIX}", None)
    unknowns.raise_any()


POLICY = S.resource_policy(ID, DESCRIPTION, validate, Severity.CRITICAL, FIX)
