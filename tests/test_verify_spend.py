"""Spend checks against in-process moto: budgets, alarms in every region, the alert topic.

The resources are created with boto3 from corral.build.spend_requests
(``deploy_spend``), then tampered with as someone in the console would. Moto implements
no DescribeSubscribersForNotification: ``serve_budget_subscribers`` answers it from the
subscribers moto stored with each notification, and a test below proves moto still
lacks the API.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from test_verify_support import (
    SPEND,
    account_stack,
    client,
    deploy_account,
    deploy_spend,
    load,
    make_account_principals,
    make_org,
    serve_budget_subscribers,
)

from corral.audit import checks
from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.checks._base import VerifyContext
from corral.audit.verify import run_check, verify
from corral.build import spend_plan, spend_requests
from corral.build.plan import build_plan
from corral.cli import errors as E
from corral.cli.verify import register, required_policy
from corral.spec import catalog
from corral.spec import spend as spend_spec

SPEND_CHECKS = ("budget-present", "alarms-present", "topic-subscriptions")
HOME = "us-east-1"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A standalone account with its guardrails and every spend resource deployed, once per
    module (360 alarms): each test that tampers restores what it changed."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")  # botocore knows more regions
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        make_account_principals()
        spec = load(account_stack(tmp_path_factory.mktemp("spend"), extra=SPEND))
        deploy_account(spec)
        yield {"spec": spec, **deploy_spend(spec)}


def run(spec, *only: str, conn: Connection | None = None) -> list[F.Finding]:
    """The spend findings of ``verify`` (or, faster, of the checks ``only``)."""
    conn = conn or Connection(region=spec.region, max_attempts=2)
    serve_budget_subscribers(conn.events)
    if not only:
        return [f for f in verify(spec, conn) if f.check in SPEND_CHECKS]
    ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account())
    chosen = [c for c in checks.REGISTRY if c.id in only]
    return [f for c in chosen for f in run_check(c, ctx, ctx.account, None, conn.role_name)]


def failures(found: list[F.Finding], check: str) -> list[F.Finding]:
    return [f for f in found if f.status != F.PASS and f.check == check]


def test_moto_still_lacks_the_subscriber_api(deployed: dict) -> None:
    with pytest.raises(NotImplementedError):
        client("budgets").describe_subscribers_for_notification(
            AccountId=deployed["account"],
            BudgetName="corral-monthly",
            Notification=spend_requests.notification_request(
                spend_spec.Notification(spend_spec.ACTUAL, 50.0)
            ),
        )


def test_every_spend_resource_present_passes(deployed: dict) -> None:
    found = run(deployed["spec"])
    assert [f for f in found if f.status != F.PASS] == []
    regions = catalog.regions("aws")
    alarms = [f for f in found if f.check == "alarms-present"]
    assert sorted(f.region for f in alarms) == sorted(regions)
    account = deployed["account"]
    [budget] = [f for f in found if f.check == "budget-present"]
    assert budget.message == (
        f"Budget corral-monthly in account {account} limits monthly cost to 200.00 USD and "
        "notifies 3 subscribers at each of its 4 thresholds."
    )
    [topic] = [f for f in found if f.check == "topic-subscriptions"]
    assert topic.message == (
        f"SNS topic corral-spend-alerts in account {account} us-east-1 has its topic policy "
        "and encryption and all 3 confirmed subscriptions, each with the attributes corral sets."
    )
    [forwarded] = [f for f in alarms if f.region == "ap-south-1"]
    assert forwarded.message == (
        f"All 21 spend alarms of account {account} in ap-south-1 are present and reach topic "
        f"{deployed['topic']} through EventBridge rule corral-spend-forward."
    )


def _subscribers(deployed: dict, without: str = "") -> list[dict]:
    everyone = spend_requests.subscribers(deployed["spec"].spend, deployed["topic"])
    return [s for s in everyone if s["Address"] != without]


def test_budget_present_fails_when_a_notification_is_deleted(deployed: dict) -> None:
    account, budgets = deployed["account"], client("budgets")
    note = spend_requests.notification_request(spend_spec.Notification(spend_spec.ACTUAL, 80.0))
    where = {"AccountId": account, "BudgetName": "corral-monthly"}
    budgets.delete_notification(**where, Notification=note)
    try:
        [missing] = failures(run(deployed["spec"], "budget-present"), "budget-present")
    finally:
        budgets.create_notification(**where, Notification=note, Subscribers=_subscribers(deployed))
    assert missing.resource == "budget corral-monthly"
    assert missing.message == (
        f"Budget corral-monthly in account {account} has no notification when actual spend "
        "passes 80% of its limit; run `pulumi up --refresh` to recreate it."
    )


def test_budget_present_fails_when_a_subscriber_is_removed(deployed: dict) -> None:
    account, budgets = deployed["account"], client("budgets")
    note = spend_requests.notification_request(
        spend_spec.Notification(spend_spec.FORECASTED, 100.0)
    )
    where = {"AccountId": account, "BudgetName": "corral-monthly", "Notification": note}
    budgets.delete_notification(**where)
    budgets.create_notification(**where, Subscribers=_subscribers(deployed, "finance@example.com"))
    try:
        [lacking] = failures(run(deployed["spec"], "budget-present"), "budget-present")
    finally:
        budgets.delete_notification(**where)
        budgets.create_notification(**where, Subscribers=_subscribers(deployed))
    assert lacking.message == (
        f"Budget corral-monthly in account {account} does not notify finance@example.com "
        "(EMAIL) when forecasted spend passes 100% of its limit; run `pulumi up --refresh` to add "
        "the "
        "subscriber again."
    )


def test_budget_present_fails_when_the_budget_is_deleted(deployed: dict) -> None:
    account, budgets, spec = deployed["account"], client("budgets"), deployed["spec"]
    budgets.delete_budget(AccountId=account, BudgetName="corral-monthly")
    try:
        [gone] = failures(run(spec, "budget-present"), "budget-present")
    finally:
        [budget] = spend_plan.plan(spec.spend)[0].budgets
        budgets.create_budget(
            **spend_requests.budget_request(spec.spend, budget, account, deployed["topic"])
        )
    assert gone.message == (
        f"Budget corral-monthly is missing in account {account}; run `pulumi up --refresh` to "
        "recreate it."
    )


def test_budget_present_not_found_answer_means_missing(deployed: dict) -> None:
    conn = Connection(region=HOME, max_attempts=2)

    def none_found(**_: object):
        error = {"Code": "NotFoundException", "Message": "no budgets exist for this account"}
        meta = {"HTTPStatusCode": 400}
        return AWSResponse("https://x", 400, {}, None), {"Error": error, "ResponseMetadata": meta}

    conn.events.register("before-call.budgets.DescribeBudgets", none_found)
    [gone] = run(deployed["spec"], "budget-present", conn=conn)
    assert gone.status == F.FAIL
    assert gone.message.startswith("Budget corral-monthly is missing in account ")


def _alarm(deployed: dict, name: str) -> dict:
    [alarm] = [a for a in spend_plan.plan(deployed["spec"].spend)[0].alarms if a.name == name]
    return spend_requests.alarm_request(alarm, deployed["topic"])


def test_alarms_present_fails_when_missing_in_one_region(deployed: dict) -> None:
    account, name = deployed["account"], "corral-spend-vcpu-ap-south-1-standard"
    cloudwatch = client("cloudwatch", region="ap-south-1")
    cloudwatch.delete_alarms(AlarmNames=[name])
    try:
        found = run(deployed["spec"], "alarms-present")
    finally:
        cloudwatch.put_metric_alarm(**_alarm(deployed, name))
    [missing] = failures(found, "alarms-present")
    assert (missing.region, missing.resource) == ("ap-south-1", f"alarm {name}")
    assert missing.message == (
        f"vCPU alarm {name} is missing in account {account} ap-south-1; run `pulumi up --refresh` "
        "to "
        "recreate it."
    )
    assert len([f for f in found if f.status == F.PASS]) == len(catalog.regions("aws")) - 1


def test_alarms_present_fails_when_a_threshold_is_raised(deployed: dict) -> None:
    account, name = deployed["account"], "corral-spend-vcpu-us-east-1-p"
    cloudwatch = client("cloudwatch")
    cloudwatch.put_metric_alarm(**{**_alarm(deployed, name), "Threshold": 512.0})
    try:
        [raised] = failures(run(deployed["spec"], "alarms-present"), "alarms-present")
    finally:
        cloudwatch.put_metric_alarm(**_alarm(deployed, name))
    assert raised.message == (
        f"vCPU alarm {name} in account {account} us-east-1 differs from the spec: its "
        "Threshold is 512.0 instead of 0.0; run `pulumi up --refresh` to restore it."
    )


def test_alarms_present_fails_when_the_forward_rule_is_missing(deployed: dict) -> None:
    account, events = deployed["account"], client("events", region="eu-north-1")
    [target] = events.list_targets_by_rule(Rule="corral-spend-forward")["Targets"]
    events.remove_targets(Rule="corral-spend-forward", Ids=[target["Id"]])
    events.delete_rule(Name="corral-spend-forward")
    try:
        [unforwarded] = failures(run(deployed["spec"], "alarms-present"), "alarms-present")
    finally:
        events.put_rule(**spend_requests.forward_rule_request(deployed["spec"].spend))
        events.put_targets(Rule="corral-spend-forward", Targets=[target])
    assert unforwarded.message == (
        f"EventBridge rule corral-spend-forward is missing in account {account} eu-north-1, so "
        "the spend alarms in eu-north-1 reach no one; run `pulumi up --refresh` to recreate it."
    )


def test_topic_subscriptions_fails_when_a_subscription_is_removed(deployed: dict) -> None:
    account, sns, topic = deployed["account"], client("sns"), deployed["topic"]
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    [hook] = [s for s in subs if s["Protocol"] == "https"]
    sns.unsubscribe(SubscriptionArn=hook["SubscriptionArn"])
    try:
        [removed] = failures(run(deployed["spec"], "topic-subscriptions"), "topic-subscriptions")
    finally:
        sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=hook["Endpoint"])
    assert removed.message == (
        f"SNS topic corral-spend-alerts in account {account} us-east-1 has no https "
        "subscription for https://hooks.example.com/aws; run `pulumi up --refresh` to subscribe "
        "it again."
    )


def test_topic_subscriptions_fails_when_the_policy_lets_anyone_publish(deployed: dict) -> None:
    account, sns, topic = deployed["account"], client("sns"), deployed["topic"]
    original = sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
    policy = json.loads(original)
    del policy["Statement"][0]["Condition"]["StringEquals"]
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )
    try:
        [loose] = failures(run(deployed["spec"], "topic-subscriptions"), "topic-subscriptions")
    finally:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=original)
    assert loose.message == (
        f"SNS topic corral-spend-alerts in account {account} us-east-1 has a topic policy that "
        "differs from the spec: statement CorralBudgetsPublish drops the condition "
        f"StringEquals aws:sourceaccount ({account}); run `pulumi up --refresh` to restore it."
    )


def test_a_refused_read_is_an_error_for_the_account_not_a_pass(deployed: dict) -> None:
    conn = Connection(region=HOME, max_attempts=2)

    def deny(model, **_: object):
        if model.name != "ListTopics":
            return None
        error = {"Code": "AccessDeniedException", "Message": "not authorised"}
        return AWSResponse("https://x", 400, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    conn.events.register("before-call.sns", deny)
    found = run(deployed["spec"], conn=conn)
    [error] = [f for f in found if f.status == F.ERROR]
    account = deployed["account"]
    assert (error.check, error.account, error.region) == ("topic-subscriptions", account, HOME)
    assert error.message == (
        "Check topic-subscriptions could not complete because sns:ListTopics failed in "
        f"account {account} region us-east-1: AccessDeniedException: not authorised; grant the "
        "caller the actions printed by `corral iam-policy` and run it again."
    )
    assert E.exit_code(found) == E.EXIT_ERROR


def test_member_sites_are_read_in_the_member_account(deployed: dict, tmp_path: Path) -> None:
    org = make_org()  # in the same moto world: the caller becomes the management account
    stack = tmp_path / "Pulumi.org-spend.yaml"
    stack.write_text(
        textwrap.dedent(f"""\
        config:
          aws:region: us-east-1
          corral:mode: organization
          corral:allowedRegions: [us-east-1]
          corral:exemptPrincipals:
            - "arn:aws:iam::*:role/corral-break-glass"
            - "arn:aws:iam::*:role/OrganizationAccountAccessRole"
            - "arn:aws:iam::*:role/stacksets-exec-*"
          corral:targets:
            - {{id: {org.root}, name: root, guardrails: [regions]}}
            - {{id: {org.dev}, name: dev, guardrails: [regions]}}
          corral:notifications: {{emails: [ops@example.com]}}
          corral:alarms:
            vcpu: {{enabled: false}}
            spot: {{enabled: false}}
            fargate: {{enabled: false}}
            lambda: {{enabled: false}}
        """),
        encoding="utf-8",
    )
    found = run(load(stack), *SPEND_CHECKS)
    member = [f for f in found if f.account == org.dev]
    assert sorted((f.check, f.status) for f in member) == [
        ("budget-present", F.FAIL),
        ("topic-subscriptions", F.FAIL),
    ]
    [topic] = [f for f in member if f.check == "topic-subscriptions"]
    assert topic.message == (
        f"SNS topic corral-spend-alerts is missing in account {org.dev} us-east-1, so no spend "
        "alert reaches anyone; run `pulumi up --refresh` to recreate it."
    )
    billing = {f.resource for f in found if f.check == "alarms-present"}
    assert billing == {"alarm corral-spend-billing", f"alarm corral-spend-billing-{org.dev}"}


def test_spend_checks_are_silent_when_spend_detection_is_off(
    deployed: dict, tmp_path: Path
) -> None:
    spec = load(account_stack(tmp_path))
    assert spec.spend.enabled is False
    assert run(spec, *SPEND_CHECKS) == []


def test_iam_policy_includes_the_spend_and_effect_reads(tmp_path: Path) -> None:
    out = tmp_path / "policy.json"
    parser = argparse.ArgumentParser(prog="corral")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["iam-policy", "--output", str(out)])
    assert args.handler(args) == E.EXIT_OK
    printed = json.loads(out.read_text())
    assert printed == required_policy()
    reads = set(printed["Statement"][0]["Action"])
    assert {
        "budgets:ViewBudget",
        "cloudwatch:DescribeAlarms",
        "events:ListRules",
        "events:ListTargetsByRule",
        "sns:ListTopics",
        "sns:GetTopicAttributes",
        "sns:ListSubscriptionsByTopic",
        "organizations:ListParents",
        "organizations:DescribePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:ListAttachedUserPolicies",
        "iam:ListAttachedGroupPolicies",
    } <= reads


def _regions_read(conn: Connection) -> set[str]:
    """Record the regions whose endpoints the regional spend services are called at (alarms,
    rules, topic): ``https://monitoring.eu-west-1.amazonaws.com/`` -> ``eu-west-1``."""
    read: set[str] = set()

    def record(event_name: str, params: dict, **_: object) -> None:
        if event_name.split(".")[1] in ("cloudwatch", "eventbridge", "sns"):
            read.add(urlsplit(params["url"]).hostname.split(".")[1])

    conn.events.register("before-call", record)
    return read


def test_alarms_present_judges_only_the_chosen_regions(deployed: dict) -> None:
    account, name = deployed["account"], "corral-spend-vcpu-eu-west-1-standard"
    cloudwatch = client("cloudwatch", region="eu-west-1")
    cloudwatch.delete_alarms(AlarmNames=[name])
    try:
        everywhere = run(deployed["spec"], "alarms-present")
        conn = Connection(region=HOME, max_attempts=2)
        read = _regions_read(conn)
        serve_budget_subscribers(conn.events)
        chosen = verify(deployed["spec"], conn, regions=["us-east-1"])
        pair = Connection(region=HOME, max_attempts=2)
        read_pair = _regions_read(pair)
        serve_budget_subscribers(pair.events)
        both = verify(deployed["spec"], pair, regions=["eu-west-1", "us-east-1"])
    finally:
        cloudwatch.put_metric_alarm(**_alarm(deployed, name))
    [missing] = failures(everywhere, "alarms-present")
    assert missing.message == (
        f"vCPU alarm {name} is missing in account {account} eu-west-1; run `pulumi up --refresh` "
        "to "
        "recreate it."
    )
    assert failures(chosen, "alarms-present") == []
    assert {f.region for f in chosen if f.check == "alarms-present"} == {"us-east-1"}
    assert read == {"us-east-1"}
    assert [f.message for f in failures(both, "alarms-present")] == [missing.message]
    assert read_pair == {"eu-west-1", "us-east-1"}


def test_topic_subscriptions_is_not_judged_outside_the_chosen_regions(deployed: dict) -> None:
    conn = Connection(region=HOME, max_attempts=2)
    read = _regions_read(conn)
    serve_budget_subscribers(conn.events)
    found = verify(deployed["spec"], conn, regions=["ap-south-1"])
    assert {f.check for f in found if f.check in SPEND_CHECKS} == {
        "alarms-present",
        "budget-present",
    }
    assert {f.region for f in found if f.check == "alarms-present"} == {"ap-south-1"}
    assert read == {"ap-south-1"}


def test_verify_rejects_an_unknown_region_naming_the_closest(
    deployed: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    stack = account_stack(tmp_path, extra=SPEND)
    out = tmp_path / "report.json"
    parser = argparse.ArgumentParser(prog="corral")
    register(parser.add_subparsers(dest="command", required=True))
    argv = ["verify", "--config", str(stack), "--regions", "us-east-1", "eu-wset-1"]
    args = parser.parse_args([*argv, "--output", str(out)])
    assert args.handler(args) == E.EXIT_ERROR
    assert not out.exists()
    assert capsys.readouterr().err == (
        "corral: error: --regions 'eu-wset-1' is not a region of partition aws; did you mean "
        "'eu-west-1'?\n"
    )
