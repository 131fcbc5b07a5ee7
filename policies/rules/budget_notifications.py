"""budget-notifications: every account with a budget is told when it overspends.

For each account the stack budgets for (a LinkedAccount cost filter, else the
budget's accountId, else the account its provider assumes a role into, else the
deploying account), at least one budget needs a notification with an email or SNS
subscriber. With ``required`` set, a guardrail stack must deploy budgets at all.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pulumi_policy import (
    ReportViolation,
    Severity,
    StackValidationArgs,
)

from corral.build import packconfig as P

from . import support as S
from . import tokens as T

ID = P.BUDGET_NOTIFICATIONS
DESCRIPTION = "Every budgeted account has a budget notification with a subscriber."
FIX = (
    "Add a notification with subscriberEmailAddresses or subscriberSnsTopicArns to one of "
    "the account's budgets."
)
SUBSCRIBERS = ("subscriberEmailAddresses", "subscriberSnsTopicArns")


def accounts(budget: Any, unknowns: S.Unknowns) -> list[str]:
    """The accounts a budget watches, as message phrases."""
    where = S.label(budget.resource_type, budget.name)
    for _, flt in S.walk(budget.props, "costFilters[]", unknowns):
        if S.get(flt, "name", unknowns, where) == T.LINKED_ACCOUNT_FILTER:
            values = S.items(S.get(flt, "values", unknowns, where), unknowns)
            return [f"account {v}" for v in values if isinstance(v, str) and v]
    account = S.get(budget.props, "accountId", unknowns, where)
    if isinstance(account, str) and account:
        return [f"account {account}"]
    return [S.account_of(budget, unknowns)]


def notifies(budget: Any, unknowns: S.Unknowns) -> bool:
    """True when a notification of the budget has a subscriber."""
    for _, notification in S.walk(budget.props, "notifications[]", unknowns):
        for key in SUBSCRIBERS:
            if S.count(S.get(notification, key, unknowns)):
                return True
    return False


def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report each budgeted account that no budget notification reaches."""
    S.guardrail_documents(args)
    budgets = S.by_type(args.resources, T.BUDGET)
    if not budgets:
        if not args.get_config().get(P.REQUIRED):
            args.not_applicable("the stack deploys no budgets and the pack config requires none")
        report_violation(
            f"The stack deploys corral guardrails but no budget; the {ID} rule requires one "
            f"per account. Add an aws.budgets.Budget with a notification. {FIX}",
            None,
        )
        return
    unknowns = S.Unknowns()
    by_account: dict[str, list[Any]] = defaultdict(list)
    for budget in budgets:
        for account in accounts(budget, unknowns):
            by_account[account].append(budget)
    for account, members in sorted(by_account.items()):
        if not any(notifies(b, unknowns) for b in members):
            names = ", ".join(sorted(f"'{b.name}'" for b in members))
            report_violation(
                f"{account[0].upper()}{account[1:]} has budgets ({names}) but none has a "
                f"notification with a subscriber, so overspending alerts nobody; the {ID} rule "
                f"forbids this. {FIX}",
                members[0].urn,
            )
    unknowns.raise_any()


POLICY = S.stack_policy(ID, DESCRIPTION, validate, Severity.HIGH, FIX)
