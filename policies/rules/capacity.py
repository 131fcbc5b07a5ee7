"""Where each pulumi-aws resource names the EC2 instance types it can launch, and what is wrong.

``FIELDS`` maps a type token to its property paths and how to read each:
``type`` one instance type, ``types`` a list of them, ``family`` a family whose
every size may launch, ``batch`` AWS Batch's list (types, families or
``optimal``/``default_*``), ``requirements`` attribute-based selection
(``instanceRequirements``), ``beanstalk`` Elastic Beanstalk option settings.
Each check returns problem sentences; the rule adds the resource and the fix.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from corral.spec import catalog
from corral.spec.model import InstanceRule

from . import support as S
from . import tokens as T

TYPE, TYPES, FAMILY, BATCH, REQUIREMENTS, BEANSTALK = (
    "type", "types", "family", "batch", "requirements", "beanstalk",
)  # fmt: skip
_ASG = "mixedInstancesPolicy.launchTemplate.overrides[]"
_FLEET = "launchTemplateConfigs[].overrides[]"
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    T.EC2_INSTANCE: (("instanceType", TYPE),),
    T.SPOT_INSTANCE_REQUEST: (("instanceType", TYPE),),
    T.LAUNCH_TEMPLATE: (("instanceType", TYPE), ("instanceRequirements", REQUIREMENTS)),
    T.LAUNCH_CONFIGURATION: (("instanceType", TYPE),),
    T.AUTOSCALING_GROUP: (
        (f"{_ASG}.instanceType", TYPE),
        (f"{_ASG}.instanceRequirements", REQUIREMENTS),
    ),
    T.EC2_FLEET: (
        (f"{_FLEET}.instanceType", TYPE),
        (f"{_FLEET}.instanceRequirements", REQUIREMENTS),
    ),
    T.SPOT_FLEET_REQUEST: (
        ("launchSpecifications[].instanceType", TYPE),
        (f"{_FLEET}.instanceType", TYPE),
        (f"{_FLEET}.instanceRequirements", REQUIREMENTS),
    ),
    T.CAPACITY_RESERVATION: (("instanceType", TYPE),),
    T.DEDICATED_HOST: (("instanceType", TYPE), ("instanceFamily", FAMILY)),
    T.EKS_NODE_GROUP: (("instanceTypes", TYPES),),
    T.BATCH_COMPUTE_ENVIRONMENT: (("computeResources.instanceTypes", BATCH),),
    T.EMR_CLUSTER: (
        ("masterInstanceGroup.instanceType", TYPE),
        ("coreInstanceGroup.instanceType", TYPE),
        ("masterInstanceFleet.instanceTypeConfigs[].instanceType", TYPE),
        ("coreInstanceFleet.instanceTypeConfigs[].instanceType", TYPE),
    ),
    T.EMR_INSTANCE_GROUP: (("instanceType", TYPE),),
    T.EMR_INSTANCE_FLEET: (("instanceTypeConfigs[].instanceType", TYPE),),
    T.ECS_CAPACITY_PROVIDER: (
        ("managedInstancesProvider.instanceLaunchTemplate.instanceRequirements", REQUIREMENTS),
    ),
    T.LAMBDA_CAPACITY_PROVIDER: (("instanceRequirements[]", REQUIREMENTS),),
    T.CLOUD9_ENVIRONMENT: (("instanceType", TYPE),),
    T.IMAGEBUILDER_INFRASTRUCTURE: (("instanceTypes", TYPES),),
    T.GAMELIFT_FLEET: (("ec2InstanceType", TYPE),),
    T.GAMELIFT_SERVER_GROUP: (("instanceDefinitions[].instanceType", TYPE),),
    T.DRS_REPLICATION_TEMPLATE: (("replicationServerInstanceType", TYPE),),
    T.BEANSTALK_ENVIRONMENT: (("settings[]", BEANSTALK),),
    T.BEANSTALK_TEMPLATE: (("settings[]", BEANSTALK),),
}
BEANSTALK_OPTIONS = {
    ("aws:autoscaling:launchconfiguration", "InstanceType"),
    ("aws:ec2:instances", "InstanceTypes"),
}


def why(rule: InstanceRule, instance_type: str) -> str:
    """Why ``rule`` forbids ``instance_type``, as a clause."""
    if rule.allow and not any(catalog.matches(p, instance_type) for p in rule.allow):
        return f"it matches none of the allowed patterns {', '.join(rule.allow)}"
    for pattern in rule.deny:
        if catalog.matches(pattern, instance_type):
            return f"it matches the denied pattern {pattern}"
    count = catalog.vcpus().get(instance_type)
    if count is None:
        return f"its vCPU count is unknown and the rule has a ceiling of {rule.max_vcpus}"
    return f"its {count} vCPUs exceed the ceiling of {rule.max_vcpus}"


def _examples(types: list[str]) -> str:
    counts = catalog.vcpus()
    worst = sorted(types, key=lambda t: (-counts.get(t, 0), t))[:3]
    return ", ".join(worst)


@functools.cache
def _forbidden(rule: InstanceRule, candidates: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(t for t in candidates if not rule.permits(t)))


def _family(rule: InstanceRule, family: str, path: str) -> Iterator[str]:
    members = frozenset(t for t in catalog.instance_types() if catalog.family(t) == family)
    bad = list(_forbidden(rule, members))
    if bad:
        yield (
            f"lets AWS launch any size of family {family} ({path}), and {len(bad)} of them are "
            f"forbidden (e.g. {_examples(bad)})"
        )


@functools.cache
def _selected(allowed: tuple, excluded: tuple, low: float | None, high: float | None) -> frozenset:
    counts = catalog.vcpus()
    chosen = set()
    for t in catalog.instance_types():
        if allowed and not any(catalog.matches(p, t) for p in allowed):
            continue
        if any(catalog.matches(p, t) for p in excluded):
            continue
        n = counts.get(t)
        if n is not None and ((low is not None and n < low) or (high is not None and n > high)):
            continue
        chosen.add(t)
    return frozenset(chosen)


def _requirements(rule: InstanceRule, value: Any, path: str, unknowns: S.Unknowns) -> Iterator[str]:
    try:
        req = S.plain(value)
    except S.UnknownValueError as error:
        unknowns.add(error)
        return
    if not isinstance(req, dict):
        return
    vcpu = req.get("vcpuCount") or {}
    candidates = _selected(
        tuple(req.get("allowedInstanceTypes") or ()),
        tuple(req.get("excludedInstanceTypes") or ()),
        vcpu.get("min"),
        vcpu.get("max"),
    )
    bad = list(_forbidden(rule, candidates))
    if bad:
        yield (
            f"selects instance types by attributes ({path}) and can launch {len(bad)} types "
            f"the rule forbids (e.g. {_examples(bad)}); set allowedInstanceTypes to permitted "
            "patterns"
        )


def _one(rule: InstanceRule, value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str) and not rule.permits(value):
        yield f"launches {value} ({path}), but {why(rule, value)}"


def _batch(rule: InstanceRule, value: Any, path: str) -> Iterator[str]:
    if not isinstance(value, str):
        return
    if "." in value:
        yield from _one(rule, value, path)
    elif value == "optimal" or value.startswith("default_"):
        yield f"lets AWS Batch pick instance types itself ('{value}' at {path})"
    else:
        yield from _family(rule, value, path)


def _beanstalk(rule: InstanceRule, value: Any, path: str, unknowns: S.Unknowns) -> Iterator[str]:
    option = (S.get(value, "namespace", unknowns), S.get(value, "name", unknowns))
    if option not in BEANSTALK_OPTIONS:
        return
    text = S.get(value, "value", unknowns)
    for part in (text or "").split(","):
        yield from _one(rule, part.strip(), f"{path}.value")


def problems(resource_type: str, props: Any, rule: InstanceRule, unknowns: S.Unknowns) -> list[str]:
    """What is wrong with the instance types ``props`` can launch, one clause each."""
    found: list[str] = []
    for field, kind in FIELDS.get(resource_type, ()):
        for path, value in S.walk(props, field, unknowns):
            if kind == TYPE:
                found += _one(rule, value, path)
            elif kind == TYPES:
                for i, item in enumerate(S.items(value, unknowns)):
                    found += _one(rule, item, f"{path}[{i}]")
            elif kind == BATCH:
                for i, item in enumerate(S.items(value, unknowns)):
                    found += _batch(rule, item, f"{path}[{i}]")
            elif kind == FAMILY and isinstance(value, str):
                found += _family(rule, value, path)
            elif kind == REQUIREMENTS:
                found += _requirements(rule, value, path, unknowns)
            elif kind == BEANSTALK:
                found += _beanstalk(rule, value, path, unknowns)
    return found
