"""Evaluate a request against SCPs and identity policies, as AWS does, with reasons.

Pure: no I/O, no clients. The documents, the request and their compilation are
:mod:`corral.evaluate.policy`; this module decides.

Decision rules (AWS "Policy evaluation logic", AWS Organizations "SCP evaluation" and IAM
"Permissions boundaries for IAM entities"):

- An action AWS does not authorize (``NON_DENIABLE_ACTIONS``: ``sts:GetCallerIdentity``)
  gives ``ALLOW`` whatever the policies say, with one ``Exempt`` reason.
- An explicit ``Deny`` in any applicable policy (any SCP level, the permissions
  boundary, any identity policy) gives ``DENY``.
- Otherwise every level of the SCP chain (root, each OU, the account) needs at least
  one attached SCP that allows the request, else ``IMPLICIT_DENY`` naming that level.
  The management account and service-linked roles are not subject to SCPs.
- Otherwise, when the principal has a permissions boundary, the boundary must allow the
  request too, else ``IMPLICIT_DENY`` naming the boundary. Service-linked roles have no
  boundary (IAM cannot set one on them).
- Otherwise an identity policy must allow the request, else ``IMPLICIT_DENY``. To ask
  only whether the guardrails deny a request, pass ``identity_allows_all=True`` (a
  permissions boundary still constrains it).
- Otherwise ``ALLOW``.

Resource-based policies (and session policies) are out of scope: the decision is the
one for a principal whose permissions come from its identity policies alone.

Example::

    >>> full = PolicyRef("FullAWSAccess", "r-root",
    ...     {"Version": "2012-10-17",
    ...      "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})
    >>> evaluate(Request("ec2:RunInstances"), scp_chain=[[full]],
    ...          identity_allows_all=True).decision
    'ALLOW'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from corral.evaluate.policy import PolicyRef, Request, Statement

ALLOW = "ALLOW"
DENY = "DENY"
IMPLICIT_DENY = "IMPLICIT_DENY"
DecisionValue = Literal["ALLOW", "DENY", "IMPLICIT_DENY"]
Effect = Literal["Allow", "Deny", "ImplicitDeny", "Exempt"]
SERVICE_LINKED_ROLE_MARKER = ":role/aws-service-role/"

NON_DENIABLE_ACTIONS: Mapping[str, str] = MappingProxyType(
    {"sts:getcalleridentity": "AWS STS API Reference, GetCallerIdentity"}
)
"""Lower-cased actions AWS performs without authorizing them, so no policy can deny them,
each with the AWS document that says so.

GetCallerIdentity's API reference: "No permissions are required to perform this
operation. If an administrator attaches a policy to your identity that explicitly denies
access to the sts:GetCallerIdentity action, you can still perform this operation."
``sts:GetSessionToken`` is left out by choice, although IAM's "Permissions for
GetSessionToken" says "You can include the GetSessionToken action in your policies, but it
has no effect on a user's ability to perform the GetSessionToken operation"; that sentence
would justify adding it."""


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Reason:
    """Why a decision was reached: the policy and statement that decided it, the target,
    and a sentence. The statement is ``None`` for a missing allow or an exemption, and so
    is the policy, except for a permissions boundary that does not allow the request,
    where the policy names the boundary."""

    policy: str | None
    target: str
    sid: str | None
    effect: Effect
    note: str

    def to_dict(self) -> dict[str, str | None]:
        """The reason as a JSON-ready dict."""
        return {
            "policy": self.policy,
            "target": self.target,
            "sid": self.sid,
            "effect": self.effect,
            "note": self.note,
        }


@dataclass(frozen=True)
class Decision:
    """``ALLOW``, ``DENY`` or ``IMPLICIT_DENY`` with the reasons that decided it."""

    decision: DecisionValue
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict[str, Any]:
        """The decision as a JSON-ready dict."""
        return {"decision": self.decision, "reasons": [r.to_dict() for r in self.reasons]}


# --------------------------------------------------------------------------- evaluation


@dataclass
class _Outcome:
    denies: list[Reason] = field(default_factory=list)
    gaps: list[Reason] = field(default_factory=list)
    allows: list[Reason] = field(default_factory=list)


def evaluate(
    request: Request,
    *,
    scp_chain: Sequence[Sequence[PolicyRef]] = (),
    identity_policies: Sequence[PolicyRef] | None = None,
    identity_allows_all: bool = False,
    is_management_account: bool = False,
    permissions_boundary: Sequence[PolicyRef] | None = None,
) -> Decision:
    """Decide ``request`` against the SCP chain (root first, account last; empty when
    the account is not in an organization), the principal's permissions boundary and
    its identity policies.

    Exactly one of ``identity_policies`` and ``identity_allows_all=True`` must be given;
    the latter asks only whether the SCPs (and the boundary, if given) deny the request.
    ``permissions_boundary`` is the managed policy set as the principal's boundary
    (``None``: no boundary); it never grants, it only caps. Resource-based policies are
    out of scope: a resource policy that grants the principal directly is not considered,
    so the boundary always applies here.
    """
    if (identity_policies is None) != identity_allows_all:
        raise ValueError(
            "evaluate() needs exactly one of identity_policies (the principal's policies) "
            "and identity_allows_all=True (judge the SCPs alone); pass one of them."
        )
    action = request.action.lower()
    if action in NON_DENIABLE_ACTIONS:
        return Decision(ALLOW, (_not_authorized(request),))
    scps = _scp_outcome(request, action, scp_chain, is_management_account)
    boundary = _boundary_outcome(request, action, permissions_boundary)
    identity = _identity_outcome(request, action, identity_policies)
    if scps.denies or boundary.denies or identity.denies:
        return Decision(DENY, tuple(scps.denies + boundary.denies + identity.denies))
    if scps.gaps or boundary.gaps or identity.gaps:
        return Decision(IMPLICIT_DENY, tuple(scps.gaps + boundary.gaps + identity.gaps))
    return Decision(ALLOW, tuple(scps.allows + boundary.allows + identity.allows))


def _not_authorized(request: Request) -> Reason:
    target = request.principal_arn or "the principal"
    source = NON_DENIABLE_ACTIONS[request.action.lower()]
    note = (
        f"No policy applies to {request.action}: AWS performs it without authorizing it, so "
        f"no SCP, permissions boundary or identity policy can deny it ({source})."
    )
    return Reason(None, target, None, "Exempt", note)


def _matching(policy: PolicyRef, action: str, request: Request) -> Iterator[Statement]:
    for statement in policy.statements:
        if statement.applies(action, request.resource, request.facts):
            yield statement


def _what(request: Request) -> str:
    return f"{request.action} on {request.resource}"


def _scp_outcome(
    request: Request,
    action: str,
    chain: Sequence[Sequence[PolicyRef]],
    is_management_account: bool,
) -> _Outcome:
    outcome = _Outcome()
    if not chain:
        return outcome
    exemption = _scp_exemption(request, is_management_account)
    if exemption is not None:
        outcome.allows.append(exemption)
        return outcome
    for level, policies in enumerate(chain):
        if not policies:
            raise ValueError(
                f"SCP chain level {level} has no policies; every root, OU and account has at "
                "least one SCP attached, so pass the level's SCPs (e.g. FullAWSAccess)."
            )
        first_allow = _judge_policies(
            request, action, policies, "SCP", outcome, f" at level {level}"
        )
        if first_allow is None:
            target = ", ".join(dict.fromkeys(p.target for p in policies))
            outcome.gaps.append(
                Reason(
                    None,
                    target,
                    None,
                    "ImplicitDeny",
                    f"No SCP attached at level {level} ({target}) allows {_what(request)}; "
                    "attach FullAWSAccess or an SCP that allows it there.",
                )
            )
        else:
            outcome.allows.append(first_allow)
    return outcome


def _scp_exemption(request: Request, is_management_account: bool) -> Reason | None:
    if is_management_account:
        account = request.account or "management account"
        note = f"The management account {account} is not subject to SCPs."
        return Reason(None, account, None, "Exempt", note)
    arn = request.principal_arn
    if arn is not None and SERVICE_LINKED_ROLE_MARKER in arn:
        return Reason(
            None, arn, None, "Exempt", f"The service-linked role {arn} is not subject to SCPs."
        )
    return None


def _judge_policies(
    request: Request,
    action: str,
    policies: Sequence[PolicyRef],
    kind: str,
    outcome: _Outcome,
    where_allowed: str = "",
) -> Reason | None:
    """Record every explicit deny of ``policies`` (one ``kind``) in ``outcome``; return
    the first allow, if any."""
    first_allow: Reason | None = None
    for policy in policies:
        for statement in _matching(policy, action, request):
            where = f"Statement {statement.sid} of {kind} {policy.name!r} on {policy.target!r}"
            if statement.effect == "Deny":
                note = f"{where} explicitly denies {_what(request)}."
                outcome.denies.append(
                    Reason(policy.name, policy.target, statement.sid, "Deny", note)
                )
            elif first_allow is None:
                note = f"{where} allows {_what(request)}{where_allowed}."
                first_allow = Reason(policy.name, policy.target, statement.sid, "Allow", note)
    return first_allow


def _boundary_outcome(
    request: Request, action: str, boundary: Sequence[PolicyRef] | None
) -> _Outcome:
    outcome = _Outcome()
    if boundary is None:
        return outcome
    principal = request.principal_arn or "the principal"
    if SERVICE_LINKED_ROLE_MARKER in principal:
        note = f"The service-linked role {principal} has no permissions boundary."
        outcome.allows.append(Reason(None, principal, None, "Exempt", note))
        return outcome
    allow = _judge_policies(request, action, boundary, "permissions boundary", outcome)
    if allow is not None:
        outcome.allows.append(allow)
    else:
        names = list(dict.fromkeys(policy.name for policy in boundary))
        targets = ", ".join(dict.fromkeys(policy.target for policy in boundary)) or principal
        quoted = ", ".join(repr(name) for name in names) or "no policy"
        note = (
            f"The permissions boundary of {principal} ({quoted}) does not allow "
            f"{_what(request)}; the boundary caps what identity policies can grant, so "
            "allow it in the boundary policy too."
        )
        outcome.gaps.append(Reason(", ".join(names) or None, targets, None, "ImplicitDeny", note))
    return outcome


def _identity_outcome(
    request: Request, action: str, policies: Sequence[PolicyRef] | None
) -> _Outcome:
    outcome = _Outcome()
    principal = request.principal_arn or "the principal"
    if policies is None:
        note = f"Identity policies of {principal} were not evaluated and are taken to allow."
        outcome.allows.append(Reason(None, principal, None, "Allow", note))
        return outcome
    allow = _judge_policies(request, action, policies, "identity policy", outcome)
    if allow is not None:
        outcome.allows.append(allow)
    else:
        note = (
            f"No identity policy of {principal} allows {_what(request)}; "
            "attach a policy that allows it."
        )
        outcome.gaps.append(Reason(None, principal, None, "ImplicitDeny", note))
    return outcome
