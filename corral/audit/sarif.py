"""SARIF 2.1.0 that GitHub code scanning accepts.

- One rule per check: ``id``, ``name``, short and full descriptions, help (text and
  Markdown), a default level from its severity and GitHub's ``security-severity``.
- One result per FAIL (level ``error``) and per ERROR (level ``warning``: the check could
  not run, and its message says why and what to grant); PASS findings are left out, as
  code scanning shows every result as an alert.
- Every result points at the stack file: the line of the spec key the finding is about
  (an account's or target's ``corral:targets`` entry for a targets finding, see
  :meth:`corral.spec.locate.KeyLines.line`), plus the AWS resource as a logical location.
- ``partialFingerprints`` hash check, account, region and resource (never the message,
  whose figures change), so code scanning matches a finding across runs.
- ``automationDetails.id`` names the command (``corral-verify/``, ``corral-sweep/``), so
  the verify and sweep uploads of one commit stay two analyses instead of replacing each
  other; upload-sarif's ``category`` only fills it in when absent, so it is the same value.

Findings arrive normalised from :func:`corral.audit.findings.to_sarif`; this module only
shapes them, so it imports nothing from the findings module.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from corral import __version__
from corral.spec.locate import GUARDRAIL_KEYS, KeyLines

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_URI = "https://github.com/corral-guardrails/corral"
SOURCE_ROOT = "%SRCROOT%"
FINGERPRINT = "corralFinding/v1"
# Severity -> (rule level, GitHub security-severity: 9.0+ critical, 7.0+ high, 4.0+ medium).
SEVERITY = {
    "critical": ("error", "9.5"),
    "high": ("error", "8.0"),
    "medium": ("warning", "5.5"),
    "low": ("note", "3.0"),
}
TARGET_ID = re.compile(r"\b(?:r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|\d{12})\b")


def document(
    findings: Sequence[Any],
    rules: Mapping[str, Mapping[str, Any]],
    levels: Mapping[str, str],
    stack: KeyLines | None = None,
    command: str | None = None,
) -> str:
    """The SARIF log of ``findings`` (normalised) whose status has a level in ``levels``;
    ``rules`` maps check id to its metadata; ``stack`` locates each result in the stack
    file (without it results carry only their logical location, which code scanning
    refuses: the CLI always passes it)."""
    used = sorted({f.check for f in findings} | set(rules))
    index = {rule: i for i, rule in enumerate(used)}
    results = [
        _result(f, rules.get(f.check, {}), index[f.check], levels[f.status], stack)
        for f in findings
        if f.status in levels
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "corral",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": TOOL_URI,
                "rules": [_rule(rule, rules.get(rule, {})) for rule in used],
            }
        },
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    if stack is not None:
        run["originalUriBaseIds"] = {SOURCE_ROOT: {"description": {"text": "The checkout."}}}
    if command:
        run["automationDetails"] = {"id": f"corral-{command}/"}
    log = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, sort_keys=True) + "\n"


def rule_name(check: str) -> str:
    """``guardrail-effects`` -> ``GuardrailEffects`` (SARIF's ``name``)."""
    return "".join(part.capitalize() for part in check.split("-"))


def _rule(rule: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    title = meta.get("title", rule)
    risk = meta.get("risk", title)
    fix = meta.get("remediation", "See docs/verify.md.")
    level, score = SEVERITY.get(meta.get("severity", "medium"), SEVERITY["medium"])
    return {
        "id": rule,
        "name": rule_name(rule),
        "shortDescription": {"text": title},
        "fullDescription": {"text": risk},
        "help": {
            "text": f"{risk} Fix: {fix}",
            "markdown": f"**{title}**\n\n{risk}\n\n**Fix:** {fix}\n\n"
            f"Check `{rule}` of `corral verify` / `corral sweep` (docs/verify.md).",
        },
        "defaultConfiguration": {"level": level},
        "properties": {
            "tags": ["security", "aws", "guardrails"],
            "security-severity": score,
            "severity": meta.get("severity", "medium"),
        },
    }


def _result(
    f: Any, meta: Mapping[str, Any], index: int, level: str, stack: KeyLines | None
) -> dict[str, Any]:
    name = "/".join(part for part in (f.account, f.region, f.resource) if part)
    location: dict[str, Any] = {
        "logicalLocations": [{"fullyQualifiedName": name, "kind": "resource"}]
    }
    if stack is not None:
        location["physicalLocation"] = {
            "artifactLocation": _artifact(stack.path),
            "region": {"startLine": stack.line(spec_keys(f, meta), target_ids(f))},
        }
    key = "|".join((f.check, f.account, f.region or "", f.resource))
    return {
        "ruleId": f.check,
        "ruleIndex": index,
        "kind": "fail",
        "level": level,
        "message": {"text": f.message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT: hashlib.sha256(key.encode()).hexdigest()},
        "properties": {
            "account": f.account,
            "region": f.region,
            "resource": f.resource,
            "status": f.status,
        },
    }


def spec_keys(f: Any, meta: Mapping[str, Any]) -> tuple[str, ...]:
    """The spec keys a finding is about: its guardrail's keys (guardrail-effects), then the
    keys its check declares."""
    guardrail = f.details.get("guardrail") if f.details else None
    return (*GUARDRAIL_KEYS.get(guardrail, ()), *meta.get("spec_keys", ()))


def target_ids(f: Any) -> list[str]:
    """The ``corral:targets`` ids a finding may name, most specific first: its ``target``
    detail, the root, OU and account ids in its resource, then its account."""
    detail = f.details.get("target") if f.details else None
    return [*([detail] if isinstance(detail, str) else []), *TARGET_ID.findall(f.resource),
            f.account]  # fmt: skip


def _artifact(path: str) -> dict[str, str]:
    """The stack file as the user named it: relative to the checkout (``%SRCROOT%``), or an
    absolute one made relative to the working directory when it lies below it."""
    given = PurePath(path)
    if given.is_absolute():
        try:
            given = Path(path).resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            return {"uri": Path(path).resolve().as_uri()}
    return {"uri": given.as_posix(), "uriBaseId": SOURCE_ROOT}
