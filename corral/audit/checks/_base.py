"""What every check shares: its metadata record, its contexts, and finding constructors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.audit.aws import Connection, ReadError
from corral.audit.findings import ERROR, FAIL, PASS, Finding
from corral.build.plan import Plan
from corral.spec.model import Spec

# Where a check runs.
VERIFY = "verify"  # once per run, from the management (or standalone) account
SWEEP_ACCOUNT = "sweep-account"  # once per swept account
SWEEP_REGION = "sweep-region"  # once per swept account and enabled region
SCOPES = (VERIFY, SWEEP_ACCOUNT, SWEEP_REGION)
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class CheckMetadata:
    """The declarative record of a check (its id equals its module name in kebab case)."""

    id: str
    title: str
    severity: str
    risk: str
    remediation: str
    actions: tuple[str, ...]  # read-only IAM actions the check calls
    modes: tuple[str, ...]  # "organization", "account"
    scope: str
    # The spec keys (under ``corral:``) a finding is about, first set in the stack file
    # wins; reports point at that key's line (an account's ``targets`` entry for targets).
    spec_keys: tuple[str, ...] = ()

    def as_rule(self) -> dict[str, Any]:
        """The fields reports show (SARIF rules and locations)."""
        return {
            "title": self.title,
            "severity": self.severity,
            "risk": self.risk,
            "remediation": self.remediation,
            "spec_keys": self.spec_keys,
        }


@dataclass
class VerifyContext:
    """Inputs of a verify check."""

    spec: Spec
    plan: Plan
    conn: Connection
    account: str  # the caller: management account or standalone account
    selected: Callable[[str], bool] = lambda account: True  # --accounts / --shard
    org_level: bool = True  # False in every shard but the first
    policy_ids: Mapping[str, str] = field(default_factory=dict)  # from --manifest
    regions: tuple[str, ...] | None = None  # --regions; None: every region

    def judges(self, region: str) -> bool:
        """True when this run judges ``region`` (every region unless ``--regions``)."""
        return self.regions is None or region in self.regions


@dataclass
class SweepContext:
    """Inputs of a sweep check: one account, and one region or None."""

    spec: Spec
    conn: Connection
    account: str
    region: str | None
    caller: str


Run = Callable[[Any], Iterable[Finding]]


def passed(
    meta: CheckMetadata,
    account: str,
    region: str | None,
    resource: str,
    message: str,
    **details: Any,
) -> Finding:
    """A PASS finding of ``meta``."""
    return Finding(meta.id, PASS, account, region, resource, message, details)


def failed(
    meta: CheckMetadata,
    account: str,
    region: str | None,
    resource: str,
    message: str,
    **details: Any,
) -> Finding:
    """A FAIL finding of ``meta``."""
    return Finding(meta.id, FAIL, account, region, resource, message, details)


def errored(
    check_id: str, account: str, region: str | None, resource: str, reason: str, role_name: str
) -> Finding:
    """An ERROR finding: the check could not read what it needs. ``reason`` is a
    :class:`~corral.audit.failures.ReadError`'s text, which ends with the fix for its cause
    (permission: grant ``role_name`` or the caller what ``corral iam-policy`` prints)."""
    message = f"Check {check_id} could not complete because {reason.rstrip('.')}."
    return Finding(check_id, ERROR, account, region, resource, message)


def per_account(
    ctx: VerifyContext,
    meta: CheckMetadata,
    units: Iterable[Any],
    judge: Callable[[VerifyContext, Any], Iterable[Finding]],
    what: str,
) -> Iterator[Finding]:
    """``judge`` every unit (a site or place: anything with an ``account``); a failed read
    ends that unit with an ERROR on ``<what> of account <id>``, after the findings already
    made, and the other units are still judged."""
    for unit in units:
        found: list[Finding] = []
        try:
            found.extend(judge(ctx, unit))
        except ReadError as exc:
            resource = f"{what} of account {unit.account}"
            found.append(errored(meta.id, unit.account, exc.region, resource, str(exc),
                                 ctx.conn.role_name))  # fmt: skip
        yield from found
