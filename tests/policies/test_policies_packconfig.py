"""corral.build.packconfig: the pack config derived from a spec."""

from __future__ import annotations

import pytest
from conftest import EXAMPLE_CONFIG

from corral.build import packconfig
from corral.spec import catalog
from corral.spec.load import load_stack_file
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


def test_render_is_stable_json():
    config = packconfig.pack_config(load_stack_file(EXAMPLE_CONFIG))
    text = packconfig.render(config)
    assert text == packconfig.render(dict(reversed(list(config.items()))))
    assert text.endswith("}\n")
