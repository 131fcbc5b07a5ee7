"""The event patterns of corral's alerts, and the CIS benchmark's metric-filter pattern. Pure.

- **Attempts**: CloudTrail management events ("AWS API Call via CloudTrail") denied
  (``errorCode`` ``AccessDenied*`` or ``*UnauthorizedOperation``) on an action a corral
  statement denies, or in a region outside the allowed ones. The actions are read from the
  Deny statements of the deployed documents (:func:`corral.build.plan.build_plan`), never
  typed here, so a guardrail added to the builders is alerted on without an edit here.
- **Tamper**: any change, allowed or denied, to what corral deploys: its policies,
  attachments and boundary, the spend alarms, topic, EventBridge rules and budgets, its
  roles, the alert gate, and the trail, GuardDuty and Config settings the protections cover.
- **Findings**: GuardDuty findings at or above the spec's severity.

EventBridge caps an event pattern at 2,048 characters (a quota that can be raised to 4,096),
so attempts and tamper are packed, as the builders pack policy statements, into as few
patterns as fit; each becomes one rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from corral.build.identities import boundary_name
from corral.build.plan import Plan
from corral.build.spend_plan import names
from corral.build.spend_requests import document_json
from corral.spec import keys as K
from corral.spec.model import Spec

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
DENIED = ({"prefix": "AccessDenied"}, {"suffix": "UnauthorizedOperation"})
# CIS AWS Foundations Benchmark, "unauthorized API calls" metric filter (CloudWatch Logs syntax).
CIS_FILTER_PATTERN = (
    '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }'
)
PATTERN_MAX_CHARS = 2048
GUARDDUTY_SOURCE = "aws.guardduty"
GUARDDUTY_DETAIL_TYPE = "GuardDuty Finding"
# IAM service prefix -> CloudTrail eventSource, where it is not ``<prefix>.amazonaws.com``.
EVENT_SOURCES = {"cloudwatch": "monitoring.amazonaws.com"}

# Tamper: the write events of each service that change what corral deploys or relies on.
# Step Functions' StartExecution and the gate's own writes are left out on purpose: the
# alerts call them, and a rule matching its own delivery would loop.
ORGANIZATIONS_CHANGES = (
    "AttachPolicy", "DeletePolicy", "DetachPolicy", "DisablePolicyType", "LeaveOrganization",
    "MoveAccount", "RemoveAccountFromOrganization", "UpdatePolicy",
)  # fmt: skip
CLOUDTRAIL_CHANGES = ("DeleteTrail", "PutEventSelectors", "StopLogging", "UpdateTrail")
GUARDDUTY_CHANGES = (
    "CreateFilter", "DeleteDetector", "DeleteMembers", "DisableOrganizationAdminAccount",
    "DisassociateFromAdministratorAccount", "DisassociateFromMasterAccount",
    "DisassociateMembers", "StopMonitoringMembers", "UpdateDetector", "UpdateFilter",
    "UpdateOrganizationConfiguration",
)  # fmt: skip
CONFIG_CHANGES = (
    "DeleteConfigurationRecorder", "DeleteDeliveryChannel", "StopConfigurationRecorder",
)  # fmt: skip
BOUNDARY_REMOVALS = ("DeleteRolePermissionsBoundary", "DeleteUserPermissionsBoundary")
BOUNDARY_SETTERS = ("PutRolePermissionsBoundary", "PutUserPermissionsBoundary")
GATE_CHANGES = ("DeleteStateMachine", "TagResource", "UntagResource", "UpdateStateMachine")
TABLE_CHANGES = ("DeleteTable", "UpdateTable", "UpdateTimeToLive")


def event_source(service: str) -> str:
    """The CloudTrail ``eventSource`` of an IAM service prefix (``ec2.amazonaws.com``)."""
    return EVENT_SOURCES.get(service, f"{service}.amazonaws.com")


def guarded_actions(plan: Plan) -> tuple[str, ...]:
    """Every action a Deny statement of the plan names, sorted (``NotAction`` statements, the
    region rule, are covered by the region clause instead)."""
    found: set[str] = set()
    for document in plan.documents:
        statements = document.policy["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Deny" or "Action" not in statement:
                continue
            actions = statement["Action"]
            found.update([actions] if isinstance(actions, str) else actions)
    return tuple(sorted(found))


def _name_filter(name: str) -> str | dict:
    """``RunInstances`` as is; ``Create*`` as EventBridge prefix matching."""
    if name.endswith("*") and "*" not in name[:-1]:
        return {"prefix": name[:-1]}
    return name


def action_clauses(actions: Iterable[str]) -> list[dict]:
    """One ``{eventSource, eventName}`` clause per service of ``actions``."""
    by_service: dict[str, set[str]] = {}
    for action in actions:
        service, _, name = action.partition(":")
        by_service.setdefault(service, set()).add(name)
    clauses = []
    for service, events in sorted(by_service.items()):
        if "*" in events:
            clauses.append({"eventSource": [event_source(service)]})
            continue
        filters = [_name_filter(n) for n in sorted(events)]
        clauses.append({"eventSource": [event_source(service)], "eventName": filters})
    return clauses


def allowed_regions(spec: Spec) -> tuple[str, ...]:
    """Every region some target may use (the spec's, and each target's override)."""
    regions = set(spec.allowed_regions)
    for target in spec.targets:
        regions |= set(target.allowed_regions or ())
    return tuple(sorted(regions))


def attempt_patterns(spec: Spec, plan: Plan) -> list[str]:
    """Denied calls on a guarded action in an allowed region, then (the last pattern) denied
    calls of anything outside the allowed regions. No event matches two of them, so each
    denied call starts the gate once."""
    allowed = list(allowed_regions(spec))
    denied = {"errorCode": list(DENIED)}
    base = {"detail-type": [CLOUDTRAIL_DETAIL_TYPE], "detail": {**denied, "awsRegion": allowed}}
    outside = {**denied, "awsRegion": [{"anything-but": allowed}]}
    region = document_json({"detail-type": [CLOUDTRAIL_DETAIL_TYPE], "detail": outside})
    return [*pack(base, action_clauses(guarded_actions(plan))), region]


def tamper_patterns(spec: Spec, account_id: str, role_names: Iterable[str]) -> list[str]:
    """Every change to corral's resources in ``account_id`` (``role_names``: corral's roles)."""
    p, prefix, home = spec.partition, spec.name_prefix, spec.region
    spend = names(spec.spend)
    policies = f"arn:{p}:iam::{account_id}:policy{K.IAM_PATH}"
    topic = f"arn:{p}:sns:{home}:{account_id}:{spend['topic']}"
    clauses = [
        _field("iam", "policyArn", {"prefix": policies}),
        _field("iam", "roleName", *sorted(set(role_names))),
        _field("iam", "path", K.IAM_PATH),
        {"eventSource": [event_source("iam")], "eventName": list(BOUNDARY_REMOVALS)},
        _field("cloudwatch", "alarmName", {"prefix": spend["alarm_prefix"]}),
        _field("cloudwatch", "alarmNames", {"prefix": spend["alarm_prefix"]}),
        _field("events", "name", {"prefix": spend["alarm_prefix"]}),
        _field("events", "rule", {"prefix": spend["alarm_prefix"]}),
        _field("budgets", "budgetName", {"prefix": f"{prefix}-"}),
        _field("budgets", "newBudget.budgetName", {"prefix": f"{prefix}-"}),
        _field("sns", "topicArn", topic),
        _field("sns", "subscriptionArn", {"prefix": f"{topic}:"}),
        _field("logs", "filterName", {"prefix": f"{prefix}-"}),
        {**_field("states", "stateMachineArn", {"suffix": f":{prefix}-alerts-gate"}),
         "eventName": list(GATE_CHANGES)},
        {**_field("dynamodb", "tableName", f"{prefix}-alerts-seen"),
         "eventName": list(TABLE_CHANGES)},
    ]  # fmt: skip
    if spec.mode == K.ACCOUNT:
        boundary = {"anything-but": f"{policies}{boundary_name(spec)}"}
        clauses.append({**_field("iam", "permissionsBoundary", boundary),
                        "eventName": list(BOUNDARY_SETTERS)})  # fmt: skip
    else:
        clauses.append({"eventSource": [event_source("organizations")],
                        "eventName": list(ORGANIZATIONS_CHANGES)})  # fmt: skip
    for service, changes in (
        ("cloudtrail", CLOUDTRAIL_CHANGES),
        ("guardduty", GUARDDUTY_CHANGES),
        ("config", CONFIG_CHANGES),
    ):
        clauses.append({"eventSource": [event_source(service)], "eventName": list(changes)})
    return pack({"detail-type": [CLOUDTRAIL_DETAIL_TYPE], "detail": {}}, clauses)


def _field(service: str, path: str, *filters: str | dict) -> dict:
    """A clause matching ``requestParameters.<path>`` of ``service``'s events."""
    node: dict = {}
    inner = node
    *parents, last = path.split(".")
    for parent in parents:
        inner[parent] = {}
        inner = inner[parent]
    inner[last] = list(filters)
    return {"eventSource": [event_source(service)], "requestParameters": node}


def findings_pattern(severity: float) -> str:
    """GuardDuty findings whose severity is at least ``severity``."""
    return document_json(
        {
            "source": [GUARDDUTY_SOURCE],
            "detail-type": [GUARDDUTY_DETAIL_TYPE],
            "detail": {"severity": [{"numeric": [">=", severity]}]},
        }
    )


def pack(base: dict, clauses: list[dict], limit: int = PATTERN_MAX_CHARS) -> list[str]:
    """``base`` with ``detail.$or`` of ``clauses``, split over as few patterns as fit ``limit``
    (first fit, in order; a lone clause is merged into ``detail``, as ``$or`` needs two)."""
    groups: list[list[dict]] = []
    for clause in clauses:
        for group in groups:
            if len(_pattern(base, [*group, clause])) <= limit:
                group.append(clause)
                break
        else:
            if len(_pattern(base, [clause])) > limit:
                raise ValueError(f"one alert clause is over {limit} characters: {clause}")
            groups.append([clause])
    return [_pattern(base, group) for group in groups]


def _pattern(base: dict, group: list[dict]) -> str:
    detail = dict(base["detail"])
    if len(group) == 1:
        detail.update(group[0])
    else:
        detail["$or"] = group
    return document_json({**base, "detail": detail})
