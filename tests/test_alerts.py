"""The alert keys and the pure builders (corral.spec.alerts, corral.build.alerts*)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from alerts_support import denied_launch

from corral.build import alerts, alerts_gate, alerts_patterns
from corral.build.plan import build_plan
from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.load import from_config
from corral.spec.readers import SpecError
from examples.emulator.alert_handlers import apply_template

ROOT = Path(__file__).resolve().parent.parent


def spend_example(**extra) -> dict:
    config = yaml.safe_load((ROOT / "Pulumi.spend-example.yaml").read_text())["config"]
    return {**config, **{f"corral:{k}": v for k, v in extra.items()}}


# --------------------------------------------------------------------------- keys


def test_alerts_and_guardduty_are_on_with_spend_detection_and_off_without() -> None:
    spec = from_config(spend_example())
    assert (spec.alerts.enabled, spec.alerts.guardduty, spec.alerts.severity) == (True, True, 4.0)
    config = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())["config"]
    assert from_config(config).alerts.any is False


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"guardDuty": {"severity": "urgent"}}, "corral:guardDuty.severity: 'urgent' is not "
         "valid; use low, medium, high, critical or a number 1 to 10."),
        ({"guardDuty": {"severity": 11}}, "corral:guardDuty.severity: 11 is out of range; use "
         "a number 1 to 10."),
        ({"guardDuty": {"enabled": False}}, "corral:guardDuty.enabled: is not a known key; did "
         "you mean 'enable'?"),
        ({"guardDuty": {"adminAccount": "123456789012"}}, "corral:guardDuty.adminAccount: "
         "applies to organization mode only; remove it."),
        ({"alerts": {"trailLogGroup": "has spaces"}}, "corral:alerts.trailLogGroup: 'has "
         "spaces' is not a CloudWatch Logs group name; give the name of the log group your "
         "trail delivers to, e.g. aws-cloudtrail-logs-management."),
        ({"alerts": {"enabled": False, "trailLogGroup": "trail"}}, "corral:alerts.trailLogGroup:"
         " needs alerts on; remove it or set corral:alerts.enabled: true."),
    ],
)  # fmt: skip
def test_bad_alert_keys_name_the_key_and_the_fix(extra: dict, message: str) -> None:
    with pytest.raises(SpecError) as error:
        from_config(spend_example(**extra))
    assert str(error.value) == message


def test_alert_keys_need_spend_detection() -> None:
    config = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())["config"]
    config["corral:guardDuty"] = {"enable": True}
    with pytest.raises(SpecError) as error:
        from_config(config)
    assert str(error.value) == (
        "corral:guardDuty: sends to spend detection's alert topic, which is off; set "
        "corral:notifications.emails to turn it on."
    )


def test_severity_names_and_numbers() -> None:
    assert from_config(spend_example(guardDuty={"severity": "high"})).alerts.severity == 7.0
    assert from_config(spend_example(guardDuty={"severity": 5.5})).alerts.severity == 5.5


def test_readme_documents_the_alert_keys() -> None:
    readme = (ROOT / "README.md").read_text()
    for key in K.ALERT_KEYS:
        assert f"`corral:{key}" in readme, key


# --------------------------------------------------------------------------- patterns


def test_attempt_patterns_carry_every_denied_action_of_the_plan_and_fit() -> None:
    spec = from_config(spend_example())
    plan = build_plan(spec)
    patterns = alerts_patterns.attempt_patterns(spec, plan)
    assert all(len(p) <= alerts_patterns.PATTERN_MAX_CHARS for p in patterns)
    carried = set()
    for pattern in patterns[:-1]:
        detail = json.loads(pattern)["detail"]
        assert detail["awsRegion"] == ["eu-west-1"]
        for clause in detail.get("$or", [detail]):
            service = clause["eventSource"][0].removesuffix(".amazonaws.com")
            service = "cloudwatch" if service == "monitoring" else service
            for name in clause.get("eventName", ["*"]):
                carried.add(f"{service}:{name['prefix'] + '*' if isinstance(name, dict) else name}")
    assert carried == set(alerts_patterns.guarded_actions(plan))
    assert {"ec2:RunInstances", "ec2:PurchaseReservedInstancesOffering", "iam:CreateAccessKey",
            "cloudtrail:StopLogging"} <= carried  # fmt: skip
    assert json.loads(patterns[-1])["detail"]["awsRegion"] == [{"anything-but": ["eu-west-1"]}]


def test_an_allowed_purchase_leaves_the_attempt_patterns() -> None:
    denied = from_config(spend_example())
    allowed = from_config(spend_example(purchases={"allow": ["reservedInstances"]}))
    before = "".join(alerts_patterns.attempt_patterns(denied, build_plan(denied)))
    after = "".join(alerts_patterns.attempt_patterns(allowed, build_plan(allowed)))
    assert "PurchaseReservedInstancesOffering" in before
    assert "PurchaseReservedInstancesOffering" not in after


def test_tamper_patterns_name_corral_s_resources_and_never_the_gate_s_own_calls() -> None:
    spec = from_config(spend_example())
    text = "".join(alerts_patterns.tamper_patterns(spec, "111122223333", alerts.role_names(spec)))
    for needle in (
        "arn:aws:iam::111122223333:policy/corral/",
        "corral-alerts-events",
        "corral-spend-forwarder",
        "arn:aws:sns:eu-west-1:111122223333:corral-spend-alerts",
        "DeleteUserPermissionsBoundary",
        "StopLogging",
        "DeleteDetector",
        "corral-alerts-seen",
    ):
        assert needle in text, needle
    assert "StartExecution" not in text and "PutItem" not in text  # no loop through the gate


def test_pack_splits_and_refuses_a_clause_that_cannot_fit() -> None:
    base = {"detail-type": ["x"], "detail": {}}
    clauses = [{"eventSource": [f"s{i}.amazonaws.com"], "eventName": ["A" * 30]}
               for i in range(8)]  # fmt: skip
    packed = alerts_patterns.pack(base, clauses, limit=300)
    assert len(packed) > 1 and all(len(p) <= 300 for p in packed)
    with pytest.raises(ValueError, match="over 50 characters"):
        alerts_patterns.pack(base, clauses, limit=50)


# --------------------------------------------------------------------------- plan and requests


def test_rules_every_region_forward_home_except_home() -> None:
    spec = from_config(spend_example())
    [site] = alerts.plan(spec)
    rules = [r for r, _ in alerts.rules(spec, site, build_plan(spec), "111122223333")]
    assert {r.region for r in rules} == set(catalog.regions("aws"))
    assert all(r.forward == (r.region != "eu-west-1") for r in rules)
    assert {r.state for r in rules if r.kind == "attempts"} == {alerts.STATE_ALL}
    [findings] = [r for r in rules if r.kind == "findings"]
    assert (findings.region, findings.forward) == ("eu-west-1", False)


def test_organization_sites_get_rules_and_only_the_admin_gets_guardduty() -> None:
    config = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())["config"]
    member = "222233334444"
    config["corral:targets"].append({"id": member, "name": "dev", "guardrails": ["regions"]})
    config["corral:notifications"] = {"emails": ["ops@example.com"]}
    config["corral:exemptPrincipals"].append("arn:aws:iam::*:role/OrganizationAccountAccessRole")
    config["corral:exemptPrincipals"].append("arn:aws:iam::*:role/stacksets-exec-*")
    config["corral:guardDuty"] = {"adminAccount": member}
    sites = {s.key: s for s in alerts.plan(from_config(config))}
    assert set(sites) == {"management", member}
    assert sites["management"].organization_admin == member
    assert sites["management"].detector_regions == ()
    assert sites[member].detector_regions == tuple(sorted(from_config(config).allowed_regions))
    assert sites[member].regions == catalog.regions("aws")


def test_the_gate_definition_remembers_per_hour_and_publishes_to_the_topic() -> None:
    definition = json.loads(alerts_gate.definition("t", "arn:aws:sns:eu-west-1:1:topic"))
    remember, notify = definition["States"]["Remember"], definition["States"]["Notify"]
    assert remember["Parameters"]["ConditionExpression"] == "attribute_not_exists(#k)"
    assert "States.StringSplit($.time, ':')" in remember["Parameters"]["Item"]["key"]["S.$"]
    assert [c["Next"] for c in remember["Catch"]] == ["Repeat", "Notify"]  # fail open
    assert notify["Parameters"]["TopicArn"] == "arn:aws:sns:eu-west-1:1:topic"


def test_the_attempt_message_reads_who_what_where_when_and_next() -> None:
    event = {"account": "111122223333", "detail": denied_launch("111122223333", "us-west-2")}
    sent = json.loads(apply_template(alerts_gate.transformer("attempts"), event))
    assert (
        sent["key"]
        == "attempt|arn:aws:iam::111122223333:user/script|AKIAEXAMPLELEAKED001|us-west-2"
    )
    assert sent["time"] == "2024-05-01T20:27:13Z"
    assert sent["subject"] == "corral: AWS denied RunInstances in us-west-2"
    assert len(sent["subject"]) <= alerts_gate.SUBJECT_MAX
    assert sent["text"].splitlines()[2:9] == [
        "Who: arn:aws:iam::111122223333:user/script",
        "Access key: AKIAEXAMPLELEAKED001",
        "What: RunInstances (ec2.amazonaws.com), denied with Client.UnauthorizedOperation",
        "Where: us-west-2, from 203.0.113.7",
        "When: 2024-05-01T20:27:13Z",
        "Instance type (launches only): c5a.24xlarge",
        "Account: 111122223333",
    ]


def test_apply_template_follows_the_documented_rules() -> None:
    paths = {"i": "$.detail.instance-id", "s": "$.detail.state", "n": "$.detail.none"}
    template = '{"instance": <i>, "status": "instance <i> is <s><n>"}'
    transformer = {"InputPathsMap": paths, "InputTemplate": template}
    event = {"detail": {"instance-id": "i-0123456789", "state": "RUNNING"}}
    assert apply_template(transformer, event) == (
        '{"instance": "i-0123456789", "status": "instance i-0123456789 is RUNNING"}'
    )


def test_cis_route_is_the_benchmark_filter_and_a_spend_named_alarm() -> None:
    spec = from_config(spend_example(alerts={"trailLogGroup": "trail-logs"}))
    [site] = alerts.plan(spec)
    request = alerts.metric_filter_request(spec, site)
    assert request["filterPattern"] == (
        '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }'
    )
    alarm = alerts.cis_alarm(spec, site)
    assert alarm.name.startswith("corral-spend-") and alarm.direct and alarm.region == "eu-west-1"
