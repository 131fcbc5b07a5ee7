"""`corral verify` sees detection silenced, through ``corral.cli.main.main`` on in-process moto.

The spend example (``Pulumi.spend-example.yaml``: account mode, circuit breaker on; without
its opt-in Cost Anomaly Detection, whose monitor is judged elsewhere) is deployed once with
boto3 from the builders (guardrails, boundary, topic, budget, alarms in every region,
forwarding, breaker). Each test then silences detection as the holder of a
leaked admin key would, one step at a time, asserts exit code 1 and the finding that names
the resource and what changed, and restores what it changed. Budget-action and subscriber
reads moto lacks are answered by the emulator's stand-ins (``serve_budget_actions``,
``serve_budget_subscribers``), installed on every connection the CLI opens.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws
from test_verify_support import (
    budgets_client,
    client,
    deploy_account,
    deploy_breakers,
    deploy_spend,
    load,
    own_account,
    serve_budget_actions,
    serve_budget_subscribers,
)

from corral.audit import aws
from corral.audit.aws import Connection
from corral.build import spend_breaker, spend_plan, spend_requests
from corral.build.plan import build_plan
from corral.cli import errors as E
from corral.cli import verify as cli_verify
from corral.cli.main import main
from corral.spec import keys as K
from examples.emulator import iam_boundaries, server
from tests.conftest import ROOT

EXAMPLE = ROOT / "Pulumi.spend-example.yaml"
OPT_IN = ("corral:anomalyDetection",)  # detectors judged by their own tests
HOME = "eu-west-1"
BUDGET = "corral-monthly"
FORWARDER = "corral-spend-forwarder"
BREAKER = "corral-circuit-breaker"
HTTPS = "https://hooks.example.com/aws-alerts"


class Hooked(Connection):
    """The CLI's connection, with the stand-ins for the budget reads moto lacks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        serve_budget_subscribers(self.events)
        serve_budget_actions(self.events)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spend example's stack file, less its opt-in detectors."""
    document = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    for key in OPT_IN:
        document["config"].pop(key, None)
    # Attempt alerts and GuardDuty (on by default with notifications) have their own verify
    # tests (tests/test_verify_alerts.py); this module deploys and tampers with spend delivery.
    document["config"]["corral:alerts"] = {"enabled": False}
    document["config"]["corral:guardDuty"] = {"enable": False}
    path = tmp_path_factory.mktemp("silencing") / "Pulumi.spend.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def deployed(stack: Path) -> Iterator[dict]:
    """The spend example, deployed once per module; every test restores what it changes."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")  # botocore knows more regions
        patch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        iam_boundaries.install()
        spec = load(stack)
        account = client("sts").get_caller_identity()["Account"]
        iam = client("iam")
        iam.create_group(GroupName="developers")
        iam.create_user(UserName="ci-deployer")
        iam.create_role(
            RoleName="corral-break-glass", AssumeRolePolicyDocument=own_account(account)
        )
        arns = deploy_account(spec)
        boundary = arns[build_plan(spec).boundary]
        iam.put_user_permissions_boundary(UserName="ci-deployer", PermissionsBoundary=boundary)
        spent = deploy_spend(spec)
        breakers = deploy_breakers(spec, spent["topic"])
        yield {"spec": spec, "stack": stack, **spent, **breakers}
    server.BUDGET_ACTIONS.clear()


def verify(
    deployed: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[int, list[dict]]:
    """``corral verify --config <the spend example>`` through the CLI's ``main``: the exit
    code and the findings that did not pass."""
    monkeypatch.setattr(aws, "Connection", Hooked)  # where the CLI finds it
    monkeypatch.setattr(cli_verify, "Connection", Hooked, raising=False)
    out, config = tmp_path / "report.json", str(deployed["stack"])
    code = main(["verify", "--config", config, "--format", "json", "--output", str(out)])
    findings = json.loads(out.read_text())["findings"]
    return code, [f for f in findings if f["status"] != "PASS"]


def silenced(
    deployed: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    tamper: Callable[[], None], restore: Callable[[], None],
) -> list[dict]:  # fmt: skip
    """The findings of a verify run after ``tamper``; ``restore`` runs whatever happens.
    The run must exit 1."""
    tamper()
    try:
        code, failed = verify(deployed, monkeypatch, tmp_path)
    finally:
        restore()
    assert code == E.EXIT_FAIL, failed
    return failed


def only(failed: list[dict], check: str, resource: str) -> dict:
    """The one finding of ``check`` on ``resource`` among ``failed``, which holds nothing else."""
    assert [(f["check"], f["resource"]) for f in failed] == [(check, resource)], failed
    return failed[0]


def test_the_deployed_example_verifies_clean(deployed, monkeypatch, tmp_path) -> None:
    code, failed = verify(deployed, monkeypatch, tmp_path)
    assert (code, failed) == (E.EXIT_OK, [])


def test_forwarder_role_policy_deleted(deployed, monkeypatch, tmp_path) -> None:
    iam, policy = client("iam"), "forward-role-policy-1a2b3c4"
    document = spend_requests.forward_role_policy(deployed["spec"].spend, deployed["account"])

    def restore() -> None:
        iam.put_role_policy(RoleName=FORWARDER, PolicyName=policy, PolicyDocument=document)

    failed = silenced(deployed, monkeypatch, tmp_path,
                      lambda: iam.delete_role_policy(RoleName=FORWARDER, PolicyName=policy),
                      restore)  # fmt: skip
    found = only(failed, "identities-trusted", f"role {FORWARDER}")
    assert found["message"] == (
        f"Role {FORWARDER} in account {deployed['account']} lacks the inline policy corral "
        "deploys for it (CorralForwardSpendAlarms); run `pulumi up --refresh` to restore it."
    )


def _trust(service: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.mark.parametrize(
    ("role", "service", "built"),
    [
        (FORWARDER, "events.amazonaws.com", spend_requests.forward_role_trust),
        (BREAKER, "budgets.amazonaws.com", spend_breaker.breaker_role_trust),
    ],
)
def test_service_role_retrusted(deployed, monkeypatch, tmp_path, role, service, built) -> None:
    iam, a = client("iam"), deployed["account"]
    failed = silenced(
        deployed, monkeypatch, tmp_path,
        lambda: iam.update_assume_role_policy(RoleName=role,
                                              PolicyDocument=_trust("lambda.amazonaws.com")),
        lambda: iam.update_assume_role_policy(RoleName=role, PolicyDocument=built(a)),
    )  # fmt: skip
    found = only(failed, "identities-trusted", f"role {role}")
    assert found["message"] == (
        f"Role {role} in account {a} has a trust policy corral did not deploy: it trusts the AWS "
        f"service lambda.amazonaws.com; it no longer trusts the AWS service {service}; run "
        "`pulumi up --refresh` to restore it and rotate the credentials that changed it."
    )


def test_breaker_role_gutted(deployed, monkeypatch, tmp_path) -> None:
    iam, name = client("iam"), f"breaker-grant-{BUDGET}"
    document = iam.get_role_policy(RoleName=BREAKER, PolicyName=name)["PolicyDocument"]
    failed = silenced(
        deployed, monkeypatch, tmp_path,
        lambda: iam.delete_role_policy(RoleName=BREAKER, PolicyName=name),
        lambda: iam.put_role_policy(RoleName=BREAKER, PolicyName=name,
                                    PolicyDocument=json.dumps(document)),
    )  # fmt: skip
    found = only(failed, "identities-trusted", f"role {BREAKER}")
    assert found["message"] == (
        f"Role {BREAKER} in account {deployed['account']} lacks the inline policy corral "
        "deploys for it (CorralApplyCircuitBreaker); run `pulumi up --refresh` to restore it."
    )


def https_attribute(deployed: dict, name: str) -> Callable[[str], Callable[[], None]]:
    """value -> a step setting attribute ``name`` of the HTTPS subscription to ``value``."""
    sns = client("sns", region=HOME)
    listed = sns.list_subscriptions_by_topic(TopicArn=deployed["topic"])["Subscriptions"]
    [arn] = [s["SubscriptionArn"] for s in listed if s["Endpoint"] == HTTPS]
    return lambda value: (
        lambda: sns.set_subscription_attributes(
            SubscriptionArn=arn, AttributeName=name, AttributeValue=value
        )
    )


def test_subscription_filter_policy_set(deployed, monkeypatch, tmp_path) -> None:
    attribute = https_attribute(deployed, "FilterPolicy")
    failed = silenced(deployed, monkeypatch, tmp_path, attribute('{"never": ["match"]}'),
                      attribute(""))  # fmt: skip
    found = only(failed, "topic-subscriptions", "topic corral-spend-alerts")
    assert found["message"] == (
        f"The https subscription of {HTTPS} to SNS topic corral-spend-alerts in account "
        f"{deployed['account']} {HOME} differs from the spec: it has the filter policy "
        '{"never":["match"]}, which corral does not set, so it receives only the alerts that '
        "policy matches; run `pulumi up --refresh` to restore it."
    )


def test_subscription_raw_delivery_turned_on(deployed, monkeypatch, tmp_path) -> None:
    raw = https_attribute(deployed, "RawMessageDelivery")
    failed = silenced(deployed, monkeypatch, tmp_path, raw("true"), raw("false"))
    found = only(failed, "topic-subscriptions", "topic corral-spend-alerts")
    assert found["message"] == (
        f"The https subscription of {HTTPS} to SNS topic corral-spend-alerts in account "
        f"{deployed['account']} {HOME} differs from the spec: its RawMessageDelivery is true "
        "instead of false; run `pulumi up --refresh` to restore it."
    )


def test_topic_kms_key_changed(deployed, monkeypatch, tmp_path) -> None:
    sns, topic = client("sns", region=HOME), deployed["topic"]

    def key(value: str) -> Callable[[], None]:
        return lambda: sns.set_topic_attributes(
            TopicArn=topic, AttributeName="KmsMasterKeyId", AttributeValue=value
        )

    failed = silenced(deployed, monkeypatch, tmp_path, key("alias/aws/sns"), key(""))
    found = only(failed, "topic-subscriptions", "topic corral-spend-alerts")
    assert found["message"] == (
        f"SNS topic corral-spend-alerts in account {deployed['account']} {HOME} is encrypted "
        "with KMS key alias/aws/sns instead of none: unless that key's policy lets "
        "cloudwatch.amazonaws.com, events.amazonaws.com, budgets.amazonaws.com use it "
        "(kms:GenerateDataKey*, kms:Decrypt), no alarm or budget alert reaches the topic, and "
        "corral does not judge key policies; run `pulumi up --refresh` to restore it."
    )


def test_rule_target_role_changed(deployed, monkeypatch, tmp_path) -> None:
    spend, a, region = deployed["spec"].spend, deployed["account"], "us-east-1"
    events = client("events", region=region)
    bus = spend_requests.bus_arn(spend, HOME, a)
    forwarder = f"arn:aws:iam::{a}:role{K.IAM_PATH}{FORWARDER}"
    other = f"arn:aws:iam::{a}:role/attacker"

    def target(role: str) -> Callable[[], None]:
        return lambda: events.put_targets(
            Rule="corral-spend-forward", Targets=[{"Id": "corral", "Arn": bus, "RoleArn": role}]
        )

    failed = silenced(deployed, monkeypatch, tmp_path, target(other), target(forwarder))
    found = only(failed, "alarms-present", "rule corral-spend-forward")
    assert found["region"] == region
    assert found["message"] == (
        f"EventBridge rule corral-spend-forward in account {a} {region} differs from the spec: "
        f"its target {bus} uses role {other} instead of {forwarder}, so the spend alarms in "
        f"{region} reach no one; run `pulumi up --refresh` to restore it."
    )


def test_deliver_rule_target_rewritten(deployed, monkeypatch, tmp_path) -> None:
    events, topic = client("events", region=HOME), deployed["topic"]

    def target(**extra: str) -> Callable[[], None]:
        return lambda: events.put_targets(
            Rule="corral-spend-deliver", Targets=[{"Id": "corral", "Arn": topic, **extra}]
        )

    failed = silenced(deployed, monkeypatch, tmp_path, target(Input='"all quiet"'), target())
    found = only(failed, "alarms-present", "rule corral-spend-deliver")
    assert found["message"] == (
        f"EventBridge rule corral-spend-deliver in account {deployed['account']} {HOME} differs "
        f"from the spec: its target {topic} rewrites the event (Input), which corral does not "
        "set, so alarms forwarded from other regions reach no one; run `pulumi up --refresh` to "
        "restore it."
    )


def _action(deployed: dict) -> dict[str, str]:
    return {"AccountId": deployed["account"], "BudgetName": BUDGET,
            "ActionId": deployed["actions"][BUDGET]}  # fmt: skip


def test_budget_action_threshold_raised(deployed, monkeypatch, tmp_path) -> None:
    budgets = budgets_client()

    def threshold(value: float) -> Callable[[], None]:
        limit = {"ActionThresholdValue": value, "ActionThresholdType": "PERCENTAGE"}
        return lambda: budgets.update_budget_action(**_action(deployed), ActionThreshold=limit)

    failed = silenced(deployed, monkeypatch, tmp_path, threshold(900.0), threshold(120.0))
    found = only(failed, "budget-actions", f"budget action on {BUDGET}")
    assert found["message"] == (
        f"The circuit-breaker action on budget {BUDGET} in account {deployed['account']} "
        "differs from the spec: it acts at 900% of the budget instead of 120% of the budget; "
        "run `pulumi up --refresh` to restore it."
    )


def test_budget_action_runs_as_another_role(deployed, monkeypatch, tmp_path) -> None:
    budgets, a = budgets_client(), deployed["account"]
    other = f"arn:aws:iam::{a}:role/attacker"

    def role(arn: str) -> Callable[[], None]:
        return lambda: budgets.update_budget_action(**_action(deployed), ExecutionRoleArn=arn)

    failed = silenced(deployed, monkeypatch, tmp_path, role(other), role(deployed["role"]))
    found = only(failed, "budget-actions", f"budget action on {BUDGET}")
    assert found["message"] == (
        f"The circuit-breaker action on budget {BUDGET} in account {a} differs from the spec: "
        f"it runs as {other} instead of {deployed['role']}; run `pulumi up --refresh` to restore "
        "it."
    )


def test_budget_action_deleted(deployed, monkeypatch, tmp_path) -> None:
    spec, budgets = deployed["spec"], budgets_client()

    def recreate() -> None:
        [site] = spend_plan.plan(spec.spend)
        request = spend_breaker.breaker_request(
            spec.spend, site.breakers[0], account_id=deployed["account"],
            role_arn=deployed["role"], policy_ref=deployed["policy"], topic_arn=deployed["topic"],
        )  # fmt: skip
        deployed["actions"][BUDGET] = budgets.create_budget_action(**request)["ActionId"]

    failed = silenced(deployed, monkeypatch, tmp_path,
                      lambda: budgets.delete_budget_action(**_action(deployed)),
                      recreate)  # fmt: skip
    found = only(failed, "budget-actions", f"budget action on {BUDGET}")
    assert found["message"] == (
        f"Budget {BUDGET} in account {deployed['account']} has no circuit-breaker action, so "
        "nothing stops new EC2 capacity when actual spend passes 120% of the budget; run "
        "`pulumi up --refresh` to recreate it."
    )


def test_alarm_deleted_in_one_region(deployed, monkeypatch, tmp_path) -> None:
    spend, region = deployed["spec"].spend, "ap-south-1"
    [site] = spend_plan.plan(spend)
    alarm = next(a for a in site.alarms if a.region == region)
    cloudwatch = client("cloudwatch", region=region)
    failed = silenced(
        deployed, monkeypatch, tmp_path,
        lambda: cloudwatch.delete_alarms(AlarmNames=[alarm.name]),
        lambda: cloudwatch.put_metric_alarm(**spend_requests.alarm_request(alarm, None)),
    )  # fmt: skip
    found = only(failed, "alarms-present", f"alarm {alarm.name}")
    assert (found["region"], found["message"]) == (region, (
        f"vCPU alarm {alarm.name} is missing in account {deployed['account']} {region}; run "
        "`pulumi up --refresh` to recreate it."
    ))  # fmt: skip


def test_everything_restored_verifies_clean_again(deployed, monkeypatch, tmp_path) -> None:
    code, failed = verify(deployed, monkeypatch, tmp_path)
    assert (code, failed) == (E.EXIT_OK, [])
