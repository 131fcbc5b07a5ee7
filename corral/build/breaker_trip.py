"""The fast circuit breaker (``corral:circuitBreaker.trigger: alarm``): what trips it in minutes.

A capacity alarm of corral (EC2 On-Demand or Spot vCPUs, Fargate vCPUs, Lambda concurrency)
entering ALARM in any region reaches the home region's default event bus (directly at home,
through the ``<prefix>-spend-forward`` rules elsewhere). There rule ``<prefix>-spend-breaker``
starts the Standard state machine ``<prefix>-circuit-breaker``, which applies the deny-launch
policy of :mod:`corral.build.spend_breaker` (the one the budget action applies) with AWS SDK
service integrations, no function code:

- account mode: ``iam:attach{Group,User,Role}Policy`` for every principal under
  ``corral:principals`` (a Parallel state, one branch each);
- organization mode: ``organizations:attachPolicy`` to the alarm's account (``$.account``),
  an existing attachment counting as success; never to the management account (a Choice
  state: SCPs do not affect it, the notification says so). Member accounts' alarm events
  reach the management account's home default bus through the ``<prefix>-spend-relay`` rule
  (:func:`relay_rule_request`) in **every region** of each member, straight to that bus:
  EventBridge delivers an event only one bus-to-bus hop, so a member's forwarded event could
  not be relayed again. corral's one statement on that bus's policy (:func:`bus_permission`,
  added beside any the bus has) accepts them from the organization's accounts only.

Then it publishes to the alert topic who tripped it, where, and the exact commands an exempt
principal runs to detach it; if attaching failed, it publishes that and fails. The budget
action stays deployed as the slow backstop. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from corral.build.spend_breaker import BREAKER_ACTIONS
from corral.build.spend_plan import names
from corral.build.spend_requests import bus_arn, document_json, service_trust
from corral.spec import keys as K
from corral.spec.spend import SERVICE_EVENTS, SpendSpec

SERVICE_STATES = "states.amazonaws.com"
MACHINE_TYPE = "STANDARD"
CAPACITY_KINDS = (K.VCPU, K.SPOT_ALARMS, K.FARGATE, K.LAMBDA)  # alarm kinds that trip it
DUPLICATE = "Organizations.DuplicatePolicyAttachmentException"  # AWS SDK integration error name
RETRY = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}
SUBJECT = "corral circuit breaker tripped"
MANAGEMENT_SUBJECT = "corral circuit breaker: capacity alarm in the management account"
FAILED_SUBJECT = "corral circuit breaker FAILED to trip"
# (corral:principals key, ARN kind and CLI word, verb of the IAM action and parameter)
PRINCIPAL_KINDS = (("groups", "group", "Group"), ("users", "user", "User"),
                   ("roles", "role", "Role"))  # fmt: skip


def alarm_prefixes(spend: SpendSpec) -> list[str]:
    """Name prefixes of the capacity alarms the spec deploys (never billing or CIS alarms)."""
    on = {K.VCPU: spend.vcpu, K.SPOT_ALARMS: spend.spot, K.FARGATE: spend.fargate,
          K.LAMBDA: spend.lambda_alarms}  # fmt: skip
    return [f"{spend.name_prefix}-spend-{kind}-" for kind in CAPACITY_KINDS if on[kind]]


def trip_pattern(spend: SpendSpec) -> str:
    """Event pattern: one of corral's capacity alarms entering ALARM, from any region."""
    return document_json(
        {
            "source": ["aws.cloudwatch"],
            "detail-type": ["CloudWatch Alarm State Change"],
            "detail": {
                "alarmName": [{"prefix": p} for p in alarm_prefixes(spend)],
                "state": {"value": ["ALARM"]},
            },
        }
    )


def rule_request(spend: SpendSpec) -> dict:
    """``events:PutRule`` in the home region (its name is under the detection protection)."""
    return {
        "Name": names(spend)["trip_rule"],
        "Description": "corral: a capacity alarm in ALARM trips the circuit breaker.",
        "EventPattern": trip_pattern(spend),
        "State": "ENABLED",
        "Tags": [{"Key": K.MANAGED_TAG, "Value": "true"}],
    }


def role_arn(spend: SpendSpec, account_id: str, role: str) -> str:
    """ARN of ``trip_role`` or ``trip_start_role`` (path ``/corral/``)."""
    return f"arn:{spend.partition}:iam::{account_id}:role{K.IAM_PATH}{names(spend)[role]}"


def machine_arn(spend: SpendSpec, account_id: str) -> str:
    """ARN of the state machine, in the home region."""
    p, name = spend.partition, names(spend)["trip_machine"]
    return f"arn:{p}:states:{spend.region}:{account_id}:stateMachine:{name}"


def iam_policy_arn(spend: SpendSpec, account_id: str) -> str:
    """Account mode: the deny-launch IAM policy's ARN (``/corral/<prefix>-circuit-breaker``)."""
    name = names(spend)["breaker_policy"]
    return f"arn:{spend.partition}:iam::{account_id}:policy{K.IAM_PATH}{name}"


def target_request(spend: SpendSpec, account_id: str) -> dict:
    """The rule's one target: the state machine, started as the start role; the event as is."""
    return {
        "Id": "corral",
        "Arn": machine_arn(spend, account_id),
        "RoleArn": role_arn(spend, account_id, "trip_start_role"),
    }


# --------------------------------------------------------------------------- the state machine


def _principals(spend: SpendSpec) -> list[tuple[str, str, str]]:
    """``(arn kind, verb, name)`` of every guarded principal, groups then users then roles."""
    return [(kind, verb, n) for key, kind, verb in PRINCIPAL_KINDS
            for n in spend.principals.get(key, ())]  # fmt: skip


def detach_commands(spend: SpendSpec, policy_ref: str) -> list[str]:
    """The commands an exempt principal runs to detach the policy (organization: the account
    is the alarm's, ``{}`` filled in by the state machine)."""
    if spend.mode == K.ORGANIZATION:
        return [f"aws organizations detach-policy --policy-id {policy_ref} --target-id {{}}"]
    return [f"aws iam detach-{kind}-policy --{kind}-name {n} --policy-arn {policy_ref}"
            for kind, _, n in _principals(spend)]  # fmt: skip


def _guarded(spend: SpendSpec, policy_ref: str) -> str:
    if spend.mode == K.ORGANIZATION:
        return f"SCP {policy_ref} now applies to account {{}}"
    who = ", ".join(f"{kind} {n}" for kind, _, n in _principals(spend))
    return f"IAM policy {policy_ref} is now attached to {who}"


def message(spend: SpendSpec, policy_ref: str) -> str:
    """The ``States.Format`` template of the notification (one line, no quote, brace or
    backslash but the placeholders: alarm, account, region, then in organization mode the
    account twice more)."""
    denied = ", ".join(BREAKER_ACTIONS)
    commands = "; ".join(detach_commands(spend, policy_ref))
    return (
        "corral circuit breaker tripped: capacity alarm {} entered ALARM in account {}, region "
        f"{{}}. {_guarded(spend, policy_ref)}: it denies {denied}. Running capacity keeps "
        "running: find and stop what nobody launched. Only a corral:exemptPrincipals "
        f"(break-glass) principal may detach it, with: {commands}. It trips again the next time "
        "a capacity alarm enters ALARM; the budget action stays armed as the backstop."
    )


def management_message() -> str:
    """The ``States.Format`` template sent when the alarm is the management account's (alarm,
    account, region): SCPs do not affect it, so nothing is attached."""
    return (
        "corral circuit breaker NOT applied: capacity alarm {} entered ALARM in account {}, "
        "region {}, the management account of the organization. Service control policies do "
        "not affect the management account, so the breaker attached nothing there: find and "
        "stop what nobody launched, and review who holds credentials in the management account."
    )


def failure_message(spend: SpendSpec, policy_ref: str) -> str:
    """The ``States.Format`` template sent when attaching failed (alarm, account, region,
    error, then in organization mode the account)."""
    attach = [c.replace(" detach-", " attach-") for c in detach_commands(spend, policy_ref)]
    return (
        "corral circuit breaker FAILED to trip after capacity alarm {} entered ALARM in account "
        "{}, region {}: {}. As a corral:exemptPrincipals principal, attach the deny-launch "
        f"policy by hand: {'; '.join(attach)}."
    )


def _publish(spend: SpendSpec, topic_arn: str, subject: str, template: str, args: str) -> dict:
    return {
        "Type": "Task",
        "Resource": f"arn:{spend.partition}:states:::sns:publish",
        "Parameters": {
            "TopicArn": topic_arn,
            "Subject": subject,
            "Message.$": f"States.Format('{template}', {args})",
        },
        "ResultPath": None,
    }


def definition(spend: SpendSpec, policy_ref: str, topic_arn: str, management: str = "") -> str:
    """The Amazon States Language definition (``policy_ref``: IAM policy ARN or SCP id;
    ``management``: organization mode, the management account, which it never targets)."""
    p, failure = spend.partition, "$.error"
    catch_all = {"ErrorEquals": ["States.ALL"], "ResultPath": failure, "Next": "NotifyFailure"}
    event = "$.detail.alarmName, $.account, $.region"
    more = ", $.account" if spend.mode == K.ORGANIZATION else ""
    if spend.mode == K.ORGANIZATION:
        apply: dict[str, Any] = {
            "Type": "Task",
            "Resource": f"arn:{p}:states:::aws-sdk:organizations:attachPolicy",
            "Parameters": {"PolicyId": policy_ref, "TargetId.$": "$.account"},
            "ResultPath": None,
            "Retry": [{"ErrorEquals": [DUPLICATE], "MaxAttempts": 0}, RETRY],
            "Catch": [{"ErrorEquals": [DUPLICATE], "ResultPath": None, "Next": "Notify"},
                      catch_all],
            "Next": "Notify",
        }  # fmt: skip
    else:
        apply = {
            "Type": "Parallel",
            "Branches": [_attach_branch(p, kind, verb, n, policy_ref)
                         for kind, verb, n in _principals(spend)],
            "ResultPath": None,
            "Catch": [catch_all],
            "Next": "Notify",
        }  # fmt: skip
    notify = _publish(spend, topic_arn, SUBJECT, message(spend, policy_ref), event + more * 2)
    failed = _publish(spend, topic_arn, FAILED_SUBJECT, failure_message(spend, policy_ref),
                      f"{event}, $.error.Error{more}")  # fmt: skip
    states: dict[str, Any] = {
        "ApplyDenyLaunch": apply,
        "Notify": {**notify, "End": True},
        "NotifyFailure": {**failed, "Next": "Failed"},
        "Failed": {"Type": "Fail", "Error": "CorralBreakerNotApplied",
                   "Cause": "Attaching the deny-launch policy failed; see NotifyFailure."},
    }  # fmt: skip
    start = "ApplyDenyLaunch"
    if spend.mode == K.ORGANIZATION:  # SCPs do not affect the management account: skip it
        start = "SkipManagementAccount"
        states[start] = {
            "Type": "Choice",
            "Choices": [{"Variable": "$.account", "StringEquals": management,
                         "Next": "NotifyManagement"}],
            "Default": "ApplyDenyLaunch",
        }  # fmt: skip
        states["NotifyManagement"] = {
            **_publish(spend, topic_arn, MANAGEMENT_SUBJECT, management_message(), event),
            "End": True,
        }
    return document_json({
        "Comment": "corral: a capacity alarm in ALARM applies the deny-launch policy.",
        "StartAt": start,
        "States": states,
    })  # fmt: skip


def _attach_branch(partition: str, kind: str, verb: str, name: str, policy_arn: str) -> dict:
    """A Parallel branch: ``iam:attach<Verb>Policy`` of the deny policy to one principal
    (attaching an attached policy succeeds in IAM)."""
    state = f"Attach{verb}-{name}"
    task = {
        "Type": "Task",
        "Resource": f"arn:{partition}:states:::aws-sdk:iam:attach{verb}Policy",
        "Parameters": {f"{verb}Name": name, "PolicyArn": policy_arn},
        "ResultPath": None,
        "Retry": [RETRY],
        "End": True,
    }
    return {"StartAt": state, "States": {state: task}}


def machine_request(spend: SpendSpec, account_id: str, policy_ref: str, topic_arn: str) -> dict:
    """``states:CreateStateMachine`` parameters (a Standard workflow: exactly once, history
    kept 90 days)."""
    return {
        "name": names(spend)["trip_machine"],
        "definition": definition(spend, policy_ref, topic_arn, account_id),
        "roleArn": role_arn(spend, account_id, "trip_role"),
        "type": MACHINE_TYPE,
        "tags": [{"key": K.MANAGED_TAG, "value": "true"}],
    }


# --------------------------------------------------------------------------- the two roles


def _allow(sid: str, actions: list[str], resources: list[str], condition=None) -> dict:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions,
                                 "Resource": resources}  # fmt: skip
    if condition:
        statement["Condition"] = condition
    return statement


def trip_role_policy(spend: SpendSpec, account_id: str, policy_ref: str, topic_arn: str) -> str:
    """The state machine's role: attach the one deny policy to the guarded principals (or, in
    organization mode, to any member account of the organization, never the management
    account ``account_id``), publish to the topic; nothing else.

    ``policy_ref`` is the deny policy's ARN (both kinds)."""
    p = spend.partition
    statements = []
    if spend.mode == K.ORGANIZATION:  # any account of this organization but the management
        accounts = f"arn:{p}:organizations::{account_id}:account/o-*/"
        statements.append(_allow("CorralTripCircuitBreaker", ["organizations:AttachPolicy"],
                                 [policy_ref, accounts + "*"]))  # fmt: skip
        statements.append({"Sid": "CorralTripNeverManagement", "Effect": "Deny",
                           "Action": ["organizations:AttachPolicy"],
                           "Resource": [accounts + account_id]})  # fmt: skip
    else:
        only = {"ArnEquals": {"iam:PolicyArn": policy_ref}}
        for key, kind, verb in PRINCIPAL_KINDS:
            named = spend.principals.get(key, ())
            if named:
                # names, any IAM path: /<name> and /<path>/<name> (``*`` spans slashes)
                arns = [f"arn:{p}:iam::{account_id}:{kind}{at}{n}" for n in named
                        for at in ("/", "/*/")]  # fmt: skip
                statements.append(_allow(f"CorralTripCircuitBreaker{verb}s",
                                         [f"iam:Attach{verb}Policy"], arns, only))  # fmt: skip
    statements.append(_allow("CorralTripNotify", ["sns:Publish"], [topic_arn]))
    return document_json({"Version": "2012-10-17", "Statement": statements})


def start_role_policy(spend: SpendSpec, account_id: str) -> str:
    """The rule's role: start this one state machine; nothing else."""
    statement = _allow("CorralStartCircuitBreaker", ["states:StartExecution"],
                       [machine_arn(spend, account_id)])  # fmt: skip
    return document_json({"Version": "2012-10-17", "Statement": [statement]})


def expected_roles(
    spend: SpendSpec, account_id: str, policy_ref: str, topic_arn: str
) -> dict[str, tuple[str, str]]:
    """The fast breaker's roles: name -> (trust policy, its one inline policy); none unless
    ``trigger: alarm``."""
    if not spend.fast_breaker:
        return {}
    n = names(spend)
    return {
        n["trip_role"]: (
            service_trust(SERVICE_STATES, account_id),
            trip_role_policy(spend, account_id, policy_ref, topic_arn),
        ),
        n["trip_start_role"]: (
            service_trust(SERVICE_EVENTS, account_id),
            start_role_policy(spend, account_id),
        ),
    }


# --------------------------------------------------------------------------- organization relay


def relay_rule_request(spend: SpendSpec) -> dict:
    """``events:PutRule`` in every region of a member account: the breaker's pattern, so only
    corral's capacity alarms entering ALARM leave the account."""
    return {
        "Name": names(spend)["relay_rule"],
        "Description": "corral: a capacity alarm in ALARM goes to the management account, "
        "whose circuit breaker applies the deny-launch SCP to this account.",
        "EventPattern": trip_pattern(spend),
        "State": "ENABLED",
        "Tags": [{"Key": K.MANAGED_TAG, "Value": "true"}],
    }


def relay_role_arn(spend: SpendSpec, account_id: str) -> str:
    """ARN of the member's relay role ``/corral/<prefix>-spend-relay``."""
    return f"arn:{spend.partition}:iam::{account_id}:role{K.IAM_PATH}{names(spend)['relay_role']}"


def relay_target_request(spend: SpendSpec, account_id: str, management: str) -> dict:
    """The relay rule's one target: the management account's home default bus."""
    return {
        "Id": "corral",
        "Arn": bus_arn(spend, spend.region, management),
        "RoleArn": relay_role_arn(spend, account_id),
    }


def relay_role_policy(spend: SpendSpec, management: str) -> str:
    """The relay role: put events on the management account's home default bus; nothing else."""
    statement = _allow("CorralRelayCapacityAlarms", ["events:PutEvents"],
                       [bus_arn(spend, spend.region, management)])  # fmt: skip
    return document_json({"Version": "2012-10-17", "Statement": [statement]})


def relay_roles(spend: SpendSpec, account_id: str, management: str) -> dict[str, tuple[str, str]]:
    """A member's relay role: name -> (trust policy, its one inline policy); none unless
    ``trigger: alarm`` in organization mode."""
    if not spend.fast_breaker or spend.mode != K.ORGANIZATION:
        return {}
    trust = service_trust(SERVICE_EVENTS, account_id)
    return {names(spend)["relay_role"]: (trust, relay_role_policy(spend, management))}


ORG_CONDITION = "aws:PrincipalOrgID"  # the one condition key PutPermission takes


def bus_permission(spend: SpendSpec, organization_id: Any) -> dict:
    """``events:PutPermission`` on the management home default bus: one statement,
    ``<prefix>-spend-relay``, beside whatever else the bus's policy holds (removing it removes
    only it): ``events:PutEvents`` from this organization's accounts only (``organization_id``
    may be a Pulumi Output)."""
    return {
        "EventBusName": "default",
        "StatementId": names(spend)["relay_rule"],
        "Principal": "*",
        "Action": "events:PutEvents",
        "Condition": {"Type": "StringEquals", "Key": ORG_CONDITION, "Value": organization_id},
    }
