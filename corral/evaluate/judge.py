"""Judging probes: evaluate each against the policies and say whether the guardrails gave
the outcome the spec promises.

A probe's call is *denied* when any of its authorizations is denied, explicitly or
implicitly; it is *not denied* when every one is allowed. A probe expected ``open`` (a path
the guardrails leave open, for the reason it carries) passes when it is not denied, like
permitted work; its message says why it is open. ``run_probes`` derives the
spec's probes (:mod:`corral.evaluate.probes`) and evaluates them with
:mod:`corral.evaluate.engine` against the documents the spec builds, or against the
policies actually deployed. Pure: no I/O.

Example::

    >>> from corral.spec.load import from_config
    >>> spec = from_config({"aws:region": "us-east-1", "corral:mode": "account",
    ...     "corral:allowedRegions": ["us-east-1"], "corral:instances": {"allow": ["t3.*"]},
    ...     "corral:exemptPrincipals": ["arn:aws:iam::*:role/BreakGlass"],
    ...     "corral:principals": {"users": ["dev"]}})
    >>> results = run_probes(spec)
    >>> all(r.passed for r in results), results[0].probe.id
    (True, 'incident-launch-af-south-1')
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from corral.build.plan import Plan, build_plan
from corral.evaluate.engine import ALLOW, DENY, Decision, Reason, evaluate
from corral.evaluate.policy import PolicyRef, Request
from corral.evaluate.probe_kit import EXPECT_DENY, EXPECT_OPEN, Probe
from corral.evaluate.probes import probes_for
from corral.evaluate.scope import Scope, find_target, scope_for, spec_chain_ids
from corral.evaluate.twins import BOUNDED_ROLE, bounded_principal
from corral.spec import keys as K
from corral.spec.model import Spec, Target

ALLOW_ALL_POLICY = "principal-own-permissions"
FULL_AWS_ACCESS_DOCUMENT = (
    '{"Statement":[{"Action":"*","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}'
)
# The probes' own names (principals, roles, resources) exist nowhere in AWS: messages show
# them as placeholders, and the probe's principal as the principals the spec guards.
SYNTHETIC_NAME = re.compile(r"corral-probe(?:-(new|role|existing|bounded|bucket))?\b")
PLACEHOLDERS = {
    None: "<any-name>",
    "new": "<new-name>",
    "role": "<any-role>",
    "existing": "<role-made-before-corral>",
    "bounded": "<role-under-corral-boundary>",
    "bucket": "<any-bucket>",
}


# --------------------------------------------------------------------------- records

Cache = dict[tuple, Decision]
"""Decisions already made against one chain and set of policies, by authorization."""


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe: the deciding decision, whether it passed, and why."""

    probe: Probe
    decision: Decision
    passed: bool
    message: str
    resource: str

    def to_dict(self) -> dict:
        """A JSON-ready view."""
        return {
            "id": self.probe.id,
            "target": self.probe.target,
            "guardrail": self.probe.guardrail,
            "expected": self.probe.expected,
            "passed": self.passed,
            "resource": self.resource,
            "message": self.message,
            **({"why": self.probe.why} if self.probe.why else {}),
            **self.decision.to_dict(),
        }


# --------------------------------------------------------------------------- policies


def full_aws_access(target: str) -> PolicyRef:
    """AWS's ``FullAWSAccess`` SCP attached at ``target``."""
    return PolicyRef(K.FULL_AWS_ACCESS, target, FULL_AWS_ACCESS_DOCUMENT)


def spec_scp_chain(plan: Plan, target_ids: Sequence[str]) -> list[list[PolicyRef]]:
    """The SCP chain the plan deploys along ``target_ids`` (root first), with
    ``FullAWSAccess`` at every level, as AWS attaches by default."""
    return [
        [full_aws_access(tid)]
        + [PolicyRef(d.name, tid, d.content) for d in plan.documents_for(tid)]
        for tid in target_ids
    ]


def spec_identity_policies(plan: Plan, principal: str) -> list[PolicyRef]:
    """The plan's IAM documents, as attached to ``principal`` in account mode."""
    return [
        PolicyRef(d.name, principal, d.content) for d in plan.guardrail_documents if d.kind == "iam"
    ]


def spec_boundary(plan: Plan, principal: str = f"role/{BOUNDED_ROLE}") -> list[PolicyRef] | None:
    """The plan's permissions boundary as set on ``principal`` (None: the plan has none)."""
    if plan.boundary is None:
        return None
    return [PolicyRef(plan.boundary, principal, plan.document(plan.boundary).content)]


@functools.lru_cache(maxsize=256)
def allow_all(principal: str) -> PolicyRef:
    """The principal's own permissions, taken to allow everything."""
    return PolicyRef(ALLOW_ALL_POLICY, principal, FULL_AWS_ACCESS_DOCUMENT)


# --------------------------------------------------------------------------- running


def run_probes(
    spec: Spec,
    *,
    target: Target | str | None = None,
    scp_chain: Sequence[Sequence[PolicyRef]] | None = None,
    identity_policies: Sequence[PolicyRef] | None = None,
    account: str | None = None,
    permissions_boundary: Sequence[PolicyRef] | None = None,
) -> list[ProbeResult]:
    """Run the spec's probes against the policies it builds, or those given.

    Organization mode: with ``scp_chain`` (root first, as deployed) the spec targets
    whose ids appear in it (plus ``target``) set the expectations; without it the chain
    is the spec's root -> ``target`` with ``FullAWSAccess`` at each level, for
    ``target`` or, when None, for every target in turn. Account mode: the identity
    policies (default: the spec's IAM documents) plus an allow-all policy standing for
    the principal's own permissions, since the probes ask what the guardrails deny. The
    probes of a principal created under the boundary run against ``permissions_boundary``
    (default, when ``identity_policies`` is not given either: the spec's boundary) and
    its own allow-all policy alone; with neither, they are left out.

    Messages name what exists (:func:`shown`): the principals the spec guards, never the
    probe's own principal, and placeholders for the probes' made-up resource names.
    """
    given = {"target": target, "scp_chain": scp_chain, "identity_policies": identity_policies}
    results = _run(spec, account=account, permissions_boundary=permissions_boundary, **given)
    return shown(results, spec, scope_for(spec, account=account))


def _run(
    spec: Spec,
    *,
    target: Target | str | None,
    scp_chain: Sequence[Sequence[PolicyRef]] | None,
    identity_policies: Sequence[PolicyRef] | None,
    account: str | None,
    permissions_boundary: Sequence[PolicyRef] | None,
) -> list[ProbeResult]:
    plan = build_plan(spec)
    if spec.mode == K.ACCOUNT:
        scope = scope_for(spec, account=account)
        given = identity_policies
        policies = list(given if given is not None else spec_identity_policies(plan, "principal"))
        boundary = permissions_boundary
        if boundary is None and given is None:
            boundary = spec_boundary(plan)
        cache: Cache = {}
        bounded_cache: Cache = {}
        results = []
        for probe in probes_for(spec, scope, plan):
            if not probe.bounded:
                results.append(judge(probe, scp_chain or (), policies, cache))
            elif boundary is not None:
                results.append(judge(probe, scp_chain or (), [], bounded_cache, boundary))
        return results
    if scp_chain is not None:
        ids = {p.target for level in scp_chain for p in level}
        if target is not None:
            ids.update(spec_chain_ids(spec, find_target(spec, target)))
        scope = scope_for(spec, ids, account)
        cache = {}
        return [judge(p, scp_chain, None, cache) for p in probes_for(spec, scope)]
    targets = spec.targets if target is None else (find_target(spec, target),)
    results = []
    for t in targets:
        ids = spec_chain_ids(spec, t)
        chain = spec_scp_chain(plan, ids)
        cache = {}
        scope = scope_for(spec, ids, account)
        results += [judge(p, chain, None, cache) for p in probes_for(spec, scope)]
    return results


def guarded_principals(spec: Spec, account: str) -> str:
    """Who the probes stand for, as a message names them: the principals the spec names
    (account mode), else any non-exempt principal of the account."""
    named = spec.principals
    kinds = ((K.GROUP, named.groups), (K.USER, named.users), (K.ROLE, named.roles))
    names = [f"{kind} {name}" for kind, group in kinds for name in group]
    if spec.mode == K.ACCOUNT and names:
        return f"the guarded principals ({', '.join(names)})"
    return f"any non-exempt principal in account {account}"


def shown(results: Sequence[ProbeResult], spec: Spec, scope: Scope) -> list[ProbeResult]:
    """``results`` as users read them: the probe's principal (``user/corral-probe``, which
    exists nowhere) named as the principals the spec guards, the boundary probes' role as a
    new role of the account, other made-up names as placeholders."""
    standins = {
        scope.principal: guarded_principals(spec, scope.account),
        bounded_principal(scope): f"a new role in account {scope.account}",
    }

    def show(text: str, principals: bool) -> str:
        for arn, label in standins.items() if principals else ():
            text = text.replace(f"{arn!r}", label)
            for word in ("of", "by"):
                text = text.replace(f"{word} {arn}", f"{word} {label}")
        return SYNTHETIC_NAME.sub(lambda m: PLACEHOLDERS[m.group(1)], text)

    return [
        dataclasses.replace(r, message=show(r.message, True), resource=show(r.resource, False))
        for r in results
    ]


def judge(
    probe: Probe,
    chain: Sequence[Sequence[PolicyRef]],
    guardrails: Sequence[PolicyRef] | None,
    cache: Cache | None = None,
    boundary: Sequence[PolicyRef] | None = None,
) -> ProbeResult:
    """Evaluate ``probe`` against an SCP chain and, in account mode, the guardrail
    identity policies (an allow-all policy for the principal is added; ``None`` judges
    the SCPs alone) and the principal's permissions ``boundary``. Stops at the first
    denied authorization once that settles it. ``cache`` (one per chain, policies and
    boundary) reuses decisions of identical authorizations, such as the image or subnet
    of launches in the same region."""
    decided: list[tuple[Request, Decision]] = []
    denied: list[tuple[Request, Decision]] = []
    for request in probe.requests:
        decision = _decide(request, chain, guardrails, {} if cache is None else cache, boundary)
        decided.append((request, decision))
        if decision.decision != ALLOW:
            denied.append((request, decision))
            if probe.expected == EXPECT_DENY:
                break
    if probe.expected == EXPECT_DENY:
        passed = bool(denied)
        request, decision = denied[0] if passed else decided[0]
        message = _denied_ok(probe, decision) if passed else _slipped(probe, decision)
        return ProbeResult(probe, decision, passed, message, request.resource)
    if not denied:
        request, decision = decided[0]
        message = f"{probe.description} is not denied on any of its resources, as expected."
        if probe.expected == EXPECT_OPEN:
            message = f"{probe.description} is not denied: it is open because {probe.why}."
        return ProbeResult(probe, decision, True, message, request.resource)
    request, decision = denied[0]
    message = _over_blocked(probe, request, decision, len(denied) - 1)
    if probe.expected == EXPECT_OPEN:
        message = _closed(probe, request, decision)
    return ProbeResult(probe, decision, False, message, request.resource)


def _decide(
    request: Request,
    chain: Sequence[Sequence[PolicyRef]],
    guardrails: Sequence[PolicyRef] | None,
    cache: Cache,
    boundary: Sequence[PolicyRef] | None = None,
) -> Decision:
    key = (request.action.lower(), request.resource, tuple(sorted(request.facts.items())))
    if key not in cache:
        if guardrails is None:
            cache[key] = evaluate(
                request, scp_chain=chain, identity_allows_all=True, permissions_boundary=boundary
            )
        else:
            identity = [*guardrails, allow_all(request.principal_arn or "principal")]
            cache[key] = evaluate(
                request, scp_chain=chain, identity_policies=identity, permissions_boundary=boundary
            )
    return cache[key]


def _deciding(decision: Decision) -> Reason:
    return decision.reasons[0]


def _denied_ok(probe: Probe, decision: Decision) -> str:
    return f"{probe.description} is denied, as expected. {_deciding(decision).note}"


def _slipped(probe: Probe, decision: Decision) -> str:
    request = probe.request
    allowed_by = _deciding(decision).note if decision.reasons else ""
    return (
        f"{probe.description} is not denied: {request.action} on {request.resource} slipped "
        f"through, though the {probe.guardrail} guardrail must deny it. {allowed_by} Deploy "
        "the documents the spec builds with `pulumi up --refresh` so a statement denies it."
    ).replace("  ", " ")


def _over_blocked(probe: Probe, request: Request, decision: Decision, others: int) -> str:
    reason = _deciding(decision)
    more = f" (and on {others} more of its resources)" if others else ""
    if decision.decision != DENY:
        return (
            f"{probe.description} is implicitly denied on {request.resource}{more}, but the "
            f"spec permits it. {reason.note}"
        )
    return (
        f"{probe.description} is denied on {request.resource}{more} by statement {reason.sid} "
        f"of policy {reason.policy} on {reason.target}, but the spec permits it; narrow that "
        f"statement's Resource or Condition so it no longer matches {request.resource}."
    )


def _closed(probe: Probe, request: Request, decision: Decision) -> str:
    reason = _deciding(decision)
    by = f"by statement {reason.sid} of policy {reason.policy}" if reason.sid else "implicitly"
    return (
        f"{probe.description} is denied on {request.resource} {by}, though it is listed as "
        f"open because {probe.why}; the list of open paths is out of date: rebuild it "
        "(SECURITY.md's table, CORRAL_UPDATE_DOCS=1) if a guardrail now closes the path."
    )
