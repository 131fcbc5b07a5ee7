"""SpendGuardrails under pulumi.runtime.set_mocks, in account and organization mode.

Every budget, notification, subscriber, topic policy, alarm (one per region per On-Demand
and Spot class, Fargate On-Demand and Spot, Lambda), forwarding rule, circuit breaker and
anomaly monitor is asserted against the parameters corral.build.spend_requests and
corral.build.spend_breaker build.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest

from components.spend import SPEND_GUARDRAILS, SpendGuardrails, SpendGuardrailsArgs
from corral.build import spend_breaker, spend_plan, spend_requests
from corral.spec import catalog, quotas
from corral.spec import spend as spend_spec

DEPLOYER = "999999999999"
MEMBERS = ("111111111111", "222222222222")
EMAILS = ["ops@example.com", "finance@example.com"]
HOOK = "https://hooks.example.com/aws"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
BUDGET = "aws:budgets/budget:Budget"
ACTION = "aws:budgets/budgetAction:BudgetAction"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
PROVIDER = "pulumi:providers:aws"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SCP = "aws:organizations/policy:Policy"
IAM_POLICY = "aws:iam/policy:Policy"
MONITOR = "aws:costexplorer/anomalyMonitor:AnomalyMonitor"
ANOMALY_SUBSCRIPTION = "aws:costexplorer/anomalySubscription:AnomalySubscription"
REGIONS = catalog.regions("aws")
CLASSES = quotas.vcpu_classes()
SPOT_CLASSES = quotas.spot_classes()


@dataclass
class Made:
    """One resource the mocked engine created."""

    type: str
    name: str
    inputs: dict[str, Any]
    provider: str  # logical name of its explicit provider ("" for none)
    id: str
    state: dict[str, Any]

    @property
    def site(self) -> str:
        """The site part of the provider's name: ``spend-<site>``."""
        return self.provider.split("-provider-")[0]


@dataclass
class SpendMocks(pulumi.runtime.Mocks):
    """Records resources with their provider; gives topics and others AWS-shaped ARNs."""

    made: list[Made] = field(default_factory=list)
    providers: dict[str, Made] = field(default_factory=dict)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        """Create a resource, remembering which provider it was created through."""
        token = hashlib.sha256(args.name.encode()).hexdigest()[:8]
        provider = self.providers.get((args.provider or "").rsplit("::", 1)[-1])
        state = dict(args.inputs)
        rid = f"{args.name}-{token}"
        if args.typ == TOPIC:
            region = provider.inputs["region"]
            state["arn"] = f"arn:aws:sns:{region}:{self.account(provider)}:{args.inputs['name']}"
        elif args.typ == SCP:
            rid = f"p-{token}"
            state["arn"] = (
                f"arn:aws:organizations::{DEPLOYER}:policy/o-x/service_control_policy/{rid}"
            )
        else:
            state.setdefault("arn", f"arn:aws:mock:::{args.typ}/{rid}")
        where = provider.name if provider else ""
        made = Made(args.typ, args.name, dict(args.inputs), where, rid, state)
        self.made.append(made)
        if args.typ == PROVIDER:
            self.providers[rid] = made
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        """Only getCallerIdentity is expected: the deploying account."""
        assert args.token == "aws:index/getCallerIdentity:getCallerIdentity", args.token
        return {
            "accountId": DEPLOYER,
            "arn": f"arn:aws:iam::{DEPLOYER}:user/ci",
            "userId": "AIDA",
        }

    def account(self, provider: Made) -> str:
        """The account a provider acts in: the assumed role's, else the deployer's."""
        roles = assumed(provider)
        return roles[0].split(":")[4] if roles else DEPLOYER

    def of(self, typ: str) -> list[Made]:
        """Created resources of one type."""
        return [m for m in self.made if m.type == typ]

    def region(self, made: Made) -> str:
        """The region of the provider a resource was created through."""
        return next(p.inputs["region"] for p in self.providers.values() if p.name == made.provider)


def assumed(provider: Made) -> list[str]:
    """Role ARNs a provider assumes (provider inputs reach the engine as JSON text)."""
    roles = provider.inputs.get("assumeRoles") or "[]"
    return [r["roleArn"] for r in (json.loads(roles) if isinstance(roles, str) else roles)]


@pytest.fixture
def mocks():
    pulumi.runtime.reset_options(project="corral", stack="test", preview=False)
    pulumi.runtime.set_all_config({}, [])
    recorder = SpendMocks()
    pulumi.runtime.set_mocks(recorder, project="corral", stack="test", preview=False)
    return recorder


def deploy(spend: spend_spec.SpendSpec) -> dict:
    box: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        component = SpendGuardrails("spend", SpendGuardrailsArgs(spend))
        return component.ids.apply(lambda ids: box.update(ids=ids))

    program()
    return box["ids"]


def account_spend(**values) -> spend_spec.SpendSpec:
    base = {
        "notifications": {"emails": EMAILS, "https": [HOOK]},
        "budgets": {"limit": 200},
        "circuitBreaker": {"enabled": True, "threshold": 150},
    }
    return spend_spec.parse(
        {**base, **values}, mode="account", partition="aws", region="eu-west-1", account_ids=(),
        exempt_principals=["arn:aws:iam::*:role/corral-break-glass"],
        principals={"groups": ["developers"], "users": ["ci"], "roles": []},
    )  # fmt: skip


def org_spend(deployment: str) -> spend_spec.SpendSpec:
    values: dict[str, Any] = {
        "notifications": {"emails": EMAILS},
        "budgets": {"limit": 300, "deployment": deployment},
        "alarms": {"vcpu": {"thresholds": {"Standard": 128, "G": 8}}},
    }
    if deployment == "management":
        values["circuitBreaker"] = {"enabled": True, "approval": "manual"}
    return spend_spec.parse(values, mode="organization", partition="aws", region="us-east-1",
                   account_ids=MEMBERS)  # fmt: skip


def policy(made: Made) -> dict:
    return json.loads(made.inputs["policy"])


def test_account_mode_topic_policy_and_subscriptions(mocks):
    spend = account_spend()
    ids = deploy(spend)
    [component] = mocks.of(SPEND_GUARDRAILS)
    assert component.name == "spend"
    [topic] = mocks.of(TOPIC)
    assert topic.inputs == {"name": "corral-spend-alerts", "tags": {"corral:managed": "true"}}
    assert mocks.region(topic) == "eu-west-1"
    arn = f"arn:aws:sns:eu-west-1:{DEPLOYER}:corral-spend-alerts"
    [topic_policy] = mocks.of(TOPIC_POLICY)
    assert topic_policy.inputs["arn"] == arn
    document = policy(topic_policy)
    assert document == json.loads(
        spend_requests.topic_policy(spend, spend_plan.plan(spend)[0], arn, DEPLOYER)
    )
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert sorted(by_sid) == [
        "CorralBudgetsPublish",
        "CorralCloudWatchPublish",
        "CorralEventBridgePublish",
    ]
    assert by_sid["CorralBudgetsPublish"]["Principal"] == {"Service": "budgets.amazonaws.com"}
    for statement in document["Statement"]:
        assert statement["Action"] == "SNS:Publish"
        assert statement["Resource"] == arn
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": DEPLOYER}
    assert by_sid["CorralEventBridgePublish"]["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:events:eu-west-1:{DEPLOYER}:rule/corral-spend-deliver"
    }
    subs = sorted(
        (s.inputs["protocol"], s.inputs["endpoint"], s.inputs["topic"])
        for s in mocks.of(SUBSCRIPTION)
    )
    assert subs == [("email", e, arn) for e in sorted(EMAILS)] + [("https", HOOK, arn)]
    assert ids["account/topic/corral-spend-alerts"] == arn


def test_account_mode_budget_notifications_and_subscribers(mocks):
    deploy(account_spend())
    arn = f"arn:aws:sns:eu-west-1:{DEPLOYER}:corral-spend-alerts"
    [budget] = mocks.of(BUDGET)
    notes = budget.inputs.pop("notifications")
    assert budget.inputs == {
        "accountId": DEPLOYER,
        "name": "corral-monthly",
        "budgetType": "COST",
        "limitAmount": "200.00",
        "limitUnit": "USD",
        "timeUnit": "MONTHLY",
        "tags": {"corral:managed": "true"},
    }
    expected = [("ACTUAL", 50.0), ("ACTUAL", 80.0), ("ACTUAL", 100.0), ("FORECASTED", 100.0)]
    assert [(n["notificationType"], n["threshold"]) for n in notes] == expected
    for note in notes:
        assert note["comparisonOperator"] == "GREATER_THAN"
        assert note["thresholdType"] == "PERCENTAGE"
        assert note["subscriberEmailAddresses"] == EMAILS
        assert note["subscriberSnsTopicArns"] == [arn]


def ec2_on_demand(alarms: list[Made]) -> list[Made]:
    return [a for a in alarms if a.inputs["dimensions"].get("Class", "").endswith("/OnDemand")
            and a.inputs["dimensions"]["Service"] == "EC2"]  # fmt: skip


def test_account_mode_alarms_one_per_region_per_class(mocks):
    spend = account_spend()
    deploy(spend)
    alarms = mocks.of(ALARM)
    vcpu = ec2_on_demand(alarms)
    assert len(vcpu) == len(REGIONS) * len(CLASSES) == 360
    seen = Counter((mocks.region(a), a.inputs["dimensions"]["Class"]) for a in vcpu)
    assert set(seen.values()) == {1}
    assert set(seen) == {(r, f"{c}/OnDemand") for r in REGIONS for c in CLASSES}
    arn = f"arn:aws:sns:eu-west-1:{DEPLOYER}:corral-spend-alerts"
    for alarm in vcpu:
        region = mocks.region(alarm)
        cls = alarm.inputs["dimensions"]["Class"].split("/")[0]
        assert alarm.inputs["name"] == f"corral-spend-vcpu-{region}-{cls.lower()}"
        assert alarm.inputs["metricName"] == "ResourceCount"
        assert alarm.inputs["dimensions"] == {
            "Class": f"{cls}/OnDemand", "Resource": "vCPU", "Service": "EC2", "Type": "Resource"
        }  # fmt: skip
        assert alarm.inputs["treatMissingData"] == "notBreaching"
        assert alarm.inputs["comparisonOperator"] == "GreaterThanThreshold"
        assert alarm.inputs["threshold"] == (64.0 if cls == "Standard" else 0.0)
        assert alarm.inputs["statistic"] == "Maximum"
        assert alarm.inputs["period"] == 300
        assert alarm.inputs["alarmActions"] == ([arn] if region == "eu-west-1" else [])
    [billing] = [a for a in alarms if a.inputs["namespace"] == "AWS/Billing"]
    assert mocks.region(billing) == "us-east-1"
    assert billing.inputs["metricName"] == "EstimatedCharges"
    assert billing.inputs["dimensions"] == {"Currency": "USD"}
    assert billing.inputs["threshold"] == 200.0
    assert billing.inputs["alarmActions"] == []  # forwarded: the topic is in eu-west-1
    assert billing.inputs["alarmDescription"] == (
        "corral: estimated charges of this account this month passed 200 USD; "
        "check the Billing console for unexpected usage."
    )


def test_alarms_outside_home_are_forwarded_to_the_topic(mocks):
    spend = account_spend()
    deploy(spend)
    rules = mocks.of(RULE)
    forward = [r for r in rules if r.inputs["name"] == "corral-spend-forward"]
    assert sorted(mocks.region(r) for r in forward) == [r for r in REGIONS if r != "eu-west-1"]
    [deliver] = [r for r in rules if r.inputs["name"] == "corral-spend-deliver"]
    assert mocks.region(deliver) == "eu-west-1"
    assert json.loads(deliver.inputs["eventPattern"])["region"] == [{"anything-but": ["eu-west-1"]}]
    targets = mocks.of(TARGET)
    bus = f"arn:aws:events:eu-west-1:{DEPLOYER}:event-bus/default"
    assert Counter(t.inputs["arn"] for t in targets) == {
        bus: len(REGIONS) - 1,
        f"arn:aws:sns:eu-west-1:{DEPLOYER}:corral-spend-alerts": 1,
    }
    [forward_role] = [r for r in mocks.of(ROLE) if r.inputs["name"] == "corral-spend-forwarder"]
    trust = json.loads(forward_role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    grants = [policy(p) for p in mocks.of(ROLE_POLICY)]
    assert {"Sid": "CorralForwardSpendAlarms", "Effect": "Allow", "Action": "events:PutEvents",
            "Resource": bus} in [g["Statement"][0] for g in grants]  # fmt: skip


def test_account_mode_circuit_breaker_applies_an_iam_policy(mocks):
    spend = account_spend()
    deploy(spend)
    [deny] = mocks.of(IAM_POLICY)
    assert deny.inputs["name"] == "corral-circuit-breaker"
    assert deny.inputs["policy"] == spend_breaker.deny_launch_policy(spend)
    statement = policy(deny)["Statement"][0]
    assert "ec2:RunInstances" in statement["Action"]
    assert statement["Condition"] == {
        "ArnNotLike": {"aws:PrincipalARN": ["arn:aws:iam::*:role/corral-break-glass"]}
    }
    [action] = mocks.of(ACTION)
    assert action.inputs["actionType"] == "APPLY_IAM_POLICY"
    assert action.inputs["budgetName"] == "corral-monthly"
    assert action.inputs["notificationType"] == "ACTUAL"
    assert action.inputs["approvalModel"] == "AUTOMATIC"
    assert action.inputs["actionThreshold"] == {
        "actionThresholdType": "PERCENTAGE", "actionThresholdValue": 150.0
    }  # fmt: skip
    assert action.inputs["definition"] == {
        "iamActionDefinition": {"policyArn": deny.state["arn"], "groups": ["developers"],
                                "users": ["ci"]}
    }  # fmt: skip
    [role] = [r for r in mocks.of(ROLE) if r.inputs["name"] == "corral-circuit-breaker"]
    assert action.inputs["executionRoleArn"] == role.state["arn"]
    [grant] = [g for g in mocks.of(ROLE_POLICY) if g.name.endswith("breaker-grant-corral-monthly")]
    assert policy(grant)["Statement"][0] == {
        "Sid": "CorralApplyCircuitBreaker",
        "Effect": "Allow",
        "Action": ["iam:AttachGroupPolicy", "iam:AttachUserPolicy", "iam:DetachGroupPolicy",
                   "iam:DetachUserPolicy"],
        "Resource": ["arn:aws:iam::*:group/developers", "arn:aws:iam::*:user/ci"],
        "Condition": {"ArnEquals": {"iam:PolicyArn": deny.state["arn"]}},
    }  # fmt: skip
    subscribers = {(s["subscriptionType"], s["address"]) for s in action.inputs["subscribers"]}
    arn = f"arn:aws:sns:eu-west-1:{DEPLOYER}:corral-spend-alerts"
    assert subscribers == {("EMAIL", e) for e in EMAILS} | {("SNS", arn)}


def test_every_resource_is_parented_to_the_component_through_explicit_providers(mocks):
    deploy(account_spend())
    providers = mocks.of(PROVIDER)
    assert sorted(p.inputs["region"] for p in providers) == sorted(REGIONS)
    for made in mocks.made:
        if made.type not in (PROVIDER, SPEND_GUARDRAILS):
            assert made.provider, f"{made.name} uses the default provider"


@pytest.mark.slow
def test_organization_member_deployment_budgets_inside_each_account(mocks):
    spend = org_spend("member")
    deploy(spend)
    roles = {arn for p in mocks.of(PROVIDER) for arn in assumed(p)}
    assert roles == {f"arn:aws:iam::{m}:role/OrganizationAccountAccessRole" for m in MEMBERS}
    budgets = {(b.inputs["name"], b.site, b.inputs["accountId"]) for b in mocks.of(BUDGET)}
    assert budgets == {
        ("corral-organization", "spend-management", DEPLOYER),
        ("corral-monthly", f"spend-{MEMBERS[0]}", MEMBERS[0]),
        ("corral-monthly", f"spend-{MEMBERS[1]}", MEMBERS[1]),
    }
    for budget in mocks.of(BUDGET):
        assert "costFilters" not in budget.inputs
    [org] = [b for b in mocks.of(BUDGET) if b.inputs["name"] == "corral-organization"]
    assert org.inputs["limitAmount"] == "600.00"
    assert len(mocks.of(TOPIC)) == 3
    assert mocks.of(ACTION) == []


@pytest.mark.slow
def test_organization_management_deployment_linked_account_budgets_and_scp_breaker(mocks):
    spend = org_spend("management")
    deploy(spend)
    budgets = {b.inputs["name"]: b for b in mocks.of(BUDGET)}
    assert sorted(budgets) == ["corral-111111111111", "corral-222222222222", "corral-organization"]
    for member in MEMBERS:
        budget = budgets[f"corral-{member}"]
        assert budget.provider == "spend-management-provider-us-east-1"
        assert budget.inputs["costFilters"] == [{"name": "LinkedAccount", "values": [member]}]
        assert budget.inputs["accountId"] == DEPLOYER
    [scp] = mocks.of(SCP)
    assert scp.inputs["type"] == "SERVICE_CONTROL_POLICY"
    assert scp.inputs["content"] == spend_breaker.deny_launch_policy(spend)
    actions = sorted(mocks.of(ACTION), key=lambda a: a.inputs["budgetName"])
    assert scp.id.startswith("p-")
    assert [a.inputs["definition"] for a in actions] == [
        {"scpActionDefinition": {"policyId": scp.id, "targetIds": [m]}} for m in MEMBERS
    ]
    assert [a.inputs["budgetName"] for a in actions] == [f"corral-{m}" for m in MEMBERS]
    assert {a.inputs["approvalModel"] for a in actions} == {"MANUAL"}
    assert {a.inputs["actionType"] for a in actions} == {"APPLY_SCP_POLICY"}


@pytest.mark.slow
def test_organization_billing_alarms_use_linked_accounts_and_vcpu_alarms_every_account(mocks):
    deploy(org_spend("management"))
    alarms = mocks.of(ALARM)
    billing = {a.inputs["name"]: a for a in alarms if a.inputs["namespace"] == "AWS/Billing"}
    assert billing["corral-spend-billing"].inputs["dimensions"] == {"Currency": "USD"}
    assert billing["corral-spend-billing"].inputs["threshold"] == 600.0
    for member in MEMBERS:
        alarm = billing[f"corral-spend-billing-{member}"]
        assert alarm.inputs["dimensions"] == {"Currency": "USD", "LinkedAccount": member}
        assert alarm.provider == "spend-management-provider-us-east-1"
        assert alarm.inputs["alarmActions"] == [
            f"arn:aws:sns:us-east-1:{DEPLOYER}:corral-spend-alerts"
        ]
    vcpu = ec2_on_demand(alarms)
    assert len(vcpu) == 3 * len(REGIONS) * len(CLASSES)
    per_site = Counter(a.site for a in vcpu)
    assert per_site == {f"spend-{k}": 360 for k in ("management", *MEMBERS)}
    thresholds = {a.inputs["dimensions"]["Class"]: a.inputs["threshold"] for a in vcpu}
    assert thresholds["Standard/OnDemand"] == 128.0
    assert thresholds["G/OnDemand"] == 8.0
    assert thresholds["P/OnDemand"] == 0.0


def test_spend_detection_off_creates_only_the_component(mocks):
    spend = spend_spec.parse(
        {}, mode="account", partition="aws", region="us-east-1", account_ids=()
    )
    assert deploy(spend) == {}
    assert [m.type for m in mocks.made] == [SPEND_GUARDRAILS]


def by_kind(alarms: list[Made]) -> dict[str, list[Made]]:
    """Alarms by what they watch: EC2 On-Demand/Spot, Fargate, Lambda, billing."""
    found: dict[str, list[Made]] = {}
    for alarm in alarms:
        dims = alarm.inputs["dimensions"] or {}
        if alarm.inputs["namespace"] == "AWS/Lambda":
            kind = "lambda"
        elif alarm.inputs["namespace"] == "AWS/Billing":
            kind = "billing"
        else:
            kind = f"{dims['Service']}/{dims['Class'].split('/')[1]}"
        found.setdefault(kind, []).append(alarm)
    return found


def test_account_mode_spot_fargate_and_lambda_alarms_in_every_region(mocks):
    spend = account_spend()
    deploy(spend)
    found = by_kind(mocks.of(ALARM))
    assert {k: len(v) for k, v in found.items()} == {
        "billing": 1,
        "EC2/OnDemand": len(REGIONS) * len(CLASSES),
        "EC2/Spot": len(REGIONS) * len(SPOT_CLASSES),
        "Fargate/OnDemand": len(REGIONS),
        "Fargate/Spot": len(REGIONS),
        "lambda": len(REGIONS),
    }
    spot = Counter((mocks.region(a), a.inputs["dimensions"]["Class"]) for a in found["EC2/Spot"])
    assert set(spot) == {(r, f"{c}/Spot") for r in REGIONS for c in SPOT_CLASSES}
    assert set(spot.values()) == {1}
    for kind in ("Fargate/OnDemand", "Fargate/Spot", "lambda"):
        assert sorted(mocks.region(a) for a in found[kind]) == sorted(REGIONS), kind
    [site] = spend_plan.plan(spend)
    arn = f"arn:aws:sns:eu-west-1:{DEPLOYER}:corral-spend-alerts"
    planned = {a.name: spend_requests.alarm_request(a, arn) for a in site.alarms}
    for alarm in mocks.of(ALARM):
        request = planned[alarm.inputs["name"]]
        assert alarm.inputs["namespace"] == request["Namespace"]
        assert alarm.inputs["metricName"] == request["MetricName"]
        assert alarm.inputs["dimensions"] == {d["Name"]: d["Value"] for d in request["Dimensions"]}
        assert alarm.inputs["threshold"] == request["Threshold"]
        assert alarm.inputs["period"] == request["Period"]
        assert alarm.inputs["alarmDescription"] == request["AlarmDescription"]
        assert alarm.inputs["alarmActions"] == request["AlarmActions"]
        assert alarm.provider == f"spend-account-provider-{mocks.region(alarm)}"
    lam = next(a for a in found["lambda"] if mocks.region(a) == "eu-west-1")
    assert lam.inputs["name"] == "corral-spend-lambda-eu-west-1"
    assert lam.inputs["metricName"] == "ConcurrentExecutions"
    assert lam.inputs["alarmActions"] == [arn]  # home region: straight to the topic
    assert {a.inputs["threshold"] for a in found["EC2/Spot"]} == {0.0}  # instances.spot false


def test_anomaly_detection_monitor_and_subscription_to_the_topic(mocks):
    spend = account_spend(anomalyDetection={"enabled": True, "threshold": 75})
    ids = deploy(spend)
    [monitor] = mocks.of(MONITOR)
    assert monitor.inputs == {
        "name": "corral-spend-anomalies",
        "monitorType": "DIMENSIONAL",
        "monitorDimension": "SERVICE",
        "tags": {"corral:managed": "true"},
    }
    [subscription] = mocks.of(ANOMALY_SUBSCRIPTION)
    arn = f"arn:aws:sns:eu-west-1:{DEPLOYER}:corral-spend-alerts"
    [site] = spend_plan.plan(spend)
    want = spend_requests.anomaly_subscription_request(site.anomaly, monitor.state["arn"], arn)
    body = want["AnomalySubscription"]
    assert subscription.inputs == {
        "name": body["SubscriptionName"],
        "frequency": "IMMEDIATE",
        "monitorArnLists": body["MonitorArnList"],
        "subscribers": [{"type": "SNS", "address": arn}],
        "thresholdExpression": {
            "dimension": {
                "key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
                "matchOptions": ["GREATER_THAN_OR_EQUAL"],
                "values": ["75"],
            }
        },
        "tags": {"corral:managed": "true"},
    }
    [topic_policy] = mocks.of(TOPIC_POLICY)
    sids = [s["Sid"] for s in policy(topic_policy)["Statement"]]
    assert "CorralCostAnomalyPublish" in sids
    assert ids["account/anomaly/corral-spend-anomalies"] == monitor.state["arn"]
    assert (
        ids["account/anomaly-subscription/corral-spend-anomaly-alerts"]
        == (subscription.state["arn"])
    )


def test_anomaly_detection_is_off_by_default(mocks):
    deploy(account_spend())
    assert mocks.of(MONITOR) == mocks.of(ANOMALY_SUBSCRIPTION) == []


@pytest.mark.slow
def test_organization_every_account_gets_spot_fargate_and_lambda_alarms(mocks):
    deploy(org_spend("member"))
    found = by_kind(mocks.of(ALARM))
    sites = ("management", *MEMBERS)
    for kind, per_region in (("EC2/Spot", len(SPOT_CLASSES)), ("Fargate/OnDemand", 1),
                             ("Fargate/Spot", 1), ("lambda", 1)):  # fmt: skip
        per_site = Counter(a.site for a in found[kind])
        assert per_site == {f"spend-{k}": len(REGIONS) * per_region for k in sites}, kind
    assert mocks.of(MONITOR) == []
