"""Evaluate a request against SCPs and identity policies, as AWS does, with reasons.

Pure: no I/O, no clients. The documents, the request and their compilation are
:mod:`corral.evaluate.policy`; this module decides.

Decision rules (AWS "Policy evaluation logic" and AWS Organizations "SCP evaluation"):

- An explicit ``Deny`` in any applicable policy (any SCP level, any identity policy)
  gives ``DENY``.
- Otherwise every level of the SCP chain (root, each OU, the account) needs at least
  one attached SCP that allows the request, else ``IMPLICIT_DENY`` naming that level.
  The management account and service-linked roles are not subject to SCPs.
- Otherwise an identity policy must allow the request, else ``IMPLICIT_DENY``. To ask
  only whether the guardrails deny a request, pass ``identity_allows_all=True``.
- Otherwise ``ALLOW``.

Example::

    >>> full = PolicyRef("FullAWSAccess", "r-root",
    ...     {"Version": "2012-10-17",
    ...      "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})
    >>> evaluate(Request("ec2:RunInstances"), scp_chain=[[full]],
    ...          identity_allows_all=True).decision
    'ALLOW'
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from corral.evaluate.policy import PolicyRef, Request, Statement

ALLOW = "ALLOW"
DENY = "DENY"
IMPLICIT_DENY = "IMPLICIT_DENY"
DecisionValue = Literal["ALLOW", "DENY", "IMPLICIT_DENY"]
Effect = Literal["Allow", "Deny", "ImplicitDeny", "Exempt"]
SERVICE_LINKED_ROLE_MARKER = ":role/aws-service-role/"


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Reason:
    """Why a decision was reached: the policy and statement that decided it (``None``
    for a missing allow or an exemption), the target, and a sentence."""

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
) -> Decision:
    """Decide ``request`` against the SCP chain (root first, account last; empty when
    the account is not in an organization) and the principal's identity policies.

    Exactly one of ``identity_policies`` and ``identity_allows_all=True`` must be given;
    the latter asks only whether the SCPs deny the request.
    """
    if (identity_policies is None) != identity_allows_all:
        raise ValueError(
            "evaluate() needs exactly one of identity_policies (the principal's policies) "
            "and identity_allows_all=True (judge the SCPs alone); pass one of them."
        )
    scps = _scp_outcome(request, scp_chain, is_management_account)
    identity = _identity_outcome(request, identity_policies)
    if scps.denies or identity.denies:
        return Decision(DENY, tuple(scps.denies + identity.denies))
    if scps.gaps or identity.gaps:
        return Decision(IMPLICIT_DENY, tuple(scps.gaps + identity.gaps))
    return Decision(ALLOW, tuple(scps.allows + identity.allows))


def _matching(policy: PolicyRef, request: Request) -> Iterator[Statement]:
    action = request.action.lower()
    for statement in policy.statements:
        if statement.applies(action, request.resource, request.facts):
            yield statement


def _what(request: Request) -> str:
    return f"{request.action} on {request.resource}"


def _scp_outcome(
    request: Request, chain: Sequence[Sequence[PolicyRef]], is_management_account: bool
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
        first_allow = _judge_level(request, level, policies, outcome)
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


def _judge_level(
    request: Request, level: int, policies: Sequence[PolicyRef], outcome: _Outcome
) -> Reason | None:
    first_allow: Reason | None = None
    for policy in policies:
        for statement in _matching(policy, request):
            where = f"Statement {statement.sid} of SCP {policy.name!r} on {policy.target!r}"
            if statement.effect == "Deny":
                note = f"{where} explicitly denies {_what(request)}."
                outcome.denies.append(
                    Reason(policy.name, policy.target, statement.sid, "Deny", note)
                )
            elif first_allow is None:
                note = f"{where} allows {_what(request)} at level {level}."
                first_allow = Reason(policy.name, policy.target, statement.sid, "Allow", note)
    return first_allow


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


def _identity_outcome(request: Request, policies: Sequence[PolicyRef] | None) -> _Outcome:
    outcome = _Outcome()
    principal = request.principal_arn or "the principal"
    if policies is None:
        note = f"Identity policies of {principal} were not evaluated and are taken to allow."
        outcome.allows.append(Reason(None, principal, None, "Allow", note))
        return outcome
    for policy in policies:
        for statement in _matching(policy, request):
            where = f"Statement {statement.sid} of identity policy {policy.name!r}"
            if statement.effect == "Deny":
                note = f"{where} on {policy.target!r} explicitly denies {_what(request)}."
                outcome.denies.append(
                    Reason(policy.name, policy.target, statement.sid, "Deny", note)
                )
            elif not outcome.allows:
                note = f"{where} on {policy.target!r} allows {_what(request)}."
                outcome.allows.append(
                    Reason(policy.name, policy.target, statement.sid, "Allow", note)
                )
    if not outcome.allows:
        note = (
            f"No identity policy of {principal} allows {_what(request)}; "
            "attach a policy that allows it."
        )
        outcome.gaps.append(Reason(None, principal, None, "ImplicitDeny", note))
    return outcome
