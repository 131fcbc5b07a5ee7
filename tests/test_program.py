"""The whole Pulumi program (__main__.py) under pulumi.runtime.set_mocks."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components import program
from components.boundary import BOUNDARY_KIND
from corral.build.manifest import build_manifest, digest
from corral.build.plan import BuildError, build_plan
from corral.spec.load import from_config

MAIN = Path(__file__).resolve().parent.parent / "__main__.py"
SCP = "aws:organizations/policy:Policy"
SCP_ATTACHMENT = "aws:organizations/policyAttachment:PolicyAttachment"
IAM_POLICY = "aws:iam/policy:Policy"

ACCOUNT_STACK = """\
config:
  aws:region: eu-west-1
  corral:mode: account
  corral:allowedRegions: [eu-west-1]
  corral:exemptPrincipals: ["arn:aws:iam::*:role/corral-break-glass"]
  corral:instances:
    allow: [t3.*, t4g.*]
    maxVcpus: 8
  corral:protections:
    guardDuty: false
  corral:principals:
    groups: [developers]
    users: [ci-deployer]
    roles: [AdminRole]
  corral:allowLockout: false
  corral:namePrefix: pen
"""


def stack_config(path: Path) -> dict[str, Any]:
    """The ``config:`` map of a stack file."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))["config"]


def as_engine(config: dict[str, Any]) -> dict[str, str]:
    """Config as the engine hands it to a program: text, structured values as JSON."""
    return {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()
    }


def run_main() -> pulumi.Output:
    """Run __main__.py as the language host does; return the exported manifest."""
    runpy.run_path(str(MAIN), run_name="__main__")
    return pulumi.runtime.get_root_resource().outputs["manifest"]


def test_example_stack_deploys_the_builders_plan(pulumi_mocks, deploy, example_stack):
    config = stack_config(example_stack)
    pulumi.runtime.set_all_config(as_engine(config))
    manifest = deploy(run_main)

    spec = from_config(config)
    plan = build_plan(spec)
    policies = {p.name: p for p in pulumi_mocks.of_type(SCP)}
    attachments = pulumi_mocks.of_type(SCP_ATTACHMENT)
    assert len(pulumi_mocks.created) == 9
    assert sorted(policies) == [
        "corral-ml",
        "corral-root",
        "corral-root-capacity",
        "corral-workloads",
    ]
    assert {n: p.inputs["content"] for n, p in policies.items()} == {
        d.name: d.content for d in plan.documents
    }
    by_id = pulumi_mocks.by_id()
    assert sorted(
        (by_id[a.inputs["policyId"]].name, a.inputs["targetId"]) for a in attachments
    ) == [
        ("corral-ml", "ou-a1b2-mlteam001"),
        ("corral-root", "r-a1b2"),
        ("corral-root-capacity", "r-a1b2"),
        ("corral-workloads", "ou-a1b2-workload1"),
    ]
    ids = {n: p.id for n, p in policies.items()}
    assert manifest == build_manifest(spec, plan, ids)
    root = manifest["documents"][0]
    assert root == {
        "name": "corral-root",
        "kind": "scp",
        "guardrails": ["regions", "protection"],
        "sha256": digest(plan.document("corral-root").content),
        "size": len(plan.document("corral-root").content),
        "id": ids["corral-root"],
    }
    assert manifest["attachments"] == [
        {
            "document": "corral-root",
            "targetId": "r-a1b2",
            "targetKind": "root",
            "targetName": "root",
        },
        {
            "document": "corral-root-capacity",
            "targetId": "r-a1b2",
            "targetKind": "root",
            "targetName": "root",
        },
        {
            "document": "corral-workloads",
            "targetId": "ou-a1b2-workload1",
            "targetKind": "ou",
            "targetName": "workloads",
        },
        {
            "document": "corral-ml",
            "targetId": "ou-a1b2-mlteam001",
            "targetKind": "ou",
            "targetName": "ml",
        },
    ]


def test_account_stack_attaches_the_iam_policy_to_every_principal(pulumi_mocks, deploy, tmp_path):
    path = tmp_path / "Pulumi.account.yaml"
    path.write_text(ACCOUNT_STACK, encoding="utf-8")
    config = stack_config(path)
    pulumi.runtime.set_all_config(as_engine(config))
    manifest = deploy(run_main)

    policies = {p.name: p for p in pulumi_mocks.of_type(IAM_POLICY)}
    assert sorted(policies) == ["pen-boundary", "pen-guardrails", "pen-guardrails-capacity"]
    plan = build_plan(from_config(config))
    prefix = "arn:aws:iam::111111111111:policy/corral/"
    for name, policy in policies.items():
        assert (policy.id, policy.inputs["path"]) == (prefix + name, "/corral/")
        assert policy.inputs["policy"] == plan.document(name).content
    wiring = sorted(
        (c.type.split(":")[-1], c.name, c.inputs["policyArn"])
        for c in pulumi_mocks.created
        if "PolicyAttachment" in c.type
    )
    # Both guardrail policies reach every principal; the boundary is never attached as one.
    assert wiring == sorted(
        (kind, f"{doc}.{label}", prefix + doc)
        for doc in ("pen-guardrails", "pen-guardrails-capacity")
        for kind, label in (
            ("GroupPolicyAttachment", "group.developers"),
            ("RolePolicyAttachment", "role.AdminRole"),
            ("UserPolicyAttachment", "user.ci-deployer"),
        )
    )
    bounded = sorted(
        (c.inputs["principalKind"], c.inputs["principalName"], c.inputs["policyArn"])
        for c in pulumi_mocks.created
        if c.inputs.get("kind") == BOUNDARY_KIND
    )
    assert bounded == [
        ("role", "AdminRole", prefix + "pen-boundary"),
        ("user", "ci-deployer", prefix + "pen-boundary"),
    ]
    assert len(pulumi_mocks.created) == 1 + 3 + 6 + 2
    assert manifest["mode"] == "account"
    assert manifest["region"] == "eu-west-1"
    assert [(d["name"], d["kind"], d["id"]) for d in manifest["documents"]] == [
        (name, "iam", prefix + name)
        for name in ("pen-guardrails", "pen-guardrails-capacity", "pen-boundary")
    ]
    assert [(a["targetKind"], a["targetName"]) for a in manifest["attachments"]] == [
        (kind, name)
        for kind, name in (("group", "developers"), ("user", "ci-deployer"), ("role", "AdminRole"))
        for _ in range(2)
    ]


def test_bad_region_fails_with_one_line_and_creates_nothing(pulumi_mocks, deploy, example_stack):
    config = stack_config(example_stack)
    config["corral:allowedRegions"] = ["us-est-1"]
    pulumi.runtime.set_all_config(as_engine(config))
    with pytest.raises(pulumi.RunError) as excinfo:
        deploy(run_main)
    assert str(excinfo.value) == (
        "corral:allowedRegions: 'us-est-1' is not a region of partition aws; "
        "did you mean 'us-east-1'?"
    )
    assert excinfo.value.__suppress_context__
    assert pulumi_mocks.created == []


def test_build_error_fails_with_its_message(pulumi_mocks, deploy, example_stack, monkeypatch):
    message = "target r-a1b2 would need 5 corral SCPs plus FullAWSAccess, more than AWS allows."

    def too_big(spec):
        raise BuildError(message)

    monkeypatch.setattr(program, "build_plan", too_big)
    pulumi.runtime.set_all_config(as_engine(stack_config(example_stack)))
    with pytest.raises(pulumi.RunError) as excinfo:
        deploy(program.run)
    assert str(excinfo.value) == message
    assert pulumi_mocks.created == []


def test_secret_corral_setting_is_rejected_by_key(pulumi_mocks, deploy, example_stack):
    pulumi.runtime.set_all_config(as_engine(stack_config(example_stack)), ["corral:namePrefix"])
    with pytest.raises(pulumi.RunError) as excinfo:
        deploy(program.run)
    assert str(excinfo.value) == (
        "corral:namePrefix: is a secret, but corral settings are not secret; set it plainly."
    )


def test_config_from_the_language_host_environment(
    pulumi_mocks, deploy, example_stack, monkeypatch
):
    config = stack_config(example_stack)
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(as_engine(config)))
    assert program.stack_config() == as_engine(config)
    manifest = deploy(lambda: program.deploy(program.stack_config()))
    assert [d["name"] for d in manifest["documents"]] == [
        "corral-root",
        "corral-root-capacity",
        "corral-workloads",
        "corral-ml",
    ]
    assert all(d["id"].startswith("p-") for d in manifest["documents"])


def test_unknown_key_is_rejected_before_anything_is_created(pulumi_mocks, deploy, example_stack):
    config = {**stack_config(example_stack), "corral:allowedRegion": ["us-east-1"]}
    pulumi.runtime.set_all_config(as_engine(config))
    with pytest.raises(pulumi.RunError) as excinfo:
        deploy(program.run)
    assert str(excinfo.value) == (
        "corral:allowedRegion: is not a known key; did you mean 'allowedRegions'?"
    )
    assert pulumi_mocks.created == []


def test_spend_example_deploys_spend_guardrails_and_lists_them_in_the_manifest(
    pulumi_mocks, deploy
):
    stack = Path(__file__).resolve().parent.parent / "Pulumi.spend-example.yaml"
    config = stack_config(stack)
    pulumi.runtime.set_all_config(as_engine(config))
    manifest = deploy(run_main)

    types = {c.type for c in pulumi_mocks.created}
    assert "corral:index:SpendGuardrails" in types
    assert "aws:budgets/budget:Budget" in types
    alarms = pulumi_mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    spend = from_config(config).spend
    assert len(manifest["spend"]["alarms"]) == len(alarms) > 300
    assert {a["name"] for a in manifest["spend"]["alarms"]} == {a.inputs["name"] for a in alarms}
    assert manifest["spend"]["budgets"] and manifest["spend"]["topics"]
    assert spend.breaker is True
    assert manifest["documents"][0]["kind"] == "iam"
