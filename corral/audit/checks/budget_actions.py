"""Each circuit breaker's budget action exists with its threshold, approval, policy and targets."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _deployed, _spend
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.checks._policy import describe_changes, equivalent
from corral.audit.findings import Finding
from corral.build import spend_breaker, spend_plan
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="budget-actions",
    title="Circuit-breaker budget actions exist as planned",
    severity="high",
    risk="The circuit breaker is the one guard that acts on its own when spend runs away; a "
    "deleted or loosened budget action lets leaked keys launch until someone reads an alert.",
    remediation="Run `pulumi up --refresh` to recreate the budget action with its threshold, "
    "approval model, policy and targets.",
    actions=(
        "budgets:DescribeBudgetActionsForBudget",
        "organizations:ListPolicies",
        "organizations:DescribePolicy",
        "iam:ListPolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
    ),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.CIRCUIT_BREAKER, K.BUDGETS),
)
KIND = {"scp": "SCP", "iam": "IAM policy"}


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per planned circuit breaker: PASS, or FAIL listing what differs."""
    yield from _spend.per_site(ctx, METADATA, _judge)


def _judge(ctx: VerifyContext, site: _spend.Site) -> list[Finding]:
    if not site.plan.breakers:
        return []
    name = spend_plan.names(site.spend)["breaker_policy"]
    policy_id = _deployed.listed(ctx).get(name)
    policy = _deployed.content(ctx, name, policy_id) if policy_id else None
    found, a, ref = [], site.account, policy.id if policy else ""
    for breaker in site.plan.breakers:
        b, resource = breaker.budget, f"budget action on {breaker.budget}"
        want = spend_breaker.breaker_request(
            site.spend,
            breaker,
            account_id=a,
            role_arn=site.role_arn("breaker_role"),
            policy_ref=ref,
            topic_arn=site.topic_arn,
        )
        actions = _spend.budget_actions(ctx, site, b)
        if not actions:
            message = (f"Budget {b} in account {a} has no circuit-breaker action, so nothing stops "
                       f"new EC2 capacity when actual spend passes {_spend.threshold(want)}; "
                       f"{_spend.REDEPLOY}.")  # fmt: skip
            found.append(failed(METADATA, a, None, resource, message))
            continue
        changes = min((_spend.breaker_changes(want, have) for have in actions), key=len)
        changes += _policy_problems(site, breaker, name, policy)
        if changes:
            message = (f"The circuit-breaker action on budget {b} in account {a} differs from the "
                       f"spec: {'; '.join(changes)}; {_spend.RESTORE}.")  # fmt: skip
            found.append(failed(METADATA, a, None, resource, message))
            continue
        message = (f"The circuit-breaker action on budget {b} in account {a} applies "
                   f"{KIND[breaker.kind]} {policy.label} to {_spend.breaker_targets(want)} with "
                   f"{breaker.approval.lower()} approval when actual spend passes "
                   f"{_spend.threshold(want)}.")  # fmt: skip
        found.append(passed(METADATA, a, None, resource, message))
    return found


def _policy_problems(
    site: _spend.Site, breaker: spend_plan.BreakerPlan, name: str, policy: _deployed.Deployed | None
) -> list[str]:
    """The deny-launch policy the action applies is missing or says something else."""
    if policy is None:
        return [f"the {KIND[breaker.kind]} {name} it applies is not deployed"]
    want = spend_breaker.deny_launch_policy(site.spend)
    if equivalent(want, policy.content):
        return []
    return [f"its {KIND[breaker.kind]} {policy.label} differs from the spec: "
            f"{'; '.join(describe_changes(want, policy.content))}"]  # fmt: skip
