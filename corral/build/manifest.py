"""The manifest: what a stack deployed, so the verifier can find and compare it.

The Pulumi program exports it as the ``manifest`` stack output (with the ids
AWS assigned added under ``ids``); ``corral render`` prints the same structure
without ids. It is pure data: build it from a spec and its plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from corral.build import spend_manifest
from corral.build.plan import Plan
from corral.spec.model import Spec

MANIFEST_VERSION = 1


def digest(content: str) -> str:
    """SHA-256 of a minified policy document."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def build_manifest(
    spec: Spec,
    plan: Plan,
    ids: Mapping[str, str] | None = None,
    spend_ids: Mapping[str, str] | None = None,
) -> dict:
    """The manifest for ``plan``; ``ids`` maps document names to deployed policy ids/ARNs,
    ``spend_ids`` the spend resources to their deployed ARNs."""
    ids = ids or {}
    result = {
        "version": MANIFEST_VERSION,
        "mode": spec.mode,
        "partition": spec.partition,
        "region": spec.region,
        "namePrefix": spec.name_prefix,
        "allowedRegions": list(spec.allowed_regions),
        "exemptPrincipals": list(spec.exempt_principals),
        "documents": [
            {
                "name": d.name,
                "kind": d.kind,
                "guardrails": list(d.guardrails),
                "sha256": digest(d.content),
                "size": len(d.content),
                **({"id": ids[d.name]} if d.name in ids else {}),
            }
            for d in plan.documents
        ],
        "attachments": [
            {
                "document": a.document,
                "targetId": a.target_id,
                "targetKind": a.target_kind,
                "targetName": a.target_name,
            }
            for a in plan.attachments
        ],
    }
    if spec.spend is not None and spec.spend.enabled:
        result["spend"] = spend_manifest.manifest_entries(spec.spend, dict(spend_ids or {}))
    return result
