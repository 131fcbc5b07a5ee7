"""The corral spec: one typed, validated description of the guardrails.

It is read from Pulumi stack config under the ``corral`` namespace, either by
the Pulumi program (``from_config``) or, without the Pulumi CLI, from the stack
file itself (``load_stack_file``), so every ``corral`` command reads exactly what
``pulumi up`` reads. Every error is a :class:`SpecError` whose one-line message
names the full key path and the fix.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from corral.spec import catalog
from corral.spec import keys as K

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROOT_ID = re.compile(r"^r-[0-9a-z]{4,32}$")
_OU_ID = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
_IAM_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,31}$")
_PRINCIPAL_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+|\*):iam::(?P<account>\d{12}|\*):(?P<kind>role|user)/(?P<name>.+)$"
)
_MAX_LIST = 1000


def printable(text: str, limit: int = 120) -> str:
    """``text`` on one line: control characters escaped, clipped to ``limit`` characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


class SpecError(ValueError):
    """A config problem; ``str()`` is one line naming the key and the fix.

    Whatever the config holds, the message stays one printable line: control
    characters are escaped and user text is clipped.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = printable(key, 100)
        super().__init__(f"{self.key}: {printable(message, 400)}")


@dataclass(frozen=True)
class InstanceRule:
    """Which EC2 instance types may be launched.

    ``allow`` patterns (empty: every type), minus ``deny`` patterns, minus types
    with more than ``max_vcpus`` vCPUs. Types with no known vCPU count are not
    permitted under a ceiling (fail closed).
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    max_vcpus: int | None = None

    @property
    def restricts(self) -> bool:
        """False when the rule permits every instance type."""
        return bool(self.allow or self.deny or self.max_vcpus is not None)

    def permits(self, instance_type: str) -> bool:
        """True when ``instance_type`` may be launched under this rule."""
        if self.allow and not any(catalog.matches(p, instance_type) for p in self.allow):
            return False
        if any(catalog.matches(p, instance_type) for p in self.deny):
            return False
        if self.max_vcpus is not None:
            count = catalog.vcpus().get(instance_type)
            return count is not None and count <= self.max_vcpus
        return True

    def permitted_types(self) -> frozenset[str]:
        """The catalog's instance types this rule permits."""
        return _permitted_types(self)


@functools.cache
def _permitted_types(rule: InstanceRule) -> frozenset[str]:
    return frozenset(t for t in catalog.instance_types() if rule.permits(t))


@dataclass(frozen=True)
class Protections:
    """Toggles for the guardrail-protection statements (all on by default)."""

    guardrails: bool = True
    leave_organization: bool = True
    cloudtrail: bool = True
    guardduty: bool = True
    config: bool = True
    access_keys: bool = True

    @property
    def any(self) -> bool:
        """True when at least one protection is on."""
        return any(
            (
                self.guardrails,
                self.leave_organization,
                self.cloudtrail,
                self.guardduty,
                self.config,
                self.access_keys,
            )
        )


@dataclass(frozen=True)
class Target:
    """An organization root, OU or account that receives guardrails."""

    id: str
    kind: str
    name: str
    guardrails: tuple[str, ...]
    allowed_regions: tuple[str, ...] | None = None
    instances: InstanceRule | None = None

    @property
    def label(self) -> str:
        """The name used in resource and document names."""
        return self.name


@dataclass(frozen=True)
class Principals:
    """IAM groups, users and roles that carry the deny policy in account mode."""

    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when no principal is named."""
        return not (self.groups or self.users or self.roles)


@dataclass(frozen=True)
class Spec:
    """The validated guardrail description."""

    mode: str
    region: str
    partition: str
    allowed_regions: tuple[str, ...]
    exempt_principals: tuple[str, ...] = ()
    instances: InstanceRule = field(default_factory=InstanceRule)
    protections: Protections = field(default_factory=Protections)
    targets: tuple[Target, ...] = ()
    principals: Principals = field(default_factory=Principals)
    allow_lockout: bool = False
    name_prefix: str = K.DEFAULT_NAME_PREFIX
    spend: Any = None
    """Spend detection (``corral.spec.spend.SpendSpec``); off unless a spend key is set."""

    def regions_for(self, target: Target | None = None) -> tuple[str, ...]:
        """Allowed regions for ``target`` (its override, else the spec's)."""
        if target is not None and target.allowed_regions is not None:
            return target.allowed_regions
        return self.allowed_regions

    def instances_for(self, target: Target | None = None) -> InstanceRule:
        """Instance rule for ``target`` (its override, else the spec's)."""
        if target is not None and target.instances is not None:
            return target.instances
        return self.instances


# --------------------------------------------------------------------------- loading


def load_stack_file(path: str | Path) -> Spec:
    """Read ``Pulumi.<stack>.yaml`` and build the spec from its ``config:`` map."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(file), "file not found; pass --config Pulumi.<stack>.yaml.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(file), f"cannot be read ({exc}); check the path.") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError(str(file), f"{problem} at {where}; fix the YAML syntax.") from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise SpecError(str(file), "has no top-level 'config:' map; is it a Pulumi stack file?")
    return from_config(document["config"])


def from_config(config: Mapping[str, Any]) -> Spec:
    """Build the spec from a flat stack config map (``corral:...`` and ``aws:region``).

    Values may be native (from the stack file) or JSON strings (as the Pulumi
    engine hands structured config to a program). Keys outside the ``corral``
    namespace, other than ``aws:region``, are ignored.
    """
    prefix = K.NAMESPACE + ":"
    raw: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str) or not key.startswith(prefix):
            continue
        if isinstance(value, dict) and "secure" in value:
            raise SpecError(key, "is a secret, but corral settings are not secret; set it plainly.")
        raw[key[len(prefix) :]] = value
    return _build(raw, config.get(K.AWS_REGION_KEY))


def _build(raw: dict[str, Any], aws_region: Any) -> Spec:
    reject_unknown(raw, K.TOP_LEVEL_KEYS + K.SPEND_KEYS, K.NAMESPACE + ":", sep="")
    region, partition = _home_region(aws_region)
    mode = _choice(raw, K.MODE, K.MODES, _key(K.MODE), required=True)
    allowed = _regions(raw.get(K.ALLOWED_REGIONS), _key(K.ALLOWED_REGIONS), partition, True)
    spec = Spec(
        mode=mode,
        region=region,
        partition=partition,
        allowed_regions=allowed,
        exempt_principals=_exempt(raw.get(K.EXEMPT_PRINCIPALS), _key(K.EXEMPT_PRINCIPALS)),
        instances=_instances(raw.get(K.INSTANCES), _key(K.INSTANCES)),
        protections=_protections(raw.get(K.PROTECTIONS), _key(K.PROTECTIONS)),
        targets=_targets(raw.get(K.TARGETS), mode, partition),
        principals=_principals(raw.get(K.PRINCIPALS), mode),
        allow_lockout=as_bool(raw.get(K.ALLOW_LOCKOUT, False), _key(K.ALLOW_LOCKOUT)),
        name_prefix=_name_prefix(raw.get(K.NAME_PREFIX, K.DEFAULT_NAME_PREFIX)),
    )
    _check_overrides(spec)
    if not spec.allow_lockout:
        _check_lockout(spec)
    return dataclasses.replace(spec, spend=_spend(raw, spec))


def _spend(raw: dict[str, Any], spec: Spec) -> Any:
    from corral.spec import spend as spend_spec  # noqa: PLC0415 - spend builds on this module

    return spend_spec.parse(
        {k: raw[k] for k in K.SPEND_KEYS if k in raw},
        mode=spec.mode,
        partition=spec.partition,
        region=spec.region,
        account_ids=[t.id for t in spec.targets if t.kind == K.ACCOUNT_TARGET],
        name_prefix=spec.name_prefix,
        exempt_principals=spec.exempt_principals,
        principals={
            K.GROUPS: spec.principals.groups,
            K.USERS: spec.principals.users,
            K.ROLES: spec.principals.roles,
        },
    )


# --------------------------------------------------------------------------- helpers


def _key(*parts: str | int) -> str:
    path = K.NAMESPACE + ":"
    for i, part in enumerate(parts):
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += part if i == 0 else f".{part}"
    return path


def decode(value: Any, key: str, kind: type, what: str) -> Any:
    """Accept native values and the JSON strings Pulumi hands to programs."""
    if isinstance(value, str) and kind is not str:
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise SpecError(key, f"must be {what}, got the text {value[:60]!r}.") from None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SpecError(key, f"must be {what}, got {type(value).__name__}.")
    return value


def reject_unknown(
    raw: Mapping[str, Any], allowed: Iterable[str], base: str, sep: str = "."
) -> None:
    """Raise SpecError for the first key of ``raw`` not in ``allowed``, with a suggestion."""
    allowed = tuple(allowed)
    for name in raw:
        if name in allowed:
            continue
        if not isinstance(name, str):
            raise SpecError(f"{base}{sep}{name!r}", "is not a valid key name; keys are text.")
        hint = catalog.suggest(name, allowed)
        fix = f"did you mean '{hint}'?" if hint else f"valid keys are {', '.join(allowed)}."
        raise SpecError(f"{base}{sep}{name}", f"is not a known key; {fix}")


def _list(value: Any, key: str, what: str = "a list") -> list[Any]:
    items = decode(value, key, list, what)
    if len(items) > _MAX_LIST:
        raise SpecError(key, f"has {len(items)} entries; at most {_MAX_LIST} are supported.")
    return items


def _strings(value: Any, key: str) -> tuple[str, ...]:
    items = _list(value, key, "a list of strings")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise SpecError(f"{key}[{i}]", "must be a non-empty string.")
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            raise SpecError(f"{key}[{i}]", f"repeats '{item}'; list each value once.")
        seen.add(item)
    return tuple(items)


def as_bool(value: Any, key: str) -> bool:
    """``value`` as a boolean; ``"true"``/``"false"`` text (from ``pulumi config set``) too."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise SpecError(key, f"must be true or false, got {value!r:.60}.")
    return value


def as_mapping(value: Any, key: str) -> dict[str, Any]:
    """``value`` as a map (native or JSON text)."""
    return decode(value, key, dict, "a map")


def _choice(
    raw: Mapping[str, Any], name: str, choices: tuple[str, ...], key: str, required: bool
) -> str:
    if name not in raw:
        if required:
            raise SpecError(key, f"is required; set it to one of {', '.join(choices)}.")
        return choices[0]
    value = raw[name]
    if value not in choices:
        hint = catalog.suggest(str(value), choices)
        fix = f"did you mean '{hint}'?" if hint else f"use one of {', '.join(choices)}."
        raise SpecError(key, f"'{printable(str(value), 60)}' is not a valid value; {fix}")
    return value


def _home_region(value: Any) -> tuple[str, str]:
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


def _regions(value: Any, key: str, partition: str, required: bool) -> tuple[str, ...]:
    if value is None:
        if required:
            raise SpecError(key, "is required; list the regions you use, e.g. [us-east-1].")
        return ()
    names = _strings(value, key)
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


def _exempt(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    patterns = _strings(value, key)
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


def _instances(value: Any, key: str) -> InstanceRule:
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
    return InstanceRule(allow=allow, deny=deny, max_vcpus=ceiling)


def _patterns(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    patterns = _strings(value, key)
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


def _protections(value: Any, key: str) -> Protections:
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
    )


def _target_kind(target_id: str) -> str | None:
    if _ROOT_ID.match(target_id):
        return K.ROOT
    if _OU_ID.match(target_id):
        return K.OU
    if _ACCOUNT_ID.match(target_id):
        return K.ACCOUNT_TARGET
    return None


def _targets(value: Any, mode: str, partition: str) -> tuple[Target, ...]:
    key = _key(K.TARGETS)
    if mode == K.ACCOUNT:
        if value is not None:
            raise SpecError(key, f"applies to organization mode only; use {_key(K.PRINCIPALS)}.")
        return ()
    if value is None:
        raise SpecError(key, "is required in organization mode; list the root, OUs or accounts.")
    items = _list(value, key)
    if not items:
        raise SpecError(key, "is empty; list at least one root, OU or account.")
    targets = [_target(item, f"{key}[{i}]", partition) for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    for i, target in enumerate(targets):
        for label in (target.id, target.name):
            if label in seen and seen[label] != i:
                raise SpecError(
                    f"{key}[{i}]", f"repeats '{printable(str(label), 60)}' of {key}[{seen[label]}]."
                )
            seen[label] = i
    return tuple(targets)


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
        guardrails = _strings(raw[K.TARGET_GUARDRAILS], f"{key}.{K.TARGET_GUARDRAILS}")
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
        regions = _regions(raw[K.ALLOWED_REGIONS], f"{key}.{K.ALLOWED_REGIONS}", partition, True)
    instances = None
    if K.INSTANCES in raw:
        instances = _instances(raw[K.INSTANCES], f"{key}.{K.INSTANCES}")
    return Target(target_id, kind, name, guardrails, regions, instances)


def _principals(value: Any, mode: str) -> Principals:
    key = _key(K.PRINCIPALS)
    if mode == K.ORGANIZATION:
        if value is not None:
            raise SpecError(key, f"applies to account mode only; use {_key(K.TARGETS)}.")
        return Principals()
    if value is None:
        raise SpecError(key, "is required in account mode; name the IAM groups, users or roles.")
    raw = as_mapping(value, key)
    reject_unknown(raw, K.PRINCIPAL_KEYS, key)
    names = {}
    for kind in K.PRINCIPAL_KEYS:
        names[kind] = _strings(raw.get(kind, []), f"{key}.{kind}")
        for i, name in enumerate(names[kind]):
            if not _IAM_NAME.match(name):
                raise SpecError(f"{key}.{kind}[{i}]", f"'{name:.60}' is not a valid IAM name.")
    result = Principals(*(tuple(sorted(names[k])) for k in K.PRINCIPAL_KEYS))
    if result.empty:
        raise SpecError(key, "names no group, user or role; the deny policy would guard nobody.")
    return result


def _name_prefix(value: Any) -> str:
    if not isinstance(value, str) or not _PREFIX.match(value):
        raise SpecError(
            _key(K.NAME_PREFIX),
            f"{value!r:.60} is not valid; start with a letter, then letters, digits or dashes.",
        )
    return value


# --------------------------------------------------------------------------- checks


def _check_overrides(spec: Spec) -> None:
    """A deny at the root cannot be relaxed below it; refuse overrides that pretend so."""
    roots = [t for t in spec.targets if t.kind == K.ROOT]
    for i, target in enumerate(spec.targets):
        if target.kind == K.ROOT:
            continue
        for guardrail, override, name in (
            (K.REGIONS, target.allowed_regions, K.ALLOWED_REGIONS),
            (K.INSTANCE_TYPES, target.instances, K.INSTANCES),
        ):
            if override is None:
                continue
            for root in roots:
                if guardrail in root.guardrails:
                    raise SpecError(
                        _key(K.TARGETS, i) + f".{name}",
                        f"overrides the {guardrail} rule for {target.id}, but root {root.id} "
                        f"also carries it and a deny at the root applies below it; remove "
                        f"'{guardrail}' from the root's guardrails and attach it to the OUs.",
                    )


def _check_lockout(spec: Spec) -> None:
    """Refuse specs that would lock the owner out, unless allowLockout is set."""
    override = f"set {_key(K.ALLOW_LOCKOUT)}: true to deploy it anyway."
    if not spec.allowed_regions:
        raise SpecError(_key(K.ALLOWED_REGIONS), f"is empty, which denies every region; {override}")
    if spec.region not in spec.allowed_regions:
        raise SpecError(
            _key(K.ALLOWED_REGIONS),
            f"does not include {spec.region} (aws:region), where this stack deploys; add it or "
            f"{override}",
        )
    scopes: list[tuple[str, InstanceRule]] = [(_key(K.INSTANCES), spec.instances)]
    scopes += [
        (_key(K.TARGETS, i) + f".{K.INSTANCES}", t.instances)
        for i, t in enumerate(spec.targets)
        if t.instances is not None
    ]
    for key, rule in scopes:
        if rule.restricts and not rule.permitted_types():
            raise SpecError(key, f"permits no instance type at all; {override}")
    for i, target in enumerate(spec.targets):
        if target.allowed_regions is not None and not target.allowed_regions:
            raise SpecError(_key(K.TARGETS, i) + f".{K.ALLOWED_REGIONS}", f"is empty; {override}")
    if spec.protections.any and not spec.exempt_principals:
        raise SpecError(
            _key(K.EXEMPT_PRINCIPALS),
            "is empty while protections are on, so nobody could ever change the guardrails; "
            f"name a break-glass role or {override}",
        )
