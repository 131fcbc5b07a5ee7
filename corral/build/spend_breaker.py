"""The circuit breaker's documents and request: the deny-launch policy a budget action
applies, the execution role it runs as, and the ``budgets:CreateBudgetAction`` parameters."""

from __future__ import annotations

from typing import Any

from corral.build.spend_plan import BreakerPlan
from corral.build.spend_requests import document_json, service_trust, subscribers
from corral.spec.spend import ACTUAL, SERVICE_BUDGETS, SpendSpec

BREAKER_ACTIONS = (
    "autoscaling:CreateAutoScalingGroup",
    "autoscaling:SetDesiredCapacity",
    "autoscaling:UpdateAutoScalingGroup",
    "ec2:CreateFleet",
    "ec2:RequestSpotFleet",
    "ec2:RequestSpotInstances",
    "ec2:RunInstances",
    "ec2:StartInstances",
)


def deny_launch_policy(spend: SpendSpec) -> str:
    """The document the circuit breaker applies: no new EC2 capacity, break-glass exempt."""
    statement: dict[str, Any] = {
        "Sid": "CorralCircuitBreakerDenyLaunch",
        "Effect": "Deny",
        "Action": list(BREAKER_ACTIONS),
        "Resource": "*",
    }
    if spend.exempt_principals:
        statement["Condition"] = {"ArnNotLike": {"aws:PrincipalARN": list(spend.exempt_principals)}}
    return document_json({"Version": "2012-10-17", "Statement": [statement]})


def breaker_role_trust(account_id: str) -> str:
    """Trust policy of the budget action's execution role."""
    return service_trust(SERVICE_BUDGETS, account_id)


def breaker_role_policy(spend: SpendSpec, breaker: BreakerPlan, policy_ref: str) -> str:
    """Least privilege for the budget action: attach/detach this one policy to its targets.

    ``policy_ref`` is the deny policy's ARN (both kinds).
    """
    p = spend.partition
    if breaker.kind == "scp":
        accounts = [f"arn:{p}:organizations::*:account/o-*/{a}" for a in breaker.targets]
        statement = {
            "Sid": "CorralApplyCircuitBreaker",
            "Effect": "Allow",
            "Action": ["organizations:AttachPolicy", "organizations:DetachPolicy"],
            "Resource": [policy_ref, *accounts],
        }
    else:
        kinds = (("groups", "group", "Group"), ("users", "user", "User"), ("roles", "role", "Role"))
        resources, actions = [], []
        for key, arn_kind, verb in kinds:
            named = spend.principals.get(key, ())
            if named:
                actions += [f"iam:Attach{verb}Policy", f"iam:Detach{verb}Policy"]
                resources += [f"arn:{p}:iam::*:{arn_kind}/{n}" for n in named]
        statement = {
            "Sid": "CorralApplyCircuitBreaker",
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": resources,
            "Condition": {"ArnEquals": {"iam:PolicyArn": policy_ref}},
        }
    return document_json({"Version": "2012-10-17", "Statement": [statement]})


def breaker_request(
    spend: SpendSpec,
    breaker: BreakerPlan,
    *,
    account_id: str,
    role_arn: str,
    policy_ref: str,
    topic_arn: str,
) -> dict:
    """``budgets:CreateBudgetAction`` parameters (``policy_ref``: SCP id or IAM policy ARN)."""
    if breaker.kind == "scp":
        definition = {
            "ScpActionDefinition": {"PolicyId": policy_ref, "TargetIds": list(breaker.targets)}
        }
        action_type = "APPLY_SCP_POLICY"
    else:
        iam: dict[str, Any] = {"PolicyArn": policy_ref}
        for key, field_name in (("groups", "Groups"), ("users", "Users"), ("roles", "Roles")):
            if spend.principals.get(key):
                iam[field_name] = list(spend.principals[key])
        definition = {"IamActionDefinition": iam}
        action_type = "APPLY_IAM_POLICY"
    return {
        "AccountId": account_id,
        "BudgetName": breaker.budget,
        "NotificationType": ACTUAL,
        "ActionType": action_type,
        "ActionThreshold": {
            "ActionThresholdValue": breaker.threshold,
            "ActionThresholdType": "PERCENTAGE",
        },
        "Definition": definition,
        "ExecutionRoleArn": role_arn,
        "ApprovalModel": breaker.approval,
        "Subscribers": subscribers(spend, topic_arn),
    }
