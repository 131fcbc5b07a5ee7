"""SpendGuardrails: budgets, alert topic, billing and capacity alarms, circuit breaker, and the
opt-in Cost Explorer anomaly monitor.

A thin component: every parameter comes from :mod:`corral.build.spend_requests` and
:mod:`corral.build.spend_breaker`; this module only maps those request parameters onto
pulumi_aws resources. Each account ("site") gets one explicit provider per region it
deploys into; member accounts are reached through providers that assume the configured role.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import SERVICE_CONTROL_POLICY, SPEND_GUARDRAILS, collect, managed_tags
from components.breaker import FastBreaker, FastBreakerArgs, SpendRelay, SpendRelayArgs
from corral.build import spend_breaker, spend_plan, spend_requests
from corral.spec import keys as K
from corral.spec import spend as spend_spec

SESSION_NAME = "corral-spend"


@dataclass(frozen=True)
class SpendGuardrailsArgs:
    """The arguments of :class:`SpendGuardrails`."""

    spend: spend_spec.SpendSpec
    """The validated spend section from ``corral.spec.spend.parse``; its plan decides
    every site, budget, alarm, forwarding rule and circuit breaker created."""


@dataclass
class _Site:
    """What one site's resources share while they are created."""

    plan: spend_plan.SitePlan
    providers: dict[str, aws.Provider]
    account: pulumi.Output[str]
    topic: aws.sns.Topic | None = None
    policy: aws.sns.TopicPolicy | None = None
    budgets: dict[str, aws.budgets.Budget] = field(default_factory=dict)

    @property
    def home(self) -> aws.Provider:
        """The provider of the site's home region."""
        return self.providers[self.plan.home]


class SpendGuardrails(pulumi.ComponentResource):
    """Everything spend detection deploys, for every site of the spend plan."""

    ids: pulumi.Output[dict[str, str]]
    """Deployed ARNs keyed ``"<site>/<group>/<name>"``, for
    ``corral.build.spend_manifest.manifest_entries``."""

    def __init__(
        self, name: str, args: SpendGuardrailsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(SPEND_GUARDRAILS, name, None, opts)
        self._label = name
        self._spend_spec = args.spend
        self._arns: dict[str, pulumi.Output[str]] = {}
        for site in spend_plan.plan(args.spend):
            self._site(site)
        self.ids = collect(self._arns)
        self.register_outputs({"ids": self.ids})

    # ------------------------------------------------------------------ helpers

    def _opts(self, provider: aws.Provider, **extra) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=provider, **extra)

    def _rn(self, ctx: _Site, *parts: str) -> str:
        return "-".join((self._label, ctx.plan.key, *parts))

    def _regional_providers(self, site: spend_plan.SitePlan) -> dict[str, aws.Provider]:
        roles = None
        if site.role_arn:
            roles = [aws.ProviderAssumeRoleArgs(role_arn=site.role_arn, session_name=SESSION_NAME)]
        return {
            region: aws.Provider(
                f"{self._label}-{site.key}-provider-{region}",
                region=region,
                assume_roles=roles,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for region in site.regions
        }

    def _account(self, site: spend_plan.SitePlan, provider: aws.Provider) -> pulumi.Output[str]:
        if site.account_id:
            return pulumi.Output.from_input(site.account_id)
        options = pulumi.InvokeOutputOptions(parent=self, provider=provider)
        return aws.get_caller_identity_output(opts=options).account_id

    # ------------------------------------------------------------------ per site

    def _site(self, site: spend_plan.SitePlan) -> None:
        providers = self._regional_providers(site)
        ctx = _Site(site, providers, self._account(site, providers[site.home]))
        self._topic(ctx)
        for budget in site.budgets:
            ctx.budgets[budget.name] = self._budget(ctx, budget)
        for alarm in site.alarms:
            self._alarm(ctx, alarm)
        if site.forward_regions:
            self._forwarding(ctx)
        if site.account_id is None:
            self._management = ctx.account  # the deploying account: where relays deliver
        if site.breakers or site.trip:
            self._breakers(ctx)
        if site.relay:  # trigger: alarm, organization: member alarm events to the management
            relay = SpendRelayArgs(self._spend_spec, providers, site.home, ctx.account,
                                   self._management)  # fmt: skip
            SpendRelay(self._rn(ctx, "relay"), relay, pulumi.ResourceOptions(parent=self))
        if site.anomaly:
            self._anomaly(ctx, site.anomaly)

    def _topic(self, ctx: _Site) -> None:
        spend, site = self._spend_spec, ctx.plan
        request = spend_requests.topic_request(site)
        ctx.topic = aws.sns.Topic(
            self._rn(ctx, "topic"),
            name=request["Name"],
            tags=_tags(request["Tags"]),
            opts=self._opts(ctx.home),
        )
        self._arns[f"{site.key}/topic/{site.topic}"] = ctx.topic.arn
        ctx.policy = aws.sns.TopicPolicy(
            self._rn(ctx, "topic-policy"),
            arn=ctx.topic.arn,
            policy=pulumi.Output.all(ctx.topic.arn, ctx.account).apply(
                lambda v: spend_requests.topic_policy(spend, site, v[0], v[1])
            ),
            opts=self._opts(ctx.home),
        )
        for sub in spend_requests.subscription_requests(spend, topic_arn=""):
            digest = hashlib.sha256(sub["Endpoint"].encode()).hexdigest()[:8]
            aws.sns.TopicSubscription(
                self._rn(ctx, sub["Protocol"], digest),
                topic=ctx.topic.arn,
                protocol=sub["Protocol"],
                endpoint=sub["Endpoint"],
                opts=self._opts(ctx.home),
            )

    def _budget(self, ctx: _Site, budget: spend_plan.BudgetPlan) -> aws.budgets.Budget:
        request = spend_requests.budget_request(
            self._spend_spec, budget, account_id="", topic_arn=""
        )
        body = request["Budget"]
        filters = [
            aws.budgets.BudgetCostFilterArgs(name=k, values=v)
            for k, v in body.get("CostFilters", {}).items()
        ]
        notifications = [
            aws.budgets.BudgetNotificationArgs(
                comparison_operator=n["Notification"]["ComparisonOperator"],
                notification_type=n["Notification"]["NotificationType"],
                threshold=n["Notification"]["Threshold"],
                threshold_type=n["Notification"]["ThresholdType"],
                subscriber_email_addresses=_addresses(n["Subscribers"], "EMAIL"),
                subscriber_sns_topic_arns=[ctx.topic.arn]
                if _addresses(n["Subscribers"], "SNS")
                else [],
            )
            for n in request["NotificationsWithSubscribers"]
        ]
        resource = aws.budgets.Budget(
            self._rn(ctx, "budget", budget.name),
            account_id=ctx.account,
            name=body["BudgetName"],
            budget_type=body["BudgetType"],
            limit_amount=body["BudgetLimit"]["Amount"],
            limit_unit=body["BudgetLimit"]["Unit"],
            time_unit=body["TimeUnit"],
            cost_filters=filters or None,
            notifications=notifications,
            tags=managed_tags(),
            opts=self._opts(ctx.home, depends_on=[ctx.policy]),
        )
        self._arns[f"{ctx.plan.key}/budget/{budget.name}"] = resource.arn
        return resource

    def _alarm(self, ctx: _Site, alarm: spend_plan.AlarmPlan) -> None:
        request = spend_requests.alarm_request(alarm, topic_arn="topic" if alarm.direct else None)
        resource = aws.cloudwatch.MetricAlarm(
            self._rn(ctx, "alarm", alarm.name),
            name=request["AlarmName"],
            alarm_description=request["AlarmDescription"],
            actions_enabled=request["ActionsEnabled"],
            alarm_actions=[ctx.topic.arn] if request["AlarmActions"] else [],
            namespace=request["Namespace"],
            metric_name=request["MetricName"],
            dimensions={d["Name"]: d["Value"] for d in request["Dimensions"]},
            statistic=request["Statistic"],
            period=request["Period"],
            evaluation_periods=request["EvaluationPeriods"],
            threshold=request["Threshold"],
            comparison_operator=request["ComparisonOperator"],
            treat_missing_data=request["TreatMissingData"],
            tags=_tags(request["Tags"]),
            opts=self._opts(ctx.providers[alarm.region]),
        )
        self._arns[f"{ctx.plan.key}/alarm/{alarm.name}"] = resource.arn

    def _anomaly(self, ctx: _Site, anomaly: spend_plan.AnomalyPlan) -> None:
        monitor = spend_requests.anomaly_monitor_request(anomaly)["AnomalyMonitor"]
        resource = aws.costexplorer.AnomalyMonitor(
            self._rn(ctx, "anomaly-monitor"),
            name=monitor["MonitorName"],
            monitor_type=monitor["MonitorType"],
            monitor_dimension=monitor["MonitorDimension"],
            tags=managed_tags(),
            opts=self._opts(ctx.home),
        )
        request = spend_requests.anomaly_subscription_request(anomaly, "", "")
        body = request["AnomalySubscription"]
        dimension = body["ThresholdExpression"]["Dimensions"]
        subscription = aws.costexplorer.AnomalySubscription(
            self._rn(ctx, "anomaly-subscription"),
            name=body["SubscriptionName"],
            frequency=body["Frequency"],
            monitor_arn_lists=[resource.arn],
            subscribers=[
                aws.costexplorer.AnomalySubscriptionSubscriberArgs(
                    type="SNS", address=ctx.topic.arn
                )
            ],
            threshold_expression=aws.costexplorer.AnomalySubscriptionThresholdExpressionArgs(
                dimension=aws.costexplorer.AnomalySubscriptionThresholdExpressionDimensionArgs(
                    key=dimension["Key"],
                    match_options=dimension["MatchOptions"],
                    values=dimension["Values"],
                )
            ),
            tags=managed_tags(),
            opts=self._opts(ctx.home, depends_on=[ctx.policy]),  # the topic lets it publish
        )
        self._arns[f"{ctx.plan.key}/anomaly/{anomaly.monitor}"] = resource.arn
        self._arns[f"{ctx.plan.key}/anomaly-subscription/{anomaly.subscription}"] = subscription.arn

    def _forwarding(self, ctx: _Site) -> None:
        spend, names = self._spend_spec, spend_plan.names(self._spend_spec)
        role = aws.iam.Role(
            self._rn(ctx, "forward-role"),
            name=names["forward_role"],
            path=K.IAM_PATH,
            assume_role_policy=ctx.account.apply(spend_requests.forward_role_trust),
            tags=managed_tags(),
            opts=self._opts(ctx.home),
        )
        aws.iam.RolePolicy(
            self._rn(ctx, "forward-role-policy"),
            role=role.id,
            policy=ctx.account.apply(lambda a: spend_requests.forward_role_policy(spend, a)),
            opts=self._opts(ctx.home),
        )
        bus = ctx.account.apply(lambda a: spend_requests.bus_arn(spend, spend.region, a))
        for region in ctx.plan.forward_regions:
            self._rule(ctx, spend_requests.forward_rule_request(spend), region, bus, role.arn)
        self._rule(
            ctx, spend_requests.deliver_rule_request(spend), ctx.plan.home, ctx.topic.arn, None
        )

    def _rule(self, ctx: _Site, request: dict, region: str, target, role_arn) -> None:
        provider = ctx.providers[region]
        rule = aws.cloudwatch.EventRule(
            self._rn(ctx, "rule", region),
            name=request["Name"],
            description=request["Description"],
            event_pattern=request["EventPattern"],
            state=request["State"],
            tags=_tags(request["Tags"]),
            opts=self._opts(provider),
        )
        aws.cloudwatch.EventTarget(
            self._rn(ctx, "rule-target", region),
            rule=rule.name,
            arn=target,
            role_arn=role_arn,
            opts=self._opts(provider),
        )
        self._arns[f"{ctx.plan.key}/rule/{request['Name']}@{region}"] = rule.arn

    def _breakers(self, ctx: _Site) -> None:
        names = spend_plan.names(self._spend_spec)
        content = spend_breaker.deny_launch_policy(self._spend_spec)
        description = "corral circuit breaker: denies new EC2 capacity; applied by a budget action."
        if self._spend_spec.mode == K.ORGANIZATION:
            deny = aws.organizations.Policy(
                self._rn(ctx, "breaker-policy"),
                name=names["breaker_policy"],
                type=SERVICE_CONTROL_POLICY,
                content=content,
                description=description,
                tags=managed_tags(),
                opts=self._opts(ctx.home),
            )
            reference = deny.id
        else:
            deny = aws.iam.Policy(
                self._rn(ctx, "breaker-policy"),
                name=names["breaker_policy"],
                path=K.IAM_PATH,
                policy=content,
                description=description,
                tags=managed_tags(),
                opts=self._opts(ctx.home),
            )
            reference = deny.arn
        if ctx.plan.trip:  # trigger: alarm, beside the budget action
            args = FastBreakerArgs(self._spend_spec, ctx.home, ctx.account, ctx.topic.arn,
                                   reference, deny.arn)  # fmt: skip
            FastBreaker(self._rn(ctx, "fast-breaker"), args, pulumi.ResourceOptions(parent=self))
        if not ctx.plan.breakers:  # organization, trigger: alarm, no account target
            return
        role = aws.iam.Role(
            self._rn(ctx, "breaker-role"),
            name=names["breaker_role"],
            path=K.IAM_PATH,
            assume_role_policy=ctx.account.apply(spend_breaker.breaker_role_trust),
            tags=managed_tags(),
            opts=self._opts(ctx.home),
        )
        for breaker in ctx.plan.breakers:
            grant = aws.iam.RolePolicy(
                self._rn(ctx, "breaker-grant", breaker.budget),
                role=role.id,
                policy=deny.arn.apply(
                    lambda arn, b=breaker: spend_breaker.breaker_role_policy(
                        self._spend_spec, b, arn
                    )
                ),
                opts=self._opts(ctx.home),
            )
            self._breaker(ctx, breaker, reference, role, grant)

    def _breaker(self, ctx: _Site, breaker: spend_plan.BreakerPlan, reference, role, grant) -> None:
        request = spend_breaker.breaker_request(
            self._spend_spec, breaker, account_id="", role_arn="", policy_ref="", topic_arn=""
        )
        threshold = request["ActionThreshold"]
        action = aws.budgets.BudgetAction(
            self._rn(ctx, "breaker", breaker.budget),
            account_id=ctx.account,
            budget_name=ctx.budgets[breaker.budget].name,
            action_type=request["ActionType"],
            approval_model=request["ApprovalModel"],
            notification_type=request["NotificationType"],
            execution_role_arn=role.arn,
            action_threshold=aws.budgets.BudgetActionActionThresholdArgs(
                action_threshold_type=threshold["ActionThresholdType"],
                action_threshold_value=threshold["ActionThresholdValue"],
            ),
            definition=_definition(request["Definition"], reference),
            subscribers=[
                aws.budgets.BudgetActionSubscriberArgs(
                    address=ctx.topic.arn if s["SubscriptionType"] == "SNS" else s["Address"],
                    subscription_type=s["SubscriptionType"],
                )
                for s in request["Subscribers"]
            ],
            tags=managed_tags(),
            opts=self._opts(ctx.home, depends_on=[grant]),
        )
        self._arns[f"{ctx.plan.key}/breaker/{breaker.budget}"] = action.arn


def _definition(definition: dict, reference) -> aws.budgets.BudgetActionDefinitionArgs:
    """The budget action definition, with the deployed policy id/ARN as ``reference``."""
    if "ScpActionDefinition" in definition:
        scp = definition["ScpActionDefinition"]
        return aws.budgets.BudgetActionDefinitionArgs(
            scp_action_definition=aws.budgets.BudgetActionDefinitionScpActionDefinitionArgs(
                policy_id=reference, target_ids=scp["TargetIds"]
            )
        )
    iam = definition["IamActionDefinition"]
    return aws.budgets.BudgetActionDefinitionArgs(
        iam_action_definition=aws.budgets.BudgetActionDefinitionIamActionDefinitionArgs(
            policy_arn=reference,
            groups=iam.get("Groups"),
            users=iam.get("Users"),
            roles=iam.get("Roles"),
        )
    )


def _tags(tags: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


def _addresses(subscribers: list[dict[str, str]], kind: str) -> list[str]:
    return [s["Address"] for s in subscribers if s["SubscriptionType"] == kind]
