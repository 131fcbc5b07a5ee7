"""Each planned budget exists with its limit, every notification and every subscriber; and,
when ``corral:anomalyDetection`` is on, the anomaly monitor with its subscription to the topic
(:mod:`corral.audit.checks._anomaly`)."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _anomaly, _spend
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.build import spend_plan, spend_requests
from corral.spec import keys as K
from corral.spec import spend as spend_spec

METADATA = CheckMetadata(
    id="budget-present",
    title="Budgets (and the opt-in anomaly monitor) exist with their limits and subscribers",
    severity="high",
    risk="Without a budget notification nobody hears that spend is running away until the bill.",
    remediation="Run `pulumi up --refresh` to recreate the budget, its notifications and "
    "subscribers, or the anomaly monitor and its subscription.",
    # budgets:ViewBudget: Describe{Budgets,NotificationsForBudget,SubscribersForNotification}
    actions=("budgets:ViewBudget", *_anomaly.ACTIONS),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.BUDGETS, K.ANOMALY_DETECTION),
)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per budget, or one per problem found with it; one for the anomaly monitor."""
    yield from _spend.per_site(ctx, METADATA, _judge)


def _judge(ctx: VerifyContext, site: _spend.Site) -> list[Finding]:
    a = site.account
    by_name = _spend.deployed_budgets(ctx, site)
    found = []
    for budget in site.plan.budgets:
        resource = f"budget {budget.name}"
        have = by_name.get(budget.name)
        if have is None:
            message = f"Budget {budget.name} is missing in account {a}; {_spend.REDEPLOY}."
            found.append(failed(METADATA, a, None, resource, message))
            continue
        problems = _problems(ctx, site, budget, have)
        found += [failed(METADATA, a, None, resource, p) for p in problems]
        if not problems:
            subscribers = spend_requests.subscribers(site.spend, site.topic_arn)
            message = (
                f"Budget {budget.name} in account {a} limits monthly cost to "
                f"{spend_requests.money(budget.limit)} {spend_spec.CURRENCY} and notifies "
                f"{len(subscribers)} subscribers at each of its "
                f"{len(budget.notifications)} thresholds."
            )
            found.append(passed(METADATA, a, None, resource, message))
    return found + _anomaly.findings(ctx, site, METADATA)


def _problems(
    ctx: VerifyContext, site: _spend.Site, budget: spend_plan.BudgetPlan, have: dict
) -> list:
    a, name = site.account, budget.name
    changes = _spend.budget_changes(site, budget, have)
    problems = []
    if changes:
        problems.append(f"Budget {name} in account {a} differs from the spec: "
                        f"{'; '.join(changes)}; {_spend.RESTORE}.")  # fmt: skip
    return problems + _spend.notification_problems(ctx, site, budget)
