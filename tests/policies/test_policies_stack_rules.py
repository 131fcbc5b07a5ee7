"""Happy and unhappy cases of the stack (guardrail-integrity and spend) rules."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from corral.spec import catalog

TAGS = {"corral:managed": "true"}
EMPTY = json.dumps({"Version": "2012-10-17", "Statement": []})
VCPU = {"Service": "EC2", "Type": "Resource", "Resource": "vCPU"}


def details(report, policy):
    return [d.detail for d in report.diagnostics if d.policy == policy]


def scp(name, content=EMPTY):
    return aws.organizations.Policy(name, name=name, content=content, tags=TAGS)


def alarm(name, region, actions=("arn:aws:sns:topic",), **extra):
    return aws.cloudwatch.MetricAlarm(
        name,
        region=region,
        namespace="AWS/Usage",
        metric_name="ResourceCount",
        statistic="Maximum",
        period=300,
        evaluation_periods=1,
        threshold=32,
        comparison_operator="GreaterThanThreshold",
        dimensions=VCPU,
        alarm_actions=list(actions),
        **extra,
    )


def test_stack_rules_skip_stacks_without_guardrails(analyze):
    report = analyze(
        lambda: aws.budgets.Budget(
            "b", budget_type="COST", limit_amount="1", limit_unit="USD", time_unit="MONTHLY"
        )
    )
    assert [d for d in report.diagnostics if d.policy.startswith(("guardrail", "budget"))] == []
    reasons = {n.policy: n.reason for n in report.not_applicable if n.urn == ""}
    assert reasons["budget-notifications"] == "the stack deploys no corral guardrails"


# ----------------------------------------------------------------- guardrail-document-size


def test_document_size(analyze):
    big = json.dumps(
        {
            "Statement": [
                {
                    "Sid": "X",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"s": ["x" * 6000]},
                }
            ]
        }
    )
    report = analyze(lambda: (scp("corral-ok"), scp("corral-big", big)))
    assert details(report, "guardrail-document-size") == [
        f"aws:organizations/policy:Policy 'corral-big' is {len(big)} characters, more than the "
        "5120 AWS allows for an SCP; the guardrail-document-size rule forbids this. Let corral's "
        "builders split the statements (use fewer or broader instance patterns) instead of "
        "editing the document."
    ]


def test_iam_policy_size_ignores_whitespace(analyze):
    spaced = json.dumps(
        {"Statement": [{"Sid": "A", "Effect": "Deny", "Action": "*", "Resource": "*"}]}, indent=1000
    )
    report = analyze(
        lambda: aws.iam.Policy("corral-guardrails", name="corral-guardrails", policy=spaced)
    )
    assert len(spaced) > 6144
    assert details(report, "guardrail-document-size") == []


# ----------------------------------------------------------------- guardrail-attachment-quota


def test_attachment_quota(analyze):
    def program(count):
        for i in range(count):
            p = scp(f"corral-{i}")
            aws.organizations.PolicyAttachment(f"a{i}", policy_id=p.id, target_id="r-a1b2")
        aws.organizations.PolicyAttachment("full", policy_id="p-FullAWSAccess", target_id="r-a1b2")

    assert details(analyze(lambda: program(4)), "guardrail-attachment-quota") == []
    assert details(analyze(lambda: program(5)), "guardrail-attachment-quota") == [
        "Target r-a1b2 gets 5 SCPs from this stack (a0, a1, a2, a3, a4) and keeps FullAWSAccess, "
        "6 in all, more than the 5 AWS allows; the guardrail-attachment-quota rule forbids this. "
        "Use fewer or broader instance patterns so corral packs its statements into fewer "
        "documents, and keep FullAWSAccess attached."
    ]


def test_tag_policies_do_not_count_against_the_scp_quota(analyze):
    def program():
        scp("corral-root")
        for i in range(5):
            tag = aws.organizations.Policy(f"tags{i}", content="{}", type="TAG_POLICY")
            aws.organizations.PolicyAttachment(f"t{i}", policy_id=tag.id, target_id="r-a1b2")

    assert details(analyze(program), "guardrail-attachment-quota") == []


def test_iam_managed_policy_quota(analyze):
    def program():
        aws.iam.Policy("corral-guardrails", name="corral-guardrails", policy=EMPTY)
        for i in range(11):
            aws.iam.RolePolicyAttachment(f"r{i}", role="AdminRole", policy_arn=f"arn:p{i}")

    assert details(analyze(program), "guardrail-attachment-quota") == [
        "IAM role AdminRole gets 11 managed policies from this stack, more than the 10 AWS "
        "allows; the guardrail-attachment-quota rule forbids this. Use fewer or broader instance "
        "patterns so corral packs its statements into fewer documents, and keep FullAWSAccess "
        "attached."
    ]


# ----------------------------------------------------------------- guardrail-full-aws-access


def test_full_aws_access(analyze):
    def program(types, feature_set="ALL"):
        scp("corral-root")
        aws.organizations.Organization("org", feature_set=feature_set, enabled_policy_types=types)

    ok = analyze(lambda: program(["SERVICE_CONTROL_POLICY"]))
    assert details(ok, "guardrail-full-aws-access") == []
    fix = (
        "Keep feature set ALL and SERVICE_CONTROL_POLICY in enabledPolicyTypes, and leave "
        "FullAWSAccess attached to every target corral attaches SCPs to."
    )
    assert details(analyze(lambda: program(["TAG_POLICY"])), "guardrail-full-aws-access") == [
        "aws:organizations/organization:Organization 'org' leaves SERVICE_CONTROL_POLICY out of "
        "enabledPolicyTypes, which detaches every SCP, FullAWSAccess and corral's included; the "
        f"guardrail-full-aws-access rule forbids this. {fix}"
    ]
    billing = analyze(lambda: program([], "CONSOLIDATED_BILLING"))
    assert details(billing, "guardrail-full-aws-access") == [
        "aws:organizations/organization:Organization 'org' sets featureSet CONSOLIDATED_BILLING, "
        "under which SCPs, FullAWSAccess included, do not apply; the guardrail-full-aws-access "
        f"rule forbids this. {fix}"
    ]


# ----------------------------------------------------------------- guardrail-exempt-principals


def exempting(pattern):
    return json.dumps(
        {
            "Statement": [
                {
                    "Sid": "CorralDeny",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"ArnNotLike": {"aws:PrincipalARN": [pattern]}},
                }
            ]
        }
    )


def test_exempt_principals(analyze):
    ok = analyze(lambda: scp("corral-a", exempting("arn:aws:iam::*:role/corral-break-glass")))
    assert details(ok, "guardrail-exempt-principals") == []
    bad = analyze(lambda: scp("corral-a", exempting("*")))
    assert details(bad, "guardrail-exempt-principals") == [
        "aws:organizations/policy:Policy 'corral-a' exempts '*' from statement CorralDeny, which "
        "matches every principal, so the guardrail binds nobody; the guardrail-exempt-principals "
        "rule forbids this. Exempt only the named break-glass role in corral:exemptPrincipals, "
        "e.g. arn:aws:iam::*:role/corral-break-glass."
    ]


# ----------------------------------------------------------------- budget-notifications


def budget(name, **extra):
    return aws.budgets.Budget(
        name, budget_type="COST", limit_amount="100", limit_unit="USD", time_unit="MONTHLY", **extra
    )


NOTIFY = [
    {
        "comparison_operator": "GREATER_THAN",
        "threshold": 80,
        "threshold_type": "PERCENTAGE",
        "notification_type": "ACTUAL",
        "subscriber_sns_topic_arns": ["arn:aws:sns:us-east-1:111122223333:alerts"],
    }
]


def test_budget_notifications(analyze):
    def program():
        scp("corral-root")
        budget(
            "member-a",
            cost_filters=[{"name": "LinkedAccount", "values": ["111122223333"]}],
            notifications=NOTIFY,
        )
        budget("member-b", cost_filters=[{"name": "LinkedAccount", "values": ["444455556666"]}])
        budget("member-b-2", account_id="444455556666")

    assert details(analyze(program), "budget-notifications") == [
        "Account 444455556666 has budgets ('member-b', 'member-b-2') but none has a notification "
        "with a subscriber, so overspending alerts nobody; the budget-notifications rule forbids "
        "this. Add a notification with subscriberEmailAddresses or subscriberSnsTopicArns to one "
        "of the account's budgets."
    ]


def test_budgets_required(analyze):
    report = analyze(
        lambda: scp("corral-root"), budget_notifications={"namePrefix": "corral", "required": True}
    )
    assert details(report, "budget-notifications") == [
        "The stack deploys corral guardrails but no budget; the budget-notifications rule "
        "requires one per account. Add an aws.budgets.Budget with a notification. Add a "
        "notification with subscriberEmailAddresses or subscriberSnsTopicArns to one of the "
        "account's budgets."
    ]


# ----------------------------------------------------------------- vcpu-alarms


def test_vcpu_alarms_in_every_region_pass(analyze):
    def program():
        scp("corral-root")
        for region in catalog.regions("aws"):
            alarm(f"vcpu-{region}", region)

    assert details(analyze(program), "vcpu-alarms") == []


ALARM_FIX = (
    "Add an AWS/Usage ResourceCount alarm (Service=EC2, Type=Resource, Resource=vCPU) in every "
    "region, with an alarm action or an EventBridge rule forwarding its state changes."
)


def test_vcpu_alarms_missing_regions_and_actions(analyze):
    regions = {"namePrefix": "corral", "regions": ["eu-west-1", "us-east-1", "us-west-2"]}

    def program():
        scp("corral-root")
        alarm("home", "us-east-1")
        alarm("mute", "eu-west-1", actions=())
        aws.cloudwatch.MetricAlarm(
            "query",
            region="us-west-2",
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=1,
            threshold=32,
            alarm_actions=["arn:aws:sns:topic"],
            metric_queries=[
                {
                    "id": "m",
                    "return_data": True,
                    "metric": {
                        "namespace": "AWS/Usage",
                        "metric_name": "ResourceCount",
                        "period": 300,
                        "stat": "Maximum",
                        "dimensions": VCPU,
                    },
                }
            ],
        )

    assert details(analyze(program, vcpu_alarms=regions), "vcpu-alarms") == [
        "The deploying account has vCPU alarms that reach nobody in 1 region (eu-west-1), so a "
        f"launch there goes unnoticed; the vcpu-alarms rule forbids this. {ALARM_FIX}"
    ]


def test_forwarded_alarms_count_per_member_account(analyze):
    regions = {"namePrefix": "corral", "regions": ["eu-west-1", "us-east-1"], "required": True}
    pattern = json.dumps(
        {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}
    )

    def program():
        scp("corral-root")
        role = [{"role_arn": "arn:aws:iam::111122223333:role/corral-member"}]
        for region in ("eu-west-1", "us-east-1"):
            member = aws.Provider(f"member-{region}", region=region, assume_roles=role)
            opts = pulumi.ResourceOptions(provider=member)
            aws.cloudwatch.MetricAlarm(
                f"member-vcpu-{region}",
                namespace="AWS/Usage",
                metric_name="ResourceCount",
                statistic="Maximum",
                period=300,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="GreaterThanThreshold",
                dimensions=VCPU,
                opts=opts,
            )
        aws.cloudwatch.EventRule(
            "forward-eu",
            event_pattern=pattern,
            opts=pulumi.ResourceOptions(
                provider=aws.Provider("member-fwd", region="eu-west-1", assume_roles=role)
            ),
        )

    assert details(analyze(program, vcpu_alarms=regions), "vcpu-alarms") == [
        "Account 111122223333 has vCPU alarms that reach nobody in 1 region (us-east-1), so a "
        f"launch there goes unnoticed; the vcpu-alarms rule forbids this. {ALARM_FIX}"
    ]


def test_vcpu_alarms_required(analyze):
    regions = {"namePrefix": "corral", "regions": ["us-east-1"], "required": True}
    assert details(analyze(lambda: scp("corral-root"), vcpu_alarms=regions), "vcpu-alarms") == [
        "The deploying account has no vCPU alarm in 1 region (us-east-1), so a launch there goes "
        f"unnoticed; the vcpu-alarms rule forbids this. {ALARM_FIX}"
    ]


def test_unknown_alarm_region_is_a_precise_advisory(analyze):
    def program():
        scp("corral-root")
        topic = aws.sns.Topic("t")
        alarm("dyn", topic.arn)

    [diag] = [d for d in analyze(program).diagnostics if d.policy == "vcpu-alarms"]
    assert diag.enforcement == "advisory"
    assert diag.message.endswith(
        "string value at .region can't be known during preview "
        "(in aws:cloudwatch/metricAlarm:MetricAlarm 'dyn')"
    )
