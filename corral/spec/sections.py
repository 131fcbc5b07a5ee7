"""The section parsers: each turns the raw value of one config key into its part of the model.

Every parser validates completely and raises a :class:`~corral.spec.readers.SpecError`
naming the full key path and the fix; :mod:`corral.spec.load` assembles the parts.
"""

from __future__ import annotations

import re
from typing import Any

from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.model import InstanceRule, Principals, Protections, Target
from corral.spec.readers import (
    SpecError,
    as_bool,
    as_mapping,
    decode,
    key_path,
    list_of,
    printable,
    reject_unknown,
    strings,
)

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROOT_ID = re.compile(r"^r-[0-9a-z]{4,32}$")
_OU_ID = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
_IAM_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,31}$")
_PRINCIPAL_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+|\*):iam::(?P<account>\d{12}|\*):(?P<kind>role|user)/(?P<name>.+)$"
)


def home_region(value: Any) -> tuple[str, str]:
    """``aws:region`` and its partition."""
    if value is None:
        raise SpecError(
            K.AWS_REGION_KEY, "is required; run `pulumi config set aws:region us-east-1`."
        )
    if not isinstance(value, str):
        raise SpecError(K.AWS_REGION_KEY, f"must be a region name, got {type(value).__name__}.")
    partition = catalog.partition_of(value)
    if partition is None or value not in catalog.regions(partition):
        everywhere = [r for p in catalog.partitions().values() for r in p.regions]
        hint = catalog.suggest(value, everywhere)
        fix = f"did you mean '{hint}'?" if hint else "use a region name such as us-east-1."
        raise SpecError(
            K.AWS_REGION_KEY, f"'{printable(str(value), 60)}' is not an AWS region; {fix}"
        )
    return value, partition


def allowed_regions(value: Any, key: str, partition: str, required: bool) -> tuple[str, ...]:
    """A list of regions of ``partition``, sorted."""
    if value is None:
        if required:
            raise SpecError(key, "is required; list the regions you use, e.g. [us-east-1].")
        return ()
    names = strings(value, key)
    valid = catalog.regions(partition)
    for i, name in enumerate(names):
        if name not in valid:
            hint = catalog.suggest(name, valid)
            fix = f"did you mean '{hint}'?" if hint else f"see `corral regions {partition}`."
            label = key if len(names) == 1 else f"{key}[{i}]"
            raise SpecError(
                label,
                f"'{printable(str(name), 60)}' is not a region of partition {partition}; {fix}",
            )
    return tuple(sorted(names))


def exempt_principals(value: Any, key: str) -> tuple[str, ...]:
    """Break-glass IAM role or user ARN patterns, sorted."""
    if value is None:
        return ()
    patterns = strings(value, key)
    for i, pattern in enumerate(patterns):
        match = _PRINCIPAL_ARN.match(pattern)
        if match is None:
            raise SpecError(
                f"{key}[{i}]",
                f"'{printable(str(pattern), 60)}' is not an IAM role or user ARN pattern; "
                "use e.g. arn:aws:iam::*:role/BreakGlass.",
            )
        if set(match["name"].split("/")[-1]) <= {"*", "?"}:
            raise SpecError(
                f"{key}[{i}]",
                f"'{printable(str(pattern), 60)}' exempts every {match['kind']} it can match, "
                "which disables the guardrails; name the break-glass role.",
            )
    return tuple(sorted(patterns))


def instance_rule(value: Any, key: str) -> InstanceRule:
    """An ``instances`` map (allow, deny, maxVcpus)."""
    if value is None:
        return InstanceRule()
    raw = as_mapping(value, key)
    reject_unknown(raw, K.INSTANCE_KEYS, key)
    allow = _patterns(raw.get(K.ALLOW), f"{key}.{K.ALLOW}")
    deny = _patterns(raw.get(K.DENY), f"{key}.{K.DENY}")
    ceiling = None
    if K.MAX_VCPUS in raw:
        ceiling = decode(raw[K.MAX_VCPUS], f"{key}.{K.MAX_VCPUS}", int, "a whole number")
        if not 1 <= ceiling <= 100_000:
            raise SpecError(f"{key}.{K.MAX_VCPUS}", f"{ceiling} is out of range; use 1 to 100000.")
    spot = as_bool(raw.get(K.SPOT, False), f"{key}.{K.SPOT}")
    return InstanceRule(allow=allow, deny=deny, max_vcpus=ceiling, spot=spot)


def _patterns(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    patterns = strings(value, key)
    types = catalog.instance_types()
    for i, pattern in enumerate(patterns):
        if not catalog.is_valid_pattern(pattern):
            raise SpecError(
                f"{key}[{i}]",
                f"'{printable(str(pattern), 60)}' has characters an instance type never has; "
                "use lower-case names with * and ? wildcards, e.g. t3.*.",
            )
        if not any(catalog.matches(pattern, t) for t in types):
            hint = catalog.suggest(pattern, types) or catalog.suggest(
                pattern, {catalog.family(t) + ".*" for t in types}
            )
            fix = f"did you mean '{hint}'?" if hint else "see `corral instance-types`."
            raise SpecError(
                f"{key}[{i}]",
                f"'{printable(str(pattern), 60)}' matches no EC2 instance type; {fix}",
            )
    return tuple(sorted(patterns))


def protections(value: Any, key: str) -> Protections:
    """The ``protections`` toggles (each on unless set false)."""
    if value is None:
        return Protections()
    raw = as_mapping(value, key)
    reject_unknown(raw, K.PROTECTION_KEYS, key)
    flags = {name: as_bool(raw.get(name, True), f"{key}.{name}") for name in K.PROTECTION_KEYS}
    return Protections(
        guardrails=flags[K.PROTECT_GUARDRAILS],
        leave_organization=flags[K.PROTECT_ORGANIZATION],
        cloudtrail=flags[K.PROTECT_CLOUDTRAIL],
        guardduty=flags[K.PROTECT_GUARDDUTY],
        config=flags[K.PROTECT_CONFIG],
        access_keys=flags[K.PROTECT_ACCESS_KEYS],
        principals=flags[K.PROTECT_PRINCIPALS],
    )


def capacity_allowed(value: Any, key: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """A ``purchases`` or ``compute`` map: ``allow``, names from ``known``, sorted."""
    if value is None:
        return ()
    raw = as_mapping(value, key)
    reject_unknown(raw, K.CAPACITY_KEYS, key)
    names = strings(raw.get(K.ALLOW, []), f"{key}.{K.ALLOW}")
    for i, name in enumerate(names):
        if name not in known:
            hint = catalog.suggest(str(name), known)
            fix = f"did you mean '{hint}'?" if hint else f"use one of {', '.join(known)}."
            raise SpecError(
                f"{key}.{K.ALLOW}[{i}]", f"'{printable(str(name), 60)}' is not known; {fix}"
            )
    return tuple(sorted(names))


def _target_kind(target_id: str) -> str | None:
    if _ROOT_ID.match(target_id):
        return K.ROOT
    if _OU_ID.match(target_id):
        return K.OU
    if _ACCOUNT_ID.match(target_id):
        return K.ACCOUNT_TARGET
    return None


def targets(value: Any, mode: str, partition: str) -> tuple[Target, ...]:
    """The organization-mode ``targets`` list; none in account mode."""
    key = key_path(K.TARGETS)
    if mode == K.ACCOUNT:
        if value is not None:
            raise SpecError(
                key, f"applies to organization mode only; use {key_path(K.PRINCIPALS)}."
            )
        return ()
    if value is None:
        raise SpecError(key, "is required in organization mode; list the root, OUs or accounts.")
    items = list_of(value, key)
    if not items:
        raise SpecError(key, "is empty; list at least one root, OU or account.")
    parsed = [_target(item, f"{key}[{i}]", partition) for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    for i, target in enumerate(parsed):
        for label in (target.id, target.name):
            if label in seen and seen[label] != i:
                raise SpecError(
                    f"{key}[{i}]", f"repeats '{printable(str(label), 60)}' of {key}[{seen[label]}]."
                )
            seen[label] = i
    return tuple(parsed)


def _target(value: Any, key: str, partition: str) -> Target:
    raw = as_mapping(value, key)
    reject_unknown(raw, K.TARGET_KEYS, key)
    if K.TARGET_ID not in raw:
        raise SpecError(
            f"{key}.{K.TARGET_ID}", "is required; use r-..., ou-...-... or an account id."
        )
    target_id = raw[K.TARGET_ID]
    if isinstance(target_id, int) and not isinstance(target_id, bool):
        target_id = f"{target_id:012d}"
    kind = _target_kind(target_id) if isinstance(target_id, str) else None
    if kind is None:
        raise SpecError(
            f"{key}.{K.TARGET_ID}",
            f"{target_id!r:.60} is not a root (r-...), OU (ou-...-...) or 12-digit account id; "
            "quote account ids in YAML.",
        )
    name = raw.get(K.TARGET_NAME, target_id)
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]{0,47}$", name):
        raise SpecError(
            f"{key}.{K.TARGET_NAME}",
            f"{name!r:.60} is not a valid name; use letters, digits and dashes (up to 48).",
        )
    guardrails = K.GUARDRAILS
    if K.TARGET_GUARDRAILS in raw:
        guardrails = strings(raw[K.TARGET_GUARDRAILS], f"{key}.{K.TARGET_GUARDRAILS}")
        for i, g in enumerate(guardrails):
            if g not in K.GUARDRAILS:
                hint = catalog.suggest(g, K.GUARDRAILS)
                fix = f"did you mean '{hint}'?" if hint else f"use {', '.join(K.GUARDRAILS)}."
                raise SpecError(
                    f"{key}.{K.TARGET_GUARDRAILS}[{i}]",
                    f"'{printable(str(g), 60)}' is unknown; {fix}",
                )
        guardrails = tuple(g for g in K.GUARDRAILS if g in guardrails)
    regions = None
    if K.ALLOWED_REGIONS in raw:
        regions = allowed_regions(
            raw[K.ALLOWED_REGIONS], f"{key}.{K.ALLOWED_REGIONS}", partition, True
        )
    instances = None
    if K.INSTANCES in raw:
        instances = instance_rule(raw[K.INSTANCES], f"{key}.{K.INSTANCES}")
    return Target(target_id, kind, name, guardrails, regions, instances)


def principals(value: Any, mode: str) -> Principals:
    """The account-mode ``principals`` map; none in organization mode."""
    key = key_path(K.PRINCIPALS)
    if mode == K.ORGANIZATION:
        if value is not None:
            raise SpecError(key, f"applies to account mode only; use {key_path(K.TARGETS)}.")
        return Principals()
    if value is None:
        raise SpecError(key, "is required in account mode; name the IAM groups, users or roles.")
    raw = as_mapping(value, key)
    reject_unknown(raw, K.PRINCIPAL_KEYS, key)
    names = {}
    for kind in K.PRINCIPAL_KEYS:
        names[kind] = strings(raw.get(kind, []), f"{key}.{kind}")
        for i, name in enumerate(names[kind]):
            if not _IAM_NAME.match(name):
                raise SpecError(f"{key}.{kind}[{i}]", f"'{name:.60}' is not a valid IAM name.")
    result = Principals(*(tuple(sorted(names[k])) for k in K.PRINCIPAL_KEYS))
    if result.empty:
        raise SpecError(key, "names no group, user or role; the deny policy would guard nobody.")
    return result


def name_prefix(value: Any) -> str:
    """The ``namePrefix`` of every deployed name."""
    if not isinstance(value, str) or not _PREFIX.match(value):
        raise SpecError(
            key_path(K.NAME_PREFIX),
            f"{value!r:.60} is not valid; start with a letter, then letters, digits or dashes.",
        )
    return value
