"""Scopes: what a spec promises for one chain of targets, or for the account.

A scope holds the regions the chain allows (None when the region guardrail does not
apply), the instance rules that apply along it, whether the protection statements and the
principal protections do, and what the capacity guardrail denies (Spot, compute services,
purchases; ``capacity_rules`` is empty when it is not attached along the chain);
``representative_types`` and ``forbidden_types`` pick the instance types that stand for
what it permits and forbids. :mod:`corral.evaluate.probes` derives the probes from a
scope. Pure: no I/O.

Example::

    >>> from corral.spec.load import from_config
    >>> spec = from_config({"aws:region": "us-east-1", "corral:mode": "account",
    ...     "corral:allowedRegions": ["us-east-1"], "corral:instances": {"allow": ["t3.*"]},
    ...     "corral:exemptPrincipals": ["arn:aws:iam::*:role/BreakGlass"],
    ...     "corral:principals": {"users": ["dev"]}})
    >>> scope = scope_for(spec)
    >>> scope.regions, scope.permits("t3.micro"), scope.permits("c5a.24xlarge")
    (('us-east-1',), True, False)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.model import InstanceRule, Spec, Target

PROBE_ACCOUNT = "111122223333"
PROBE_USER = "corral-probe"


@dataclass(frozen=True)
class Scope:
    """What the spec promises for one chain: regions (None when the region guardrail
    does not apply), the instance rules that apply, whether protection applies, and what
    the identity and capacity statements cover along it."""

    mode: str
    partition: str
    home_region: str
    name_prefix: str
    account: str
    regions: tuple[str, ...] | None
    rules: tuple[InstanceRule, ...]
    protection: bool
    target: str | None = None
    identities: bool = False
    """The principal protections (exempt and /corral/ identities) apply."""
    groups: tuple[str, ...] = ()
    """Account mode: the guarded groups nobody may leave or delete."""
    new_organization: bool = False
    """Account mode: creating or joining an Organization is denied."""
    capacity_rules: tuple[InstanceRule, ...] = ()
    """The instance rule of each target carrying the capacity guardrail (account: one)."""
    compute_allowed: tuple[str, ...] = ()
    purchases_allowed: tuple[str, ...] = ()

    @property
    def principal(self) -> str:
        """The ordinary IAM user the probes run as."""
        return f"arn:{self.partition}:iam::{self.account}:user/{PROBE_USER}"

    @property
    def boundary_arn(self) -> str:
        """The permissions boundary corral deploys in this account (account mode)."""
        name = f"{self.name_prefix}-{K.BOUNDARY_SUFFIX}"
        return f"arn:{self.partition}:iam::{self.account}:policy{K.IAM_PATH}{name}"

    def permits(self, instance_type: str) -> bool:
        """Whether every instance rule in scope permits ``instance_type``."""
        return all(rule.permits(instance_type) for rule in self.rules)

    def regional(self) -> str:
        """A region where regional calls are allowed."""
        return self.regions[0] if self.regions else self.home_region

    @property
    def capacity(self) -> bool:
        """Whether the capacity guardrail applies along the chain."""
        return bool(self.capacity_rules)

    def spot_denied(self, *, request: bool = False) -> bool:
        """Whether a Spot launch (``request``: ``ec2:RequestSpotInstances``, which carries
        no instance type) is denied: Spot is off, or, for the request, types are restricted."""
        return any(not r.spot or (request and r.restricts) for r in self.capacity_rules)

    def capacity_permits(self, instance_type: str) -> bool:
        """Whether every capacity rule permits ``instance_type`` (typed compute services)."""
        return all(rule.permits(instance_type) for rule in self.capacity_rules)


# --------------------------------------------------------------------------- scope


def scope_for(spec: Spec, target_ids: Iterable[str] = (), account: str | None = None) -> Scope:
    """The promises of ``spec`` for a chain holding ``target_ids`` (org mode), or for
    the account (account mode)."""
    capacity = {
        "compute_allowed": spec.compute_allowed,
        "purchases_allowed": spec.purchases_allowed,
    }
    principals = spec.protections.principals
    if spec.mode == K.ACCOUNT:
        return Scope(
            spec.mode,
            spec.partition,
            spec.region,
            spec.name_prefix,
            account or PROBE_ACCOUNT,
            spec.allowed_regions,
            (spec.instances,) if spec.instances.restricts else (),
            spec.protections.any,
            identities=principals,
            groups=spec.principals.groups if principals else (),
            new_organization=principals and spec.protections.leave_organization,
            capacity_rules=(spec.instances,),
            **capacity,
        )
    ids = set(target_ids)
    chain = [t for t in spec.targets if t.id in ids]
    regions = None
    for t in chain:
        if K.REGIONS in t.guardrails:
            mine = set(spec.regions_for(t))
            regions = tuple(sorted(mine if regions is None else mine & set(regions)))
    rules = tuple(
        spec.instances_for(t)
        for t in chain
        if K.INSTANCE_TYPES in t.guardrails and spec.instances_for(t).restricts
    )
    protected = any(K.PROTECTION in t.guardrails for t in chain)
    leaf = chain[-1].id if chain else None
    if account is None:
        account = next((t.id for t in reversed(chain) if t.kind == K.ACCOUNT_TARGET), None)
    return Scope(
        spec.mode,
        spec.partition,
        spec.region,
        spec.name_prefix,
        account or PROBE_ACCOUNT,
        regions,
        rules,
        spec.protections.any and protected,
        leaf,
        identities=principals and protected,
        capacity_rules=tuple(spec.instances_for(t) for t in chain if K.CAPACITY in t.guardrails),
        **capacity,
    )


def spec_chain_ids(spec: Spec, target: Target) -> tuple[str, ...]:
    """The spec targets on ``target``'s chain: the spec's roots, then ``target``."""
    roots = [t.id for t in spec.targets if t.kind == K.ROOT and t.id != target.id]
    return (*roots, target.id)


def find_target(spec: Spec, target: Target | str) -> Target:
    """The spec target with this id or name; ``ValueError`` naming the choices if none."""
    if isinstance(target, Target):
        return target
    for t in spec.targets:
        if target in (t.id, t.name):
            return t
    choices = ", ".join(t.id for t in spec.targets) or "none (account mode)"
    raise ValueError(f"Target {target!r} is not in the spec's targets; use one of {choices}.")


# --------------------------------------------------------------------------- instance types


def representative_types(scope: Scope) -> tuple[str, ...]:
    """The smallest and largest permitted type matching each allow pattern in scope
    (each rule without allow patterns contributes the smallest and largest overall)."""
    return _representative_types(scope.rules)


def forbidden_types(scope: Scope) -> tuple[tuple[str, str], ...]:
    """``(type, why)`` for one type per deny pattern and one above each vCPU ceiling,
    preferring types the allow patterns would otherwise let through."""
    return _forbidden_types(scope.rules)


# Both depend on the scope's instance rules alone, and every account of an organization
# under the same targets has the same rules: picked once per rules, not once per account
# (each walks the ~900 instance types of the catalog).


@functools.lru_cache(maxsize=64)
def _representative_types(rules: tuple[InstanceRule, ...]) -> tuple[str, ...]:
    scope = _RulesOnly(rules)
    counts = catalog.vcpus()
    permitted = sorted(
        (t for t in catalog.instance_types() if scope.permits(t)),
        key=lambda t: (counts.get(t, 0), t),
    )
    chosen: dict[str, None] = {}
    for rule in scope.rules:
        for pattern in rule.allow or ("*",):
            hits = [t for t in permitted if catalog.matches(pattern, t)]
            if hits:
                chosen.update(dict.fromkeys((hits[0], hits[-1])))
    return tuple(chosen)


@functools.lru_cache(maxsize=64)
def _forbidden_types(rules: tuple[InstanceRule, ...]) -> tuple[tuple[str, str], ...]:
    scope = _RulesOnly(rules)
    counts = catalog.vcpus()
    types = sorted(catalog.instance_types(), key=lambda t: (counts.get(t, 0), t))
    found: dict[str, str] = {}
    for rule in scope.rules:

        def allowed_by_patterns(t: str, rule: InstanceRule = rule) -> bool:
            return not rule.allow or any(catalog.matches(p, t) for p in rule.allow)

        for pattern in rule.deny:
            hits = [t for t in types if catalog.matches(pattern, t) and not scope.permits(t)]
            best = [t for t in hits if allowed_by_patterns(t)] or hits
            if best:
                found.setdefault(best[0], f"it matches the deny pattern {pattern}")
        if rule.max_vcpus is not None:
            above = [t for t in types if counts.get(t, 0) > rule.max_vcpus]
            best = [t for t in above if allowed_by_patterns(t)] or above
            if best:
                found.setdefault(best[0], f"it has more than {rule.max_vcpus} vCPUs")
    return tuple(found.items())


@dataclass(frozen=True)
class _RulesOnly:
    """What the type pickers read of a scope: its rules, and whether they permit a type."""

    rules: tuple[InstanceRule, ...]

    def permits(self, instance_type: str) -> bool:
        return all(rule.permits(instance_type) for rule in self.rules)
