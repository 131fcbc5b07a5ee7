"""Attacker probes: the holder of a guarded principal's leaked key, with admin rights in
that account, is denied each path by a named corral statement, in both modes and with the
defaults of a fresh stack; the exempt principal is not; a principal created under the
boundary is held to everything but what the boundary omits; loosened documents are caught."""

from __future__ import annotations

import copy
import doctest

import pytest

import corral.evaluate.attack_paths
import corral.evaluate.probe_kit
import corral.evaluate.twins
from corral.build.detection import detection_protected
from corral.build.plan import build_plan
from corral.evaluate.engine import DENY
from corral.evaluate.judge import ProbeResult, full_aws_access, run_probes
from corral.evaluate.policy import PolicyRef
from corral.evaluate.probe_kit import EXPECT_DENY, EXPECT_NOT_DENIED, EXPECT_OPEN
from corral.evaluate.probes import probes_for
from corral.evaluate.scope import scope_for, spec_chain_ids
from corral.spec.load import from_config, load_stack_file
from tests.conftest import EXAMPLE_STACK, ROOT

SPEND_STACK = ROOT / "Pulumi.spend-example.yaml"
ACCOUNT = "111122223333"
BREAK_GLASS = "arn:aws:iam::*:role/corral-break-glass"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/corral/corral-boundary"
FRESH = {  # a stack with none of the capacity or identity keys set
    "aws:region": "us-east-1",
    "corral:allowedRegions": ["us-east-1"],
    "corral:exemptPrincipals": [BREAK_GLASS],
    "corral:instances": {"allow": ["t3.*"]},
}
FRESH_ORGANIZATION = {
    **FRESH,
    "corral:mode": "organization",
    "corral:targets": [{"id": "r-ab12", "name": "root"}],
}
FRESH_ACCOUNT = {
    **FRESH,
    "corral:mode": "account",
    "corral:principals": {"groups": ["developers"], "users": ["dev"]},
}
# Probe id (prefix) -> the corral statement that must deny it, in both modes.
MUST_DENY = {
    "identity-create-role-corral-break-glass": "CorralProtectIdentities",
    "identity-retrust-role-corral-break-glass": "CorralProtectIdentities",
    "identity-corral-role-putrolepolicy": "CorralProtectIdentities",
    "identity-corral-role-attachrolepolicy": "CorralProtectIdentities",
    "identity-corral-role-deleterolepolicy": "CorralProtectIdentities",
    "identity-corral-role-updateassumerolepolicy": "CorralProtectIdentities",
    "identity-corral-policy-createpolicyversion": "CorralProtectIdentities",
    "identity-corral-policy-deletepolicy": "CorralProtectIdentities",
    "capacity-spot-launch-": "CorralDenySpotLaunches",
    "capacity-spot-request-": "CorralDenySpotRequests",
    "capacity-compute-lightsail": "CorralDenyComputeServices",
    "capacity-compute-sagemaker": "CorralDenyComputeServices",
    "capacity-purchase-savingsplans": "CorralDenyPurchases",
    "capacity-purchase-reservedinstances": "CorralDenyPurchases",
}
MUST_DENY_ACCOUNT = {
    "identity-removeuserfromgroup-developers": "CorralProtectGuardedGroups",
    "identity-createuser-without-boundary": "CorralRequireBoundary",
    "identity-createrole-without-boundary": "CorralRequireBoundary",
    "identity-createorganization": "CorralDenyNewOrganization",
}
NOT_DENIED = ("allowed-type-t3-", "ordinary-s3-getobject-")


def stacks() -> dict[str, tuple]:
    """name -> (spec, target): the two example stacks and two fresh ones."""
    return {
        "organization example": (load_stack_file(EXAMPLE_STACK), "workloads"),
        "account example": (load_stack_file(SPEND_STACK), None),
        "fresh organization": (from_config(FRESH_ORGANIZATION), "root"),
        "fresh account": (from_config(FRESH_ACCOUNT), None),
    }


def by_id(results: list[ProbeResult], prefix: str) -> ProbeResult:
    """The first result whose probe id is ``prefix`` or starts with it (a region suffix)."""
    found = [r for r in results if r.probe.id == prefix]
    found = found or [r for r in results if r.probe.id.startswith(prefix)]
    assert found, prefix
    return found[0]


def failures(results: list[ProbeResult]) -> dict[str, str]:
    return {r.probe.id: r.message for r in results if not r.passed}


def test_module_docstrings_run():
    for module in (corral.evaluate.probe_kit, corral.evaluate.attack_paths, corral.evaluate.twins):
        assert doctest.testmod(module).failed == 0


# --------------------------------------------------------------------------- must deny


@pytest.mark.parametrize("name", list(stacks()))
def test_every_attacker_path_is_denied_by_its_statement(name):
    spec, target = stacks()[name]
    results = run_probes(spec, target=target)
    assert all(r.passed for r in results), failures(results)
    account_mode = spec.mode == "account"
    wanted = {**MUST_DENY, **(MUST_DENY_ACCOUNT if account_mode else {})}
    for prefix, sid in wanted.items():
        result = by_id(results, prefix)
        assert result.probe.expected == EXPECT_DENY, prefix
        assert result.decision.decision == DENY, prefix
        assert result.decision.reasons[0].sid == sid, (prefix, result.decision.reasons)
        twin = by_id(results, f"exempt-role-corral-break-glass-{result.probe.id}")
        assert twin.probe.expected == EXPECT_NOT_DENIED and twin.decision.decision == "ALLOW"
    for prefix in NOT_DENIED:
        assert by_id(results, prefix).decision.decision == "ALLOW", prefix
    if account_mode:
        assert by_id(results, "identity-createrole-with-boundary").decision.decision == "ALLOW"
    else:
        assert not [r for r in results if r.probe.id.startswith(tuple(MUST_DENY_ACCOUNT))]


def test_the_deciding_documents_are_the_capacity_and_protection_documents():
    results = run_probes(load_stack_file(EXAMPLE_STACK), target="workloads")
    reason = by_id(results, "capacity-spot-launch-").decision.reasons[0]
    assert (reason.policy, reason.target) == ("corral-root-capacity", "r-a1b2")
    assert by_id(results, "identity-corral-role-putrolepolicy").decision.reasons[0].policy == (
        "corral-root"
    )
    fresh = run_probes(from_config(FRESH_ACCOUNT))
    assert by_id(fresh, "capacity-purchase-savingsplans").decision.reasons[0].policy == (
        "corral-guardrails-capacity"
    )
    assert build_plan(from_config(FRESH_ACCOUNT)).boundary == "corral-boundary"


def test_requests_carry_the_resources_and_context_keys():
    spec = from_config(FRESH_ACCOUNT)
    probes = {p.id: p for p in probes_for(spec, scope_for(spec))}
    spot = probes["capacity-spot-launch-us-east-1"]
    assert len(spot.requests) == 7
    assert spot.request.resource == f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*"
    assert spot.request.facts["ec2:instancemarkettype"] == ("spot",)
    assert spot.request.facts["ec2:instancetype"] == ("t3.large",)  # a permitted type
    assert all("ec2:instancemarkettype" not in r.facts for r in spot.requests[1:])
    sagemaker = probes["capacity-compute-sagemaker"].request
    assert sagemaker.resource == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/corral-probe"
    assert sagemaker.context["sagemaker:InstanceTypes"] == ["ml.p4d.24xlarge"]
    attach = probes["identity-corral-role-attachrolepolicy"].request
    assert attach.resource == f"arn:aws:iam::{ACCOUNT}:role/corral/x"
    assert attach.facts["iam:policyarn"] == ("arn:aws:iam::aws:policy/AdministratorAccess",)
    assert attach.facts["aws:requestedregion"] == ("us-east-1",)  # IAM signs for us-east-1
    create = probes["identity-create-role-corral-break-glass"].request
    assert create.resource == f"arn:aws:iam::{ACCOUNT}:role/corral-break-glass"
    assert create.facts["iam:permissionsboundary"] == (BOUNDARY_ARN,)  # only the name is wrong
    assert (
        "iam:permissionsboundary"
        not in probes["identity-createuser-without-boundary"].request.facts
    )
    assert probes["identity-removeuserfromgroup-developers"].request.resource == (
        f"arn:aws:iam::{ACCOUNT}:group/developers"
    )
    assert probes["capacity-purchase-savingsplans"].request.facts["aws:requestedregion"] == (
        "us-east-1",
    )


def test_the_probes_are_shown_with_the_deciding_statement():
    result = by_id(run_probes(load_stack_file(SPEND_STACK)), "capacity-spot-launch-")
    assert result.message == (
        "A Spot launch of m7i.large into eu-west-1, an allowed region, is denied, as expected. "
        "Statement CorralDenySpotLaunches of identity policy 'corral-guardrails-capacity' on "
        "'principal' explicitly denies ec2:RunInstances on "
        "arn:aws:ec2:eu-west-1:111122223333:instance/*."
    )
    assert result.to_dict()["reasons"][0]["sid"] == "CorralDenySpotLaunches"


# --------------------------------------------------------------------------- scope


def test_capacity_probes_follow_the_chain_and_the_settings():
    config = copy.deepcopy(FRESH_ORGANIZATION)
    config["corral:targets"] = [
        {"id": "r-ab12", "name": "root", "guardrails": ["regions", "protection"]},
        {"id": "ou-ab12-11111111", "name": "w", "guardrails": ["instances", "capacity"]},
    ]
    config["corral:instances"] = {"allow": ["t3.*", "g5.*"], "spot": True}
    config["corral:compute"] = {"allow": ["sagemaker", "ec2-fleet"]}
    config["corral:purchases"] = {"allow": ["savingsPlans"]}
    spec = from_config(config)
    root = [p.id for p in probes_for(spec, scope_for(spec, ["r-ab12"]))]
    assert not [i for i in root if i.startswith("capacity-")]
    assert "identity-corral-role-putrolepolicy" in root
    results = run_probes(spec, target="w")
    assert all(r.passed for r in results), failures(results)
    expected = {r.probe.id: r.probe.expected for r in results}
    assert expected["capacity-spot-launch-us-east-1"] == EXPECT_OPEN
    assert expected["capacity-spot-request-us-east-1"] == EXPECT_DENY  # types restricted
    assert expected["capacity-compute-ec2-fleet"] == EXPECT_OPEN
    assert expected["capacity-purchase-savingsplans"] == EXPECT_OPEN
    assert expected["capacity-compute-sagemaker-permitted"] == EXPECT_NOT_DENIED
    sagemaker = by_id(results, "capacity-compute-sagemaker")
    assert sagemaker.decision.reasons[0].sid == "CorralDenySagemakerTypesNotAllowed"
    fleet = by_id(results, "capacity-compute-ec2-fleet")
    assert fleet.message == (
        "The call ec2:CreateFleet on arn:aws:ec2:us-east-1:111122223333:fleet/* by an ordinary "
        "principal is not denied: it is open because the spec allows ec2-fleet "
        "(corral:compute.allow)."
    )


def test_no_principal_protection_means_no_identity_probes():
    spec = from_config({**FRESH_ACCOUNT, "corral:protections": {"principals": False}})
    ids = [p.id for p in probes_for(spec, scope_for(spec))]
    assert not [i for i in ids if i.startswith(("identity-", "bounded-"))]


# --------------------------------------------------------------------------- boundary


@pytest.mark.parametrize("stack", ["account example", "fresh account"])
def test_under_the_boundary_only_omitted_statements_leave_a_path_open(stack):
    spec, _ = stacks()[stack]
    plan = build_plan(spec)
    omitted = set(plan.boundary_omitted)
    results = run_probes(spec)
    guarded = {r.probe.id: r for r in results if not r.probe.bounded}
    bounded = [r for r in results if r.probe.bounded]
    assert bounded and all(r.passed for r in bounded), failures(bounded)
    # The spend example's boundary also holds CorralProtectDetection, so purchases do not fit.
    purchases = {"CorralDenyPurchases"} if detection_protected(spec) else set()
    assert omitted == {"CorralDenyComputeServices", *purchases}
    for result in bounded:
        base = guarded[result.probe.id.removeprefix("bounded-")]
        sids = {r.sid for r in base.decision.reasons if r.effect == "Deny"}
        if base.probe.expected == EXPECT_DENY:
            want = EXPECT_OPEN if sids <= omitted else EXPECT_DENY
            assert result.probe.expected == want, result.probe.id
        else:
            assert result.probe.expected == base.probe.expected
        if result.probe.expected == EXPECT_DENY:
            assert result.decision.reasons[0].policy == "corral-boundary"
    lightsail = by_id(bounded, "bounded-capacity-compute-lightsail")
    assert lightsail.probe.expected == EXPECT_OPEN
    assert lightsail.message.endswith(
        "is not denied: it is open because CorralDenyComputeServices did not fit in corral's "
        "permissions boundary (one policy of at most 6,144 characters), so principals created "
        "under it are not held to it."
    )
    assert by_id(bounded, "bounded-capacity-spot-launch-").decision.reasons[0].sid == (
        "CorralDenySpotLaunches"
    )


def test_boundary_probes_need_a_boundary_and_catch_a_changed_one():
    spec = load_stack_file(SPEND_STACK)
    plan = build_plan(spec)
    given = [PolicyRef(d.name, "dev", d.content) for d in plan.guardrail_documents]
    assert not [r for r in run_probes(spec, identity_policies=given) if r.probe.bounded]
    boundary = plan.document(plan.boundary).policy
    spot = next(s for s in boundary["Statement"] if s["Sid"] == "CorralDenySpotLaunches")
    boundary["Statement"].remove(spot)
    boundary["Statement"].append(
        {"Sid": "Compute", "Effect": "Deny", "Action": "lightsail:*", "Resource": "*"}
    )
    results = run_probes(
        spec, identity_policies=given, permissions_boundary=[PolicyRef("b", "role/x", boundary)]
    )
    failed = failures(results)
    assert set(failed) == {
        "bounded-capacity-spot-launch-eu-west-1",
        "bounded-capacity-compute-lightsail",
    }
    assert (
        "slipped through, though the capacity guardrail must deny it"
        in (failed["bounded-capacity-spot-launch-eu-west-1"])
    )
    assert failed["bounded-capacity-compute-lightsail"].startswith(
        "The call lightsail:CreateInstances on * by "
        "a new role in account 111122223333, created under corral's "
        "permissions boundary (capacity-compute-lightsail), is denied on * by statement Compute "
        "of policy b, though it is listed as open because CorralDenyComputeServices did not "
        "fit"
    )


# --------------------------------------------------------------------------- loosened


def test_a_dropped_statement_or_exemption_is_caught():
    spec = load_stack_file(EXAMPLE_STACK)
    plan = build_plan(spec)
    ids = spec_chain_ids(spec, next(t for t in spec.targets if t.name == "workloads"))
    chain = []
    for tid in ids:
        level = [full_aws_access(tid)]
        for doc in plan.documents_for(tid):
            policy = doc.policy
            for statement in policy["Statement"]:
                if statement["Sid"] == "CorralProtectIdentities":
                    del statement["Condition"]  # the exemption
            policy["Statement"] = [
                s for s in policy["Statement"] if s["Sid"] != "CorralDenyPurchases"
            ]
            level.append(PolicyRef(doc.name, tid, policy))
        chain.append(level)
    failed = failures(run_probes(spec, scp_chain=chain))
    assert {i for i in failed if i.startswith("capacity-")} == {
        f"capacity-purchase-{c.lower()}"
        for c in (
            "capacityBlocks", "capacityReservations", "dedicatedHosts", "domains", "marketplace",
            "outposts", "provisionedThroughput", "reservedInstances", "savingsPlans",
            "shieldAdvanced", "supportPlans",
        )
    }  # fmt: skip
    exempt = {i for i in failed if i.startswith("exempt-")}
    assert exempt == {f"exempt-role-corral-break-glass-identity-{s}" for s in (
        "create-role-corral-break-glass", "retrust-role-corral-break-glass",
        "corral-role-putrolepolicy", "corral-role-attachrolepolicy", "corral-role-deleterolepolicy",
        "corral-role-updateassumerolepolicy", "corral-policy-createpolicyversion",
        "corral-policy-deletepolicy")}  # fmt: skip
    assert failed["capacity-purchase-savingsplans"].startswith(
        "The call savingsplans:CreateSavingsPlan on * by an ordinary principal is not denied: "
        "savingsplans:CreateSavingsPlan on * slipped through, though the capacity guardrail "
        "must deny it."
    )
