"""The CloudFormation StackSet that gives every account below a targeted root or OU its spend
detection, accounts created or moved there later included: :func:`stackset_plan`.

Organization mode only. The StackSet is SERVICE_MANAGED with automatic deployment, so
CloudFormation StackSets itself deploys a stack to each account that is, or later comes, below
a target, and removes it from an account that leaves. A stack is regional and CloudWatch
metrics are regional, so the StackSet has an instance in **every region** of the partition
(one ``StackSetInstance`` per region, every targeted root/OU in its deployment targets) and
one template serves them all, deciding by ``AWS::Region``:

- every region: the capacity alarms of :func:`corral.build.spend_plan.region_alarms`, named
  with the region (``Fn::Sub`` of ``${AWS::Region}``); in the home region they notify the
  topic, elsewhere EventBridge forwards them;
- home region only (condition ``IsHome``): the topic with its subscriptions and policy, the
  forwarder role (IAM is global: one copy), the deliver rule, and the member budget when
  ``budgets.deployment`` is ``member``;
- every other region (condition ``IsForwarded``): the forward rule;
- with ``circuitBreaker.trigger: alarm``: in every region the ``<prefix>-spend-relay`` rule
  that sends the account's capacity alarm events straight to the management account's home
  default bus (one hop, as EventBridge allows), and in the home region its role
  (:mod:`corral.build.breaker_trip`); the management account's id is the template parameter
  ``ManagementAccountId``, which the StackSet sets.

Every value comes from :mod:`corral.build.spend_requests`, called with CloudFormation
tokens for the account, region and topic ARN, so a stack holds what ``pulumi up`` creates
in an account target. Account targets keep their own site (their own ``instances.spot``
can change their Spot thresholds) and are excluded from the StackSet
(``AccountFilterType: DIFFERENCE``); the management account is never a StackSet target.
Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from corral.build import breaker_trip, spend_plan, spend_requests
from corral.spec import keys as K
from corral.spec.model import Spec
from corral.spec.spend import SpendSpec

ACCOUNT = "${AWS::AccountId}"
REGION = "${AWS::Region}"
TOPIC = "${Topic}"  # Fn::Sub of a resource's logical id is its Ref: the topic ARN
IS_HOME = "IsHome"
IS_FORWARDED = "IsForwarded"
PERMISSION_MODEL = "SERVICE_MANAGED"
CAPABILITIES = ("CAPABILITY_NAMED_IAM",)
ACCOUNT_FILTER = "DIFFERENCE"  # deploy to the OUs' accounts except the account targets
TEMPLATE_BODY_LIMIT = 51_200  # bytes of TemplateBody (CloudFormation quotas)
FORMAT_VERSION = "2010-09-09"
MANAGEMENT_PARAMETER = "ManagementAccountId"  # trigger: alarm: where the relay delivers
MANAGEMENT = "${ManagementAccountId}"


@dataclass(frozen=True)
class StackSetPlan:
    """corral's StackSet and where its instances go."""

    name: str
    description: str
    template_body: str
    home: str
    regions: tuple[str, ...]  # one stack instance per region, home first
    organizational_unit_ids: tuple[str, ...]  # the targeted roots and OUs
    excluded_accounts: tuple[str, ...]  # account targets: they have a site of their own
    parameters: tuple[str, ...] = ()  # template parameters the StackSet sets (the management)


def stackset_name(spend: SpendSpec) -> str:
    """The StackSet's name: ``<prefix>-spend-detection``."""
    return f"{spend.name_prefix}-spend-detection"


def stackset_units(spec: Spec) -> tuple[str, ...]:
    """The roots and OUs the StackSet deploys to: in organization mode with spend detection
    on, every root or OU target; otherwise none (and no StackSet)."""
    spend = spec.spend
    if spec.mode != K.ORGANIZATION or spend is None or not spend.enabled:
        return ()
    return tuple(sorted({t.id for t in spec.targets if t.kind in (K.ROOT, K.OU)}))


def stackset_plan(spec: Spec) -> StackSetPlan | None:
    """The StackSet, in organization mode with spend detection on and a root or OU target."""
    spend, units = spec.spend, stackset_units(spec)
    if not units:
        return None
    return StackSetPlan(
        name=stackset_name(spend),
        description="corral: spend detection (capacity alarms, alert topic, forwarding, "
        "member budget) in every account below corral's root and OU targets.",
        template_body=template_body(spend),
        home=spend.region,
        regions=(spend.region, *sorted(set(spend.regions) - {spend.region})),
        organizational_unit_ids=units,
        excluded_accounts=tuple(sorted(spend.account_ids)),
        parameters=(MANAGEMENT_PARAMETER,) if spend.fast_breaker else (),
    )


def template_body(spend: SpendSpec) -> str:
    """The template as the StackSet holds it: sorted keys, minified JSON."""
    return json.dumps(template(spend), sort_keys=True, separators=(",", ":"))


def template(spend: SpendSpec) -> dict:
    """The CloudFormation template of one member account in one region (see the module)."""
    site = spend_plan.member_site(spend, ACCOUNT)
    resources: dict[str, dict] = {"Topic": _topic(spend), "TopicPolicy": _topic_policy(spend, site)}
    resources["ForwardRole"] = _forward_role(spend)
    resources["DeliverRule"] = _rule(spend_requests.deliver_rule_request(spend), IS_HOME,
                                     {"Id": "topic", "Arn": TOPIC})  # fmt: skip
    forward = {"Id": "home", "Arn": spend_requests.bus_arn(spend, spend.region, ACCOUNT),
               "RoleArn": _forward_role_arn(spend)}  # fmt: skip
    resources["ForwardRule"] = _rule(spend_requests.forward_rule_request(spend), IS_FORWARDED,
                                     forward)  # fmt: skip
    for budget in site.budgets:  # the member budget, with ``deployment: member``
        resources["Budget"] = _budget(spend, budget)
    for alarm in spend_plan.region_alarms(spend, None, REGION):
        resources[_logical_id("Alarm", alarm.name.removeprefix(spend.name_prefix))] = _alarm(alarm)
    extra: dict[str, Any] = {}
    if spend.fast_breaker:  # trigger: alarm: relay capacity alarms to the management account
        resources["RelayRole"] = _relay_role(spend)
        relay = breaker_trip.relay_rule_request(spend)
        target = breaker_trip.relay_target_request(spend, ACCOUNT, MANAGEMENT)
        resources["RelayRule"] = {**_rule(relay, IS_HOME, target), "DependsOn": "RelayRole"}
        resources["RelayForwardedRule"] = _rule(relay, IS_FORWARDED, target)  # other regions
        about = "The management account: its home default bus receives the relay."
        extra["Parameters"] = {
            MANAGEMENT_PARAMETER: {"Type": "String", "AllowedPattern": "^[0-9]{12}$",
                                   "Description": about}}  # fmt: skip
    return {
        **extra,
        "AWSTemplateFormatVersion": FORMAT_VERSION,
        "Description": f"corral spend detection for one member account; home region "
        f"{spend.region}.",
        "Conditions": {
            IS_HOME: {"Fn::Equals": [{"Ref": "AWS::Region"}, spend.region]},
            IS_FORWARDED: {"Fn::Not": [{"Condition": IS_HOME}]},
        },
        "Resources": resources,
    }


def _sub(value: Any) -> Any:
    """``value`` with every string that holds a ``${...}`` token wrapped in ``Fn::Sub``."""
    if isinstance(value, dict):
        return {k: _sub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sub(v) for v in value]
    if isinstance(value, str) and "${" in value:
        return {"Fn::Sub": value}
    return value


def _logical_id(kind: str, name: str) -> str:
    """A CloudFormation logical id (alphanumeric) from a resource's name."""
    return kind + "".join(
        part.capitalize() for part in name.replace("${AWS::Region}", "").split("-")
    )


def _tags() -> list[dict[str, str]]:
    return [{"Key": K.MANAGED_TAG, "Value": "true"}]


def _topic(spend: SpendSpec) -> dict:
    subscriptions = spend_requests.subscription_requests(spend, topic_arn="")
    properties = {
        "TopicName": spend_plan.names(spend)["topic"],
        "Subscription": [
            {"Protocol": s["Protocol"], "Endpoint": s["Endpoint"]} for s in subscriptions
        ],
        "Tags": _tags(),
    }
    return {"Type": "AWS::SNS::Topic", "Condition": IS_HOME, "Properties": properties}


def _topic_policy(spend: SpendSpec, site: spend_plan.SitePlan) -> dict:
    policy = json.loads(spend_requests.topic_policy(spend, site, TOPIC, ACCOUNT))
    properties = {"Topics": [{"Ref": "Topic"}], "PolicyDocument": _sub(policy)}
    return {"Type": "AWS::SNS::TopicPolicy", "Condition": IS_HOME, "Properties": properties}


def _forward_role_arn(spend: SpendSpec) -> str:
    role = spend_plan.names(spend)["forward_role"]
    return f"arn:{spend.partition}:iam::{ACCOUNT}:role{K.IAM_PATH}{role}"


def _forward_role(spend: SpendSpec) -> dict:
    name = spend_plan.names(spend)["forward_role"]
    properties = {
        "RoleName": name,
        "Path": K.IAM_PATH,
        "AssumeRolePolicyDocument": _sub(json.loads(spend_requests.forward_role_trust(ACCOUNT))),
        "Policies": [
            {
                "PolicyName": name,
                "PolicyDocument": _sub(
                    json.loads(spend_requests.forward_role_policy(spend, ACCOUNT))
                ),
            }
        ],
        "Tags": _tags(),
    }
    return {"Type": "AWS::IAM::Role", "Condition": IS_HOME, "Properties": properties}


def _relay_role(spend: SpendSpec) -> dict:
    [(name, (trust, policy))] = breaker_trip.relay_roles(spend, ACCOUNT, MANAGEMENT).items()
    properties = {
        "RoleName": name,
        "Path": K.IAM_PATH,
        "AssumeRolePolicyDocument": _sub(json.loads(trust)),
        "Policies": [{"PolicyName": name, "PolicyDocument": _sub(json.loads(policy))}],
        "Tags": _tags(),
    }
    return {"Type": "AWS::IAM::Role", "Condition": IS_HOME, "Properties": properties}


def _rule(request: dict, condition: str, target: dict) -> dict:
    properties = {
        "Name": request["Name"],
        "Description": request["Description"],
        "EventPattern": json.loads(request["EventPattern"]),
        "State": request["State"],
        "Targets": [_sub(target)],
    }
    return {"Type": "AWS::Events::Rule", "Condition": condition, "Properties": properties}


def _budget(spend: SpendSpec, budget: spend_plan.BudgetPlan) -> dict:
    request = spend_requests.budget_request(spend, budget, ACCOUNT, TOPIC)
    body = dict(request["Budget"])
    body["BudgetLimit"] = {"Amount": budget.limit, "Unit": body["BudgetLimit"]["Unit"]}
    properties = {
        "Budget": body,
        "NotificationsWithSubscribers": _sub(request["NotificationsWithSubscribers"]),
    }
    # as the program does: the topic must let Budgets publish before the budget names it
    return {"Type": "AWS::Budgets::Budget", "Condition": IS_HOME, "DependsOn": "TopicPolicy",
            "Properties": properties}  # fmt: skip


def _alarm(alarm: spend_plan.AlarmPlan) -> dict:
    request = spend_requests.alarm_request(alarm, topic_arn=None)
    properties = {k: v for k, v in request.items() if v != [] and k not in ("AlarmActions", "Tags")}
    properties["AlarmActions"] = {"Fn::If": [IS_HOME, [{"Ref": "Topic"}], {"Ref": "AWS::NoValue"}]}
    properties["Tags"] = _tags()
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": _sub(properties)}
