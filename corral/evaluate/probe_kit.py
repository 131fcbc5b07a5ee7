"""The probe record and the requests probes are made of.

A probe is one API call, as the set of authorizations AWS makes for it (``RunInstances``
is authorized once per resource it touches: instance, image, subnet, network interface,
security group, volume and key pair; ``ec2:InstanceType`` and ``ec2:InstanceMarketType``
are present only on the instance resource), and the outcome the guardrails must give it:
``deny``, ``not-denied`` (permitted work, an exempt principal) or ``open`` (a path the
guardrails do not close, with the reason SECURITY.md gives). The probe families are
:mod:`corral.evaluate.probes` and :mod:`corral.evaluate.attack_paths`. Pure: no I/O.

Example::

    >>> from corral.evaluate.scope import scope_for
    >>> from corral.spec.load import from_config
    >>> spec = from_config({"aws:region": "us-east-1", "corral:mode": "account",
    ...     "corral:allowedRegions": ["us-east-1"], "corral:instances": {"allow": ["t3.*"]},
    ...     "corral:exemptPrincipals": ["arn:aws:iam::*:role/BreakGlass"],
    ...     "corral:principals": {"users": ["dev"]}})
    >>> [r.resource.split(":")[5] for r in launch(scope_for(spec), "us-east-1", "t3.micro",
    ...     "arn:aws:iam::111122223333:user/dev")][:2]
    ['instance/*', 'image/ami-0123456789abcdef0']
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from corral.build.documents import global_actions
from corral.evaluate.policy import ContextValue, Request
from corral.evaluate.scope import Scope
from corral.spec import catalog

EXPECT_DENY = "deny"
EXPECT_NOT_DENIED = "not-denied"
EXPECT_OPEN = "open"
Expected = Literal["deny", "not-denied", "open"]

PROBE_ROLE = "corral-probe-role"
INCIDENT_TYPE = "c5a.24xlarge"
REGION_KEY = "aws:RequestedRegion"
INSTANCE_TYPE_KEY = "ec2:InstanceType"
MARKET_TYPE_KEY = "ec2:InstanceMarketType"
POLICY_ARN_KEY = "iam:PolicyARN"
BOUNDARY_KEY = "iam:PermissionsBoundary"

# What RunInstances authorizes, in the order AWS lists them; ``{r}`` region, ``{a}`` account.
LAUNCH_RESOURCES = (
    ("instance", "arn:{p}:ec2:{r}:{a}:instance/*"),
    ("image", "arn:{p}:ec2:{r}::image/ami-0123456789abcdef0"),
    ("subnet", "arn:{p}:ec2:{r}:{a}:subnet/subnet-0123456789abcdef0"),
    ("network-interface", "arn:{p}:ec2:{r}:{a}:network-interface/*"),
    ("security-group", "arn:{p}:ec2:{r}:{a}:security-group/sg-0123456789abcdef0"),
    ("volume", "arn:{p}:ec2:{r}:{a}:volume/*"),
    ("key-pair", "arn:{p}:ec2:{r}:{a}:key-pair/corral-probe"),
)


@dataclass(frozen=True)
class Probe:
    """One API call and the outcome the guardrails must give it.

    ``requests`` are the call's authorizations (the first is the main one);
    ``guardrail`` is the guardrail id it tests; ``target`` the spec target whose chain
    it was derived for (None in account mode). ``path`` names the attacker path it
    stands for in SECURITY.md's table (empty: not in the table); ``why`` says why an
    ``open`` path is open; ``bounded`` probes run as a principal created under corral's
    permissions boundary (account mode), with no guardrail policy attached.
    """

    id: str
    description: str
    requests: tuple[Request, ...]
    expected: Expected
    guardrail: str
    target: str | None = None
    path: str = ""
    why: str = ""
    bounded: bool = False

    @property
    def request(self) -> Request:
        """The main authorization (the instance resource for a launch)."""
        return self.requests[0]


# --------------------------------------------------------------------------- requests


def launch(
    scope: Scope, region: str, instance_type: str, principal: str, **instance: ContextValue
) -> tuple[Request, ...]:
    """The authorizations of one ``ec2:RunInstances`` call, instance resource first;
    ``instance`` adds context keys present only on the instance resource."""
    made = []
    for kind, template in LAUNCH_RESOURCES:
        arn = template.format(p=scope.partition, r=region, a=scope.account)
        context: dict[str, ContextValue] = {REGION_KEY: region}
        if kind == "instance":
            context.update({INSTANCE_TYPE_KEY: instance_type, **instance})
        made.append(Request("ec2:RunInstances", arn, context, principal, scope.account))
    return tuple(made)


def call(scope: Scope, action: str, resource: str, region: str, **extra: ContextValue) -> Request:
    """One authorization of ``action`` by the probe user, signed for ``region``."""
    context = {REGION_KEY: region, **extra}
    return Request(action, resource, context, scope.principal, scope.account)


@functools.cache
def global_region(partition: str, service: str) -> str | None:
    """The region a global service's partition endpoint signs for (botocore data).

    ``endpoints.json`` comes from the catalog's loader, read once per process (a fresh
    loader per service parsed its ~1 MB again for every global service the probes name)."""
    data = catalog.loader().load_data("endpoints")
    for raw in data["partitions"]:
        if raw["partition"] != partition:
            continue
        service_data = raw["services"].get(service, {})
        endpoint = service_data.get("endpoints", {}).get(service_data.get("partitionEndpoint"))
        return (endpoint or {}).get("credentialScope", {}).get("region")
    return None


def signing_region(scope: Scope, action: str) -> str:
    """Where a call of ``action`` is signed: a global service's endpoint region (or the
    stack's region), else a region where the scope allows regional calls."""
    if is_global(action):
        return global_region(scope.partition, action.split(":", 1)[0]) or scope.home_region
    return scope.regional()


@functools.cache
def is_global(action: str) -> bool:
    """Whether ``action`` belongs to a global service (matched against every global-service
    pattern once per action, not once per probe of every account)."""
    return any(catalog.matches(p.lower(), action.lower()) for p in global_actions())


def concrete_principal(pattern: str, partition: str, account: str) -> str:
    """A real ARN matched by an exempt-principal pattern (wildcards filled in)."""
    _, part, _, _, acct, name = pattern.split(":", 5)
    partition = partition if part == "*" else part
    account = account if acct == "*" else acct
    return f"arn:{partition}:iam::{account}:{name.replace('*', 'x').replace('?', 'x')}"


def as_principal(request: Request, principal: str) -> Request:
    """``request`` made by ``principal`` instead."""
    return Request(request.action, request.resource, request.context, principal, request.account)


def make(
    scope: Scope,
    pid: str,
    text: str,
    requests: Iterable[Request],
    expected: Expected,
    guardrail: str,
    *,
    path: str = "",
    why: str = "",
    bounded: bool = False,
) -> Probe:
    """A probe of ``scope``'s target."""
    return Probe(pid, text, tuple(requests), expected, guardrail, scope.target, path, why, bounded)


def slug(text: str) -> str:
    """``text`` as a kebab-case id part."""
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
