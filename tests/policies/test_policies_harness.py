"""The harness itself: config validation, URNs, providers, process lifetime."""

from __future__ import annotations

import harness_pack
import harness_program
import harness_requests
import pulumi
import pulumi_aws as aws
import pytest
from conftest import PACK


def test_config_is_validated_against_the_rule_schemas(pack):
    with pytest.raises(harness_program.HarnessError) as error:
        pack.configure({"instance-types": {"allow": ["t3.*"], "maxCpus": 4}})
    assert str(error.value) == (
        "instance-types: Additional properties are not allowed ('maxCpus' was unexpected); fix "
        "the policy pack config."
    )
    with pytest.raises(
        harness_program.HarnessError, match=r"^allowed-regions.regions: 'us' is not of "
    ):
        pack.configure({"allowed-regions": {"regions": "us"}})
    with pytest.raises(
        harness_program.HarnessError,
        match="pack config names 'regions', which is not a policy of the pack",
    ):
        pack.configure({"regions": {}})


def test_enforcement_level_can_be_lowered(analyze, pack_config):
    config = {**pack_config, "no-iam-access-keys": "advisory"}
    report = analyze(lambda: aws.iam.AccessKey("k", user="u"), config=config)
    assert [d.enforcement for d in report.diagnostics] == ["advisory"]
    assert report.mandatory == []


def test_recording_keeps_what_the_engine_sees(stack_config):
    def program():
        comp = pulumi.ComponentResource("corral:test:Group", "group")
        west = aws.Provider("west", region="eu-west-1", opts=pulumi.ResourceOptions(parent=comp))
        lt = aws.ec2.LaunchTemplate("lt", instance_type="t3.micro")
        aws.ec2.Instance(
            "web",
            ami="a",
            launch_template={"id": lt.id},
            opts=pulumi.ResourceOptions(parent=comp, provider=west, protect=True),
        )

    regs = harness_program.record(program, stack_config)
    regs = harness_requests.with_default_providers(
        regs, harness_program.config_strings(stack_config), "dev", "corral"
    )
    by_name = {r.name: r for r in regs}
    web = by_name["web"]
    assert web.urn == "urn:pulumi:dev::corral::corral:test:Group$aws:ec2/instance:Instance::web"
    assert web.parent.endswith("::corral:test:Group::group")
    assert web.provider.startswith("urn:pulumi:dev::corral::corral:test:Group$pulumi:providers")
    assert web.options["protect"] is True
    assert web.property_dependencies["launchTemplate"] == [by_name["lt"].urn]
    assert by_name["lt"].provider.startswith(
        "urn:pulumi:dev::corral::pulumi:providers:aws::default_7_51_1::"
    )
    default = by_name["default_7_51_1"]
    assert dict(default.inputs) == {"region": "us-east-1", "version": "7.51.1"}
    assert by_name["group"].custom is False and by_name["group"].provider == ""


def test_pack_process_is_stopped(stack_config):
    with harness_pack.PackProcess(PACK, stack_config=stack_config) as process:
        child = process.process
        assert child.poll() is None
    assert child.poll() is not None


def test_a_broken_pack_reports_why(tmp_path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("raise SystemExit('no pack here')\n")
    with pytest.raises(harness_program.HarnessError, match="did not start: no pack here"):
        harness_pack.PackProcess(tmp_path, timeout=30).start()
