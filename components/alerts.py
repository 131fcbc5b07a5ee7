"""AlertGuardrails: attempt and tamper alerts in every region, the alert gate, GuardDuty and
the CIS route to spend detection's topic.

A thin component: every parameter comes from :mod:`corral.build.alerts`; this module only
maps those requests onto pulumi_aws resources. Each site gets one explicit provider (member
accounts through the role the spend sites assume); regional resources name their region.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import ALERT_GUARDRAILS, collect, managed_tags
from corral.build import alerts, spend_requests
from corral.build.plan import Plan
from corral.spec import keys as K
from corral.spec.model import Spec

SESSION_NAME = "corral-alerts"
PLACEHOLDER_ACCOUNT = "000000000000"  # only to count rules: patterns vary in content, not number


@dataclass(frozen=True)
class AlertGuardrailsArgs:
    """The arguments of :class:`AlertGuardrails`."""

    spec: Spec
    """The validated spec; ``spec.alerts`` and ``spec.spend`` decide every site and rule."""
    plan: Plan
    """The documents the spec deploys: the attempt rules match the actions they deny."""


@dataclass
class _Site:
    """What one site's resources share while they are created."""

    plan: alerts.AlertSite
    provider: aws.Provider
    account: pulumi.Output[str]
    detectors: dict[str, aws.guardduty.Detector] = field(default_factory=dict)


class AlertGuardrails(pulumi.ComponentResource):
    """Everything the alerts deploy, for every site of the spend plan."""

    ids: pulumi.Output[dict[str, str]]
    """Deployed ARNs keyed ``"<site>/<group>/<name>"``."""

    def __init__(
        self, name: str, args: AlertGuardrailsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ALERT_GUARDRAILS, name, None, opts)
        self._label = name
        self._spec = args.spec
        self._built = args.plan
        self._arns: dict[str, pulumi.Output[str]] = {}
        sites = [self._site(site) for site in alerts.plan(args.spec)]
        for ctx in sites:
            if ctx.plan.organization_admin is not None:
                self._organization(ctx, sites)
        self.ids = collect(self._arns)
        self.register_outputs({"ids": self.ids})

    # ------------------------------------------------------------------ helpers

    def _opts(self, ctx: _Site, **extra) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=ctx.provider, **extra)

    def _rn(self, ctx: _Site, *parts: str) -> str:
        return "-".join((self._label, ctx.plan.key, *parts))

    def _site_provider(self, site: alerts.AlertSite) -> aws.Provider:
        roles = None
        if site.site.role_arn:
            roles = [
                aws.ProviderAssumeRoleArgs(role_arn=site.site.role_arn, session_name=SESSION_NAME)
            ]
        return aws.Provider(
            f"{self._label}-{site.key}-provider",
            region=site.home,
            assume_roles=roles,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _site_account(self, site: alerts.AlertSite, provider: aws.Provider) -> pulumi.Output[str]:
        if site.site.account_id:
            return pulumi.Output.from_input(site.site.account_id)
        options = pulumi.InvokeOutputOptions(parent=self, provider=provider)
        return aws.get_caller_identity_output(opts=options).account_id

    @functools.cache  # noqa: B019 - one component per program; caches per site and account
    def _patterns(self, site: alerts.AlertSite, account: str) -> dict[tuple[str, str], str]:
        found = alerts.rules(self._spec, site, self._built, account)
        return {(rule.name, rule.region): pattern for rule, pattern in found}

    # ------------------------------------------------------------------ per site

    def _site(self, site: alerts.AlertSite) -> _Site:
        provider = self._site_provider(site)
        ctx = _Site(site, provider, self._site_account(site, provider))
        spec, n = self._spec, alerts.names(self._spec)
        roles = alerts.expected_roles(spec, site, PLACEHOLDER_ACCOUNT)
        if roles:
            grants = {name: self._role(ctx, name) for name in roles}
            self._gate(ctx, grants[n["gate_role"]])
            for rule, _ in alerts.rules(spec, site, self._built, PLACEHOLDER_ACCOUNT):
                self._rule(ctx, rule, depends_on=[grants[n["events_role"]]])
        for region in site.detector_regions:
            self._detector(ctx, region)
        if site.trail_log_group:
            self._cis(ctx)
        return ctx

    def _role(self, ctx: _Site, name: str) -> aws.iam.RolePolicy:
        spec, site = self._spec, ctx.plan
        role = aws.iam.Role(
            self._rn(ctx, "role", name),
            name=name,
            path=K.IAM_PATH,
            assume_role_policy=ctx.account.apply(
                lambda a: alerts.expected_roles(spec, site, a)[name][0]
            ),
            tags=managed_tags(),
            opts=self._opts(ctx),
        )
        self._arns[f"{site.key}/role/{name}"] = role.arn
        return aws.iam.RolePolicy(
            self._rn(ctx, "role-policy", name),
            role=role.id,
            policy=ctx.account.apply(lambda a: alerts.expected_roles(spec, site, a)[name][1]),
            opts=self._opts(ctx),
        )

    def _gate(self, ctx: _Site, grant: aws.iam.RolePolicy) -> None:
        spec, site, home = self._spec, ctx.plan, ctx.plan.home
        table = alerts.table_request(spec)
        aws.dynamodb.Table(
            self._rn(ctx, "table"),
            name=table["TableName"],
            hash_key=table["KeySchema"][0]["AttributeName"],
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=a["AttributeName"], type=a["AttributeType"])
                for a in table["AttributeDefinitions"]
            ],
            billing_mode=table["BillingMode"],
            region=home,
            tags=managed_tags(),
            opts=self._opts(ctx),
        )
        request = ctx.account.apply(lambda a: alerts.gate_request(spec, site, a))
        gate = aws.sfn.StateMachine(
            self._rn(ctx, "gate"),
            name=alerts.names(spec)["gate"],
            definition=request.apply(lambda r: r["definition"]),
            role_arn=request.apply(lambda r: r["roleArn"]),
            type=alerts.gate_request(spec, site, PLACEHOLDER_ACCOUNT)["type"],
            region=home,
            tags=managed_tags(),
            opts=self._opts(ctx, depends_on=[grant]),
        )
        self._arns[f"{site.key}/gate/{alerts.names(spec)['gate']}"] = gate.arn

    def _rule(self, ctx: _Site, rule: alerts.RulePlan, depends_on: list) -> None:
        spec, site = self._spec, ctx.plan
        request = alerts.rule_request(rule, "")
        resource = aws.cloudwatch.EventRule(
            self._rn(ctx, "rule", rule.name, rule.region),
            name=request["Name"],
            description=request["Description"],
            event_pattern=ctx.account.apply(
                lambda a: self._patterns(site, a)[(rule.name, rule.region)]
            ),
            state=request["State"],
            region=rule.region,
            tags={t["Key"]: t["Value"] for t in request["Tags"]},
            opts=self._opts(ctx),
        )
        target = ctx.account.apply(lambda a: alerts.target_request(spec, site, rule, a))
        transformer = None
        if not rule.forward:
            shape = alerts.target_request(spec, site, rule, PLACEHOLDER_ACCOUNT)["InputTransformer"]
            transformer = aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths=shape["InputPathsMap"], input_template=shape["InputTemplate"]
            )
        aws.cloudwatch.EventTarget(
            self._rn(ctx, "target", rule.name, rule.region),
            rule=resource.name,
            target_id=alerts.target_request(spec, site, rule, PLACEHOLDER_ACCOUNT)["Id"],
            arn=target.apply(lambda t: t["Arn"]),
            role_arn=target.apply(lambda t: t["RoleArn"]),
            input_transformer=transformer,
            region=rule.region,
            opts=self._opts(ctx, depends_on=depends_on),
        )
        self._arns[f"{site.key}/rule/{rule.name}@{rule.region}"] = resource.arn

    def _detector(self, ctx: _Site, region: str) -> None:
        request = alerts.detector_request()
        detector = aws.guardduty.Detector(
            self._rn(ctx, "detector", region),
            enable=request["Enable"],
            finding_publishing_frequency=request["FindingPublishingFrequency"],
            region=region,
            tags=dict(request["Tags"]),
            opts=self._opts(ctx),
        )
        ctx.detectors[region] = detector
        self._arns[f"{ctx.plan.key}/detector/{region}"] = detector.arn

    def _organization(self, ctx: _Site, sites: list[_Site]) -> None:
        """Organization mode, from the deploying account: delegate GuardDuty to the admin
        account in every region it has a detector, and auto-enable every member there."""
        wanted = ctx.plan.organization_admin
        admin = next(s for s in sites if s.plan.detector_regions and
                     (s.plan.site.account_id or "") == wanted)  # fmt: skip
        for region, detector in admin.detectors.items():
            delegation = aws.guardduty.OrganizationAdminAccount(
                self._rn(ctx, "guardduty-admin", region),
                admin_account_id=admin.account,
                region=region,
                opts=self._opts(ctx, depends_on=[detector]),
            )
            aws.guardduty.OrganizationConfiguration(
                self._rn(admin, "guardduty-members", region),
                auto_enable_organization_members=alerts.AUTO_ENABLE,
                detector_id=detector.id,
                region=region,
                opts=self._opts(admin, depends_on=[delegation]),
            )

    def _cis(self, ctx: _Site) -> None:
        spec, site = self._spec, ctx.plan
        request = alerts.metric_filter_request(spec, site)
        [metric] = request["metricTransformations"]
        aws.cloudwatch.LogMetricFilter(
            self._rn(ctx, "metric-filter"),
            name=request["filterName"],
            log_group_name=request["logGroupName"],
            pattern=request["filterPattern"],
            metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                name=metric["metricName"],
                namespace=metric["metricNamespace"],
                value=metric["metricValue"],
            ),
            region=site.home,
            opts=self._opts(ctx),
        )
        plan = alerts.cis_alarm(spec, site)
        topic = ctx.account.apply(lambda a: alerts.topic_arn(spec, site, a))
        alarm = spend_requests.alarm_request(plan, "topic")
        resource = aws.cloudwatch.MetricAlarm(
            self._rn(ctx, "alarm"),
            name=alarm["AlarmName"],
            alarm_description=alarm["AlarmDescription"],
            actions_enabled=alarm["ActionsEnabled"],
            alarm_actions=[topic],
            namespace=alarm["Namespace"],
            metric_name=alarm["MetricName"],
            statistic=alarm["Statistic"],
            period=alarm["Period"],
            evaluation_periods=alarm["EvaluationPeriods"],
            threshold=alarm["Threshold"],
            comparison_operator=alarm["ComparisonOperator"],
            treat_missing_data=alarm["TreatMissingData"],
            region=site.home,
            tags={t["Key"]: t["Value"] for t in alarm["Tags"]},
            opts=self._opts(ctx),
        )
        self._arns[f"{site.key}/alarm/{plan.name}"] = resource.arn
