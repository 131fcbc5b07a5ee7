"""Statements for capacity beyond EC2 On-Demand: Spot, other compute services, purchases.

- Spot (``instances.spot``, off by default): Spot launches through ``RunInstances``
  carry ``ec2:InstanceMarketType``; ``RequestSpotInstances`` launches through EC2's
  service-linked role with no instance-type key, so it is denied whenever Spot is off or
  the instance rule restricts types (Spot stays possible through ``RunInstances``, where
  the type rule applies).
- Compute services (``compute.allow``; ``ec2`` only by default): the launch actions of
  every other service in ``data/compute_services.json`` are denied. An allowed service
  with an instance-type condition key is held to the instance rule through that key.
- Purchases (``purchases.allow``; empty by default): the actions of every category in
  ``data/purchases.json`` not listed are denied, in every region.
"""

from __future__ import annotations

from corral.build.documents import deny, exempt_condition, instance_patterns
from corral.spec import capacity
from corral.spec.model import InstanceRule, Spec

SID_SPOT_LAUNCH = "CorralDenySpotLaunches"
SID_SPOT_REQUEST = "CorralDenySpotRequests"
SID_COMPUTE = "CorralDenyComputeServices"
SID_PURCHASES = "CorralDenyPurchases"
SPOT_REQUEST_ACTIONS = ("ec2:RequestSpotInstances",)


def spot_statements(spec: Spec, rule: InstanceRule) -> list[dict]:
    """Deny Spot capacity unless ``rule.spot``; deny the type-less Spot request always
    when the rule restricts types."""
    exempt = exempt_condition(spec)
    statements = []
    if not rule.spot:
        statements.append(
            deny(
                SID_SPOT_LAUNCH,
                ["ec2:RunInstances"],
                {"StringEquals": {"ec2:InstanceMarketType": ["spot"]}, **exempt},
                f"arn:{spec.partition}:ec2:*:*:instance/*",
            )
        )
    if not rule.spot or rule.restricts:
        statements.append(deny(SID_SPOT_REQUEST, list(SPOT_REQUEST_ACTIONS), exempt))
    return statements


def compute_statements(spec: Spec, rule: InstanceRule) -> list[dict]:
    """Deny the launch actions of compute services the spec does not allow; hold an
    allowed service that carries instance types to ``rule``."""
    exempt = exempt_condition(spec)
    services = capacity.compute_services()
    denied = sorted(
        {a for name, s in services.items() if name not in spec.compute_allowed for a in s.actions}
    )
    statements = [deny(SID_COMPUTE, denied, exempt)] if denied else []
    if not rule.restricts:
        return statements
    allowed_types, denied_types = instance_patterns(rule)
    for name in spec.compute_allowed:
        typed = services[name].types if name in services else None
        if typed is None:
            continue
        label = "".join(part.capitalize() for part in name.split("-"))
        for suffix, op, patterns in (
            ("TypesNotAllowed", "ForAnyValue:StringNotLike", allowed_types),
            ("TypesDenied", "ForAnyValue:StringLike", denied_types),
        ):
            if patterns:
                values = sorted(typed.prefix + p for p in patterns)
                condition = {op: {typed.key: values}, **exempt}
                statements.append(
                    deny(f"CorralDeny{label}{suffix}", list(typed.actions), condition)
                )
    return statements


def purchase_statements(spec: Spec) -> list[dict]:
    """Deny every purchase category the spec does not allow."""
    denied = sorted(
        {
            a
            for name, c in capacity.purchase_categories().items()
            if name not in spec.purchases_allowed
            for a in c.actions
        }
    )
    return [deny(SID_PURCHASES, denied, exempt_condition(spec))] if denied else []


def capacity_statements(spec: Spec, rule: InstanceRule) -> list[dict]:
    """The ``capacity`` guardrail: other compute services and purchases."""
    return compute_statements(spec, rule) + purchase_statements(spec)
