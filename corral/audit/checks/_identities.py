"""Reading the identities corral protects: exempt roles and users, and corral's own roles.

Shared by ``identities-trusted``, ``principals-bounded`` and ``principals-covered``. The
expected trust and policies of corral's service roles come from the same builders
``pulumi up`` uses (:mod:`corral.build.spend_requests`, :mod:`corral.build.spend_breaker`),
so a role is compared with exactly what corral deploys, never matched by name alone.
"""

from __future__ import annotations

import fnmatch
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from corral.audit.checks import _accounts, _deployed, _spend
from corral.audit.checks._base import CheckMetadata, VerifyContext, per_account
from corral.audit.checks._policy import canonical, describe_changes, equivalent
from corral.audit.findings import Finding
from corral.build import alerts, breaker_trip, spend_breaker, spend_plan, spend_requests
from corral.spec import keys as K
from corral.spec.model import Spec

SERVICE_LINKED_PATH = "/aws-service-role/"
_ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Place:
    """One account whose IAM the run reads, and what spend detection deployed there."""

    account: str
    read_as: str | None  # None: the caller's own credentials
    site: _spend.Site | None

    def read(self, ctx: VerifyContext, operation: str, **params: Any) -> dict:
        """A memoised IAM read in this account."""
        return ctx.conn.read("iam", operation, account=self.read_as, **params)


@dataclass(frozen=True)
class Expected:
    """What corral deploys for one of its service roles."""

    trust: str
    policies: tuple[str, ...]  # inline policy documents; corral attaches no managed policy


NOTHING = Expected("", ())  # a /corral/ role corral does not deploy: any policy is foreign


def places(ctx: VerifyContext) -> list[Place]:
    """The caller's account (first shard only) and the member accounts the spend checks
    already reach through ``--role-name`` (organization mode, when selected)."""
    sites = {s.read_as: s for s in _spend.sites(ctx)}
    found = [Place(ctx.account, None, sites.get(None))] if ctx.org_level else []
    return found + [Place(s.account, s.read_as, s) for s in sites.values() if s.read_as]


def per_place(
    ctx: VerifyContext, meta: CheckMetadata, judge: Callable[[VerifyContext, Place], Iterable]
) -> Iterator[Finding]:
    """``judge`` every place; a failed read is an ERROR for that account alone."""
    yield from per_account(ctx, meta, places(ctx), judge, "IAM identities")


def matches(patterns: Iterable[str], arn: str) -> bool:
    """True when ``arn`` matches one of the IAM ARN ``patterns`` (``*`` and ``?``)."""
    return any(fnmatch.fnmatchcase(arn, p) for p in patterns)


def exempt(spec: Spec, arn: str) -> bool:
    """True for a principal listed under corral:exemptPrincipals."""
    return matches(spec.exempt_principals, arn)


def corral_owned(entity: Mapping[str, Any]) -> bool:
    """True for a role or user under corral's path (``/corral/``)."""
    return str(entity.get("Path", "/")).startswith(K.IAM_PATH)


def decode(document: Any) -> dict:
    """A policy document as IAM returns it (URL-encoded JSON, or parsed by botocore)."""
    if isinstance(document, str):
        return json.loads(urllib.parse.unquote(document))
    return dict(document or {})


def principals(document: Any) -> set[tuple[str, str]]:
    """``(kind, value)`` of every principal an Allow statement of ``document`` trusts; a
    ``NotPrincipal`` is ``("NotPrincipal", ...)``: everyone but those."""
    statements = decode(document).get("Statement", [])
    found = set()
    for s in [statements] if isinstance(statements, dict) else statements:
        if s.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in s:
            found.add(("NotPrincipal", json.dumps(s["NotPrincipal"], sort_keys=True)))
        given = s.get("Principal", {})
        for kind, values in ({"AWS": given} if isinstance(given, str) else given).items():
            found |= {(kind, v) for v in ([values] if isinstance(values, str) else values)}
    return found


def label(kind: str, value: str) -> str:
    """How messages name a trusted principal."""
    words = {"Service": "the AWS service ", "Federated": "the identity provider "}
    if kind == "NotPrincipal":
        return f"every principal except {value}"
    return "every AWS account (*)" if value == "*" else words.get(kind, "") + value


def foreign(document: Any, accounts: set[str]) -> list[str]:
    """Labels of the principals ``document`` trusts that are not in ``accounts``: other
    accounts, ``*``, AWS services, web-identity providers, ``NotPrincipal`` grants."""
    return sorted(
        label(kind, value)
        for kind, value in principals(document)
        if kind == "Service" or account_of(kind, value) not in accounts
    )


def account_of(kind: str, value: str) -> str | None:
    """The account an AWS or SAML/OIDC-provider principal belongs to; None when none can be
    told (``*``, a web-identity provider, a deleted principal's unique id)."""
    if kind not in ("AWS", "Federated"):
        return None
    if _ACCOUNT_ID.match(value):
        return value if kind == "AWS" else None
    parts = value.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" and parts[4] else None


def trusted_accounts(ctx: VerifyContext, place: Place) -> set[str]:
    """The account itself; in organization mode every account of the organization."""
    if ctx.spec.mode != K.ORGANIZATION:
        return {place.account}
    listed = _accounts.listed(ctx.conn)
    return {place.account} | {a["Id"] for a in listed}


def expected_roles(ctx: VerifyContext, place: Place) -> dict[str, Expected]:
    """corral's service roles in ``place`` by name, with their trust and inline policies."""
    site = place.site
    if site is None:
        return {}
    spend, names, a = site.spend, spend_plan.names(site.spend), place.account
    roles = {}
    if site.plan.forward_regions:
        policy = spend_requests.forward_role_policy(spend, a)
        roles[names["forward_role"]] = Expected(spend_requests.forward_role_trust(a), (policy,))
    if site.plan.breakers:
        ref = _breaker_policy_arn(ctx, site, names["breaker_policy"])
        policies = tuple(
            spend_breaker.breaker_role_policy(spend, b, ref) for b in site.plan.breakers
        )
        roles[names["breaker_role"]] = Expected(spend_breaker.breaker_role_trust(a), policies)
    if site.plan.trip:  # trigger: alarm (docs/spend.md)
        arn = _breaker_policy_arn(ctx, site, names["breaker_policy"])
        fast = breaker_trip.expected_roles(spend, a, arn, site.topic_arn)
        roles.update({name: Expected(trust, (policy,)) for name, (trust, policy) in fast.items()})
    if site.plan.relay:  # trigger: alarm, organization: a member's relay to the management
        relay = breaker_trip.relay_roles(spend, a, ctx.account)
        roles.update({name: Expected(trust, (policy,)) for name, (trust, policy) in relay.items()})
    for alert in (s for s in alerts.plan(ctx.spec) if s.key == site.plan.key):  # docs/alerts.md
        for name, (trust, policy) in alerts.expected_roles(ctx.spec, alert, a).items():
            roles[name] = Expected(trust, (policy,))
    return roles


def _breaker_policy_arn(ctx: VerifyContext, site: _spend.Site, name: str) -> str:
    """The ARN of the deny-launch policy (an SCP's is read from Organizations)."""
    if site.spend.mode != K.ORGANIZATION:
        return f"arn:{site.spend.partition}:iam::{site.account}:policy{K.IAM_PATH}{name}"
    listed = ctx.conn.read("organizations", "ListPolicies", Filter=_deployed.SCP)
    return next((p["Arn"] for p in listed.get("Policies", []) if p["Name"] == name), "")


def trust_changes(expected: str, actual: Any) -> list[str]:
    """How a service role's trust policy differs from the one corral deploys."""
    if equivalent(expected, decode(actual)):
        return []
    want, have = principals(expected), principals(actual)
    changes = [f"it trusts {label(*p)}" for p in sorted(have - want)]
    changes += [f"it no longer trusts {label(*p)}" for p in sorted(want - have)]
    return changes or ["its conditions or actions differ from the ones corral deploys"]


def policy_problems(ctx: VerifyContext, place: Place, role: str, expected: Expected) -> list[str]:
    """Sentence tails (after ``Role <name> in account <id>``) naming each policy on ``role``
    corral did not deploy, and each one it deploys that is missing: a corral role carries
    exactly ``expected.policies`` inline and nothing attached."""
    attached = place.read(ctx, "ListAttachedRolePolicies", RoleName=role)
    problems = [
        f"has {p['PolicyArn']} attached, which corral does not deploy; detach it and rotate "
        "the credentials that attached it."
        for p in attached.get("AttachedPolicies", [])
    ]
    missing, foreign_ = list(expected.policies), []
    for name in place.read(ctx, "ListRolePolicies", RoleName=role).get("PolicyNames", []):
        document = place.read(ctx, "GetRolePolicy", RoleName=role, PolicyName=name)
        have = decode(document["PolicyDocument"])
        match = next((want for want in missing if equivalent(want, have)), None)
        if match is None:
            foreign_.append((name, have))
        else:
            missing.remove(match)
    for name, have in foreign_:
        # An edited grant of corral's (it keeps corral's statement ids) is described as such.
        want = next((w for w in missing if set(canonical(w)) & set(canonical(have))), None)
        if want is None:
            problems.append(f"has the inline policy {name}, which corral does not deploy; "
                            "delete it and rotate the credentials that added it.")  # fmt: skip
            continue
        missing.remove(want)
        problems.append(f"has the inline policy {name}, which differs from the one corral "
                        f"deploys: {'; '.join(describe_changes(want, have))}; run "
                        "`pulumi up --refresh` to restore it and rotate the credentials that "
                        "changed it.")  # fmt: skip
    for want in missing:
        sids = ", ".join(sorted(canonical(want)))
        problems.append(f"lacks the inline policy corral deploys for it ({sids}); run "
                        "`pulumi up --refresh` to restore it.")  # fmt: skip
    return problems
