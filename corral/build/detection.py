"""The statement that keeps the key holder from silencing spend detection.

``CorralProtectDetection`` (guardrail ``protection``, built when spend detection is on and
``protections.guardrails`` is on) denies, to every principal that is not exempt, changing
or deleting what delivers corral's alerts:

- the alarms ``<prefix>-spend-*`` (delete, disable their actions, rewrite, force a state,
  mute them with an alarm mute rule, retag);
- the topic ``<prefix>-spend-alerts`` and its subscriptions (delete, re-permission,
  re-encrypt or filter through attributes, subscribe, unsubscribe, data protection, retag);
- the EventBridge rules ``<prefix>-spend-*`` and their targets;
- the budgets ``<prefix>-*``, their notifications and subscribers and their budget actions
  (executing or reversing one included);
- with ``circuitBreaker.trigger: alarm``, the breaker's state machine and its executions;
- in organization mode with a root or OU target, corral's StackSet, its instances and the
  stacks it makes in member accounts (:mod:`corral.build.stackset`).

The spend service roles (``/corral/<prefix>-spend-forwarder``, ``/corral/<prefix>-circuit-
breaker``) are covered by ``CorralProtectIdentities`` (every IAM write on ``role/corral/*``)
when ``protections.principals`` is on; with it off, ``CorralProtectDetectionRoles`` denies
the same writes on those two roles alone. Reads stay allowed, so ``corral verify`` can audit
everything. Pure: no I/O.

CloudWatch, SNS and EventBridge name their IAM actions after their API operations (the
botocore service models). AWS Budgets does not: its IAM actions are permissions, not APIs
(Service Authorization Reference, "Actions, resources, and condition keys for AWS Budget
Service"); :data:`BUDGETS_PERMISSIONS` says which operations each one authorizes.
"""

from __future__ import annotations

from corral.build.documents import deny, exempt_condition
from corral.build.identities import IAM_WRITES
from corral.build.spend_plan import names, service_roles
from corral.build.stackset import stackset_name, stackset_units
from corral.spec import keys as K
from corral.spec.model import Spec

SID_DETECTION = "CorralProtectDetection"
SID_DETECTION_ROLES = "CorralProtectDetectionRoles"
DETECTION_SIDS = (SID_DETECTION, SID_DETECTION_ROLES)
DETECTION = "detection"
"""Suffix of the documents they pack into (``<prefix>-guardrails-detection``, an SCP
``<prefix>-<target>-detection``), so the other documents keep their names when spend
detection is switched on."""

# On ``arn:<p>:cloudwatch:*:*:alarm:<prefix>-spend-*``. PutAlarmMuteRule is authorized on
# the mute rule and on each alarm it targets (botocore's CloudWatch model documents it);
# PutCompositeAlarm and PutLogAlarm create or update an alarm by name.
ALARM_ACTIONS = (
    "cloudwatch:DeleteAlarms",
    "cloudwatch:DisableAlarmActions",
    "cloudwatch:PutAlarmMuteRule",
    "cloudwatch:PutCompositeAlarm",
    "cloudwatch:PutLogAlarm",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:SetAlarmState",
    "cloudwatch:TagResource",
    "cloudwatch:UntagResource",
)
# On the topic and its subscriptions (``<topic>`` and ``<topic>:*``).
TOPIC_ACTIONS = (
    "sns:AddPermission",
    "sns:DeleteTopic",
    "sns:PutDataProtectionPolicy",
    "sns:RemovePermission",
    "sns:SetSubscriptionAttributes",
    "sns:SetTopicAttributes",
    "sns:Subscribe",
    "sns:TagResource",
    "sns:Unsubscribe",
    "sns:UntagResource",
)
# On ``arn:<p>:events:*:*:rule/<prefix>-spend-*`` (PutTargets/RemoveTargets act on the rule).
RULE_ACTIONS = (
    "events:DeleteRule",
    "events:DisableRule",
    "events:PutRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:TagResource",
    "events:UntagResource",
)
# On ``arn:<p>:budgets::*:budget/<prefix>-*``, which also matches the budget actions'
# ``.../budget/<name>/action/<id>``.
BUDGET_ACTIONS = (
    "budgets:CreateBudgetAction",
    "budgets:DeleteBudgetAction",
    "budgets:ExecuteBudgetAction",
    "budgets:ModifyBudget",
    "budgets:TagResource",
    "budgets:UntagResource",
    "budgets:UpdateBudgetAction",
)
# The Budgets API operations each IAM action authorizes (Service Authorization Reference).
BUDGETS_PERMISSIONS = {
    "budgets:ModifyBudget": (
        "CreateBudget",
        "CreateNotification",
        "CreateSubscriber",
        "DeleteBudget",
        "DeleteNotification",
        "DeleteSubscriber",
        "UpdateBudget",
        "UpdateNotification",
        "UpdateSubscriber",
    ),
    "budgets:CreateBudgetAction": ("CreateBudgetAction",),
    "budgets:DeleteBudgetAction": ("DeleteBudgetAction",),
    "budgets:ExecuteBudgetAction": ("ExecuteBudgetAction",),
    "budgets:UpdateBudgetAction": ("UpdateBudgetAction",),
    "budgets:TagResource": ("TagResource",),
    "budgets:UntagResource": ("UntagResource",),
}
DETECTION_ACTIONS = ALARM_ACTIONS + TOPIC_ACTIONS + RULE_ACTIONS + BUDGET_ACTIONS
# With ``circuitBreaker.trigger: alarm``, on the breaker's state machine and its executions
# (``stateMachine:<prefix>-circuit-breaker`` and ``execution:<prefix>-circuit-breaker:*``):
# no deleting or rewriting it, no stopping a trip under way, no retagging. Its rule is a
# ``<prefix>-spend-*`` rule, covered above.
STATE_MACHINE_ACTIONS = (
    "states:DeleteStateMachine",
    "states:StopExecution",
    "states:TagResource",
    "states:UntagResource",
    "states:UpdateStateMachine",
)

# Organization mode with a root or OU target: on corral's StackSet
# (``stackset/<prefix>-spend-detection:*``) and the stacks it makes in member accounts
# (``stack/StackSet-<prefix>-spend-detection-*``), no updating or deleting them or its instances.
STACKSET_ACTIONS = (
    "cloudformation:DeleteStack",
    "cloudformation:DeleteStackInstances",
    "cloudformation:DeleteStackSet",
    "cloudformation:UpdateStack",
    "cloudformation:UpdateStackInstances",
    "cloudformation:UpdateStackSet",
)


def stackset_resources(spec: Spec) -> set[str]:
    """ARN patterns of corral's StackSet and its member stacks (none without the StackSet)."""
    if not stackset_units(spec):
        return set()
    p, name = spec.partition, stackset_name(spec.spend)
    return {
        f"arn:{p}:cloudformation:*:*:stackset/{name}:*",
        f"arn:{p}:cloudformation:*:*:stack/StackSet-{name}-*",
    }


def detection_protected(spec: Spec) -> bool:
    """Whether the spec deploys spend detection and protects it (``protections.guardrails``)."""
    spend = spec.spend
    return spend is not None and spend.enabled and spec.protections.guardrails


def detection_resources(spec: Spec) -> list[str]:
    """ARN patterns of corral's alarms, topic and subscriptions, rules and budgets."""
    p, n = spec.partition, names(spec.spend)
    found = {
        f"arn:{p}:cloudwatch:*:*:alarm:{n['alarm_prefix']}*",
        f"arn:{p}:sns:*:*:{n['topic']}",
        f"arn:{p}:sns:*:*:{n['topic']}:*",
        f"arn:{p}:events:*:*:rule/{n['alarm_prefix']}*",
        f"arn:{p}:budgets::*:budget/{spec.spend.name_prefix}-*",
    }
    if spec.spend.fast_breaker:
        found |= {
            f"arn:{p}:states:*:*:stateMachine:{n['trip_machine']}",
            f"arn:{p}:states:*:*:execution:{n['trip_machine']}:*",
        }
    return sorted(found | stackset_resources(spec))


def detection_actions(spec: Spec) -> list[str]:
    """The actions ``CorralProtectDetection`` denies (the state machine's with the fast
    circuit breaker)."""
    fast = STATE_MACHINE_ACTIONS if spec.spend.fast_breaker else ()
    stack_set = STACKSET_ACTIONS if stackset_units(spec) else ()
    return sorted(DETECTION_ACTIONS + fast + stack_set)


def service_role_arns(spec: Spec) -> list[str]:
    """ARN patterns of the spend service roles (the forwarder; the breaker's, the fast
    breaker's and, in organization mode, the members' relay role when on)."""
    roles = service_roles(spec.spend)
    return sorted(f"arn:{spec.partition}:iam::*:role{K.IAM_PATH}{r}" for r in roles)


def detection_statements(spec: Spec) -> list[dict]:
    """``CorralProtectDetection`` (and, without the principal protections, the service
    roles' own statement); empty when detection is off or unprotected."""
    if not detection_protected(spec):
        return []
    exempt = exempt_condition(spec)
    statements = [deny(SID_DETECTION, detection_actions(spec), exempt, detection_resources(spec))]
    if not spec.protections.principals:
        statements.append(deny(SID_DETECTION_ROLES, IAM_WRITES, exempt, service_role_arns(spec)))
    return statements
