"""Pure helpers shared by the rules: reading properties, unknowns, regions, policy documents.

Property maps handed to rules are the SDK's unknown-checking proxies: reading a
value that is unknown at preview raises :class:`UnknownValueError`. Rules read
through these helpers, which note the unknown and carry on, so every known value
is still checked; :meth:`Unknowns.raise_any` then re-raises, and the SDK turns it
into its advisory "can't run policy ... during preview" diagnostic.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from corral.build import documents
from corral.build import packconfig as P
from corral.spec import keys as K

from . import tokens as T

DOCS_URL = "docs/policy-pack.md"


def docs_url(rule_id: str) -> str:
    """Where a rule is documented."""
    return f"{DOCS_URL}#{rule_id}"


def config_schema(rule_id: str) -> PolicyConfigSchema:
    """The SDK schema object for a rule's settings (from :mod:`corral.build.packconfig`)."""
    schema = P.SCHEMAS[rule_id]
    return PolicyConfigSchema(properties=schema["properties"], required=schema["required"])


SEVERITIES = {s.value: s for s in Severity}


def _record(
    kind: type, rule_id: str, description: str, validate: Any, severity: Severity, fix: str
):
    """One rule's policy record: mandatory, its schema, severity, remediation and docs url."""
    return kind(
        name=rule_id,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema(rule_id),
        severity=severity,
        remediation_steps=fix,
        url=docs_url(rule_id),
    )


def resource_policy(
    rule_id: str, description: str, validate: Any, severity: Severity, fix: str
) -> ResourceValidationPolicy:
    """The record of a rule that validates one resource at a time."""
    return _record(ResourceValidationPolicy, rule_id, description, validate, severity, fix)


def stack_policy(
    rule_id: str, description: str, validate: Any, severity: Severity, fix: str
) -> StackValidationPolicy:
    """The record of a rule that validates the whole stack."""
    return _record(StackValidationPolicy, rule_id, description, validate, severity, fix)


def label(resource_type: str, name: str) -> str:
    """How a message names a resource: its type token and name."""
    return f"{resource_type} '{name}'"


class Unknowns:
    """Values a rule could not read because they are unknown during preview."""

    def __init__(self) -> None:
        self.errors: list[UnknownValueError] = []

    def add(self, error: UnknownValueError, where: str | None = None) -> None:
        """Note an unknown value; ``where`` names the resource for stack rules."""
        if where is not None:
            error.message = f"{error.message} (in {where})"
        self.errors.append(error)

    def raise_any(self) -> None:
        """Re-raise the unknowns as one error, for the SDK to report as an advisory."""
        if not self.errors:
            return
        first = self.errors[0]
        first.message = "; ".join(dict.fromkeys(e.message for e in self.errors))
        raise first


def is_sequence(value: Any) -> bool:
    """True for lists (and the SDK's list proxies), not strings."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def get(props: Any, key: str, unknowns: Unknowns, where: str | None = None) -> Any:
    """``props[key]`` or None; an unknown value is noted and read as None."""
    if not isinstance(props, Mapping):
        return None
    try:
        return props.get(key)
    except UnknownValueError as error:
        unknowns.add(error, where)
        return None


def items(value: Any, unknowns: Unknowns, where: str | None = None) -> Iterator[Any]:
    """The known elements of a list (a string counts as one element)."""
    if isinstance(value, str):
        yield value
        return
    if not is_sequence(value):
        return
    for i in range(len(value)):
        try:
            yield value[i]
        except UnknownValueError as error:
            unknowns.add(error, where)


def walk(value: Any, path: str, unknowns: Unknowns, trail: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(property path, value)`` at ``path``, e.g. ``a.b[].c`` (``[]``: each element)."""
    if not path:
        yield trail, value
        return
    segment, _, rest = path.partition(".")
    many = segment.endswith("[]")
    key = segment[:-2] if many else segment
    child = get(value, key, unknowns)
    if child is None:
        return
    here = f"{trail}.{key}" if trail else key
    if not many:
        yield from walk(child, rest, unknowns, here)
        return
    if not is_sequence(child):
        return
    for i in range(len(child)):
        try:
            element = child[i]
        except UnknownValueError as error:
            unknowns.add(error)
            continue
        yield from walk(element, rest, unknowns, f"{here}[{i}]")


def find(value: Any, key: str, unknowns: Unknowns, trail: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(property path, value)`` of a property named ``key``, at any depth."""
    if isinstance(value, Mapping):
        for name in value:
            child = get(value, name, unknowns)
            here = f"{trail}.{name}" if trail else name
            if name == key and child is not None:
                yield here, child
            else:
                yield from find(child, key, unknowns, here)
    elif is_sequence(value):
        for i in range(len(value)):
            try:
                element = value[i]
            except UnknownValueError as error:
                unknowns.add(error)
                continue
            yield from find(element, key, unknowns, f"{trail}[{i}]")


def plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists; raises UnknownValueError on an unknown leaf."""
    if isinstance(value, Mapping):
        return {k: plain(value[k]) for k in value}
    if is_sequence(value):
        return [plain(value[i]) for i in range(len(value))]
    return value


def as_list(value: Any) -> list[Any]:
    """A policy-document field (string or list) as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def parse_document(value: Any) -> dict[str, Any] | None:
    """A policy document given as JSON text or as a map; None when it is neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    doc = plain(value)
    return doc if isinstance(doc, dict) else None


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy document (a single statement may be a map)."""
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, dict)]


# --------------------------------------------------------------------------- regions


def region_of(props: Any, unknowns: Unknowns, where: str | None = None) -> str | None:
    """The ``region`` a resource or provider sets, or None."""
    value = get(props, T.REGION, unknowns, where)
    return value if isinstance(value, str) and value else None


@functools.cache
def _global_services() -> frozenset[str]:
    return frozenset(
        a.split(":", 1)[0].replace("-", "") for a in documents.global_actions() if a.endswith(":*")
    )


def is_global(resource_type: str) -> bool:
    """True for resources of global services, which the region restriction exempts."""
    parts = resource_type.split(":")
    if len(parts) != 3:
        return False
    module = parts[1].split("/", 1)[0]
    service = T.MODULE_SERVICE.get(module, module)
    return service.replace("-", "") in _global_services()


# --------------------------------------------------------------------------- corral stacks


def name_prefix(config: Mapping[str, Any]) -> str:
    """The name prefix of corral's resources, from a stack rule's settings."""
    return str(config.get(P.NAME_PREFIX) or K.DEFAULT_NAME_PREFIX)


def is_corral_document(resource: Any, prefix: str) -> bool:
    """True for an SCP or IAM policy that corral deploys (by name prefix or managed tag)."""
    if resource.resource_type not in (T.ORG_POLICY, T.IAM_POLICY):
        return False
    unknowns = Unknowns()
    name = get(resource.props, "name", unknowns)
    tags = get(resource.props, "tags", unknowns)
    if isinstance(name, str) and name.startswith(f"{prefix}-"):
        return True
    return isinstance(tags, Mapping) and K.MANAGED_TAG in tags


def corral_documents(resources: Sequence[Any], prefix: str) -> list[Any]:
    """corral's SCPs and IAM policies among ``resources``."""
    return [r for r in resources if is_corral_document(r, prefix)]


def by_type(resources: Sequence[Any], resource_type: str) -> list[Any]:
    """The resources of one type."""
    return [r for r in resources if r.resource_type == resource_type]


def guardrail_documents(args: Any) -> list[Any]:
    """corral's documents in the stack; marks a stack rule not applicable when there are none."""
    docs = corral_documents(args.resources, name_prefix(args.get_config()))
    if not docs:
        args.not_applicable("the stack deploys no corral guardrails")
    return docs


def count(value: Any) -> int:
    """How many elements a list has; unknown elements still count."""
    return len(value) if is_sequence(value) else 0


DEPLOYING = "the deploying account"


def account_of(resource: Any, unknowns: Unknowns) -> str:
    """The account a resource deploys to: its provider's assumed role's, else the deployer's."""
    if resource.provider is None:
        return DEPLOYING
    roles = get(resource.provider.props, "assumeRoles", unknowns)
    if isinstance(roles, str):  # provider inputs arrive JSON-encoded
        try:
            roles = json.loads(roles or "null")
        except ValueError:
            roles = None
    for role in items(roles, unknowns):
        arn = get(role, "roleArn", unknowns) or get(role, "role_arn", unknowns)
        if isinstance(arn, str) and arn.count(":") >= 5:
            return f"account {arn.split(':')[4]}"
    return DEPLOYING
