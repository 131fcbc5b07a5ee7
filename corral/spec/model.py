"""The corral spec model: one typed, validated description of the guardrails.

:class:`Spec` and its parts are built from Pulumi stack config by
:mod:`corral.spec.load`, which validates every value; the dataclasses here only
answer questions about the validated result.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from corral.spec import catalog
from corral.spec import keys as K


@dataclass(frozen=True)
class InstanceRule:
    """Which EC2 instance types may be launched.

    ``allow`` patterns (empty: every type), minus ``deny`` patterns, minus types
    with more than ``max_vcpus`` vCPUs. Types with no known vCPU count are not
    permitted under a ceiling (fail closed).
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    max_vcpus: int | None = None
    spot: bool = False
    """Spot capacity allowed (through RunInstances, where the type rule applies)."""

    @property
    def restricts(self) -> bool:
        """False when the rule permits every instance type."""
        return bool(self.allow or self.deny or self.max_vcpus is not None)

    def permits(self, instance_type: str) -> bool:
        """True when ``instance_type`` may be launched under this rule."""
        if self.allow and not any(catalog.matches(p, instance_type) for p in self.allow):
            return False
        if any(catalog.matches(p, instance_type) for p in self.deny):
            return False
        if self.max_vcpus is not None:
            count = catalog.vcpus().get(instance_type)
            return count is not None and count <= self.max_vcpus
        return True

    def permitted_types(self) -> frozenset[str]:
        """The catalog's instance types this rule permits."""
        return _permitted_types(self)


@functools.cache
def _permitted_types(rule: InstanceRule) -> frozenset[str]:
    return frozenset(t for t in catalog.instance_types() if rule.permits(t))


@dataclass(frozen=True)
class Protections:
    """Toggles for the guardrail-protection statements (all on by default)."""

    guardrails: bool = True
    leave_organization: bool = True
    cloudtrail: bool = True
    guardduty: bool = True
    config: bool = True
    access_keys: bool = True
    principals: bool = True

    @property
    def any(self) -> bool:
        """True when at least one protection is on."""
        return any(
            (
                self.guardrails,
                self.leave_organization,
                self.cloudtrail,
                self.guardduty,
                self.config,
                self.access_keys,
                self.principals,
            )
        )


@dataclass(frozen=True)
class Target:
    """An organization root, OU or account that receives guardrails."""

    id: str
    kind: str
    name: str
    guardrails: tuple[str, ...]
    allowed_regions: tuple[str, ...] | None = None
    instances: InstanceRule | None = None

    @property
    def label(self) -> str:
        """The name used in resource and document names."""
        return self.name


@dataclass(frozen=True)
class Principals:
    """IAM groups, users and roles that carry the deny policy in account mode."""

    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when no principal is named."""
        return not (self.groups or self.users or self.roles)


@dataclass(frozen=True)
class Spec:
    """The validated guardrail description."""

    mode: str
    region: str
    partition: str
    allowed_regions: tuple[str, ...]
    exempt_principals: tuple[str, ...] = ()
    instances: InstanceRule = field(default_factory=InstanceRule)
    protections: Protections = field(default_factory=Protections)
    targets: tuple[Target, ...] = ()
    principals: Principals = field(default_factory=Principals)
    allow_lockout: bool = False
    name_prefix: str = K.DEFAULT_NAME_PREFIX
    purchases_allowed: tuple[str, ...] = ()
    """Purchase categories (``data/purchases.json``) left allowed; all others denied."""
    compute_allowed: tuple[str, ...] = (K.EC2_COMPUTE,)
    """Compute services (``data/compute_services.json``) allowed besides EC2."""
    spend: Any = None
    """Spend detection (``corral.spec.spend.SpendSpec``); off unless a spend key is set."""
    alerts: Any = None
    """Attempt, tamper and GuardDuty alerts (``corral.spec.alerts.AlertsSpec``)."""

    @property
    def warnings(self) -> tuple[str, ...]:
        """Sentences about choices that are valid but weaker than they could be."""
        found = []
        for pattern in self.exempt_principals:
            if ":iam::*:" in pattern:
                found.append(
                    f"{K.NAMESPACE}:{K.EXEMPT_PRINCIPALS}: '{pattern}' matches that name in every "
                    "account; corral denies creating or re-trusting it to everyone else, but pin "
                    "it to the account that owns the break-glass role (e.g. "
                    f"{pattern.replace(':iam::*:', ':iam::111122223333:')})."
                )
        return tuple(found)

    def regions_for(self, target: Target | None = None) -> tuple[str, ...]:
        """Allowed regions for ``target`` (its override, else the spec's)."""
        if target is not None and target.allowed_regions is not None:
            return target.allowed_regions
        return self.allowed_regions

    def instances_for(self, target: Target | None = None) -> InstanceRule:
        """Instance rule for ``target`` (its override, else the spec's)."""
        if target is not None and target.instances is not None:
            return target.instances
        return self.instances
