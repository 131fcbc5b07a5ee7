"""corral.build.packconfig: the pack config derived from a spec."""

from __future__ import annotations

import dataclasses

import harness
import harness_program
import pulumi_aws as aws
import pytest
from conftest import EXAMPLE_CONFIG

from corral.build import packconfig
from corral.spec import catalog
from corral.spec.load import from_config, load_stack_file
from corral.spec.readers import SpecError


def test_example_pack_config():
    config = packconfig.pack_config(load_stack_file(EXAMPLE_CONFIG))
    assert sorted(config) == sorted(packconfig.RULE_IDS)
    assert config["instance-types"] == {
        "allow": ["c7i.*", "m7i.*", "t3.*", "t4g.*"],
        "deny": ["*.metal*"],
        "maxVcpus": 16,
    }
    assert config["allowed-regions"] == {"regions": ["eu-west-1", "us-east-1"]}
    assert config["vcpu-alarms"]["regions"] == list(catalog.regions("aws"))
    assert config["budget-notifications"] == {"namePrefix": "corral", "required": False}
    assert config["spot-instances"] == {"allowed": False}
    assert config["compute-services"] == {
        "allow": ["ec2"],
        "instances": config["instance-types"],
    }
    assert config["purchases"] == {"allow": []}


def capacity_spec():
    """The example spec with Spot, SageMaker, Lambda and two purchase categories allowed."""
    stack = harness.load_stack_config(EXAMPLE_CONFIG)
    stack["corral:instances"] = {**stack["corral:instances"], "spot": True}
    stack["corral:compute"] = {"allow": ["sagemaker", "lambda"]}
    stack["corral:purchases"] = {"allow": ["savingsPlans", "capacityReservations"]}
    return from_config(stack)


def test_capacity_settings_follow_the_spec():
    config = packconfig.pack_config(capacity_spec())
    assert config["spot-instances"] == {"allowed": True}
    assert config["compute-services"]["allow"] == ["ec2", "lambda", "sagemaker"]
    assert config["compute-services"]["instances"] == config["instance-types"]
    assert config["purchases"] == {"allow": ["capacityReservations", "savingsPlans"]}


def test_spot_and_service_types_follow_the_target_rule():
    ml = packconfig.pack_config(capacity_spec(), "ml")
    # The ml target overrides instances without spot: its workloads get no Spot.
    assert ml["spot-instances"] == {"allowed": False}
    assert ml["compute-services"]["instances"] == ml["instance-types"]
    assert "p5.*" in ml["compute-services"]["instances"]["allow"]


def test_unknown_capacity_names_are_spec_errors():
    spec = capacity_spec()
    with pytest.raises(SpecError) as error:
        packconfig.pack_config(dataclasses.replace(spec, compute_allowed=("ec2", "lightsale")))
    assert str(error.value) == (
        "corral:compute.allow[1]: 'lightsale' is not known; did you mean 'lightsail'?"
    )
    with pytest.raises(SpecError) as error:
        packconfig.pack_config(dataclasses.replace(spec, purchases_allowed=("savingsPlan",)))
    assert str(error.value) == (
        "corral:purchases.allow[0]: 'savingsPlan' is not known; did you mean 'savingsPlans'?"
    )


def test_capacity_settings_are_validated_by_the_pack(pack, pack_config):
    with pytest.raises(harness_program.HarnessError) as error:
        pack.configure({**pack_config, "compute-services": {"allow": ["ec2", "lightsale"]}})
    assert str(error.value).startswith("compute-services.allow.1: 'lightsale' is not one of [")
    with pytest.raises(harness_program.HarnessError) as error:
        pack.configure({**pack_config, "spot-instances": {"allowed": "yes"}})
    assert str(error.value) == (
        "spot-instances.allowed: 'yes' is not of type 'boolean'; fix the policy pack config."
    )
    with pytest.raises(harness_program.HarnessError) as error:
        pack.configure({**pack_config, "compute-services": {"allow": [], "instances": {"x": 1}}})
    assert str(error.value) == (
        "compute-services.instances: Additional properties are not allowed ('x' was "
        "unexpected); fix the policy pack config."
    )


def test_target_overrides():
    s = load_stack_file(EXAMPLE_CONFIG)
    ml = packconfig.pack_config(s, "ml")["instance-types"]
    assert ml == {"allow": ["g6.*", "p5.*", "t3.*"], "deny": ["*.metal*"]}
    assert packconfig.pack_config(s, "ou-a1b2-mlteam001")["instance-types"] == ml
    with pytest.raises(SpecError) as error:
        packconfig.pack_config(s, "mll")
    assert str(error.value) == "--target: 'mll' is not a target of the spec; did you mean 'ml'?"


def test_settings_round_trip_to_the_same_rule():
    rule = load_stack_file(EXAMPLE_CONFIG).instances
    assert packconfig.instance_rule(packconfig.instance_settings(rule)) == rule
    spot = capacity_spec().instances  # Spot travels in spot-instances, not instance-types
    settings = packconfig.instance_settings(spot)
    assert packconfig.instance_rule(settings) == dataclasses.replace(spot, spot=False)


def test_render_is_stable_json():
    config = packconfig.pack_config(load_stack_file(EXAMPLE_CONFIG))
    text = packconfig.render(config)
    assert text == packconfig.render(dict(reversed(list(config.items()))))
    assert text.endswith("}\n")


def test_capacity_rules_without_settings_deny(analyze, pack_config):
    def program():
        aws.ec2.SpotInstanceRequest("spot", ami="ami-1", instance_type="t3.micro")
        aws.lambda_.Function("fn", role="arn:aws:iam::111122223333:role/r")
        aws.savingsplans.SavingsPlan("plan", commitment="1.0", savings_plan_offering_id="o")

    capacity_rules = ("spot-instances", "compute-services", "purchases")
    bare = {k: v for k, v in pack_config.items() if k not in capacity_rules}
    report = analyze(program, config=bare)
    assert sorted(d.policy for d in report.mandatory) == sorted(capacity_rules)
