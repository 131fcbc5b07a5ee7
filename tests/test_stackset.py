"""corral.build.stackset: the StackSet template that gives every account below a targeted root
or OU its spend detection. Plain pytest: the template, resolved for one account and region the
way CloudFormation resolves it, is exactly what corral.build.spend_requests builds for an
account target."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from corral.build import detection, spend_plan, spend_requests, stackset
from corral.build.plan import build_plan
from corral.cli import main as cli
from corral.evaluate.engine import ALLOW, DENY
from corral.spec import catalog, quotas
from corral.spec import keys as K
from corral.spec.load import load_stack_file

MEMBER = "123456789012"
TARGET_ACCOUNT = "210987654321"
HOME = "us-east-1"


def org_spec(tmp_path: Path, extra: str = "", targets: str | None = None):
    default_targets = f"""\
      - id: r-a1b2
        name: root
        guardrails: [regions, protection]
      - id: ou-a1b2-workload1
        name: workloads
        guardrails: [instances]
      - id: "{TARGET_ACCOUNT}"
        name: special
        guardrails: [regions]
        instances: {{allow: [t3.*], spot: true}}
    """
    text = textwrap.dedent(f"""\
    config:
      aws:region: {HOME}
      corral:mode: organization
      corral:allowedRegions: [us-east-1, eu-west-1]
      corral:exemptPrincipals:
        - "arn:aws:iam::*:role/corral-break-glass"
        - "arn:aws:iam::*:role/OrganizationAccountAccessRole"
        - "arn:aws:iam::*:role/stacksets-exec-*"
      corral:instances:
        allow: [t3.*, m7i.*]
      corral:notifications:
        emails: [ops@example.com]
        https: [https://hooks.example.com/aws]
      corral:targets:
    """) + textwrap.indent(textwrap.dedent(targets or default_targets), "  ")
    path = tmp_path / "Pulumi.org.yaml"
    path.write_text(text + extra, encoding="utf-8")
    return load_stack_file(path)


def resolve(value: Any, region: str, account: str, topic: str) -> Any:
    """``value`` as CloudFormation resolves it in ``account`` and ``region`` (the subset of
    intrinsics the template uses: Fn::Sub, Fn::If on IsHome, Ref of Topic and AWS::NoValue)."""
    home = region == HOME
    if isinstance(value, list):
        out = [resolve(v, region, account, topic) for v in value]
        return [v for v in out if v is not None]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::Sub"}:
        return (
            value["Fn::Sub"]
            .replace("${AWS::Region}", region)
            .replace("${AWS::AccountId}", account)
            .replace("${Topic}", topic)
        )
    if set(value) == {"Fn::If"}:
        condition, yes, no = value["Fn::If"]
        assert condition == stackset.IS_HOME
        return resolve(yes if home else no, region, account, topic)
    if set(value) == {"Ref"}:
        return {"Topic": topic, "AWS::NoValue": None}[value["Ref"]]
    out = {k: resolve(v, region, account, topic) for k, v in value.items()}
    return {k: v for k, v in out.items() if v is not None}


def stack(spec, region: str, account: str = MEMBER) -> dict[str, dict]:
    """The resources one stack instance creates in ``account`` and ``region``."""
    topic = f"arn:aws:sns:{HOME}:{account}:corral-spend-alerts"
    template = json.loads(stackset.stackset_plan(spec).template_body)
    made = {}
    for logical, resource in template["Resources"].items():
        condition = resource.get("Condition")
        if condition == stackset.IS_HOME and region != HOME:
            continue
        if condition == stackset.IS_FORWARDED and region == HOME:
            continue
        props = resolve(resource["Properties"], region, account, topic)
        made[logical] = {"Type": resource["Type"], **props}
    return made


def test_the_stackset_targets_every_root_and_ou_in_every_region_except_account_targets(
    tmp_path: Path,
) -> None:
    spec = org_spec(tmp_path)
    plan = stackset.stackset_plan(spec)
    assert plan.name == "corral-spend-detection"
    assert plan.organizational_unit_ids == ("ou-a1b2-workload1", "r-a1b2")
    assert plan.excluded_accounts == (TARGET_ACCOUNT,)
    regions = catalog.regions("aws")
    assert plan.regions[0] == HOME and sorted(plan.regions) == sorted(regions)
    assert len(plan.template_body.encode()) < stackset.TEMPLATE_BODY_LIMIT
    assert json.loads(plan.template_body)["Conditions"][stackset.IS_HOME] == {
        "Fn::Equals": [{"Ref": "AWS::Region"}, HOME]
    }


def test_no_stackset_without_root_or_ou_targets_or_outside_organization_mode(
    tmp_path: Path,
) -> None:
    only_account = f"""\
      - id: "{TARGET_ACCOUNT}"
        name: special
        guardrails: [regions]
    """
    assert stackset.stackset_plan(org_spec(tmp_path, targets=only_account)) is None
    account = tmp_path / "Pulumi.acct.yaml"
    account.write_text(
        textwrap.dedent("""\
        config:
          aws:region: us-east-1
          corral:mode: account
          corral:allowedRegions: [us-east-1]
          corral:exemptPrincipals: ["arn:aws:iam::*:role/corral-break-glass"]
          corral:principals: {roles: [AdminRole]}
          corral:notifications: {emails: [ops@example.com]}
        """),
        encoding="utf-8",
    )
    assert stackset.stackset_plan(load_stack_file(account)) is None


@pytest.mark.parametrize("region", [HOME, "eu-west-1", "ap-southeast-2"])
def test_each_region_gets_the_alarms_an_account_target_gets_there(tmp_path, region) -> None:
    spec = org_spec(tmp_path)
    made = stack(spec, region)
    alarms = {r["AlarmName"]: r for r in made.values() if r["Type"] == "AWS::CloudWatch::Alarm"}
    site = spend_plan.member_site(spec.spend, MEMBER)
    topic = f"arn:aws:sns:{HOME}:{MEMBER}:corral-spend-alerts"
    expected = {
        a.name: {k: v for k, v in spend_requests.alarm_request(a, topic).items() if v != []}
        for a in site.alarms
        if a.region == region
    }
    per_region = len(quotas.vcpu_classes()) + len(quotas.spot_classes()) + 2 + 1
    assert len(alarms) == len(expected) == per_region
    assert {n: {k: v for k, v in a.items() if k != "Type"} for n, a in alarms.items()} == expected
    assert all(("AlarmActions" in a) == (region == HOME) for a in alarms.values())


def test_home_holds_topic_policy_role_and_deliver_rule_other_regions_forward(tmp_path) -> None:
    spec = org_spec(tmp_path)
    names = spend_plan.names(spec.spend)
    home = stack(spec, HOME)
    topic = f"arn:aws:sns:{HOME}:{MEMBER}:corral-spend-alerts"
    site = spend_plan.member_site(spec.spend, MEMBER)
    assert home["Topic"]["TopicName"] == names["topic"]
    assert home["Topic"]["Subscription"] == [
        {"Protocol": "email", "Endpoint": "ops@example.com"},
        {"Protocol": "https", "Endpoint": "https://hooks.example.com/aws"},
    ]
    policy = json.loads(spend_requests.topic_policy(spec.spend, site, topic, MEMBER))
    assert home["TopicPolicy"]["PolicyDocument"] == policy
    role = home["ForwardRole"]
    assert (role["RoleName"], role["Path"]) == (names["forward_role"], "/corral/")
    trust = json.loads(spend_requests.forward_role_trust(MEMBER))
    assert role["AssumeRolePolicyDocument"] == trust
    grant = json.loads(spend_requests.forward_role_policy(spec.spend, MEMBER))
    assert role["Policies"] == [{"PolicyName": names["forward_role"], "PolicyDocument": grant}]
    deliver = home["DeliverRule"]
    assert deliver["Name"] == names["deliver_rule"]
    assert deliver["Targets"] == [{"Id": "topic", "Arn": topic}]
    assert "ForwardRule" not in home
    away = stack(spec, "eu-west-1")
    assert not {"Topic", "TopicPolicy", "ForwardRole", "DeliverRule", "Budget"} & set(away)
    forward = away["ForwardRule"]
    assert forward["EventPattern"] == json.loads(spend_requests.alarm_pattern(spec.spend))
    assert forward["Targets"] == [
        {
            "Id": "home",
            "Arn": f"arn:aws:events:{HOME}:{MEMBER}:event-bus/default",
            "RoleArn": f"arn:aws:iam::{MEMBER}:role/corral/{names['forward_role']}",
        }
    ]


def test_member_budget_only_with_deployment_member(tmp_path: Path) -> None:
    spec = org_spec(tmp_path)
    budget = stack(spec, HOME)["Budget"]
    assert budget["Budget"] == {
        "BudgetName": "corral-monthly",
        "BudgetLimit": {"Amount": 100.0, "Unit": "USD"},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
    }
    subscribers = budget["NotificationsWithSubscribers"][0]["Subscribers"]
    assert subscribers[-1] == {
        "SubscriptionType": "SNS",
        "Address": f"arn:aws:sns:{HOME}:{MEMBER}:corral-spend-alerts",
    }
    managed = org_spec(tmp_path, extra="  corral:budgets: {deployment: management}\n")
    assert "Budget" not in stack(managed, HOME)


# --------------------------------------------------------------------------- protection

STACKSET_ARN = f"arn:aws:cloudformation:{HOME}:{MEMBER}:stackset/corral-spend-detection:1a2b"
OTHER_ARN = f"arn:aws:cloudformation:{HOME}:{MEMBER}:stackset/app-baseline:1a2b"
MEMBER_STACK = (
    f"arn:aws:cloudformation:eu-west-1:{MEMBER}:stack/StackSet-corral-spend-detection-1a2b/3c4d"
)
OTHER_STACK = f"arn:aws:cloudformation:eu-west-1:{MEMBER}:stack/app-network/3c4d"


def explain(capsys, stack: Path, *flags: str) -> dict:
    argv = ["explain", "--config", str(stack), "--region", HOME, "--target", "workloads"]
    code = cli.main([*argv, *flags, "--format", "json"])
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "")
    return json.loads(captured.out)


@pytest.mark.parametrize(
    ("action", "mine", "other"),
    [
        ("cloudformation:UpdateStackSet", STACKSET_ARN, OTHER_ARN),
        ("cloudformation:DeleteStackSet", STACKSET_ARN, OTHER_ARN),
        ("cloudformation:DeleteStackInstances", STACKSET_ARN, OTHER_ARN),
        ("cloudformation:UpdateStackInstances", STACKSET_ARN, OTHER_ARN),
        ("cloudformation:DeleteStack", MEMBER_STACK, OTHER_STACK),
    ],
)
def test_explain_denies_changing_corrals_stackset_and_allows_another(
    tmp_path, capsys, action, mine, other
) -> None:
    spec = org_spec(tmp_path)
    stack = tmp_path / "Pulumi.org.yaml"
    denied = explain(capsys, stack, "--action", action, "--resource", mine)
    assert denied["decision"] == DENY
    assert denied["reasons"][0]["sid"] == detection.SID_DETECTION
    assert explain(capsys, stack, "--action", action, "--resource", other)["decision"] == ALLOW
    exempt = "arn:aws:iam::111122223333:role/corral-break-glass"
    flags = ("--action", action, "--resource", mine, "--principal", exempt)
    assert explain(capsys, stack, *flags)["decision"] == ALLOW
    assert all(len(d.content) <= K.SCP_MAX_CHARS for d in build_plan(spec).documents)


def test_no_stackset_protection_without_the_stackset(tmp_path) -> None:
    only_account = f"""\
      - id: "{TARGET_ACCOUNT}"
        name: special
        guardrails: [regions, protection]
    """
    spec = org_spec(tmp_path, targets=only_account)
    [statement] = [s for s in detection.detection_statements(spec)]
    assert not any(a.startswith("cloudformation:") for a in statement["Action"])
    assert not any(":cloudformation:" in r for r in statement["Resource"])
