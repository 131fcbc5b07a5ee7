"""Spend detection: parsing and validation (corral.spec.spend and spend_detectors), quota
classes, the plan (corral.build.spend_plan), the request builders (corral.build.spend_requests
and spend_breaker) and the manifest and render views (corral.build.spend_manifest)."""

from __future__ import annotations

import json

import pytest

from corral.build import spend_breaker, spend_manifest, spend_plan, spend_requests
from corral.spec import catalog, quotas
from corral.spec import keys as K
from corral.spec import spend as spend_spec
from corral.spec.readers import SpecError

EMAIL = {"emails": ["ops@example.com"]}
MEMBERS = ("111111111111", "222222222222")


def parse(values, mode="account", region="us-east-1", accounts=(), **extra):
    return spend_spec.parse(
        values, mode=mode, partition="aws", region=region, account_ids=accounts, **extra
    )


def error(values, **kwargs) -> str:
    with pytest.raises(SpecError) as caught:
        parse(values, **kwargs)
    return str(caught.value)


# --------------------------------------------------------------------------- keys and defaults


def test_reserved_keys_are_the_ones_the_spec_reserves():
    assert K.SPEND_KEYS == (
        K.BUDGETS, K.ALARMS, K.NOTIFICATIONS, K.CIRCUIT_BREAKER, K.ANOMALY_DETECTION
    )  # fmt: skip
    assert K.SPEND_KEYS == (
        "budgets", "alarms", "notifications", "circuitBreaker", "anomalyDetection"
    )  # fmt: skip
    assert K.ALARM_KEYS == ("billing", "vcpu", "spot", "fargate", "lambda")
    assert not set(K.SPEND_KEYS) & set(K.TOP_LEVEL_KEYS)


def test_no_spend_key_means_spend_detection_is_off():
    spend = parse({})
    assert spend.enabled is False
    assert spend_plan.plan(spend) == ()
    assert spend_manifest.manifest_entries(spend)["enabled"] is False


def test_defaults_with_only_an_email():
    spend = parse({"notifications": EMAIL})
    assert spend.enabled and spend.budgets and spend.billing and spend.vcpu
    assert spend.limit == 100.0
    assert [(n.kind, n.threshold) for n in spend.notifications] == [
        ("ACTUAL", 50.0), ("ACTUAL", 80.0), ("ACTUAL", 100.0), ("FORECASTED", 100.0)
    ]  # fmt: skip
    assert dict(spend.vcpu_thresholds)["Standard"] == 64
    assert dict(spend.vcpu_thresholds)["P"] == 0
    assert spend.breaker is False
    # Nothing beyond EC2 On-Demand is allowed by default, so any such use alarms.
    assert spend.spot and spend.fargate and spend.lambda_alarms
    assert spend.spot_thresholds_for(None) == tuple((c, 0) for c in quotas.spot_classes())
    assert spend.fargate_thresholds == (("OnDemand", 0), ("Spot", 0))
    assert spend.lambda_threshold == 0
    assert (spend.spot_period, spend.fargate_period, spend.lambda_period) == (300, 300, 300)
    assert spend.anomaly is False and spend.anomaly_threshold == 100.0


def test_values_may_be_json_text_as_pulumi_hands_them_to_programs():
    spend = parse(
        {
            "notifications": json.dumps(EMAIL),
            "budgets": json.dumps(
                {"limit": 250, "notifications": [{"type": "actual", "threshold": 90}]}
            ),
        }
    )
    assert spend.limit == 250.0
    assert spend.notifications == (spend_spec.Notification("ACTUAL", 90.0),)


# --------------------------------------------------------------------------- validation (issue)


def test_negative_limit_names_the_key():
    message = error({"notifications": EMAIL, "budgets": {"limit": -5}})
    assert message == "corral:budgets.limit: -5 is not more than 0; set a positive amount of USD."


def test_six_notifications_name_the_sixth():
    notes = [{"type": "actual", "threshold": t} for t in (10, 20, 30, 40, 50, 60)]
    message = error({"notifications": EMAIL, "budgets": {"notifications": notes}})
    assert message == (
        "corral:budgets.notifications[5]: is notification 6, but AWS Budgets allows at most 5 "
        "per budget; remove it."
    )


def test_eleven_emails_name_the_eleventh():
    emails = [f"person{i}@example.com" for i in range(11)]
    message = error({"notifications": {"emails": emails}})
    assert message == (
        "corral:notifications.emails[10]: is address 11, but AWS Budgets allows at most 10 "
        "email subscribers per notification; remove it or use a mailing list."
    )


def test_malformed_email_names_the_key():
    message = error({"notifications": {"emails": ["ops@example.com", "ops.example.com"]}})
    assert message == (
        "corral:notifications.emails[1]: 'ops.example.com' is not an email address; "
        "use name@example.com."
    )


def test_threshold_over_1000_percent_names_the_key():
    notes = [{"type": "forecasted", "threshold": 1001}]
    message = error({"notifications": EMAIL, "budgets": {"notifications": notes}})
    assert message == (
        "corral:budgets.notifications[0].threshold: 1001 is more than 1000 percent; lower it."
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"budgets": {}},
            "corral:notifications: is required for spend detection; list at "
            "least one address under emails.",
        ),
        (
            {"notifications": {"emails": []}},
            "corral:notifications.emails: is empty; list at least one address to alert.",
        ),
        (
            {"notifications": {"emails": ["a@example.com", "a@example.com"]}},
            "corral:notifications.emails[1]: repeats 'a@example.com'; list each address once.",
        ),
        (
            {"notifications": {**EMAIL, "https": ["http://x.example.com"]}},
            "corral:notifications.https[0]: 'http://x.example.com' is not a distinct https:// "
            "URL; use e.g. https://hooks.example.com/aws.",
        ),
        (
            {"notifications": EMAIL, "budgets": {"notifications": [{"type": "actual"}]}},
            "corral:budgets.notifications[0].threshold: is required; give a percentage such as 80.",
        ),
        (
            {
                "notifications": EMAIL,
                "budgets": {"notifications": [{"type": "late", "threshold": 1}]},
            },
            "corral:budgets.notifications[0].type: 'late' is not valid; use actual or forecasted.",
        ),
        (
            {
                "notifications": EMAIL,
                "budgets": {
                    "notifications": [
                        {"type": "actual", "threshold": 80},
                        {"type": "actual", "threshold": 80},
                    ]
                },
            },
            "corral:budgets.notifications[1]: repeats actual at 80 %; list each once.",
        ),
        (
            {"notifications": EMAIL, "budgets": {"deployment": "management"}},
            "corral:budgets.deployment: applies to organization mode only; remove it.",
        ),
        (
            {"notifications": EMAIL, "alarms": {"vcpu": {"thresholds": {"Standrd": 5}}}},
            "corral:alarms.vcpu.thresholds.Standrd: is not a known key; did you mean 'Standard'?",
        ),
        (
            {"notifications": EMAIL, "alarms": {"vcpu": {"thresholds": {"G": -1}}}},
            "corral:alarms.vcpu.thresholds.G: -1 is out of range; use 0 to 1000000.",
        ),
        (
            {"notifications": EMAIL, "alarms": {"vcpu": {"period": 90}}},
            "corral:alarms.vcpu.period: 90 is not valid; use a multiple of 60 up to 86400.",
        ),
        (
            {"notifications": EMAIL, "alarms": {"billing": {"threshold": True}}},
            "corral:alarms.billing.threshold: must be a number of USD, got bool.",
        ),
        (
            {"notifications": EMAIL, "alarms": {"spot": {"thresholds": {"Standrd": 5}}}},
            "corral:alarms.spot.thresholds.Standrd: is not a known key; did you mean 'Standard'?",
        ),
        (
            {"notifications": EMAIL, "alarms": {"spot": {"thresholds": {"HPC": 5}}}},
            "corral:alarms.spot.thresholds.HPC: HPC instances have no Spot quota (AWS sells "
            "them On-Demand only); remove it.",
        ),
        (
            {"notifications": EMAIL, "alarms": {"spot": {"thresholds": {"G": 2.5}}}},
            "corral:alarms.spot.thresholds.G: must be a whole number of vCPUs, got float.",
        ),
        (
            {"notifications": EMAIL, "alarms": {"spot": {"period": 30}}},
            "corral:alarms.spot.period: 30 is not valid; use a multiple of 60 up to 86400.",
        ),
        (
            {"notifications": EMAIL, "alarms": {"fargate": {"thresholds": {"Ondemand": 1}}}},
            "corral:alarms.fargate.thresholds.Ondemand: is not a known key; did you mean "
            "'OnDemand'?",
        ),
        (
            {"notifications": EMAIL, "alarms": {"fargate": {"enabled": "sometimes"}}},
            "corral:alarms.fargate.enabled: must be true or false, got 'sometimes'.",
        ),
        (
            {"notifications": EMAIL, "alarms": {"lambda": {"threshold": -1}}},
            "corral:alarms.lambda.threshold: -1 is out of range; use 0 to 1000000.",
        ),
        (
            {"notifications": EMAIL, "alarms": {"lambda": {"thresholds": {"x": 1}}}},
            "corral:alarms.lambda.thresholds: is not a known key; did you mean 'threshold'?",
        ),
        (
            {"notifications": EMAIL, "alarms": {"lamda": {}}},
            "corral:alarms.lamda: is not a known key; did you mean 'lambda'?",
        ),
        (
            {"notifications": EMAIL, "anomalyDetection": {"enabled": True, "threshold": 0}},
            "corral:anomalyDetection.threshold: 0 is not more than 0; set a positive amount of "
            "USD.",
        ),
        (
            {"notifications": EMAIL, "anomalyDetection": {"treshold": 5}},
            "corral:anomalyDetection.treshold: is not a known key; did you mean 'threshold'?",
        ),
        (
            {"anomalyDetection": {"enabled": True}},
            "corral:notifications: is required for spend detection; list at "
            "least one address under emails.",
        ),
        (
            {"notifications": EMAIL, "budget": {}},
            "corral:budget: is not a known key; did you mean 'budgets'?",
        ),
        (
            {"notifications": EMAIL, "circuitBreaker": {"enabled": True, "approval": "later"}},
            "corral:circuitBreaker.approval: 'later' is not valid; use automatic or manual.",
        ),
        (
            {"notifications": EMAIL, "circuitBreaker": {"enabled": True}},
            "corral:circuitBreaker: needs corral:principals to name who the deny policy "
            "applies to.",
        ),
    ],
)
def test_invalid_spend_config_fails_with_one_line(values, expected):
    message = error(values)
    assert message == expected
    assert "\n" not in message


def test_organization_breaker_needs_the_management_deployment():
    values = {"notifications": EMAIL, "circuitBreaker": {"enabled": True}}
    message = error(values, mode="organization", accounts=MEMBERS)
    assert message == (
        "corral:circuitBreaker: in organization mode applies an SCP, which only the management "
        "account can do; set corral:budgets.deployment: management."
    )


# --------------------------------------------------------------------------- quota classes


def test_every_catalog_instance_type_has_an_on_demand_class_or_is_dedicated_host_only():
    for instance_type in catalog.instance_types():
        cls = quotas.quota_class(instance_type)
        assert cls in quotas.vcpu_classes() or catalog.family(instance_type).startswith("mac")


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("c5a.24xlarge", "Standard"), ("t3.micro", "Standard"), ("z1d.large", "Standard"),
        ("inf2.xlarge", "Inf"), ("im4gn.large", "Standard"), ("g5.xlarge", "G"),
        ("vt1.3xlarge", "G"), ("p5.48xlarge", "P"), ("f1.2xlarge", "F"), ("x2idn.16xlarge", "X"),
        ("dl1.24xlarge", "DL"), ("trn1.2xlarge", "Trn"), ("hpc7a.12xlarge", "HPC"),
        ("u-6tb1.metal", "HighMem"), ("u7i-12tb.224xlarge", "HighMem"), ("mac2.metal", None),
    ],
)  # fmt: skip
def test_quota_class_of_instance_types(instance_type, expected):
    assert quotas.quota_class(instance_type) == expected


def test_derived_classes_are_the_ten_on_demand_quotas():
    assert quotas.vcpu_classes() == (
        "DL", "F", "G", "HPC", "HighMem", "Inf", "P", "Standard", "Trn", "X"
    )  # fmt: skip


# --------------------------------------------------------------------------- plan


def test_account_plan_has_one_site_with_every_alarm():
    spend = parse({"notifications": EMAIL}, region="eu-west-1")
    [site] = spend_plan.plan(spend)
    assert site.key == "account" and site.account_id is None and site.role_arn is None
    assert [b.name for b in site.budgets] == ["corral-monthly"]
    assert len(site.alarms) == 1 + 36 * (10 + 8 + 2 + 1)
    assert site.forward_regions == tuple(r for r in catalog.regions("aws") if r != "eu-west-1")
    assert site.regions[0] == "eu-west-1"


def test_home_in_us_east_1_needs_no_forwarding_for_billing():
    off = {"enabled": False}
    alarms = {"vcpu": off, "spot": off, "fargate": off, "lambda": off}
    spend = parse({"notifications": EMAIL, "alarms": alarms})
    [site] = spend_plan.plan(spend)
    assert [a.name for a in site.alarms] == ["corral-spend-billing"]
    assert site.alarms[0].direct is True
    assert site.forward_regions == ()


def test_organization_member_plan_assumes_the_member_role():
    values = {"notifications": EMAIL, "budgets": {"memberRole": "CorralSpend"}}
    sites = spend_plan.plan(parse(values, mode="organization", accounts=MEMBERS))
    assert [s.key for s in sites] == ["management", *MEMBERS]
    assert sites[1].role_arn == "arn:aws:iam::111111111111:role/CorralSpend"
    assert [b.name for b in sites[1].budgets] == ["corral-monthly"]
    assert [b.name for b in sites[0].budgets] == ["corral-organization"]
    assert sites[0].budgets[0].limit == 200.0


def test_name_prefix_reaches_every_name():
    spend = parse({"notifications": EMAIL}, name_prefix="guard")
    [site] = spend_plan.plan(spend)
    assert site.topic == "guard-spend-alerts"
    assert all(a.name.startswith("guard-spend-") for a in site.alarms)
    assert json.loads(spend_requests.alarm_pattern(spend))["detail"]["alarmName"] == [
        {"prefix": "guard-spend-"}
    ]


# --------------------------------------------------------------------------- requests


def test_budget_request_with_linked_account_filter():
    values = {"notifications": EMAIL, "budgets": {"deployment": "management", "limit": 50}}
    spend = parse(values, mode="organization", accounts=MEMBERS)
    budget = spend_plan.plan(spend)[0].budgets[1]
    request = spend_requests.budget_request(
        spend, budget, "999999999999", "arn:aws:sns:us-east-1:9:t"
    )
    assert request["Budget"] == {
        "BudgetName": "corral-111111111111",
        "BudgetLimit": {"Amount": "50.00", "Unit": "USD"},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
        "CostFilters": {"LinkedAccount": ["111111111111"]},
    }
    assert request["NotificationsWithSubscribers"][0]["Subscribers"] == [
        {"SubscriptionType": "EMAIL", "Address": "ops@example.com"},
        {"SubscriptionType": "SNS", "Address": "arn:aws:sns:us-east-1:9:t"},
    ]


def test_deny_launch_policy_is_deterministic_and_exempts_break_glass():
    spend = parse({"notifications": EMAIL}, exempt_principals=["arn:aws:iam::*:role/bg"])
    text = spend_breaker.deny_launch_policy(spend)
    assert text == spend_breaker.deny_launch_policy(spend)
    [statement] = json.loads(text)["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Action"] == sorted(statement["Action"])
    assert statement["Condition"] == {
        "ArnNotLike": {"aws:PrincipalARN": ["arn:aws:iam::*:role/bg"]}
    }


def test_scp_breaker_role_policy_is_least_privilege():
    values = {
        "notifications": EMAIL,
        "budgets": {"deployment": "management"},
        "circuitBreaker": {"enabled": True},
    }
    spend = parse(values, mode="organization", accounts=MEMBERS)
    breaker = spend_plan.plan(spend)[0].breakers[0]
    document = json.loads(
        spend_breaker.breaker_role_policy(spend, breaker, "arn:aws:organizations::9:policy/p")
    )
    assert document["Statement"] == [
        {
            "Sid": "CorralApplyCircuitBreaker",
            "Effect": "Allow",
            "Action": ["organizations:AttachPolicy", "organizations:DetachPolicy"],
            "Resource": [
                "arn:aws:organizations::9:policy/p",
                "arn:aws:organizations::*:account/o-*/111111111111",
            ],
        }
    ]


def test_manifest_lists_every_budget_alarm_and_topic_with_ids():
    spend = parse({"notifications": EMAIL}, region="eu-west-1")
    ids = {"account/topic/corral-spend-alerts": "arn:aws:sns:eu-west-1:1:corral-spend-alerts"}
    manifest = spend_manifest.manifest_entries(spend, ids)
    assert manifest["topics"] == [
        {"site": "account", "accountId": None, "name": "corral-spend-alerts",
         "region": "eu-west-1", "id": ids["account/topic/corral-spend-alerts"]}
    ]  # fmt: skip
    assert [b["name"] for b in manifest["budgets"]] == ["corral-monthly"]
    assert len(manifest["alarms"]) == 757
    assert {a["region"] for a in manifest["alarms"]} == set(catalog.regions("aws"))
    assert len(manifest["forwarding"]) == 36  # 35 forward rules + 1 delivery rule
    json.dumps(manifest)


def test_render_shows_classes_regions_and_the_breaker_policy():
    spend = parse(
        {"notifications": EMAIL, "circuitBreaker": {"enabled": True}},
        principals={"roles": ["Admin"]},
    )
    view = spend_manifest.render(spend)
    assert view["vcpuClasses"][0] == "DL/OnDemand"
    assert len(view["regions"]) == 36
    assert view["circuitBreakerPolicy"]["Statement"][0]["Sid"] == "CorralCircuitBreakerDenyLaunch"
    assert view["circuitBreakers"][0]["kind"] == "iam"


def test_spend_example_stack_parses():
    """Pulumi.spend-example.yaml is valid: its spend keys parse and deploy a breaker."""
    import yaml

    from tests.conftest import ROOT

    config = yaml.safe_load((ROOT / "Pulumi.spend-example.yaml").read_text())["config"]
    values = {
        k.split(":", 1)[1]: v for k, v in config.items() if k.split(":", 1)[1] in K.SPEND_KEYS
    }
    assert sorted(values) == sorted(K.SPEND_KEYS)
    spend = parse(
        values,
        region=config["aws:region"],
        exempt_principals=config["corral:exemptPrincipals"],
        principals=config["corral:principals"],
    )
    assert spend.limit == 200.0 and spend.breaker and spend.https
    assert dict(spend.vcpu_thresholds)["Standard"] == 32
    assert spend.anomaly and spend.anomaly_threshold == 100.0
    [site] = spend_plan.plan(spend)
    assert [b.budget for b in site.breakers] == ["corral-monthly"]
    assert site.anomaly == spend_plan.AnomalyPlan(
        "corral-spend-anomalies", "corral-spend-anomaly-alerts", 100.0
    )
