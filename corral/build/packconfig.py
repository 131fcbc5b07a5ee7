"""The policy pack's configuration, derived from a spec.

The CrossGuard pack (``policies/``) enforces settings it receives through
``pulumi preview --policy-pack-config FILE``. This module builds that file from
the same :class:`~corral.spec.model.Spec` the program deploys, so the pack checks
exactly what the stack is meant to look like. It also holds the rule ids and
the JSON schema of each rule's settings: the pack declares the schemas and the
CLI validates ``FILE`` against them (unknown keys rejected).

Pure: no Pulumi import, no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from corral.spec import capacity, catalog, sections
from corral.spec import keys as K
from corral.spec.model import InstanceRule, Spec, Target
from corral.spec.readers import SpecError, key_path

# Rule ids (kebab-case); the rule module is the id with dashes turned into underscores.
INSTANCE_TYPES = "instance-types"
ALLOWED_REGIONS = "allowed-regions"
NO_ACCESS_KEYS = "no-iam-access-keys"
NO_ADMIN_POLICIES = "no-admin-policies"
DOCUMENT_SIZE = "guardrail-document-size"
ATTACHMENT_QUOTA = "guardrail-attachment-quota"
FULL_AWS_ACCESS = "guardrail-full-aws-access"
EXEMPT_PRINCIPALS = "guardrail-exempt-principals"
BUDGET_NOTIFICATIONS = "budget-notifications"
VCPU_ALARMS = "vcpu-alarms"
SPOT_INSTANCES = "spot-instances"
COMPUTE_SERVICES = "compute-services"
PURCHASES = "purchases"

RESOURCE_RULES = (
    INSTANCE_TYPES,
    SPOT_INSTANCES,
    COMPUTE_SERVICES,
    PURCHASES,
    ALLOWED_REGIONS,
    NO_ACCESS_KEYS,
    NO_ADMIN_POLICIES,
)
STACK_RULES = (
    DOCUMENT_SIZE,
    ATTACHMENT_QUOTA,
    FULL_AWS_ACCESS,
    EXEMPT_PRINCIPALS,
    BUDGET_NOTIFICATIONS,
    VCPU_ALARMS,
)
RULE_IDS = RESOURCE_RULES + STACK_RULES

# Keys of the rules' settings. The capacity rules require none: left out, they deny (no
# Spot, no compute service but EC2, no purchase), as the spec does by default.
ALLOW = K.ALLOW
DENY = K.DENY
MAX_VCPUS = K.MAX_VCPUS
REGIONS = "regions"
NAME_PREFIX = K.NAME_PREFIX
REQUIRED = "required"
ALLOWED = "allowed"
INSTANCES = K.INSTANCES
ENFORCEMENT_LEVEL = "enforcementLevel"

_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
_PREFIX = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9-]{0,31}$"}
_REQUIRED = {"type": "boolean"}
_INSTANCE_RULE = {
    ALLOW: {**_STRINGS, "description": "Instance-type patterns that may launch."},
    DENY: {**_STRINGS, "description": "Instance-type patterns that may never launch."},
    MAX_VCPUS: {"type": "integer", "minimum": 1, "maximum": 100_000},
}


def _names(known: tuple[str, ...], what: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"enum": list(known)},
        "uniqueItems": True,
        "description": what,
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    INSTANCE_TYPES: {"properties": dict(_INSTANCE_RULE), "required": []},
    SPOT_INSTANCES: {
        "properties": {ALLOWED: {"type": "boolean", "description": "Spot capacity allowed."}},
        "required": [],
    },
    COMPUTE_SERVICES: {
        "properties": {
            ALLOW: _names(capacity.compute_names(), "Compute services that may run."),
            INSTANCES: {
                "type": "object",
                "properties": dict(_INSTANCE_RULE),
                "additionalProperties": False,
                "description": "The instance rule an allowed service with instance types obeys.",
            },
        },
        "required": [],
    },
    PURCHASES: {
        "properties": {
            ALLOW: _names(tuple(capacity.purchase_categories()), "Purchase categories allowed.")
        },
        "required": [],
    },
    ALLOWED_REGIONS: {
        "properties": {REGIONS: {**_STRINGS, "description": "Regions resources may live in."}},
        "required": [REGIONS],
    },
    NO_ACCESS_KEYS: {"properties": {}, "required": []},
    NO_ADMIN_POLICIES: {"properties": {}, "required": []},
    DOCUMENT_SIZE: {"properties": {NAME_PREFIX: _PREFIX}, "required": [NAME_PREFIX]},
    ATTACHMENT_QUOTA: {"properties": {NAME_PREFIX: _PREFIX}, "required": [NAME_PREFIX]},
    FULL_AWS_ACCESS: {"properties": {NAME_PREFIX: _PREFIX}, "required": [NAME_PREFIX]},
    EXEMPT_PRINCIPALS: {"properties": {NAME_PREFIX: _PREFIX}, "required": [NAME_PREFIX]},
    BUDGET_NOTIFICATIONS: {
        "properties": {NAME_PREFIX: _PREFIX, REQUIRED: _REQUIRED},
        "required": [NAME_PREFIX],
    },
    VCPU_ALARMS: {
        "properties": {NAME_PREFIX: _PREFIX, REQUIRED: _REQUIRED, REGIONS: _STRINGS},
        "required": [NAME_PREFIX, REGIONS],
    },
}


def module_name(rule_id: str) -> str:
    """The module under ``policies/rules/`` that holds ``rule_id``."""
    return rule_id.replace("-", "_")


def instance_settings(rule: InstanceRule) -> dict[str, Any]:
    """The ``instance-types`` settings expressing ``rule``'s types (Spot is ``spot-instances``')."""
    settings: dict[str, Any] = {ALLOW: list(rule.allow), DENY: list(rule.deny)}
    if rule.max_vcpus is not None:
        settings[MAX_VCPUS] = rule.max_vcpus
    return settings


def instance_rule(settings: dict[str, Any]) -> InstanceRule:
    """The :class:`InstanceRule` the ``instance-types`` settings describe."""
    ceiling = settings.get(MAX_VCPUS)
    return InstanceRule(
        allow=tuple(settings.get(ALLOW) or ()),
        deny=tuple(settings.get(DENY) or ()),
        max_vcpus=int(ceiling) if ceiling is not None else None,
    )


def spot_allowed(settings: dict[str, Any]) -> bool:
    """Whether the ``spot-instances`` settings allow Spot capacity (not unless they say so)."""
    return settings.get(ALLOWED) is True


def allowed_names(settings: dict[str, Any]) -> frozenset[str]:
    """The ``allow`` names of the ``compute-services`` or ``purchases`` settings."""
    return frozenset(settings.get(ALLOW) or ())


def _checked(names: tuple[str, ...], key: str, known: tuple[str, ...]) -> list[str]:
    """``names`` if each is known; else the spec loader's SpecError for ``key``."""
    return list(sections.capacity_allowed({ALLOW: list(names)}, key, known))


def compute_settings(spec: Spec, rule: InstanceRule) -> dict[str, Any]:
    """The ``compute-services`` settings: allowed services (``ec2`` always) and ``rule``."""
    names = tuple(sorted({K.EC2_COMPUTE, *spec.compute_allowed}))
    return {
        ALLOW: _checked(names, key_path(K.COMPUTE), capacity.compute_names()),
        INSTANCES: instance_settings(rule),
    }


def find_target(spec: Spec, name_or_id: str) -> Target:
    """The target named ``name_or_id`` (by name or id); SpecError names the choices."""
    for target in spec.targets:
        if name_or_id in (target.id, target.name):
            return target
    names = [t.name for t in spec.targets]
    hint = catalog.suggest(name_or_id, names)
    if not names:
        fix = "targets exist in organization mode only; drop --target."
    else:
        fix = f"did you mean '{hint}'?" if hint else f"use one of {', '.join(names)}."
    raise SpecError("--target", f"'{name_or_id}' is not a target of the spec; {fix}")


def pack_config(spec: Spec, target: str | None = None) -> dict[str, dict[str, Any]]:
    """The pack config for ``spec``, keyed by rule id.

    Budgets and vCPU alarms are required when the spec turns spend detection on.

    ``target`` (a target's name or id) selects that target's instance and region
    overrides (Spot and the instance types allowed services launch follow its instance
    rule), for stacks deployed into one OU or account; by default the spec's own rules
    apply. A compute service or purchase category the data files do not know is a
    SpecError naming its key, as when the spec is loaded.
    """
    chosen = find_target(spec, target) if target is not None else None
    prefix = {NAME_PREFIX: spec.name_prefix}
    spend = getattr(spec, "spend", None)  # corral.spec.spend.SpendSpec; budgets and alarms required
    rule = spec.instances_for(chosen)
    purchases = tuple(capacity.purchase_categories())
    return {
        INSTANCE_TYPES: instance_settings(rule),
        SPOT_INSTANCES: {ALLOWED: rule.spot},
        COMPUTE_SERVICES: compute_settings(spec, rule),
        PURCHASES: {ALLOW: _checked(spec.purchases_allowed, key_path(K.PURCHASES), purchases)},
        ALLOWED_REGIONS: {REGIONS: list(spec.regions_for(chosen))},
        NO_ACCESS_KEYS: {},
        NO_ADMIN_POLICIES: {},
        DOCUMENT_SIZE: dict(prefix),
        ATTACHMENT_QUOTA: dict(prefix),
        FULL_AWS_ACCESS: dict(prefix),
        EXEMPT_PRINCIPALS: dict(prefix),
        BUDGET_NOTIFICATIONS: {**prefix, REQUIRED: bool(spend and spend.enabled and spend.budgets)},
        VCPU_ALARMS: {
            **prefix,
            REQUIRED: bool(spend and spend.enabled and spend.vcpu),
            REGIONS: list(catalog.regions(spec.partition)),
        },
    }


def render(config: dict[str, dict[str, Any]]) -> str:
    """The pack config as the JSON text ``--policy-pack-config`` reads."""
    return json.dumps(config, indent=2, sort_keys=True) + "\n"
