"""EC2's vCPU quota classes (On-Demand and Spot): which class each instance type counts
against, and the metrics on which AWS publishes running capacity: EC2 and Fargate vCPUs on
``AWS/Usage``, Lambda concurrency on ``AWS/Lambda``.

Unlike :mod:`corral.spec.catalog`, the family prefixes here are typed by hand from AWS's
quota names; ``tests/test_spend.py`` checks that every catalog instance type has a class.
"""

from __future__ import annotations

from corral.spec import catalog

# AWS's Running On-Demand vCPU quotas and the ``Class`` each publishes on
# ``AWS/Usage ResourceCount`` (Service=EC2, Type=Resource, Resource=vCPU) as
# "<class>/OnDemand". Quota names: Standard (A, C, D, H, I, M, R, T, Z), F,
# G and VT, P, X, Inf, DL, Trn, HPC, High Memory. Longer family prefixes are
# tried first, so ``inf2`` is Inf and not Standard (I).
QUOTA_PREFIXES = (
    ("hpc", "HPC"),
    ("inf", "Inf"),
    ("trn", "Trn"),
    ("dl", "DL"),
    ("vt", "G"),
    ("u", "HighMem"),
    ("f", "F"),
    ("g", "G"),
    ("p", "P"),
    ("x", "X"),
    *((letter, "Standard") for letter in "acdhimrtz"),
)
# Mac instances run only on Dedicated Hosts, which have host quotas, not vCPU quotas.
DEDICATED_HOST_FAMILIES = ("mac",)
USAGE_NAMESPACE = "AWS/Usage"
USAGE_METRIC = "ResourceCount"
# Classes with an On-Demand quota but no Spot quota. AWS's Spot quotas ("All <class> Spot
# Instance Requests") are DL, F, G and VT, Inf, P, Standard, Trn and X (EC2 User Guide,
# "Spot Instance quotas"); each publishes Class "<class>/Spot" on the same metric.
NO_SPOT_CLASSES = ("HPC", "HighMem")
EC2_SERVICE = "EC2"
ON_DEMAND = "OnDemand"
SPOT = "Spot"
# Fargate publishes running vCPUs on the same metric with Service=Fargate, Resource=vCPU and
# Class Standard/OnDemand or Standard/Spot (ECS Developer Guide, "AWS Fargate usage metrics").
FARGATE_SERVICE = "Fargate"
FARGATE_CLASS = "Standard"
FARGATE_KINDS = (ON_DEMAND, SPOT)
# Lambda's account-level concurrency: ConcurrentExecutions without dimensions, per region
# (Lambda Developer Guide, "Monitoring concurrency"; read it with Maximum).
LAMBDA_NAMESPACE = "AWS/Lambda"
LAMBDA_METRIC = "ConcurrentExecutions"


def usage_dimensions(service: str, cls: str, kind: str) -> tuple[tuple[str, str], ...]:
    """The sorted ``AWS/Usage`` dimensions of running vCPUs of ``service`` (EC2 or Fargate)
    in quota class ``cls``, On-Demand or Spot ``kind``."""
    return (
        ("Class", f"{cls}/{kind}"),
        ("Resource", "vCPU"),
        ("Service", service),
        ("Type", "Resource"),
    )


def quota_class(instance_type: str) -> str | None:
    """The On-Demand vCPU quota class of ``instance_type``, or None for Dedicated-Host-only."""
    family = catalog.family(instance_type)
    if family.startswith(DEDICATED_HOST_FAMILIES):
        return None
    for prefix, name in QUOTA_PREFIXES:
        if family.startswith(prefix):
            return name
    raise ValueError(f"instance family {family} has no known On-Demand quota class.")


def vcpu_classes() -> tuple[str, ...]:
    """The On-Demand classes of every instance type in the catalog, sorted."""
    found = {quota_class(t) for t in catalog.instance_types()}
    return tuple(sorted(c for c in found if c is not None))


def spot_classes() -> tuple[str, ...]:
    """The On-Demand classes that also have a Spot quota, sorted."""
    return tuple(c for c in vcpu_classes() if c not in NO_SPOT_CLASSES)
