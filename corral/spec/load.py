"""Loading the corral spec from Pulumi stack config under the ``corral`` namespace.

It is read either by the Pulumi program (:func:`from_config`) or, without the
Pulumi CLI, from the stack file itself (:func:`load_stack_file`), so every
``corral`` command reads exactly what ``pulumi up`` reads. Every error is a
:class:`~corral.spec.readers.SpecError` whose one-line message names the full
key path and the fix. After the sections are parsed, the cross-checks refuse
overrides a root deny would ignore and specs that would lock the owner out.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from corral.spec import alerts as alerts_spec
from corral.spec import capacity, sections, stackfile
from corral.spec import keys as K
from corral.spec import spend as spend_spec
from corral.spec.model import InstanceRule, Spec
from corral.spec.readers import SpecError, as_bool, choice, key_path, reject_unknown


def load_stack_file(path: str | Path) -> Spec:
    """Read ``Pulumi.<stack>.yaml`` and build the spec from its ``config:`` map."""
    file = Path(path)
    document = stackfile.read(file)  # size cap, C loader, duplicate keys refused
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
    reject_unknown(raw, K.TOP_LEVEL_KEYS + K.SPEND_KEYS + K.ALERT_KEYS, K.NAMESPACE + ":", sep="")
    region, partition = sections.home_region(aws_region)
    mode = choice(raw, K.MODE, K.MODES, key_path(K.MODE), required=True)
    allowed = sections.allowed_regions(
        raw.get(K.ALLOWED_REGIONS), key_path(K.ALLOWED_REGIONS), partition, True
    )
    spec = Spec(
        mode=mode,
        region=region,
        partition=partition,
        allowed_regions=allowed,
        exempt_principals=sections.exempt_principals(
            raw.get(K.EXEMPT_PRINCIPALS), key_path(K.EXEMPT_PRINCIPALS)
        ),
        instances=sections.instance_rule(raw.get(K.INSTANCES), key_path(K.INSTANCES)),
        protections=sections.protections(raw.get(K.PROTECTIONS), key_path(K.PROTECTIONS)),
        targets=sections.targets(raw.get(K.TARGETS), mode, partition),
        principals=sections.principals(raw.get(K.PRINCIPALS), mode),
        allow_lockout=as_bool(raw.get(K.ALLOW_LOCKOUT, False), key_path(K.ALLOW_LOCKOUT)),
        name_prefix=sections.name_prefix(raw.get(K.NAME_PREFIX, K.DEFAULT_NAME_PREFIX)),
        purchases_allowed=sections.capacity_allowed(
            raw.get(K.PURCHASES), key_path(K.PURCHASES), tuple(capacity.purchase_categories())
        ),
        compute_allowed=tuple(
            sorted(
                {K.EC2_COMPUTE}
                | set(
                    sections.capacity_allowed(
                        raw.get(K.COMPUTE), key_path(K.COMPUTE), capacity.compute_names()
                    )
                )
            )
        ),
    )
    _check_overrides(spec)
    if not spec.allow_lockout:
        _check_lockout(spec)
    spec = dataclasses.replace(spec, spend=_spend(raw, spec))
    alerts = alerts_spec.parse(
        {k: raw[k] for k in K.ALERT_KEYS if k in raw},
        spend_enabled=spec.spend.enabled,
        mode=spec.mode,
        account_ids=spec.spend.account_ids,
    )
    spec = dataclasses.replace(spec, alerts=alerts)
    if not spec.allow_lockout:
        _check_member_role(spec)
        _check_stackset_role(spec)
    return spec


def _spend(raw: dict[str, Any], spec: Spec) -> spend_spec.SpendSpec:
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
        spot_allowed=spec.instances.spot,
        spot_overrides={
            t.id: t.instances.spot
            for t in spec.targets
            if t.kind == K.ACCOUNT_TARGET and t.instances is not None
        },
        compute_allowed=spec.compute_allowed,
    )


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
                        key_path(K.TARGETS, i) + f".{name}",
                        f"overrides the {guardrail} rule for {target.id}, but root {root.id} "
                        f"also carries it and a deny at the root applies below it; remove "
                        f"'{guardrail}' from the root's guardrails and attach it to the OUs.",
                    )


def _check_lockout(spec: Spec) -> None:
    """Refuse specs that would lock the owner out, unless allowLockout is set."""
    override = f"set {key_path(K.ALLOW_LOCKOUT)}: true to deploy it anyway."
    if not spec.allowed_regions:
        raise SpecError(
            key_path(K.ALLOWED_REGIONS), f"is empty, which denies every region; {override}"
        )
    if spec.region not in spec.allowed_regions:
        raise SpecError(
            key_path(K.ALLOWED_REGIONS),
            f"does not include {spec.region} (aws:region), where this stack deploys; add it or "
            f"{override}",
        )
    scopes: list[tuple[str, InstanceRule]] = [(key_path(K.INSTANCES), spec.instances)]
    scopes += [
        (key_path(K.TARGETS, i) + f".{K.INSTANCES}", t.instances)
        for i, t in enumerate(spec.targets)
        if t.instances is not None
    ]
    for key, rule in scopes:
        if rule.restricts and not rule.permitted_types():
            raise SpecError(key, f"permits no instance type at all; {override}")
    for i, target in enumerate(spec.targets):
        if target.allowed_regions is not None and not target.allowed_regions:
            raise SpecError(
                key_path(K.TARGETS, i) + f".{K.ALLOWED_REGIONS}", f"is empty; {override}"
            )
    if spec.protections.any and not spec.exempt_principals:
        raise SpecError(
            key_path(K.EXEMPT_PRINCIPALS),
            "is empty while protections are on, so nobody could ever change the guardrails; "
            f"name a break-glass role or {override}",
        )


def _check_member_role(spec: Spec) -> None:
    """Organization mode with spend resources inside member accounts (alarms, forwarding,
    member budgets): ``pulumi up`` works there through the member role, which must be
    exempt, or the protection of corral's own roles (``protections.principals``) would
    deny it creating them."""
    spend = spec.spend
    if not (spec.mode == K.ORGANIZATION and spec.protections.principals and spend.enabled):
        return
    if not spend.account_ids:  # no member site: nothing is deployed through the role
        return
    if _exempts(spec, spend.member_role):
        return
    pattern = f"arn:{spec.partition}:iam::*:role/{spend.member_role}"
    raise SpecError(
        key_path(K.EXEMPT_PRINCIPALS),
        f"does not exempt {spend.member_role}, through which `pulumi up` creates corral's "
        f"roles in member accounts, so protections.principals would deny it; add {pattern} "
        "(its trust stays with the management account, and corral denies changing it).",
    )


STACKSET_ROLE = "stacksets-exec-*"  # the role CloudFormation StackSets creates in each member


def _check_stackset_role(spec: Spec) -> None:
    """Organization mode with spend detection and a root or OU target: corral's StackSet
    creates every member's detection (in every region, and corral's /corral/ role) as the
    ``stacksets-exec-<id>`` role StackSets makes in that account, so the guardrails would
    deny it unless it is exempt."""
    spend = spec.spend
    if not (spec.mode == K.ORGANIZATION and spend.enabled):
        return
    if not any(t.kind in (K.ROOT, K.OU) for t in spec.targets):
        return
    if _exempts(spec, "stacksets-exec-0123456789abcdef"):
        return
    pattern = f"arn:{spec.partition}:iam::*:role/{STACKSET_ROLE}"
    raise SpecError(
        key_path(K.EXEMPT_PRINCIPALS),
        "does not exempt the role CloudFormation StackSets creates in each member account, "
        "through which corral's StackSet deploys spend detection below the root and OU targets "
        f"(alarms in every region, corral's roles), so the guardrails would deny it; add {pattern} "
        "(it trusts only the management account's StackSets role, and corral denies creating or "
        "changing an exempt role).",
    )


def _exempts(spec: Spec, role_name: str) -> bool:
    """True when an exempt pattern covers the role ``role_name`` in any member account."""
    role = f"arn:{spec.partition}:iam::123456789012:role/{role_name}"
    return any(fnmatch.fnmatchcase(role, pattern) for pattern in spec.exempt_principals)
