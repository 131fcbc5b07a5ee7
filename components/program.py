"""The corral Pulumi program: stack config -> spec -> plan -> components -> manifest.

``__main__.py`` calls :func:`run`; tests call it under ``pulumi.runtime.set_mocks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.runtime

from components import MANIFEST
from components.account import AccountGuardrails, AccountGuardrailsArgs
from components.alerts import AlertGuardrails, AlertGuardrailsArgs
from components.organization import OrganizationGuardrails, OrganizationGuardrailsArgs
from components.spend import SpendGuardrails, SpendGuardrailsArgs
from components.stackset import StackSetDetection, StackSetDetectionArgs
from corral.build.manifest import build_manifest
from corral.build.plan import BuildError, build_plan
from corral.build.stackset import stackset_plan
from corral.spec import keys as K
from corral.spec.load import from_config
from corral.spec.readers import SpecError

# Stands in for a secret value so the spec reports the key as secret.
_SECRET = {"secure": "[secret]"}


def stack_config() -> dict[str, Any]:
    """The stack's whole config map (every namespace), as the engine handed it over.

    ``pulumi.Config`` reads one known key at a time, so it cannot report unknown
    keys; the runtime's map (``PULUMI_CONFIG`` from the language host, overlaid
    with values set in-process) holds them all. Secret ``corral`` values are
    masked so the spec rejects them by key without ever seeing them.
    """
    config = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    secret = set(pulumi.runtime.get_config_secret_keys_env())
    prefix = K.NAMESPACE + ":"
    return {
        key: _SECRET
        if key.startswith(prefix) and (key in secret or pulumi.runtime.is_config_secret(key))
        else value
        for key, value in config.items()
    }


def deploy(config: Mapping[str, Any]) -> pulumi.Output[dict]:
    """Register the guardrails ``config`` describes; return the manifest as an Output.

    A config or build problem raises :class:`pulumi.RunError` with the one-line
    message, before any resource is registered.
    """
    try:
        spec = from_config(config)
        plan = build_plan(spec)
    except (SpecError, BuildError) as exc:
        raise pulumi.RunError(str(exc)) from None
    if spec.mode == K.ORGANIZATION:
        org = OrganizationGuardrails(spec.name_prefix, OrganizationGuardrailsArgs(plan))
        # Organizations APIs address an SCP by its id (p-...).
        ids = org.policy_ids
    else:
        account = AccountGuardrails(spec.name_prefix, AccountGuardrailsArgs(plan))
        # IAM APIs address a managed policy by its ARN.
        ids = account.policy_arns
    if spec.spend is None or not spec.spend.enabled:
        return ids.apply(lambda deployed: build_manifest(spec, plan, deployed))
    spend = SpendGuardrails(f"{spec.name_prefix}-spend", SpendGuardrailsArgs(spec.spend))
    members = stackset_plan(spec)  # organization mode: every account below a root or OU target
    if members is not None:
        StackSetDetection(f"{spec.name_prefix}-members", StackSetDetectionArgs(members))
    if spec.alerts is not None and spec.alerts.any:  # attempt, tamper, GuardDuty: docs/alerts.md
        after = pulumi.ResourceOptions(depends_on=[spend])
        AlertGuardrails(f"{spec.name_prefix}-alerts", AlertGuardrailsArgs(spec, plan), after)
    return pulumi.Output.all(ids, spend.ids).apply(
        lambda both: build_manifest(spec, plan, both[0], both[1])
    )


def run() -> None:
    """The program: deploy the stack's config and export the ``manifest`` output."""
    pulumi.export(MANIFEST, deploy(stack_config()))
