"""corral.spec.load: one test per error class, asserting the exact message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from corral.spec import keys as K
from corral.spec.load import from_config, load_stack_file
from corral.spec.model import InstanceRule
from corral.spec.readers import SpecError

BASE = {
    "aws:region": "us-east-1",
    "corral:mode": "organization",
    "corral:allowedRegions": ["us-east-1", "eu-west-1"],
    "corral:exemptPrincipals": ["arn:aws:iam::*:role/BreakGlass"],
    "corral:targets": [{"id": "r-ab12"}],
}


def spec_with(**changes):
    config = dict(BASE)
    for key, value in changes.items():
        name = key if key == "aws:region" else f"corral:{key}"
        if value is None:
            config.pop(name, None)
        else:
            config[name] = value
    return from_config(config)


def error_of(**changes) -> str:
    with pytest.raises(SpecError) as info:
        spec_with(**changes)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_valid_spec_is_typed_and_sorted():
    spec = spec_with()
    assert spec.mode == "organization"
    assert spec.partition == "aws"
    assert spec.allowed_regions == ("eu-west-1", "us-east-1")
    assert spec.targets[0].kind == K.ROOT
    assert spec.targets[0].guardrails == K.GUARDRAILS


def test_region_typo_names_key_and_suggests():
    assert error_of(allowedRegions=["us-est-1"]) == (
        "corral:allowedRegions: 'us-est-1' is not a region of partition aws; "
        "did you mean 'us-east-1'?"
    )


def test_region_typo_in_longer_list_names_index():
    assert error_of(allowedRegions=["us-east-1", "eu-wset-1"]).startswith(
        "corral:allowedRegions[1]: 'eu-wset-1' is not a region"
    )


def test_region_of_another_partition_is_refused():
    message = error_of(allowedRegions=["us-east-1", "cn-north-1"])
    assert message.startswith(
        "corral:allowedRegions[1]: 'cn-north-1' is not a region of partition aws"
    )


def test_unknown_top_level_key_is_rejected_with_suggestion():
    assert error_of(allowedRegion=["us-east-1"]) == (
        "corral:allowedRegion: is not a known key; did you mean 'allowedRegions'?"
    )


def test_spend_detection_is_off_until_a_spend_key_is_set():
    assert spec_with().spend.enabled is False
    exempt = [*BASE["corral:exemptPrincipals"], "arn:aws:iam::*:role/stacksets-exec-*"]
    spec = spec_with(notifications={"emails": ["ops@example.com"]}, exemptPrincipals=exempt)
    assert spec.spend.enabled is True
    assert spec.spend.emails == ("ops@example.com",)


def test_stackset_members_need_the_stacksets_role_exempt():
    """Spend detection below a root or OU target is created by StackSets' own role in each
    member: refused unless that role is exempt; no StackSet (account targets only, or account
    mode) needs nothing."""
    on = {"notifications": {"emails": ["ops@example.com"]}}
    message = error_of(**on)
    assert message.startswith("corral:exemptPrincipals: does not exempt the role CloudFormation ")
    assert message.endswith(
        "add arn:aws:iam::*:role/stacksets-exec-* (it trusts only the management account's "
        "StackSets role, and corral denies creating or changing an exempt role)."
    )
    accounts_only = [{"id": "111122223333"}]
    exempt = [*BASE["corral:exemptPrincipals"], "arn:aws:iam::*:role/OrganizationAccountAccessRole"]
    assert spec_with(**on, targets=accounts_only, exemptPrincipals=exempt).spend.enabled
    assert spec_with(**on, exemptPrincipals=["arn:aws:iam::*:role/stacksets-exec-*"]).spend.enabled


def test_spend_errors_name_the_key():
    assert error_of(notifications={"emails": ["not-an-email"]}).startswith(
        "corral:notifications.emails[0]: "
    )


def test_unknown_nested_key_names_full_path():
    assert error_of(instances={"alow": ["t3.*"]}) == (
        "corral:instances.alow: is not a known key; did you mean 'allow'?"
    )


def test_mode_is_required_and_checked():
    assert error_of(mode=None) == (
        "corral:mode: is required; set it to one of organization, account."
    )
    assert error_of(mode="acount") == (
        "corral:mode: 'acount' is not a valid value; did you mean 'account'?"
    )


def test_instance_pattern_must_match_a_real_type():
    assert error_of(instances={"allow": ["t3.*", "p4d.24xlarg"]}) == (
        "corral:instances.allow[1]: 'p4d.24xlarg' matches no EC2 instance type; "
        "did you mean 'p4d.24xlarge'?"
    )


def test_instance_pattern_with_bad_characters():
    assert "has characters an instance type never has" in error_of(instances={"deny": ["T3.*"]})


def test_max_vcpus_type_and_range():
    assert error_of(instances={"maxVcpus": "lots"}) == (
        "corral:instances.maxVcpus: must be a whole number, got the text 'lots'."
    )
    assert error_of(instances={"maxVcpus": 0}) == (
        "corral:instances.maxVcpus: 0 is out of range; use 1 to 100000."
    )


def test_wrong_type_names_key():
    assert error_of(allowedRegions="us-east-1") == (
        "corral:allowedRegions: must be a list of strings, got the text 'us-east-1'."
    )


def test_json_string_values_from_the_engine_are_decoded():
    spec = spec_with(allowedRegions=json.dumps(["us-east-1"]), allowLockout="false")
    assert spec.allowed_regions == ("us-east-1",)


def test_duplicate_values_are_refused():
    assert error_of(allowedRegions=["us-east-1", "us-east-1"]) == (
        "corral:allowedRegions[1]: repeats 'us-east-1'; list each value once."
    )


def test_exempt_principal_must_be_an_arn_pattern():
    assert error_of(exemptPrincipals=["BreakGlass"]) == (
        "corral:exemptPrincipals[0]: 'BreakGlass' is not an IAM role or user ARN pattern; "
        "use e.g. arn:aws:iam::*:role/BreakGlass."
    )


def test_exempt_principal_matching_everyone_is_refused():
    assert error_of(exemptPrincipals=["arn:aws:iam::*:role/*"]) == (
        "corral:exemptPrincipals[0]: 'arn:aws:iam::*:role/*' exempts every role it can match, "
        "which disables the guardrails; name the break-glass role."
    )


def test_target_id_format():
    assert error_of(targets=[{"id": "r-ab12"}, {"id": "ou-bad"}]) == (
        "corral:targets[1].id: 'ou-bad' is not a root (r-...), OU (ou-...-...) or 12-digit "
        "account id; quote account ids in YAML."
    )


def test_integer_account_id_is_accepted():
    spec = spec_with(targets=[{"id": 123456789012}])
    assert spec.targets[0].id == "123456789012"
    assert spec.targets[0].kind == K.ACCOUNT_TARGET


def test_unknown_guardrail_in_target():
    assert error_of(targets=[{"id": "r-ab12", "guardrails": ["region"]}]) == (
        "corral:targets[0].guardrails[0]: 'region' is unknown; did you mean 'regions'?"
    )


def test_duplicate_target_is_refused():
    message = error_of(targets=[{"id": "r-ab12"}, {"id": "r-ab12", "name": "again"}])
    assert message == "corral:targets[1]: repeats 'r-ab12' of corral:targets[0]."


def test_override_below_root_deny_is_refused():
    message = error_of(
        targets=[
            {"id": "r-ab12"},
            {"id": "ou-ab12-11111111", "name": "ml", "instances": {"allow": ["p5.*"]}},
        ],
        instances={"allow": ["t3.*"]},
    )
    assert message == (
        "corral:targets[1].instances: overrides the instances rule for ou-ab12-11111111, but "
        "root r-ab12 also carries it and a deny at the root applies below it; remove "
        "'instances' from the root's guardrails and attach it to the OUs."
    )


def test_targets_only_in_organization_mode_and_principals_only_in_account_mode():
    assert error_of(mode="account").startswith("corral:targets: applies to organization mode only")
    assert error_of(principals={"roles": ["Admin"]}).startswith(
        "corral:principals: applies to account mode only"
    )
    assert error_of(mode="account", targets=None) == (
        "corral:principals: is required in account mode; name the IAM groups, users or roles."
    )


def test_account_mode_principal_names_are_checked():
    message = error_of(mode="account", targets=None, principals={"roles": ["bad name"]})
    assert message == "corral:principals.roles[0]: 'bad name' is not a valid IAM name."


def test_home_region_is_required_and_checked():
    assert error_of(**{"aws:region": None}) == (
        "aws:region: is required; run `pulumi config set aws:region us-east-1`."
    )
    assert error_of(**{"aws:region": "us-easst-1"}) == (
        "aws:region: 'us-easst-1' is not an AWS region; did you mean 'us-east-1'?"
    )


# --------------------------------------------------------------------------- lockout


def test_lockout_no_region():
    assert error_of(allowedRegions=[]) == (
        "corral:allowedRegions: is empty, which denies every region; "
        "set corral:allowLockout: true to deploy it anyway."
    )


def test_lockout_home_region_not_allowed():
    assert error_of(allowedRegions=["eu-west-1"]) == (
        "corral:allowedRegions: does not include us-east-1 (aws:region), where this stack "
        "deploys; add it or set corral:allowLockout: true to deploy it anyway."
    )


def test_lockout_every_instance_type_denied():
    assert error_of(instances={"allow": ["t3.*"], "deny": ["t3.*"]}) == (
        "corral:instances: permits no instance type at all; "
        "set corral:allowLockout: true to deploy it anyway."
    )


def test_lockout_protections_without_exempt_principal():
    assert error_of(exemptPrincipals=None) == (
        "corral:exemptPrincipals: is empty while protections are on, so nobody could ever change "
        "the guardrails; name a break-glass role or set corral:allowLockout: true to deploy it "
        "anyway."
    )


def test_lockout_can_be_forced():
    spec = spec_with(allowedRegions=[], exemptPrincipals=None, allowLockout=True)
    assert spec.allowed_regions == ()
    assert spec.allow_lockout is True


def test_protections_off_need_no_exempt_principal():
    flags = {name: False for name in K.PROTECTION_KEYS}
    spec = spec_with(exemptPrincipals=None, protections=flags)
    assert not spec.protections.any


# --------------------------------------------------------------------------- instance rule


def test_instance_rule_semantics():
    rule = InstanceRule(allow=("t3.*", "c5a.*"), deny=("*.metal",), max_vcpus=16)
    assert rule.permits("t3.micro")
    assert rule.permits("c5a.4xlarge")
    assert not rule.permits("c5a.24xlarge")  # 96 vCPU, the incident's type
    assert not rule.permits("m5.large")  # not allowed
    assert not InstanceRule(deny=("*.metal",)).permits("c5.metal")
    assert InstanceRule().permits("p5.48xlarge")
    assert not InstanceRule().restricts


# --------------------------------------------------------------------------- stack files


def test_example_stack_file_loads():
    spec = load_stack_file("Pulumi.example.yaml")
    assert spec.mode == "organization"
    assert [t.name for t in spec.targets] == ["root", "workloads", "ml"]
    assert spec.spend.enabled is False


def test_example_spend_section_is_valid_once_uncommented():
    """The commented spend keys of the example stack parse as documented."""
    text = Path("Pulumi.example.yaml").read_text()
    block = text[text.index("  # corral:notifications:") :]
    uncommented = "\n".join(
        line.replace("  # ", "  ", 1) if line.startswith("  # ") else line
        for line in block.splitlines()
    )
    config = yaml.safe_load(text)["config"]
    config.update(yaml.safe_load(uncommented))
    config["corral:targets"].append({"id": "111122223333", "name": "sandbox"})
    with pytest.raises(SpecError, match="does not exempt OrganizationAccountAccessRole"):
        from_config(config)
    config["corral:exemptPrincipals"].append("arn:aws:iam::*:role/OrganizationAccountAccessRole")
    with pytest.raises(SpecError, match="does not exempt the role CloudFormation StackSets"):
        from_config(config)
    config["corral:exemptPrincipals"].append("arn:aws:iam::*:role/stacksets-exec-*")
    spec = from_config(config)
    assert spec.spend.enabled
    assert spec.spend.emails == ("cloud-alerts@example.com",)
    assert spec.spend.breaker is True
    assert spec.spend.account_ids == ("111122223333",)


def test_stack_file_errors(tmp_path):
    missing = tmp_path / "Pulumi.nope.yaml"
    with pytest.raises(SpecError, match=r"file not found; pass --config Pulumi\.<stack>\.yaml\."):
        load_stack_file(missing)
    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text("config:\n  corral:mode: [\n")
    with pytest.raises(SpecError, match=r"at line \d+; fix the YAML syntax\."):
        load_stack_file(broken)
    empty = tmp_path / "Pulumi.empty.yaml"
    empty.write_text("encryptionsalt: x\n")
    with pytest.raises(SpecError, match="has no top-level 'config:' map"):
        load_stack_file(empty)


def test_secret_values_are_refused(tmp_path):
    stack = tmp_path / "Pulumi.s.yaml"
    stack.write_text("config:\n  aws:region: us-east-1\n  corral:mode:\n    secure: AAAB\n")
    with pytest.raises(SpecError) as info:
        load_stack_file(stack)
    assert str(info.value) == (
        "corral:mode: is a secret, but corral settings are not secret; set it plainly."
    )
