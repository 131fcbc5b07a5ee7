"""Probes made from other probes: the same calls by an exempt principal, and by a principal
created under corral's permissions boundary.

- ``exempt-<principal>-<probe>``: each exempt principal making the first call of each
  path the guardrails deny to others; never denied.
- ``bounded-<probe>`` (account mode, when corral deploys the boundary): one call of each
  path in SECURITY.md's table by a role created under the boundary, with no guardrail
  policy attached (nobody listed it in ``corral:principals``). It is expected ``open``
  exactly when every statement that denies the call in the spec's guardrail documents is
  one the boundary could not hold (``Plan.boundary_omitted``: the boundary is one policy
  of at most 6,144 characters); otherwise it keeps the original expectation.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from corral.build.plan import Plan, build_plan
from corral.evaluate.engine import DENY, evaluate
from corral.evaluate.policy import PolicyRef, Request
from corral.evaluate.probe_kit import (
    EXPECT_DENY,
    EXPECT_NOT_DENIED,
    EXPECT_OPEN,
    Probe,
    as_principal,
    concrete_principal,
    make,
    slug,
)
from corral.evaluate.scope import Scope
from corral.spec import keys as K
from corral.spec.model import Spec

BOUNDED_ROLE = "corral-probe-bounded"
PATH_EXEMPT = "The exempt (break-glass) principal doing each denied path above"
PATH_BOUNDED = "Under corral's boundary: "


def exempt_twins(scope: Scope, patterns: Sequence[str], probes: Sequence[Probe]) -> list[Probe]:
    """Each exempt principal making the first denied call of each path of ``probes``:
    never denied."""
    firsts = {p.path or p.id: p for p in reversed(probes) if p.expected == EXPECT_DENY}
    twins = []
    for pattern in patterns:
        who = concrete_principal(pattern, scope.partition, scope.account)
        name = slug(who.rsplit(":", 1)[-1])
        for probe in reversed(firsts.values()):
            text = f"The exempt principal {who} calling {probe.request.action}"
            requests = [as_principal(r, who) for r in probe.requests]
            twins.append(make(scope, f"exempt-{name}-{probe.id}", text, requests,
                              EXPECT_NOT_DENIED, probe.guardrail, path=PATH_EXEMPT))  # fmt: skip
    return twins


def bounded_principal(scope: Scope) -> str:
    """The role the boundary probes run as."""
    return f"arn:{scope.partition}:iam::{scope.account}:role/{BOUNDED_ROLE}"


def bounded_probes(
    spec: Spec, scope: Scope, probes: Sequence[Probe], plan: Plan | None = None
) -> list[Probe]:
    """Account mode: the first probe of each path in ``probes`` (bar the exempt
    principals', who never carry the boundary), made by a role created under corral's
    permissions boundary."""
    if scope.mode != K.ACCOUNT or not scope.identities:
        return []
    plan = plan or build_plan(spec)
    if plan.boundary is None:
        return []
    who = bounded_principal(scope)
    guardrails = [PolicyRef(d.name, "principal", d.content) for d in plan.guardrail_documents]
    omitted = set(plan.boundary_omitted)
    seen: set[str] = set()
    bounded = []
    for base in probes:
        if not base.path or base.path in seen or base.path == PATH_EXEMPT or base.bounded:
            continue
        seen.add(base.path)
        requests = [as_principal(r, who) for r in base.requests]
        expected, why = base.expected, base.why
        covering = _denying(requests, guardrails) if expected == EXPECT_DENY else set()
        if covering and covering <= omitted:
            expected, why = EXPECT_OPEN, omitted_why(sorted(covering))
        text = (f"The call {base.request.action} on {base.request.resource} by {who}, created "
                f"under corral's permissions boundary ({base.id}),")  # fmt: skip
        bounded.append(make(scope, f"bounded-{base.id}", text, requests, expected,
                            base.guardrail, path=PATH_BOUNDED + base.path, why=why,
                            bounded=True))  # fmt: skip
    return bounded


def _denying(requests: Sequence[Request], guardrails: Sequence[PolicyRef]) -> set[str]:
    """The statement ids of ``guardrails`` that explicitly deny any of ``requests``."""
    sids: set[str] = set()
    for request in requests:
        decision = evaluate(request, identity_policies=guardrails)
        if decision.decision == DENY:
            sids.update(r.sid for r in decision.reasons if r.sid)
    return sids


def omitted_why(sids: Sequence[str]) -> str:
    """Why statements the boundary omits leave a path open to the principals under it."""
    them = "it" if len(sids) == 1 else "them"
    return (
        f"{', '.join(sids)} did not fit in corral's permissions boundary (one policy of at most "
        f"{K.IAM_POLICY_MAX_CHARS:,} characters), so principals created under it are not held "
        f"to {them}"
    )
