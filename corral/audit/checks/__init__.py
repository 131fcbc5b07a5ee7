"""The verifier's checks: one module each, with a declarative metadata record.

A check's id is its module name in kebab case; its test is named after it; it
declares the read-only IAM actions it calls, and ``corral iam-policy`` is built
from those declarations. A new check is a new module listed in ``MODULES``; shared
reads live in the ``_``-prefixed helper modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from corral.audit.checks._base import SCOPES, CheckMetadata
from corral.audit.findings import Finding

MODULES = (
    "scp_policy_type_enabled",
    "guardrail_document_present",
    "guardrail_document_content",
    "guardrail_attached",
    "guardrail_full_access",
    "guardrail_no_extra",
    "guardrail_reaches_accounts",
    "principals_covered",
    "principals_bounded",
    "identities_trusted",
    "guardrail_effects",
    "budget_present",
    "budget_actions",
    "breaker_trigger",
    "alarms_present",
    "stackset_instances",
    "topic_subscriptions",
    "attempt_alerts",
    "guardduty_routing",
    "cloudtrail_logging",
    "account_reachable",
    "access_keys_active",
    "root_access_keys",
    "instances_outside_regions",
    "instance_types_not_allowed",
    "vcpu_totals",
)


@dataclass(frozen=True)
class Check:
    """A registered check: its metadata, its function, and the module it lives in."""

    metadata: CheckMetadata
    run: Callable[..., Iterable[Finding]]
    module: ModuleType

    @property
    def id(self) -> str:
        """The stable kebab-case id."""
        return self.metadata.id


def _load(name: str) -> Check:
    module = importlib.import_module(f"{__name__}.{name}")
    return Check(module.METADATA, module.run, module)


REGISTRY: tuple[Check, ...] = tuple(_load(name) for name in MODULES)


def checks(scope: str, mode: str) -> tuple[Check, ...]:
    """The registered checks of ``scope`` that apply in ``mode``, in registry order."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    return tuple(c for c in REGISTRY if c.metadata.scope == scope and mode in c.metadata.modes)


def rules() -> dict[str, dict[str, Any]]:
    """Report metadata per check id (SARIF rules and the spec keys results point at)."""
    return {c.id: c.metadata.as_rule() for c in REGISTRY}
