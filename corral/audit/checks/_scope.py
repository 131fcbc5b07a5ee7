"""Which rules apply to a swept account, and what runs in a swept region."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from corral.audit.aws import ReadError
from corral.audit.checks import _deployed
from corral.audit.checks._base import SweepContext
from corral.spec import keys as K
from corral.spec.model import InstanceRule

RUNNING_FILTER = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]


@dataclass(frozen=True)
class Rules:
    """The region and instance rules that reach one account (every one must permit)."""

    regions: tuple[tuple[str, ...], ...]
    instances: tuple[InstanceRule, ...]

    def region_allowed(self, region: str) -> bool:
        """True when every region rule on the account's path allows ``region``."""
        return all(region in allowed for allowed in self.regions)

    def type_allowed(self, instance_type: str) -> bool:
        """True when every instance rule on the account's path permits ``instance_type``."""
        return all(rule.permits(instance_type) for rule in self.instances)

    @property
    def allowed_regions(self) -> list[str]:
        """Regions every rule allows."""
        sets = [set(r) for r in self.regions]
        return sorted(set.intersection(*sets)) if sets else []


def _chain(ctx: SweepContext) -> list[str]:
    """The ids on the account's path that can name a target (management account's view).

    With an OU among the targets: every id from the root down (``ListParents``, a level
    with other than one parent is a failed read of that account, not a guess). Without
    one, a target is on the path exactly when it is the root or the account itself, so the
    root (``ListRoots``, one read for every account) and the account are enough."""
    if not any(t.kind == K.OU for t in ctx.spec.targets):
        roots = ctx.conn.read("organizations", "ListRoots").get("Roots", [])
        return [*(r["Id"] for r in roots), ctx.account]
    try:
        return _deployed.chain_ids(ctx.conn, ctx.account)
    except _deployed.ChainProblem as exc:
        raise ReadError("organizations:ListParents", ctx.account, None, str(exc)) from None


def read_ahead(ctx: SweepContext) -> None:
    """Read what :func:`rules_for` needs for the account now, while its regions are swept:
    the region checks find it memoised instead of waiting for it once instances are found.
    A failed read is memoised too; the check that needs it reports it."""
    if ctx.spec.mode == K.ACCOUNT:
        return
    with contextlib.suppress(ReadError):
        _chain(ctx)


def rules_for(ctx: SweepContext) -> Rules:
    """The rules of the targets on the account's path; the spec's own when none applies."""
    spec = ctx.spec
    if spec.mode == K.ACCOUNT:
        return Rules((spec.allowed_regions,), (spec.instances,))
    chain = set(_chain(ctx))
    on_path = [t for t in spec.targets if t.id in chain]
    regions = tuple(spec.regions_for(t) for t in on_path if K.REGIONS in t.guardrails)
    instances = tuple(spec.instances_for(t) for t in on_path if K.INSTANCE_TYPES in t.guardrails)
    return Rules(regions or (spec.allowed_regions,), instances or (spec.instances,))


def running(ctx: SweepContext) -> list[dict]:
    """Running and pending instances in the context's account and region."""
    out = ctx.conn.read(
        "ec2", "DescribeInstances", account=ctx.account, region=ctx.region, Filters=RUNNING_FILTER
    )
    return [i for r in out.get("Reservations", []) for i in r.get("Instances", [])]


def describe(instance: dict, region: str) -> str:
    """``i-0abc (c5a.24xlarge) in us-east-1, launched 2024-05-01T20:27:00+00:00, key k``."""
    launched = instance.get("LaunchTime")
    when = launched.isoformat() if hasattr(launched, "isoformat") else str(launched)
    key = instance.get("KeyName") or "none"
    return (
        f"{instance['InstanceId']} ({instance['InstanceType']}) in {region}, "
        f"launched {when}, key pair {key}"
    )
