"""The registry: ids, module names, metadata, and every rule in the running pack."""

from __future__ import annotations

import re
from pathlib import Path

import rules
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from corral.build import packconfig as P

RULES_DIR = Path(rules.__file__).parent
HELPERS = {"__init__", "support", "tokens", "capacity", "markets"}
DOCS = Path(rules.__file__).parents[2] / "docs" / "policy-pack.md"


def test_every_rule_module_is_registered_under_its_id():
    modules = {p.stem for p in RULES_DIR.glob("*.py")} - HELPERS
    assert modules == {P.module_name(i) for i in P.RULE_IDS}
    assert [m.ID for m in rules.MODULES] == list(P.RULE_IDS)
    for module in rules.MODULES:
        assert module.__name__ == f"rules.{P.module_name(module.ID)}"
        assert module.POLICY.name == module.ID


def test_ids_are_kebab_case_and_unique():
    assert len(set(P.RULE_IDS)) == len(P.RULE_IDS)
    for rule_id in P.RULE_IDS:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule_id), rule_id


def test_metadata_is_complete():
    for module in rules.MODULES:
        policy = module.POLICY
        kind = ResourceValidationPolicy if module.ID in P.RESOURCE_RULES else StackValidationPolicy
        assert isinstance(policy, kind), module.ID
        assert policy.description.endswith(".")
        assert policy.severity is not None
        assert policy.remediation_steps == module.FIX and module.FIX.endswith(".")
        assert policy.url == f"docs/policy-pack.md#{module.ID}"
        assert policy.config_schema.properties == P.SCHEMAS[module.ID]["properties"]


def test_docs_have_a_section_per_rule():
    text = DOCS.read_text(encoding="utf-8")
    for rule_id in P.RULE_IDS:
        assert f"## {rule_id}\n" in text, rule_id


def test_the_running_pack_serves_every_rule(pack):
    info = pack.info
    assert info.name == "corral"
    assert info.supportsConfig
    served = {p.name: p for p in info.policies}
    assert sorted(served) == sorted(P.RULE_IDS)
    for module in rules.MODULES:
        policy = served[module.ID]
        assert policy.enforcementLevel == analyzer_pb2.MANDATORY
        assert policy.url == module.POLICY.url
        assert policy.remediation_steps == module.FIX
        assert policy.severity != analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED
        stack = module.ID in P.STACK_RULES
        expected = analyzer_pb2.POLICY_TYPE_STACK if stack else analyzer_pb2.POLICY_TYPE_RESOURCE
        assert policy.policy_type == expected


def test_pack_metadata_files():
    pack_dir = RULES_DIR.parent
    policy_yaml = (pack_dir / "PulumiPolicy.yaml").read_text()
    assert "runtime:\n  name: python" in policy_yaml
    assert "virtualenv: venv" in policy_yaml
    assert re.search(r"^version: \d+\.\d+\.\d+$", policy_yaml, re.M)
    requirements = (pack_dir / "requirements.txt").read_text()
    assert "pulumi-policy==1.21.0" in requirements
