"""Documents and plans: statements packed into AWS policy documents, and where each is attached.

:func:`build_plan` is what a spec deploys. It takes the statements
:mod:`corral.build.documents` builds for each target and packs them into as few
documents as fit AWS's size limits (first-fit decreasing, deterministic), or
raises :class:`BuildError` naming the fix when they cannot fit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from corral.build.capacity import capacity_statements, spot_statements
from corral.build.detection import DETECTION, DETECTION_SIDS, detection_statements
from corral.build.documents import (
    instance_statements,
    minify,
    protection_statements,
    region_statements,
)
from corral.build.identities import boundary_name, boundary_statements, identity_statements
from corral.spec import keys as K
from corral.spec.model import Spec, Target

VERSION = "2012-10-17"


class BuildError(ValueError):
    """The spec cannot be expressed within AWS's limits; the message names the fix."""


@dataclass(frozen=True)
class Document:
    """One policy document to deploy."""

    name: str
    kind: str  # keys.SCP_KIND or keys.IAM_KIND
    guardrails: tuple[str, ...]
    content: str  # minified JSON, deterministic
    description: str

    @property
    def policy(self) -> dict:
        """The parsed document."""
        return json.loads(self.content)

    @property
    def sids(self) -> tuple[str, ...]:
        """The statement ids, in document order."""
        return tuple(s["Sid"] for s in self.policy["Statement"])


@dataclass(frozen=True)
class Attachment:
    """A document attached to a target (root/OU/account, or IAM group/user/role)."""

    document: str
    target_id: str
    target_kind: str
    target_name: str


@dataclass(frozen=True)
class Plan:
    """Everything one spec deploys: documents and where each is attached."""

    mode: str
    documents: tuple[Document, ...]
    attachments: tuple[Attachment, ...]
    boundary: str | None = None
    """Account mode: the name of the permissions boundary among ``documents``."""
    boundary_omitted: tuple[str, ...] = ()
    """Guardrail statements the boundary could not hold within one policy."""

    def document(self, name: str) -> Document:
        """The document called ``name``."""
        for doc in self.documents:
            if doc.name == name:
                return doc
        raise KeyError(name)

    @property
    def guardrail_documents(self) -> tuple[Document, ...]:
        """The documents attached as guardrails (every document but the boundary)."""
        return tuple(d for d in self.documents if d.name != self.boundary)

    def documents_for(self, target_id: str) -> tuple[Document, ...]:
        """The documents attached to ``target_id``, in plan order."""
        names = [a.document for a in self.attachments if a.target_id == target_id]
        return tuple(self.document(n) for n in names)

    def to_dict(self) -> dict:
        """A JSON-ready view (used by ``corral render`` and the manifest)."""
        return {
            "mode": self.mode,
            "documents": [
                {
                    "name": d.name,
                    "kind": d.kind,
                    "guardrails": list(d.guardrails),
                    "description": d.description,
                    "size": len(d.content),
                    "policy": d.policy,
                }
                for d in self.documents
            ],
            "attachments": [
                {
                    "document": a.document,
                    "targetId": a.target_id,
                    "targetKind": a.target_kind,
                    "targetName": a.target_name,
                }
                for a in self.attachments
            ],
            "budget": self.budget(),
            **(
                {"boundary": {"name": self.boundary, "omitted": list(self.boundary_omitted)}}
                if self.boundary
                else {}
            ),
        }

    def budget(self) -> list[dict]:
        """Per target: how much of AWS's per-target policy quota corral's documents use."""
        scp = self.mode == K.ORGANIZATION
        limit = K.SCP_MAX_CHARS if scp else K.IAM_POLICY_MAX_CHARS
        slots = K.SCP_MAX_PER_TARGET - 1 if scp else K.IAM_MAX_MANAGED_POLICIES_PER_PRINCIPAL
        rows = []
        for target in dict.fromkeys(a.target_id for a in self.attachments):
            docs = self.documents_for(target)
            rows.append(
                {
                    "targetId": target,
                    "documents": len(docs),
                    "maxDocuments": slots,
                    "characters": sum(len(d.content) for d in docs),
                    "maxCharacters": slots * limit,
                }
            )
        return rows


# --------------------------------------------------------------------------- packing


def pack(statements: Sequence[dict], limit: int, what: str) -> list[list[dict]]:
    """Pack statements into as few documents as fit within ``limit`` characters.

    First-fit decreasing by size; each document keeps its statements sorted by
    Sid so the output does not depend on the packing order.
    """
    overhead = len(minify({"Version": VERSION, "Statement": []}))
    sized = sorted(statements, key=lambda s: (-len(minify(s)), s["Sid"]))
    bins: list[tuple[int, list[dict]]] = []
    for statement in sized:
        size = len(minify(statement))
        if overhead + size > limit:
            raise BuildError(
                f"{what}: statement {statement['Sid']} is {size} characters, more than one "
                f"document of {limit} can hold; use fewer or broader patterns."
            )
        for i, (used, members) in enumerate(bins):
            if used + size + 1 <= limit:
                bins[i] = (used + size + 1, [*members, statement])
                break
        else:
            bins.append((overhead + size, [statement]))
    groups = [sorted(members, key=lambda s: s["Sid"]) for _, members in bins]
    return sorted(groups, key=lambda g: g[0]["Sid"])


def _documents(
    base_name: str, kind: str, statements_by_guardrail: dict[str, list[dict]], limit: int
) -> list[Document]:
    """The capacity guardrail, and the protection of spend detection, pack into documents of
    their own (``<base>-capacity``, ``<base>-detection``), so the documents of the other
    guardrails keep their names when capacity or spend detection changes."""
    core = {g: s for g, s in statements_by_guardrail.items() if g != K.CAPACITY}
    extra = {g: s for g, s in statements_by_guardrail.items() if g == K.CAPACITY}
    watch = {g: [s for s in ss if s["Sid"] in DETECTION_SIDS] for g, ss in core.items()}
    core = {g: [s for s in ss if s["Sid"] not in DETECTION_SIDS] for g, ss in core.items()}
    return (
        _packed(base_name, kind, {g: ss for g, ss in core.items() if ss}, limit)
        + _packed(f"{base_name}-{DETECTION}", kind, {g: ss for g, ss in watch.items() if ss}, limit)
        + _packed(f"{base_name}-{K.CAPACITY}", kind, extra, limit)
    )


def _packed(
    base_name: str, kind: str, statements_by_guardrail: dict[str, list[dict]], limit: int
) -> list[Document]:
    if not statements_by_guardrail:
        return []
    owner = {s["Sid"]: g for g, stmts in statements_by_guardrail.items() for s in stmts}
    statements = [s for stmts in statements_by_guardrail.values() for s in stmts]
    groups = pack(statements, limit, base_name)
    docs = []
    for i, group in enumerate(groups, 1):
        name = base_name if len(groups) == 1 else f"{base_name}-{i}"
        guardrails = tuple(g for g in K.GUARDRAILS if any(owner[s["Sid"]] == g for s in group))
        content = minify({"Version": VERSION, "Statement": group})
        description = f"corral guardrails ({', '.join(guardrails)}); managed by corral."
        docs.append(Document(name, kind, guardrails, content, description))
    return docs


def _statements(spec: Spec, target: Target | None, guardrails: Iterable[str], limit: int) -> dict:
    result: dict[str, list[dict]] = {}
    for guardrail in guardrails:
        if guardrail == K.REGIONS:
            stmts = region_statements(spec, spec.regions_for(target))
        elif guardrail == K.INSTANCE_TYPES:
            stmts = instance_statements(spec, spec.instances_for(target), limit)
        elif guardrail == K.CAPACITY:
            rule = spec.instances_for(target)
            stmts = spot_statements(spec, rule) + capacity_statements(spec, rule)
        else:
            stmts = protection_statements(spec) + identity_statements(spec)
            stmts += detection_statements(spec)
        if stmts:
            result[guardrail] = stmts
    return result


# --------------------------------------------------------------------------- plans


def build_plan(spec: Spec) -> Plan:
    """Every document and attachment the spec deploys."""
    if spec.mode == K.ORGANIZATION:
        return _organization_plan(spec)
    return _account_plan(spec)


def _organization_plan(spec: Spec) -> Plan:
    documents: list[Document] = []
    attachments: list[Attachment] = []
    by_content: dict[tuple[str, ...], list[Document]] = {}
    for target in spec.targets:
        statements = _statements(spec, target, target.guardrails, K.SCP_MAX_CHARS)
        if not statements:
            continue
        key = tuple(minify(s) for stmts in statements.values() for s in stmts)
        if key not in by_content:
            base = f"{spec.name_prefix}-{target.name}"
            by_content[key] = _documents(base, K.SCP_KIND, statements, K.SCP_MAX_CHARS)
            documents.extend(by_content[key])
        docs = by_content[key]
        if len(docs) + 1 > K.SCP_MAX_PER_TARGET:
            raise BuildError(
                f"target {target.id} would need {len(docs)} corral SCPs plus "
                f"{K.FULL_AWS_ACCESS}, more than the {K.SCP_MAX_PER_TARGET} AWS allows; "
                "use fewer or broader instance patterns."
            )
        attachments.extend(Attachment(d.name, target.id, target.kind, target.name) for d in docs)
    return Plan(K.ORGANIZATION, tuple(documents), tuple(attachments))


def _account_plan(spec: Spec) -> Plan:
    statements = _statements(spec, None, K.GUARDRAILS, K.IAM_POLICY_MAX_CHARS)
    docs = _documents(
        f"{spec.name_prefix}-guardrails", K.IAM_KIND, statements, K.IAM_POLICY_MAX_CHARS
    )
    if len(docs) > K.IAM_MAX_MANAGED_POLICIES_PER_PRINCIPAL:
        raise BuildError(
            f"the account guardrails need {len(docs)} IAM policies, more than the "
            f"{K.IAM_MAX_MANAGED_POLICIES_PER_PRINCIPAL} a principal can carry; "
            "use fewer or broader instance patterns."
        )
    attachments = []
    p = spec.principals
    for kind, names in ((K.GROUP, p.groups), (K.USER, p.users), (K.ROLE, p.roles)):
        for name in names:
            attachments.extend(Attachment(d.name, name, kind, name) for d in docs)
    if not spec.protections.principals:
        return Plan(K.ACCOUNT, tuple(docs), tuple(attachments))
    overhead = len(minify({"Version": VERSION, "Statement": []}))
    kept, omitted = boundary_statements(statements, K.IAM_POLICY_MAX_CHARS, overhead)
    # Only capacity statements may be left out (and are reported); the rest are the guardrails.
    essential = {s["Sid"] for g, ss in statements.items() if g != K.CAPACITY for s in ss}
    essential &= set(omitted)
    if essential:
        raise BuildError(
            f"the permissions boundary {boundary_name(spec)} cannot hold "
            f"{', '.join(sorted(essential))} within {K.IAM_POLICY_MAX_CHARS} characters, so "
            "principals created under it could escape the guardrails; use fewer exempt "
            "principals or guarded groups, or use an Organization."
        )
    boundary = Document(
        boundary_name(spec),
        K.IAM_KIND,
        tuple(g for g in K.GUARDRAILS if g in statements),
        minify({"Version": VERSION, "Statement": kept}),
        "corral permissions boundary: every principal created in this account carries it; "
        "managed by corral.",
    )
    return Plan(K.ACCOUNT, (*docs, boundary), tuple(attachments), boundary.name, tuple(omitted))
