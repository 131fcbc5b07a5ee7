"""CloudTrail logs management events in every region, so EventBridge receives them (AWS:
"a CloudTrail trail with logging enabled is required"); with ``alerts.trailLogGroup``, the
trail delivers to that log group and the CIS metric filter and alarm count its denied calls."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _alerts
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.findings import Finding
from corral.build import alerts, alerts_patterns, spend_requests
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="cloudtrail-logging",
    title="A trail logs management events of every region for the alerts",
    severity="high",
    risk="EventBridge receives CloudTrail's API-call events only while a trail logs them; "
    "without one, no denied call and no change to the guardrails is ever alerted.",
    remediation="Create a multi-Region trail that logs management events and start it "
    "(docs/alerts.md), or run `pulumi up --refresh` for the CIS metric filter and alarm.",
    actions=(
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "logs:DescribeMetricFilters",
        "cloudwatch:DescribeAlarms",
    ),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.ALERTS,),
)
EFFECT = 'EventBridge receives no "AWS API Call via CloudTrail" event and nothing is alerted'
ALARM_FIELDS = (
    "Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "Threshold",
    "ComparisonOperator", "TreatMissingData", "ActionsEnabled",
)  # fmt: skip
CREATE = (
    "create one (aws cloudtrail create-trail --name management --s3-bucket-name BUCKET "
    "--is-multi-region-trail, then aws cloudtrail start-logging --name management)"
)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """Per site whose alerts are on: a finding per problem, or one PASS naming the trail."""
    yield from _alerts.per_site(ctx, METADATA, _judge)


def _judge(ctx: VerifyContext, site: _alerts.Site) -> list[Finding]:
    if not site.plan.regions:
        return []
    home, a = site.plan.home, site.account
    trails = _trails(ctx, site)
    logging, problems = None, []
    for trail in trails:
        trouble = _trail_problems(ctx, site, trail)
        if not trouble:
            logging = trail
            break
        problems += trouble
    if logging is None:
        problems = problems or [f"No multi-Region CloudTrail trail logs the management events of "
                                f"account {a}, so {EFFECT}; {CREATE}."]  # fmt: skip
        return [failed(METADATA, a, home, "cloudtrail", p) for p in problems]
    group = site.plan.trail_log_group
    problems = _cis_problems(ctx, site, logging) if group else []
    if problems:
        return [failed(METADATA, a, home, f"log group {group}", p) for p in problems]
    alarm = alerts.names(ctx.spec)["alarm"]
    tail = f" and delivers them to log group {group}, counted by alarm {alarm}" if group else ""
    message = (f"Trail {logging['Name']} logs the management events of every region of account "
               f"{a}{tail}, so EventBridge receives denied calls and changes.")  # fmt: skip
    return [passed(METADATA, a, home, f"trail {logging['Name']}", message)]


def _trails(ctx: VerifyContext, site: _alerts.Site) -> list[dict]:
    """Multi-Region trails covering the site: its own, and in organization mode the
    organization trails of the deploying account (read there)."""
    home = site.plan.home
    own = site.read(ctx, "cloudtrail", "DescribeTrails", region=home).get("trailList", [])
    found = [dict(t, _read_as=site.read_as) for t in own if t.get("IsMultiRegionTrail")]
    if ctx.spec.mode == K.ORGANIZATION and site.read_as is not None:
        caller = ctx.conn.read("cloudtrail", "DescribeTrails", region=home).get("trailList", [])
        found += [dict(t, _read_as=None) for t in caller
                  if t.get("IsMultiRegionTrail") and t.get("IsOrganizationTrail")]  # fmt: skip
    return found


def _trail_problems(ctx: VerifyContext, site: _alerts.Site, trail: dict) -> list[str]:
    arn, name = trail["TrailARN"], trail["Name"]
    region = trail.get("HomeRegion") or site.plan.home
    read = trail["_read_as"]
    status = ctx.conn.read("cloudtrail", "GetTrailStatus", account=read, region=region, Name=arn)
    if not status.get("IsLogging"):
        return [f"Trail {name} of account {site.account} is not logging, so {EFFECT}; run aws "
                f"cloudtrail start-logging --name {arn}."]  # fmt: skip
    selectors = ctx.conn.read("cloudtrail", "GetEventSelectors", account=read, region=region,
                              TrailName=arn)  # fmt: skip
    if _logs_management(selectors):
        return []
    return [f"Trail {name} of account {site.account} logs no management events, so {EFFECT}; "
            f"aws cloudtrail put-event-selectors --trail-name {arn} --event-selectors "
            "'[{\"ReadWriteType\": \"All\", \"IncludeManagementEvents\": true}]'."]  # fmt: skip


def _logs_management(selectors: dict) -> bool:
    """True when the trail's basic or advanced selectors include management events."""
    basic = selectors.get("EventSelectors") or []
    if any(s.get("IncludeManagementEvents", True) for s in basic):
        return True
    for advanced in selectors.get("AdvancedEventSelectors") or []:
        for field in advanced.get("FieldSelectors", []):
            if field.get("Field") == "eventCategory" and "Management" in field.get("Equals", []):
                return True
    return False


def _cis_problems(ctx: VerifyContext, site: _alerts.Site, trail: dict) -> list[str]:
    spec, home, a = ctx.spec, site.plan.home, site.account
    group, n = site.plan.trail_log_group, alerts.names(ctx.spec)
    problems = []
    arn = trail.get("CloudWatchLogsLogGroupArn") or ""
    if arn.split(":log-group:")[-1].removesuffix(":*") != group:
        problems.append(f"Trail {trail['Name']} of account {a} delivers to "
                        f"{arn or 'no log group'} instead of {group}, so alarm {n['alarm']} "
                        "never counts a denied call; aws cloudtrail update-trail --name "
                        f"{trail['Name']} --cloud-watch-logs-log-group-arn ARN-OF-{group} "
                        "--cloud-watch-logs-role-arn ROLE.")  # fmt: skip
    want = alerts.metric_filter_request(spec, site.plan)
    filters = site.read(ctx, "logs", "DescribeMetricFilters", region=home, logGroupName=group,
                        filterNamePrefix=want["filterName"]).get("metricFilters", [])  # fmt: skip
    have = next((f for f in filters if f["filterName"] == want["filterName"]), None)
    if have is None or have.get("filterPattern") != alerts_patterns.CIS_FILTER_PATTERN:
        state = "is missing" if have is None else "has another pattern"
        problems.append(f"Metric filter {want['filterName']} on log group {group} in account {a} "
                        f"{home} {state}, so denied calls are not counted; "
                        f"{_alerts.RESTORE}.")  # fmt: skip
    plan = alerts.cis_alarm(spec, site.plan)
    out = site.read(ctx, "cloudwatch", "DescribeAlarms", region=home, AlarmNames=[plan.name])
    alarm = next(iter(out.get("MetricAlarms", [])), None)
    if alarm is None:
        problems.append(f"Alarm {plan.name} is missing in account {a} {home}, so denied calls "
                        f"are counted but never alerted; {_alerts.REDEPLOY}.")  # fmt: skip
    else:
        changes = _alarm_changes(plan, alarm, site.topic_arn(ctx))
        if changes:
            problems.append(f"Alarm {plan.name} in account {a} {home} differs from the spec: "
                            f"{'; '.join(changes)}; {_alerts.RESTORE}.")  # fmt: skip
    return problems


def _alarm_changes(plan, found: dict, topic: str) -> list[str]:
    """How the deployed CIS alarm differs from the request corral sends."""
    want = spend_requests.alarm_request(plan, topic)
    changes = [f"its {key} is {found.get(key)!r} instead of {want[key]!r}" for key in ALARM_FIELDS
               if found.get(key) != want[key]]  # fmt: skip
    if topic not in found.get("AlarmActions", []):
        changes.append(f"it does not notify topic {topic}")
    return changes
