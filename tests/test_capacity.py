"""Capacity beyond EC2 On-Demand and the key holder's identity paths: spec keys, data, builders.

Plain pytest on the pure layers: the new keys parse (and reject typos with a
suggestion), the data files name only real actions, and the statements and the
account-mode boundary are what the spec asks for, within AWS's size limits.
"""

from __future__ import annotations

import json

import botocore.session
import pytest

from corral.build import capacity as C
from corral.build import identities as I
from corral.build.plan import BuildError, build_plan
from corral.spec import capacity
from corral.spec import keys as K
from corral.spec.load import from_config, load_stack_file
from corral.spec.readers import SpecError

BASE = {
    "aws:region": "us-east-1",
    "corral:mode": "organization",
    "corral:allowedRegions": ["us-east-1"],
    "corral:exemptPrincipals": ["arn:aws:iam::*:role/BreakGlass"],
    "corral:targets": [{"id": "r-ab12", "name": "root"}],
}
ACCOUNT = {
    **{k: v for k, v in BASE.items() if k != "corral:targets"},
    "corral:mode": "account",
    "corral:principals": {"groups": ["devs"], "users": ["ci"]},
    "corral:instances": {"allow": ["t3.*"]},
}


def spec_of(config=None, **changes):
    merged = {**(config or BASE), **{f"corral:{k}": v for k, v in changes.items()}}
    return from_config(merged)


def statements(plan) -> dict[str, dict]:
    return {s["Sid"]: s for d in plan.guardrail_documents for s in d.policy["Statement"]}


# --------------------------------------------------------------------------- spec


def test_defaults_deny_spot_other_compute_and_every_purchase():
    spec = spec_of()
    assert spec.instances.spot is False
    assert spec.compute_allowed == (K.EC2_COMPUTE,)
    assert spec.purchases_allowed == ()
    assert spec.protections.principals is True


def test_new_keys_parse_sorted():
    spec = spec_of(
        instances={"spot": True},
        compute={"allow": ["sagemaker", "lambda"]},
        purchases={"allow": ["savingsPlans"]},
    )
    assert spec.instances.spot is True
    assert spec.compute_allowed == ("ec2", "lambda", "sagemaker")
    assert spec.purchases_allowed == ("savingsPlans",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"compute": {"allow": ["lightsale"]}},
            "corral:compute.allow[0]: 'lightsale' is not known; did you mean 'lightsail'?",
        ),
        (
            {"purchases": {"allow": ["savingsPlan"]}},
            "corral:purchases.allow[0]: 'savingsPlan' is not known; did you mean 'savingsPlans'?",
        ),
        (
            {"purchases": {"deny": ["domains"]}},
            "corral:purchases.deny: is not a known key; valid keys are allow.",
        ),
        ({"instances": {"spot": "maybe"}}, "corral:instances.spot: "),
    ],
)
def test_new_keys_reject_bad_values(changes, message):
    with pytest.raises(SpecError) as info:
        spec_of(**changes)
    assert str(info.value).startswith(message)


def test_a_wildcard_account_in_an_exempt_pattern_is_warned_about():
    [warning] = spec_of().warnings
    assert warning == (
        "corral:exemptPrincipals: 'arn:aws:iam::*:role/BreakGlass' matches that name in every "
        "account; corral denies creating or re-trusting it to everyone else, but pin it to the "
        "account that owns the break-glass role (e.g. arn:aws:iam::111122223333:role/BreakGlass)."
    )
    assert spec_of(exemptPrincipals=["arn:aws:iam::123456789012:role/BreakGlass"]).warnings == ()


def test_member_sites_need_the_member_role_exempt():
    config = {
        **BASE,
        "corral:targets": [{"id": "r-ab12", "name": "root"}, {"id": "111111111111", "name": "a"}],
        "corral:notifications": {"emails": ["ops@example.com"]},
    }
    with pytest.raises(SpecError) as info:
        from_config(config)
    assert str(info.value) == (
        "corral:exemptPrincipals: does not exempt OrganizationAccountAccessRole, through which "
        "`pulumi up` creates corral's roles in member accounts, so protections.principals would "
        "deny it; add arn:aws:iam::*:role/OrganizationAccountAccessRole (its trust stays with "
        "the management account, and corral denies changing it)."
    )
    stacksets = "arn:aws:iam::*:role/stacksets-exec-*"  # the root target's StackSet needs it
    exempt = [*BASE["corral:exemptPrincipals"], "arn:aws:iam::*:role/OrganizationAccountAccessRole"]
    assert from_config({**config, "corral:exemptPrincipals": [*exempt, stacksets]}).spend.enabled
    off = {**config, "corral:protections": {"principals": False}}
    off["corral:exemptPrincipals"] = [*BASE["corral:exemptPrincipals"], stacksets]
    assert from_config(off).spend.enabled


# --------------------------------------------------------------------------- data


@pytest.mark.parametrize(
    "entries", [capacity.compute_services, capacity.purchase_categories], ids=["compute", "buy"]
)
def test_every_listed_action_is_an_operation_of_its_service_model(entries):
    session = botocore.session.get_session()
    for entry in entries().values():
        operations = {
            op for svc in entry.botocore for op in session.get_service_model(svc).operation_names
        }
        for action in entry.actions:
            if action in entry.console_only:
                continue
            assert action.split(":", 1)[1] in operations, (entry.name, action)
        if entry.types is not None:
            assert set(entry.types.actions) <= set(entry.actions)


def test_data_files_carry_source_and_review_date():
    for kind in (K.COMPUTE, K.PURCHASES):
        source, reviewed = capacity.source(kind)
        assert source.startswith("AWS Service Authorization Reference")
        assert reviewed >= "2026-12-01"


# --------------------------------------------------------------------------- statements


def test_spot_is_denied_on_run_instances_and_the_typeless_request():
    found = statements(build_plan(spec_of()))
    launch = found[C.SID_SPOT_LAUNCH]
    assert launch["Action"] == ["ec2:RunInstances"]
    assert launch["Condition"]["StringEquals"] == {"ec2:InstanceMarketType": ["spot"]}
    assert found[C.SID_SPOT_REQUEST]["Action"] == ["ec2:RequestSpotInstances"]
    allowed = statements(build_plan(spec_of(instances={"spot": True})))
    assert C.SID_SPOT_LAUNCH not in allowed and C.SID_SPOT_REQUEST not in allowed
    typed = statements(build_plan(spec_of(instances={"spot": True, "allow": ["t3.*"]})))
    assert C.SID_SPOT_LAUNCH not in typed and C.SID_SPOT_REQUEST in typed


def test_compute_and_purchases_deny_what_the_spec_does_not_allow():
    found = statements(build_plan(spec_of(compute={"allow": ["lambda"]})))
    denied = set(found[C.SID_COMPUTE]["Action"])
    assert "lightsail:CreateInstances" in denied and "sagemaker:CreateTrainingJob" in denied
    assert not any(a.startswith("lambda:") for a in denied)
    bought = set(found[C.SID_PURCHASES]["Action"])
    assert {"savingsplans:CreateSavingsPlan", "ec2:PurchaseReservedInstancesOffering"} <= bought
    some = statements(build_plan(spec_of(purchases={"allow": ["savingsPlans"]})))
    assert "savingsplans:CreateSavingsPlan" not in some[C.SID_PURCHASES]["Action"]


def test_an_allowed_sagemaker_is_held_to_the_instance_rule():
    spec = spec_of(compute={"allow": ["sagemaker"]}, instances={"allow": ["t3.*", "m7i.*"]})
    found = statements(build_plan(spec))
    held = found["CorralDenySagemakerTypesNotAllowed"]
    assert held["Condition"]["ForAnyValue:StringNotLike"] == {
        "sagemaker:InstanceTypes": ["ml.m7i.*", "ml.t3.*"]
    }
    assert "sagemaker:CreateTrainingJob" in held["Action"]
    assert not any(a.startswith("sagemaker:") for a in found[C.SID_COMPUTE]["Action"])


def test_capacity_packs_into_documents_of_its_own():
    plan = build_plan(load_stack_file("Pulumi.example.yaml"))
    root = [d.name for d in plan.documents_for("r-a1b2")]
    assert root == ["corral-root", "corral-root-capacity"]
    assert plan.document("corral-root-capacity").guardrails == (K.CAPACITY,)


def test_identity_protection_covers_exempt_and_corral_identities_in_both_modes():
    for config in (BASE, ACCOUNT):
        found = statements(build_plan(from_config(config)))[I.SID_IDENTITIES]
        assert found["Resource"] == [
            "arn:aws:iam::*:policy/corral/*",
            "arn:aws:iam::*:role/BreakGlass",
            "arn:aws:iam::*:role/corral/*",
            "arn:aws:iam::*:user/corral/*",
        ]
        assert {"iam:Create*", "iam:Update*", "iam:PassRole", "iam:Attach*"} <= set(found["Action"])
        assert not any(a.startswith(("iam:Get", "iam:List")) for a in found["Action"])
        assert found["Condition"] == {
            "ArnNotLike": {"aws:PrincipalARN": ["arn:aws:iam::*:role/BreakGlass"]}
        }


def test_account_mode_requires_corral_boundary_and_guards_groups():
    found = statements(build_plan(from_config(ACCOUNT)))
    require = found[I.SID_REQUIRE_BOUNDARY]
    assert require["Condition"] == {
        "ArnNotLike": {
            "iam:PermissionsBoundary": ["arn:aws:iam::*:policy/corral/corral-boundary"],
            "aws:PrincipalARN": ["arn:aws:iam::*:role/BreakGlass"],
        }
    }
    assert found[I.SID_GROUPS]["Resource"] == ["arn:aws:iam::*:group/devs"]
    assert "organizations:CreateOrganization" in found[I.SID_NO_ORGANIZATION]["Action"]
    organization = statements(build_plan(from_config(BASE)))
    assert I.SID_REQUIRE_BOUNDARY not in organization and I.SID_GROUPS not in organization


def test_the_boundary_is_allow_all_and_the_denies_without_exemption_within_one_policy():
    plan = build_plan(load_stack_file("Pulumi.spend-example.yaml"))
    boundary = plan.document(plan.boundary)
    assert len(boundary.content) <= K.IAM_POLICY_MAX_CHARS
    policy = json.loads(boundary.content)
    assert policy["Statement"][0] == I.ALLOW_ALL
    assert "aws:PrincipalARN" not in boundary.content  # exempt principals never carry it
    kept = {s["Sid"] for s in policy["Statement"]}
    assert {I.SID_REQUIRE_BOUNDARY, I.SID_IDENTITIES, "CorralDenyOutsideAllowedRegions"} <= kept
    merged = next(s for s in policy["Statement"] if s["Sid"] == I.SID_BOUNDARY_DENIES)
    assert {"iam:CreateAccessKey", "cloudtrail:StopLogging"} <= set(merged["Action"])
    # What does not fit is named, so docs and render can say it is open. The protections come
    # first (CorralProtectDetection among them), so the spend example's boundary cannot also
    # hold the compute services or the purchases.
    assert plan.boundary_omitted == (C.SID_COMPUTE, C.SID_PURCHASES)
    assert C.SID_COMPUTE not in kept and "CorralProtectDetection" in kept
    assert "savingsplans:CreateSavingsPlan" not in merged["Action"]


def test_without_principal_protection_there_is_no_boundary():
    plan = build_plan(from_config({**ACCOUNT, "corral:protections": {"principals": False}}))
    assert plan.boundary is None
    assert "CorralProtectGuardrailsIam" in statements(plan)


def test_a_boundary_that_cannot_hold_the_protections_is_refused():
    exempt = [f"arn:aws:iam::{i:012d}:role/break-glass-{i}" for i in range(38)]
    config = {**ACCOUNT, "corral:exemptPrincipals": exempt}
    with pytest.raises(BuildError) as info:
        build_plan(from_config(config))
    assert str(info.value).startswith(
        "the permissions boundary corral-boundary cannot hold CorralDenyAutoScalingTypesNotAllowed "
    )
    assert str(info.value).endswith(
        "within 6144 characters, so principals created under it could escape the guardrails; "
        "use fewer exempt principals or guarded groups, or use an Organization."
    )
