"""The acceptance cases: the example stack passes, the bad stack fails rule by rule."""

from __future__ import annotations

import json
import subprocess
import sys

import harness
import harness_program
import pytest
from conftest import EXAMPLE_CONFIG, FIXTURES, PACK, ROOT

from corral.build import packconfig
from corral.spec import catalog
from corral.spec.load import from_config, load_stack_file

ALARM_FIX = (
    "Add an AWS/Usage ResourceCount alarm (Service=EC2, Type=Resource, Resource=vCPU) in every "
    "region, with an alarm action or an EventBridge rule forwarding its state changes."
)
REGIONS_FIX = "Deploy to an allowed region, or add the region to corral:allowedRegions."
BAD = {
    "instance-types": [
        "aws:ec2/instance:Instance 'miner' launches c5a.24xlarge (instanceType), but it matches "
        "none of the allowed patterns c7i.*, m7i.*, t3.*, t4g.*; the instance-types rule forbids "
        "this. Use only instance types the corral spec permits (`corral instance-types` lists "
        "them), or change corral:instances and regenerate the pack config with `corral "
        "policy-config`."
    ],
    "spot-instances": [
        "aws:ec2/spotInstanceRequest:SpotInstanceRequest 'bargain' requests Spot capacity (every "
        "resource of this type is Spot); the spot-instances rule forbids this. Use On-Demand "
        "capacity (drop the Spot settings), or set spot: true under corral:instances (or the "
        "target's instances) and regenerate the pack config with `corral policy-config`."
    ],
    "compute-services": [
        "aws:lightsail/instance:Instance 'side-vps' runs on lightsail, a compute service the spec "
        "does not allow (corral:compute.allow lists ec2); the compute-services rule forbids "
        "this. Run the workload on a compute service the corral spec allows, with instance types "
        "its instance rule permits, or change corral:compute.allow (or corral:instances) and "
        "regenerate the pack config with `corral policy-config`."
    ],
    "purchases": [
        "aws:ec2/capacityReservation:CapacityReservation 'held' commits money in the purchase "
        "category capacityReservations, which corral:purchases.allow does not list; the "
        "purchases rule forbids this. Remove the purchase (pay as you go instead), or add its "
        "category to corral:purchases.allow and regenerate the pack config with `corral "
        "policy-config`."
    ],
    "allowed-regions": [
        "aws:s3/bucket:Bucket 'loot' deploys to us-west-2 (from provider 'oregon'), outside the "
        f"allowed regions eu-west-1, us-east-1; the allowed-regions rule forbids this. "
        f"{REGIONS_FIX}",
    ],
    "no-iam-access-keys": [
        "aws:iam/accessKey:AccessKey 'script-key' creates a long-lived access key for IAM user "
        "'developer'; the no-iam-access-keys rule forbids this. Remove the access key; give "
        "workloads an IAM role and people SSO or other short-lived credentials."
    ],
    "no-admin-policies": [
        "aws:iam/rolePolicy:RolePolicy 'god-mode' grants Action '*' on Resource '*' (statement "
        "#1 of policy); the no-admin-policies rule forbids this. Grant only the actions and "
        "resources the principal needs."
    ],
    "guardrail-document-size": [
        "aws:organizations/policy:Policy 'corral-big' is 7072 characters, more than the 5120 AWS "
        "allows for an SCP; the guardrail-document-size rule forbids this. Let corral's builders "
        "split the statements (use fewer or broader instance patterns) instead of editing the "
        "document."
    ],
    "guardrail-attachment-quota": [
        "Target ou-a1b2-workload1 gets 5 SCPs from this stack (corral-part-0-workloads, "
        "corral-part-1-workloads, corral-part-2-workloads, corral-part-3-workloads, "
        "corral-part-4-workloads) and keeps FullAWSAccess, 6 in all, more than the 5 AWS "
        "allows; the guardrail-attachment-quota rule forbids this. Use fewer or broader instance "
        "patterns so corral packs its statements into fewer documents, and keep FullAWSAccess "
        "attached."
    ],
    "guardrail-full-aws-access": [
        "aws:organizations/organization:Organization 'org' leaves SERVICE_CONTROL_POLICY out of "
        "enabledPolicyTypes, which detaches every SCP, FullAWSAccess and corral's included; the "
        "guardrail-full-aws-access rule forbids this. Keep feature set ALL and "
        "SERVICE_CONTROL_POLICY in enabledPolicyTypes, and leave FullAWSAccess attached to every "
        "target corral attaches SCPs to."
    ],
    "guardrail-exempt-principals": [
        "aws:organizations/policy:Policy 'corral-everyone' exempts 'arn:aws:iam::*:role/*' from "
        "statement CorralDenyOutsideAllowedRegions, which matches every principal, so the "
        "guardrail binds nobody; the guardrail-exempt-principals rule forbids this. Exempt only "
        "the named break-glass role in corral:exemptPrincipals, e.g. "
        "arn:aws:iam::*:role/corral-break-glass."
    ],
    "budget-notifications": [
        "The deploying account has budgets ('silent') but none has a "
        "notification with a subscriber, so overspending alerts nobody; the budget-notifications "
        "rule forbids this. Add a notification with subscriberEmailAddresses or "
        "subscriberSnsTopicArns to one of the account's budgets."
    ],
    "vcpu-alarms": [
        f"The deploying account has no vCPU alarm in {len(catalog.regions()) - 1} regions "
        f"({', '.join(r for r in catalog.regions() if r != 'us-east-1')}), so a launch there "
        f"goes unnoticed; the vcpu-alarms rule forbids this. {ALARM_FIX}",
        "The deploying account has vCPU alarms that reach nobody in 1 region (us-east-1), so a "
        f"launch there goes unnoticed; the vcpu-alarms rule forbids this. {ALARM_FIX}",
    ],
}


def program(name):
    return harness_program.program_callable(FIXTURES / name)[0]


@pytest.mark.parametrize("spend", [False, True])
def test_example_stack_passes_with_no_violation(analyze, stack_config, spend):
    report = analyze(program("example_stack"), stack={**stack_config, "corralTest:spend": spend})
    assert report.diagnostics == []
    if spend:
        assert not [n for n in report.not_applicable if n.urn == ""]


def test_example_stack_in_account_mode_passes(analyze, stack_config):
    account = {k: v for k, v in stack_config.items() if k != "corral:targets"}
    account["corral:mode"] = "account"
    account["corral:principals"] = {"groups": ["developers"], "roles": ["AdminRole"]}
    config = packconfig.pack_config(from_config(account))
    report = analyze(program("example_stack"), config=config, stack=account)
    assert report.diagnostics == []


@pytest.mark.skipif(not (ROOT / "__main__.py").is_file(), reason="the corral program is absent")
@pytest.mark.parametrize("stack_file", ["Pulumi.example.yaml", "Pulumi.spend-example.yaml"])
def test_the_corral_program_passes_its_own_pack(analyze, stack_file):
    if not (ROOT / stack_file).is_file():
        pytest.skip(f"{stack_file} is absent")
    stack = harness.load_stack_config(ROOT / stack_file)
    config = packconfig.pack_config(load_stack_file(ROOT / stack_file))
    report = analyze(harness_program.program_callable(ROOT)[0], config=config, stack=stack)
    assert report.mandatory == []


def test_bad_stack_breaks_every_rule_with_exact_messages(analyze):
    report = analyze(program("bad_stack"))
    found: dict[str, list[str]] = {}
    for d in report.diagnostics:
        assert d.enforcement == "mandatory", d
        found.setdefault(d.policy, []).append(d.detail)
    assert sorted(found) == sorted(packconfig.RULE_IDS)
    assert found == BAD


def test_preview_check_command_line(tmp_path):
    cmd = [sys.executable, str(PACK / "harness.py")]
    bad = subprocess.run(
        [*cmd, str(FIXTURES / "bad_stack"), "--config", str(EXAMPLE_CONFIG)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert bad.returncode == 1, bad.stderr
    lines = bad.stdout.splitlines()
    assert f"mandatory: [no-iam-access-keys] {BAD['no-iam-access-keys'][0]}" in lines
    assert lines[-1] == "14 diagnostics, 14 mandatory."

    config = tmp_path / "pack.json"
    config.write_text(json.dumps(packconfig.pack_config(load_stack_file(EXAMPLE_CONFIG))))
    good = subprocess.run(
        [
            *cmd,
            str(FIXTURES / "example_stack"),
            "--config",
            str(EXAMPLE_CONFIG),
            "--policy-pack-config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert (good.returncode, good.stdout) == (0, "0 diagnostics, 0 mandatory.\n"), good.stderr


def test_preview_check_errors_are_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(PACK / "harness.py"), str(tmp_path), "--config", str(EXAMPLE_CONFIG)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"corral preview-check: error: {tmp_path}: no Python program found; pass a directory "
        "with __main__.py.\n"
    )
