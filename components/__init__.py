"""Pulumi components that deploy corral's plan, and the names they share.

The components only wire resources from :mod:`corral.build.plan` output; every
type token, output name and tag they use is defined here once.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from corral.spec import keys as K

# Type tokens of the component resources.
ORGANIZATION_GUARDRAILS = "corral:index:OrganizationGuardrails"
ACCOUNT_GUARDRAILS = "corral:index:AccountGuardrails"
SPEND_GUARDRAILS = "corral:index:SpendGuardrails"
ALERT_GUARDRAILS = "corral:index:AlertGuardrails"
FAST_BREAKER = "corral:index:FastBreaker"  # circuitBreaker.trigger: alarm (components.breaker)
SPEND_RELAY = "corral:index:SpendRelay"  # trigger: alarm, organization members (components.breaker)
STACKSET_DETECTION = "corral:index:StackSetDetection"  # member detection (components.stackset)

# Document kinds produced by corral.build.plan, and the policy type they become.
SCP_KIND = K.SCP_KIND
IAM_KIND = K.IAM_KIND
SERVICE_CONTROL_POLICY = "SERVICE_CONTROL_POLICY"

# Output names: of the components, and of the stack.
POLICY_IDS = "policyIds"
POLICY_ARNS = "policyArns"
MANIFEST = "manifest"

# Separator between document and target in attachment resource names; no
# document name (prefix plus target name) can contain it.
NAME_SEPARATOR = "."


def managed_tags() -> dict[str, str]:
    """The tags every policy corral deploys carries (a fresh dict per resource)."""
    return {K.MANAGED_TAG: "true"}


def collect(values: Mapping[str, pulumi.Output[str]]) -> pulumi.Output[dict[str, str]]:
    """One Output holding ``{name: resolved value}`` for a map of Outputs."""
    if not values:
        return pulumi.Output.from_input({})
    return pulumi.Output.all(**values).apply(dict)
