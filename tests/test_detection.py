"""CorralProtectDetection: the statement that keeps the key holder from silencing spend
detection, its action names (botocore models; the Budgets permissions of the Service
Authorization Reference), where it is built, the detection-* probes and ``corral explain``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import botocore.session
import pytest
import yaml

from corral.build import detection as D
from corral.build import identities as I
from corral.build.plan import build_plan
from corral.cli import main as cli
from corral.evaluate.engine import ALLOW, DENY
from corral.evaluate.judge import run_probes
from corral.evaluate.probe_kit import EXPECT_DENY, EXPECT_NOT_DENIED
from corral.spec import keys as K
from corral.spec.load import load_stack_file
from tests.conftest import ROOT

SPEND_STACK = ROOT / "Pulumi.spend-example.yaml"
A = "111122223333"
BREAK_GLASS = f"arn:aws:iam::{A}:role/corral-break-glass"
# Write operations of the protected kinds that the statement leaves out on purpose.
NOT_SILENCING = {
    "cloudwatch:DeleteAlarmMuteRule": "authorized on the mute rule only; unmutes alarms",
    "cloudwatch:EnableAlarmActions": "turns actions back on",
    "sns:ConfirmSubscription": "confirms a pending subscription; Subscribe itself is denied",
    "sns:CreateTopic": "an existing name returns the existing topic",
    "events:EnableRule": "turns a rule back on",
}


def statements(plan) -> dict[str, dict]:
    """The statements of the guardrail documents (not the boundary's) by Sid."""
    return {s["Sid"]: s for d in plan.guardrail_documents for s in d.policy["Statement"]}


def stack(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- action names


def test_cloudwatch_sns_and_events_actions_are_operations_of_their_models():
    session = botocore.session.get_session()
    for action in D.ALARM_ACTIONS + D.TOPIC_ACTIONS + D.RULE_ACTIONS:
        service, operation = action.split(":")
        assert operation in session.get_service_model(service).operation_names, action


def test_budgets_actions_are_permissions_covering_every_budgets_write():
    """Budgets' IAM actions are not API names (Service Authorization Reference): each
    denied one is mapped to the operations it authorizes, and every write operation of
    botocore's Budgets model is authorized by a denied permission."""
    operations = set(botocore.session.get_session().get_service_model("budgets").operation_names)
    assert set(D.BUDGET_ACTIONS) == set(D.BUDGETS_PERMISSIONS)
    covered = {op for ops in D.BUDGETS_PERMISSIONS.values() for op in ops}
    assert covered <= operations
    assert {o for o in operations if not o.startswith(("Describe", "List"))} == covered
    assert "DeleteNotification" in D.BUDGETS_PERMISSIONS["budgets:ModifyBudget"]
    assert "budgets:DeleteNotification" not in D.DETECTION_ACTIONS  # not an IAM action


@pytest.mark.parametrize(
    ("service", "words"),
    [("cloudwatch", ("Alarm",)), ("sns", ("Topic", "Subscri", "Permission", "Tag")),
     ("events", ("Rule", "Target", "Tag"))],
)  # fmt: skip
def test_no_new_write_on_the_protected_kinds_goes_unreviewed(service, words):
    """A write operation AWS adds on alarms, topics, subscriptions or rules must be denied
    or listed in NOT_SILENCING with the reason (PutAlarmMuteRule was found this way)."""
    model = botocore.session.get_session().get_service_model(service)
    for operation in model.operation_names:
        if operation.startswith(("Describe", "Get", "List")) or not any(
            w in operation for w in words
        ):
            continue
        action = f"{service}:{operation}"
        assert action in D.DETECTION_ACTIONS or action in NOT_SILENCING, action


# --------------------------------------------------------------------------- the statement


def test_the_spend_example_denies_silencing_detection_to_all_but_the_exempt():
    plan = build_plan(load_stack_file(SPEND_STACK))
    found = statements(plan)[D.SID_DETECTION]
    assert found["Effect"] == "Deny"
    assert found["Action"] == sorted(D.DETECTION_ACTIONS)
    assert found["Resource"] == [
        "arn:aws:budgets::*:budget/corral-*",
        "arn:aws:cloudwatch:*:*:alarm:corral-spend-*",
        "arn:aws:events:*:*:rule/corral-spend-*",
        "arn:aws:sns:*:*:corral-spend-alerts",
        "arn:aws:sns:*:*:corral-spend-alerts:*",
    ]
    assert found["Condition"] == {
        "ArnNotLike": {"aws:PrincipalARN": ["arn:aws:iam::*:role/corral-break-glass"]}
    }
    # The roles are CorralProtectIdentities' (role/corral/*), so no second statement.
    assert D.SID_DETECTION_ROLES not in statements(plan)
    assert "arn:aws:iam::*:role/corral/*" in statements(plan)[I.SID_IDENTITIES]["Resource"]
    # The boundary holds it (protections first), without the exemption.
    boundary = {s["Sid"]: s for s in plan.document(plan.boundary).policy["Statement"]}
    assert "Condition" not in boundary[D.SID_DETECTION]
    assert plan.boundary_omitted == ("CorralDenyComputeServices", "CorralDenyPurchases")


def test_it_packs_into_a_document_of_its_own_so_the_others_keep_their_names(tmp_path):
    document = yaml.safe_load(SPEND_STACK.read_text("utf-8"))
    kept = {K.AWS_REGION_KEY} | {f"{K.NAMESPACE}:{key}" for key in K.TOP_LEVEL_KEYS}
    document["config"] = {k: v for k, v in document["config"].items() if k in kept}
    path = tmp_path / "Pulumi.quiet.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    quiet, loud = build_plan(load_stack_file(path)), build_plan(load_stack_file(SPEND_STACK))
    assert [d.name for d in loud.guardrail_documents] == [
        "corral-guardrails", "corral-guardrails-detection", "corral-guardrails-capacity"
    ]  # fmt: skip
    for doc in quiet.guardrail_documents:
        assert loud.document(doc.name).content == doc.content
    detection = loud.document("corral-guardrails-detection")
    assert (detection.sids, detection.guardrails) == ((D.SID_DETECTION,), (K.PROTECTION,))


BASE = """\
config:
  aws:region: us-east-1
  corral:mode: account
  corral:allowedRegions: [us-east-1]
  corral:exemptPrincipals: ["arn:aws:iam::*:role/corral-break-glass"]
  corral:principals: {users: [dev]}
"""
SPEND = """\
  corral:notifications: {emails: [ops@example.com]}
  corral:circuitBreaker: {enabled: true}
"""


def test_built_only_when_detection_is_on_and_guardrails_are_protected(tmp_path):
    assert D.SID_DETECTION not in statements(build_plan(load_stack_file(stack(tmp_path, BASE))))
    off = BASE + "  corral:protections: {guardrails: false}\n" + SPEND
    assert D.SID_DETECTION not in statements(build_plan(load_stack_file(stack(tmp_path, off))))


def test_without_the_principal_protections_the_service_roles_get_their_own_statement(tmp_path):
    text = BASE + "  corral:protections: {principals: false}\n" + SPEND
    found = statements(build_plan(load_stack_file(stack(tmp_path, text))))
    roles = found[D.SID_DETECTION_ROLES]
    assert roles["Action"] == list(I.IAM_WRITES)
    assert roles["Resource"] == [
        "arn:aws:iam::*:role/corral/corral-circuit-breaker",
        "arn:aws:iam::*:role/corral/corral-spend-forwarder",
    ]
    assert I.SID_IDENTITIES not in found


def test_organization_targets_carrying_protection_get_it_within_the_scp_limit(tmp_path):
    document = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text("utf-8"))
    document["config"]["corral:notifications"] = {"emails": ["ops@example.com"]}
    document["config"]["corral:exemptPrincipals"].append("arn:aws:iam::*:role/stacksets-exec-*")
    path = tmp_path / "Pulumi.org.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    spec = load_stack_file(path)
    plan = build_plan(spec)
    carrying = [d for d in plan.documents if D.SID_DETECTION in d.sids]
    assert carrying and all(K.PROTECTION in d.guardrails for d in carrying)
    assert all(len(d.content) <= K.SCP_MAX_CHARS for d in plan.documents)
    results = [r for r in run_probes(spec, target="workloads") if "detection" in r.probe.id]
    assert results and all(r.passed for r in results), [r.message for r in results if not r.passed]


# --------------------------------------------------------------------------- probes


@pytest.fixture(scope="module")
def probed() -> dict:
    return {r.probe.id: r for r in run_probes(load_stack_file(SPEND_STACK))}


DENIED = {
    "detection-cloudwatch-deletealarms": D.SID_DETECTION,
    "detection-cloudwatch-disablealarmactions": D.SID_DETECTION,
    "detection-cloudwatch-putalarmmuterule": D.SID_DETECTION,
    "detection-sns-setsubscriptionattributes": D.SID_DETECTION,
    "detection-sns-unsubscribe": D.SID_DETECTION,
    "detection-sns-settopicattributes": D.SID_DETECTION,
    "detection-events-disablerule": D.SID_DETECTION,
    "detection-events-puttargets": D.SID_DETECTION,
    "detection-iam-deleterolepolicy": I.SID_IDENTITIES,
    "detection-budgets-executebudgetaction": D.SID_DETECTION,
    "detection-budgets-modifybudget": D.SID_DETECTION,
}


@pytest.mark.parametrize(("pid", "sid"), DENIED.items())
def test_silencing_detection_is_denied_naming_the_statement(probed, pid, sid):
    result = probed[pid]
    assert (result.probe.expected, result.passed) == (EXPECT_DENY, True)
    assert result.decision.decision == DENY
    assert [r.sid for r in result.decision.reasons if r.effect == "Deny"] == [sid]
    other = probed[pid.replace("detection-", "detection-other-", 1)]
    assert (other.probe.expected, other.passed) == (EXPECT_NOT_DENIED, True)
    assert other.probe.request.action == result.probe.request.action
    assert "corral" not in other.probe.request.resource
    exempt = probed[f"exempt-role-corral-break-glass-{pid}"]
    assert (exempt.passed, exempt.decision.decision) == (True, ALLOW)
    bounded = probed[f"bounded-{pid}"]
    assert bounded.passed and bounded.decision.reasons[0].policy == "corral-boundary"


def test_a_mute_rule_is_authorized_on_the_rule_and_on_the_alarm(probed):
    requests = probed["detection-cloudwatch-putalarmmuterule"].probe.requests
    assert [r.resource for r in requests] == [
        f"arn:aws:cloudwatch:eu-west-1:{A}:alarm-mute-rule:quiet-hours",
        f"arn:aws:cloudwatch:eu-west-1:{A}:alarm:corral-spend-vcpu-eu-west-1-standard",
    ]


# --------------------------------------------------------------------------- explain

EXPLAINED = [
    ("cloudwatch:DeleteAlarms", f"arn:aws:cloudwatch:eu-west-1:{A}:alarm:corral-spend-billing",
     f"arn:aws:cloudwatch:eu-west-1:{A}:alarm:app-cpu-high"),
    ("cloudwatch:DisableAlarmActions",
     f"arn:aws:cloudwatch:eu-west-1:{A}:alarm:corral-spend-vcpu-eu-west-1-standard",
     f"arn:aws:cloudwatch:eu-west-1:{A}:alarm:app-cpu-high"),
    ("sns:SetSubscriptionAttributes", f"arn:aws:sns:eu-west-1:{A}:corral-spend-alerts:0a1b",
     f"arn:aws:sns:eu-west-1:{A}:app-alerts:0a1b"),
    ("sns:Unsubscribe", f"arn:aws:sns:eu-west-1:{A}:corral-spend-alerts:0a1b",
     f"arn:aws:sns:eu-west-1:{A}:app-alerts:0a1b"),
    ("sns:SetTopicAttributes", f"arn:aws:sns:eu-west-1:{A}:corral-spend-alerts",
     f"arn:aws:sns:eu-west-1:{A}:app-alerts"),
    ("events:DisableRule", f"arn:aws:events:eu-west-1:{A}:rule/corral-spend-deliver",
     f"arn:aws:events:eu-west-1:{A}:rule/app-nightly"),
    ("events:PutTargets", f"arn:aws:events:eu-west-1:{A}:rule/corral-spend-deliver",
     f"arn:aws:events:eu-west-1:{A}:rule/app-nightly"),
    ("iam:DeleteRolePolicy", f"arn:aws:iam::{A}:role/corral/corral-spend-forwarder",
     f"arn:aws:iam::{A}:role/app-worker"),
    ("budgets:ExecuteBudgetAction", f"arn:aws:budgets::{A}:budget/corral-monthly/action/5e6f",
     f"arn:aws:budgets::{A}:budget/app-monthly/action/5e6f"),
    ("budgets:ModifyBudget", f"arn:aws:budgets::{A}:budget/corral-monthly",
     f"arn:aws:budgets::{A}:budget/app-monthly"),
]  # fmt: skip


def explain(capsys: pytest.CaptureFixture[str], *flags: str) -> dict:
    code = cli.main(["explain", "--config", str(SPEND_STACK), "--region", "eu-west-1", *flags,
                     "--format", "json"])  # fmt: skip
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "")
    return json.loads(captured.out)


@pytest.mark.parametrize(("action", "mine", "other"), EXPLAINED)
def test_explain_denies_silencing_naming_the_statement_and_allows_the_rest(
    capsys, action, mine, other
):
    denied = explain(capsys, "--action", action, "--resource", mine)
    assert denied["decision"] == DENY
    sid = I.SID_IDENTITIES if action.startswith("iam:") else D.SID_DETECTION
    policy = "corral-guardrails" if action.startswith("iam:") else "corral-guardrails-detection"
    assert (denied["reasons"][0]["sid"], denied["reasons"][0]["policy"]) == (sid, policy)
    assert explain(capsys, "--action", action, "--resource", other)["decision"] == ALLOW
    exempt = explain(capsys, "--action", action, "--resource", mine, "--principal", BREAK_GLASS)
    assert exempt["decision"] == ALLOW
    bounded = explain(capsys, "--under-boundary", "--action", action, "--resource", mine)
    assert (bounded["decision"], bounded["reasons"][0]["sid"]) == (DENY, sid)


def _probed_with(tmp_path: Path, changes: dict) -> dict:
    document = yaml.safe_load(SPEND_STACK.read_text("utf-8"))
    document["config"].update(changes)
    path = tmp_path / "Pulumi.probed.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return {r.probe.id: r for r in run_probes(load_stack_file(path))}


def test_the_fast_breakers_state_machine_is_probed_and_held(tmp_path):
    """With trigger: alarm, rewriting or deleting corral's state machine is denied to the
    key holder (CorralProtectDetection), another state machine is not; without it, no
    probe claims anything about a machine that is not deployed."""
    breaker = yaml.safe_load(SPEND_STACK.read_text("utf-8"))["config"]["corral:circuitBreaker"]
    fast = _probed_with(tmp_path, {"corral:circuitBreaker": {**breaker, "trigger": "alarm"}})
    for action in ("updatestatemachine", "deletestatemachine"):
        mine, other = fast[f"detection-states-{action}"], fast[f"detection-other-states-{action}"]
        assert (mine.probe.expected, mine.passed, mine.decision.decision) == (
            EXPECT_DENY, True, DENY
        )  # fmt: skip
        assert [r.sid for r in mine.decision.reasons if r.effect == "Deny"] == [D.SID_DETECTION]
        assert mine.probe.request.resource == (
            f"arn:aws:states:eu-west-1:{A}:stateMachine:corral-circuit-breaker"
        )
        assert (other.probe.expected, other.passed) == (EXPECT_NOT_DENIED, True)
    slow = _probed_with(tmp_path, {})
    assert not any("states" in pid for pid in slow)


def test_a_members_stackset_stack_is_probed_and_held(tmp_path):
    """Below a root or OU that corral's StackSet reaches, updating or deleting the account's
    spend-detection stack is denied by the SCP; another stack is not."""
    document = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text("utf-8"))
    document["config"]["corral:notifications"] = {"emails": ["ops@example.com"]}
    document["config"]["corral:exemptPrincipals"].append("arn:aws:iam::*:role/stacksets-exec-*")
    path = tmp_path / "Pulumi.org.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    probed = {r.probe.id: r for r in run_probes(load_stack_file(path), target="workloads")}
    for action in ("updatestack", "deletestack"):
        mine = probed[f"detection-cloudformation-{action}"]
        other = probed[f"detection-other-cloudformation-{action}"]
        assert (mine.probe.expected, mine.passed, mine.decision.decision) == (
            EXPECT_DENY, True, DENY
        )  # fmt: skip
        assert "stack/StackSet-corral-spend-detection-" in mine.probe.request.resource
        assert (other.probe.expected, other.passed) == (EXPECT_NOT_DENIED, True)
