"""EC2's Running On-Demand vCPU quota classes: which class each instance type counts against,
and the ``AWS/Usage`` metric on which AWS publishes each class's running vCPUs.

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
