"""Attacker probes against spend detection: ``detection-*``.

Where spend detection is on and protected (``protections.guardrails``, on a chain that
carries the ``protection`` guardrail), the holder of a guarded key tries to silence it:
delete, disable or mute corral's alarm; set a subscription's attributes (a filter policy
that matches nothing), unsubscribe, or set the topic's attributes (a KMS key CloudWatch
cannot use); disable corral's forwarding rule or repoint its target; delete the forwarder
role's policy; run or reverse the circuit breaker's budget action; delete a budget
notification (``budgets:ModifyBudget`` is the permission Budgets' DeleteNotification
needs). With the fast breaker (``circuitBreaker.trigger: alarm``) it also tries to rewrite
or delete corral's circuit-breaker state machine; below a root or OU that corral's StackSet
reaches, to update or delete the account's spend-detection stack. Each is expected denied.
The same calls on resources that are not corral's are permitted work, expected not denied.
Pure: no I/O.
"""

from __future__ import annotations

from corral.build import spend_plan, stackset
from corral.build.detection import detection_protected
from corral.evaluate.probe_kit import (
    EXPECT_DENY,
    EXPECT_NOT_DENIED,
    Expected,
    Probe,
    call,
    make,
    signing_region,
    slug,
)
from corral.evaluate.scope import Scope
from corral.spec import keys as K
from corral.spec.model import Spec

SUBSCRIPTION_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
ACTION_ID = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
MUTE_RULE = "arn:{p}:cloudwatch:{r}:{a}:alarm-mute-rule:quiet-hours"
PATH_OTHERS = (
    "Permitted work: the same calls on alarms, topics, rules, roles and budgets that are not "
    "corral's"
)
# Resources that are not corral's: (kind, name).
OTHERS = {"alarm": "app-cpu-high", "topic": "app-alerts", "rule": "app-nightly",
          "role": "app-worker", "budget": "app-monthly", "machine": "app-workflow",
          "stack": "app-stack"}  # fmt: skip
STACK_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
# (kind, action, label); each call is made on corral's resource of that kind, then on another.
CALLS = (
    ("alarm", "cloudwatch:DeleteAlarms", "Delete corral's spend alarm"),
    ("alarm", "cloudwatch:DisableAlarmActions", "Disable corral's spend alarm's actions"),
    ("alarm", "cloudwatch:PutAlarmMuteRule", "Mute corral's spend alarm"),
    ("subscription", "sns:SetSubscriptionAttributes",
     "Filter corral's alert subscription (a FilterPolicy)"),
    ("subscription", "sns:Unsubscribe", "Unsubscribe from corral's alert topic"),
    ("topic", "sns:SetTopicAttributes", "Re-encrypt or re-permission corral's alert topic"),
    ("rule", "events:DisableRule", "Disable corral's alarm forwarding rule"),
    ("rule", "events:PutTargets", "Repoint corral's alarm forwarding rule"),
    ("role", "iam:DeleteRolePolicy", "Strip the alarm forwarder role's policy"),
    ("action", "budgets:ExecuteBudgetAction", "Run or reverse corral's circuit breaker"),
    ("budget", "budgets:ModifyBudget",
     "Delete a notification of corral's budget (DeleteNotification needs it)"),
)  # fmt: skip
FAST_BREAKER_CALLS = (
    ("machine", "states:UpdateStateMachine", "Rewrite corral's circuit-breaker state machine"),
    ("machine", "states:DeleteStateMachine", "Delete corral's circuit-breaker state machine"),
)
STACKSET_CALLS = (
    ("stack", "cloudformation:UpdateStack",
     "Rewrite the account's stack of corral's spend-detection StackSet"),
    ("stack", "cloudformation:DeleteStack",
     "Delete the account's stack of corral's spend-detection StackSet"),
)  # fmt: skip


def detection_probes(spec: Spec, scope: Scope) -> list[Probe]:
    """Silencing spend detection, and the same calls on resources that are not corral's."""
    if not scope.protection or not detection_protected(spec):
        return []
    mine = _corral_resources(spec, scope)
    calls = list(CALLS)
    if spec.spend.fast_breaker:
        calls += FAST_BREAKER_CALLS
    if stackset.stackset_units(spec) and spec.mode == K.ORGANIZATION:
        calls += STACKSET_CALLS
    probes = []
    for kind, action, label in calls:
        region = _region(spec, scope, kind, action)
        arns = _arns(scope, action, region, mine[kind])
        probes.append(_probe(scope, f"detection-{slug(action)}", action, arns, region,
                             EXPECT_DENY, f"{label} (`{action}`)"))  # fmt: skip
    for kind, action, _ in calls:
        region = _region(spec, scope, kind, action)
        arns = _arns(scope, action, region, _other(kind))
        probes.append(_probe(scope, f"detection-other-{slug(action)}", action, arns, region,
                             EXPECT_NOT_DENIED, PATH_OTHERS))  # fmt: skip
    return probes


def _arns(scope: Scope, action: str, region: str, template: str) -> list[str]:
    """The resources ``action`` is authorized on: an alarm mute rule is authorized on the
    rule and on each alarm it mutes (botocore's CloudWatch model)."""
    templates = [MUTE_RULE, template] if action == "cloudwatch:PutAlarmMuteRule" else [template]
    return [t.format(p=scope.partition, a=scope.account, r=region) for t in templates]


def _region(spec: Spec, scope: Scope, kind: str, action: str) -> str:
    """Where the call is signed: the home region for the topic and the state machine, else
    as any call."""
    home = ("topic", "subscription", "machine")
    return spec.spend.region if kind in home else signing_region(scope, action)


def _probe(scope: Scope, pid: str, action: str, arns: list[str], region: str,
           expected: Expected, path: str) -> Probe:  # fmt: skip
    """One call of ``action`` by the probe user, authorized once per resource in ``arns``."""
    text = f"The call {action} on {arns[-1]} by an ordinary principal"
    requests = [call(scope, action, arn, region) for arn in arns]
    return make(scope, pid, text, requests, expected, K.PROTECTION, path=path)


def _corral_resources(spec: Spec, scope: Scope) -> dict[str, str]:
    """Resource templates (``{p}`` partition, ``{a}`` account, ``{r}`` region) of corral's
    spend resources, by kind."""
    spend = spec.spend
    n, region = spend_plan.names(spend), scope.regional()
    sites = spend_plan.plan(spend)
    here = sorted(
        (a for s in sites for a in s.alarms if a.region == region),
        key=lambda a: (a.kind != K.VCPU, not a.name.endswith("-standard"), a.name),
    )
    alarm = here[0].name if here else f"{n['alarm_prefix']}billing"  # the incident's class
    budget = next((b.name for s in sites for b in s.budgets), f"{spend.name_prefix}-monthly")
    rule = n["deliver_rule"] if region == spend.region else n["forward_rule"]
    return _templates(
        alarm=alarm, topic=n["topic"], rule=rule, role=f"{K.IAM_PATH[1:]}{n['forward_role']}",
        budget=budget, machine=n["trip_machine"],
        stack=f"StackSet-{stackset.stackset_name(spend)}-{STACK_ID[:8]}",
    )  # fmt: skip


def _other(kind: str) -> str:
    """The template of a resource of ``kind`` that is not corral's."""
    return _templates(**OTHERS)[kind]


def _templates(*, alarm: str, topic: str, rule: str, role: str, budget: str, machine: str,
               stack: str) -> dict[str, str]:  # fmt: skip
    """Resource templates by kind (``{p}`` partition, ``{a}`` account, ``{r}`` region)."""
    return {
        "alarm": f"arn:{{p}}:cloudwatch:{{r}}:{{a}}:alarm:{alarm}",
        "subscription": f"arn:{{p}}:sns:{{r}}:{{a}}:{topic}:{SUBSCRIPTION_ID}",
        "topic": f"arn:{{p}}:sns:{{r}}:{{a}}:{topic}",
        "rule": f"arn:{{p}}:events:{{r}}:{{a}}:rule/{rule}",
        "role": f"arn:{{p}}:iam::{{a}}:role/{role}",
        "action": f"arn:{{p}}:budgets::{{a}}:budget/{budget}/action/{ACTION_ID}",
        "budget": f"arn:{{p}}:budgets::{{a}}:budget/{budget}",
        "machine": f"arn:{{p}}:states:{{r}}:{{a}}:stateMachine:{machine}",
        "stack": f"arn:{{p}}:cloudformation:{{r}}:{{a}}:stack/{stack}/{STACK_ID}",
    }
