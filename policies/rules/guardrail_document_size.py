"""guardrail-document-size: corral's policy documents fit within AWS's size limits.

SCPs may hold 5,120 characters, whitespace included; IAM managed policies 6,144,
whitespace not counted. A document over the limit fails at ``up``, after other
guardrails have changed; the pack stops it at preview.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pulumi_policy import (
    ReportViolation,
    Severity,
    StackValidationArgs,
)

from corral.build import packconfig as P
from corral.spec import keys as K

from . import support as S
from . import tokens as T

ID = P.DOCUMENT_SIZE
DESCRIPTION = "corral's SCPs and IAM policies fit within AWS's size limits."
FIX = (
    "Let corral's builders split the statements (use fewer or broader instance patterns) "
    "instead of editing the document."
)
LIMITS = {
    T.ORG_POLICY: ("content", K.SCP_MAX_CHARS, "an SCP"),
    T.IAM_POLICY: ("policy", K.IAM_POLICY_MAX_CHARS, "an IAM managed policy"),
}


def size(resource_type: str, text: str) -> int:
    """The size AWS measures: SCPs count whitespace, IAM policies do not."""
    return len(text) if resource_type == T.ORG_POLICY else len("".join(text.split()))


def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report every corral document larger than AWS accepts."""
    unknowns = S.Unknowns()
    for doc in S.guardrail_documents(args):
        field, limit, kind = LIMITS[doc.resource_type]
        name = S.label(doc.resource_type, doc.name)
        value = S.get(doc.props, field, unknowns, name)
        if isinstance(value, Mapping):
            value = json.dumps(S.plain(value), separators=(",", ":"))
        if not isinstance(value, str):
            continue
        count = size(doc.resource_type, value)
        if count > limit:
            report_violation(
                f"{name} is {count} characters, more than the {limit} AWS allows for {kind}; "
                f"the {ID} rule forbids this. {FIX}",
                doc.urn,
            )
    unknowns.raise_any()


POLICY = S.stack_policy(ID, DESCRIPTION, validate, Severity.HIGH, FIX)
