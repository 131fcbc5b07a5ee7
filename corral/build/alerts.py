"""Where the alerts live and the exact AWS requests (boto3 names) that create them. Pure.

Every account ("site") of the spend plan gets, in every region of the partition, the attempt
and tamper rules of :mod:`corral.build.alerts_patterns`, and in each allowed region of the
GuardDuty site a detector and a findings rule. Outside the site's home region the rules
forward what they match to the home region's default event bus, beside the spend alarms'
forwarding (:func:`corral.build.spend_requests.forward_rule_request`): the same bus and the
same trust, a role of their own. At home the rules start the alert *gate*
(:mod:`corral.build.alerts_gate`), which sends one readable message per key and hour to the
spend topic and drops the repeats. The CIS route (``alerts.trailLogGroup``) is a metric
filter on the trail's log group and an alarm named like the spend alarms, so the spend
alarms' own path notifies the topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.build import alerts_gate, alerts_patterns, spend_plan, spend_requests
from corral.build.plan import Plan
from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.model import Spec

SERVICE_STATES = "states.amazonaws.com"
STATE_ALL = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"  # also read-only CloudTrail events
STATE_ENABLED = "ENABLED"
METRIC_NAMESPACE = "corral"
METRIC_NAME = "UnauthorizedCalls"
CIS_PERIOD = 300
AUTO_ENABLE = "ALL"  # GuardDuty organization configuration: every member, new and existing
FINDING_FREQUENCY = "FIFTEEN_MINUTES"  # how often GuardDuty re-sends an updated finding


def names(spec: Spec) -> dict[str, str]:
    """Names of what the alerts deploy per site (rules and the alarm share the spend prefix,
    so the detection protection and the spend alarms' forwarding cover them)."""
    p = spec.name_prefix
    return {
        "attempts": f"{p}-spend-attempts",
        "tamper": f"{p}-spend-tamper",
        "findings": f"{p}-spend-findings",
        "events_role": f"{p}-alerts-events",
        "gate_role": f"{p}-alerts-gate",
        "gate": f"{p}-alerts-gate",
        "table": f"{p}-alerts-seen",
        "metric_filter": f"{p}-unauthorized-calls",
        "alarm": f"{p}-spend-unauthorized-calls",
    }


@dataclass(frozen=True)
class RulePlan:
    """One EventBridge rule in one region: ``kind`` attempts, tamper or findings."""

    kind: str
    name: str
    region: str
    state: str
    forward: bool  # True: to the home default bus; False: to the gate


@dataclass(frozen=True)
class AlertSite:
    """What one spend site gets: rules, gate, GuardDuty and the CIS route."""

    site: spend_plan.SitePlan
    regions: tuple[str, ...]  # where the attempt and tamper rules are
    detector_regions: tuple[str, ...]  # GuardDuty detectors and findings rules; () if none
    organization_admin: str | None  # organization mode: the delegated administrator to name
    trail_log_group: str | None  # the CIS route, deploying account only

    @property
    def key(self) -> str:
        """The spend site's key (``account``, ``management`` or an account id)."""
        return self.site.key

    @property
    def home(self) -> str:
        """Where the topic, the gate and the CIS alarm are."""
        return self.site.home


def plan(spec: Spec) -> tuple[AlertSite, ...]:
    """Every site's alerts (none unless spend detection and alerts or GuardDuty are on)."""
    alerts = spec.alerts
    if spec.spend is None or not spec.spend.enabled or alerts is None or not alerts.any:
        return ()
    regions = catalog.regions(spec.partition) if alerts.enabled else ()
    detectors = alerts_patterns.allowed_regions(spec) if alerts.guardduty else ()
    sites = []
    for site in spend_plan.plan(spec.spend):
        deploying = site.account_id is None
        guardduty = site.account_id == alerts.guardduty_admin or (
            deploying and alerts.guardduty_admin is None
        )
        admin = None
        if alerts.guardduty and deploying and spec.mode == K.ORGANIZATION:
            admin = alerts.guardduty_admin or ""  # "": the deploying account itself
        sites.append(
            AlertSite(
                site=site,
                regions=regions,
                detector_regions=detectors if guardduty else (),
                organization_admin=admin,
                trail_log_group=alerts.trail_log_group if deploying else None,
            )
        )
    return tuple(sites)


def rules(spec: Spec, site: AlertSite, built: Plan, account_id: str) -> list[tuple[RulePlan, str]]:
    """``(rule, event pattern)`` for every rule of ``site`` (``account_id`` is the site's)."""
    n, found, patterns = names(spec), [], {"attempts": [], "tamper": []}
    if site.regions:
        patterns["attempts"] = alerts_patterns.attempt_patterns(spec, built)
        patterns["tamper"] = alerts_patterns.tamper_patterns(spec, account_id, role_names(spec))
    for kind, state in (("attempts", STATE_ALL), ("tamper", STATE_ENABLED)):
        for region in site.regions:
            for i, pattern in enumerate(patterns[kind], 1):
                rule = RulePlan(kind, f"{n[kind]}-{i}", region, state, region != site.home)
                found.append((rule, pattern))
    findings = alerts_patterns.findings_pattern(spec.alerts.severity)
    for region in site.detector_regions:
        rule = RulePlan("findings", n["findings"], region, STATE_ENABLED, region != site.home)
        found.append((rule, findings))
    return found


def service_roles(spec: Spec) -> frozenset[str]:
    """Names of the roles the alerts deploy (assumable only by EventBridge and Step
    Functions), as :func:`corral.build.spend_plan.service_roles` names the spend roles."""
    if not any(s.regions or s.detector_regions for s in plan(spec)):
        return frozenset()
    n = names(spec)
    return frozenset({n["events_role"], n["gate_role"]})


def role_names(spec: Spec) -> tuple[str, ...]:
    """corral's roles a tamper event may name: the spend roles and the alerts' own."""
    n = names(spec)
    return tuple(sorted({*spend_plan.service_roles(spec.spend), n["events_role"], n["gate_role"]}))


def rule_request(rule: RulePlan, pattern: str) -> dict:
    """``events:PutRule`` parameters."""
    where = "forward to the home region's default event bus" if rule.forward else "start the gate"
    return {
        "Name": rule.name,
        "Description": f"corral: {rule.kind} alerts; {where}.",
        "EventPattern": pattern,
        "State": rule.state,
        "Tags": [{"Key": K.MANAGED_TAG, "Value": "true"}],
    }


def target_request(spec: Spec, site: AlertSite, rule: RulePlan, account_id: str) -> dict:
    """The one target of ``rule`` (``events:PutTargets`` member): the home default bus, or the
    gate with the input transformer of the rule's kind."""
    target = {"Id": "corral", "RoleArn": role_arn(spec, account_id, names(spec)["events_role"])}
    if rule.forward:
        return {**target, "Arn": spend_requests.bus_arn(spec.spend, site.home, account_id)}
    gate = gate_arn(spec, site, account_id)
    return {**target, "Arn": gate, "InputTransformer": alerts_gate.transformer(rule.kind)}


def role_arn(spec: Spec, account_id: str, name: str) -> str:
    """ARN of one of corral's roles (path ``/corral/``)."""
    return f"arn:{spec.partition}:iam::{account_id}:role{K.IAM_PATH}{name}"


def gate_arn(spec: Spec, site: AlertSite, account_id: str) -> str:
    """ARN of the site's gate state machine."""
    return (
        f"arn:{spec.partition}:states:{site.home}:{account_id}:stateMachine:{names(spec)['gate']}"
    )


def table_arn(spec: Spec, site: AlertSite, account_id: str) -> str:
    """ARN of the site's gate table."""
    return f"arn:{spec.partition}:dynamodb:{site.home}:{account_id}:table/{names(spec)['table']}"


def topic_arn(spec: Spec, site: AlertSite, account_id: str) -> str:
    """ARN of the site's spend alert topic."""
    return f"arn:{spec.partition}:sns:{site.home}:{account_id}:{site.site.topic}"


# --------------------------------------------------------------------------- the gate


def table_request(spec: Spec) -> dict:
    """``dynamodb:CreateTable`` parameters: one string key, on demand."""
    return {
        "TableName": names(spec)["table"],
        "AttributeDefinitions": [{"AttributeName": alerts_gate.KEY, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": alerts_gate.KEY, "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def gate_request(spec: Spec, site: AlertSite, account_id: str) -> dict:
    """``states:CreateStateMachine`` parameters (an Express workflow)."""
    n = names(spec)
    definition = alerts_gate.definition(n["table"], topic_arn(spec, site, account_id))
    return {
        "name": n["gate"],
        "definition": definition,
        "roleArn": role_arn(spec, account_id, n["gate_role"]),
        "type": "EXPRESS",
    }


def events_role_policy(spec: Spec, site: AlertSite, account_id: str) -> str:
    """The rules' role: put events on the home default bus, start the gate; nothing else."""
    statements = [
        _allow("CorralForwardAlerts", "events:PutEvents",
               spend_requests.bus_arn(spec.spend, site.home, account_id)),
        _allow("CorralStartGate", "states:StartExecution", gate_arn(spec, site, account_id)),
    ]  # fmt: skip
    return spend_requests.document_json({"Version": "2012-10-17", "Statement": statements})


def gate_role_policy(spec: Spec, site: AlertSite, account_id: str) -> str:
    """The gate's role: remember a key in its table, publish to the topic; nothing else."""
    statements = [
        _allow("CorralRememberAlerts", "dynamodb:PutItem", table_arn(spec, site, account_id)),
        _allow("CorralPublishAlerts", "sns:Publish", topic_arn(spec, site, account_id)),
    ]
    return spend_requests.document_json({"Version": "2012-10-17", "Statement": statements})


def _allow(sid: str, action: str, resource: str) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


def expected_roles(spec: Spec, site: AlertSite, account_id: str) -> dict[str, tuple[str, str]]:
    """corral's alert roles of ``site``: name -> (trust policy, its one inline policy)."""
    if not site.regions and not site.detector_regions:
        return {}
    n = names(spec)
    return {
        n["events_role"]: (
            spend_requests.service_trust(spend_requests.SERVICE_EVENTS, account_id),
            events_role_policy(spec, site, account_id),
        ),
        n["gate_role"]: (
            spend_requests.service_trust(SERVICE_STATES, account_id),
            gate_role_policy(spec, site, account_id),
        ),
    }


# --------------------------------------------------------------------------- CIS and GuardDuty


def metric_filter_request(spec: Spec, site: AlertSite) -> dict:
    """``logs:PutMetricFilter`` parameters: count every denied call the trail logs."""
    return {
        "logGroupName": site.trail_log_group,
        "filterName": names(spec)["metric_filter"],
        "filterPattern": alerts_patterns.CIS_FILTER_PATTERN,
        "metricTransformations": [
            {"metricName": METRIC_NAME, "metricNamespace": METRIC_NAMESPACE, "metricValue": "1"}
        ],
    }


def cis_alarm(spec: Spec, site: AlertSite) -> spend_plan.AlarmPlan:
    """The alarm on the metric filter, in the home region, notifying the topic directly."""
    description = (
        "corral: AWS denied API calls in this account (CIS unauthorized-calls filter on log "
        f"group {site.trail_log_group}). A leaked key is the likeliest cause: find the caller "
        "with CloudTrail (errorCode AccessDenied*/*UnauthorizedOperation), rotate its key and "
        "run `corral sweep`."
    )
    return spend_plan.AlarmPlan(
        names(spec)["alarm"], "unauthorized", site.home, METRIC_NAMESPACE, METRIC_NAME, (),
        "Sum", CIS_PERIOD, 0.0, description, True,
    )  # fmt: skip


def detector_request() -> dict:
    """``guardduty:CreateDetector`` parameters."""
    return {
        "Enable": True,
        "FindingPublishingFrequency": FINDING_FREQUENCY,
        "Tags": {K.MANAGED_TAG: "true"},
    }
