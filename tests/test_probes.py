"""Probes derived from the spec: the example passes them all, and broken or loosened
documents are caught with a message naming the resource or the request."""

from __future__ import annotations

import copy
import doctest
import re
from collections.abc import Callable

import pytest
import yaml

import corral.evaluate.judge
import corral.evaluate.probes
import corral.evaluate.scope
from corral.build.documents import SID_INSTANCES_ALLOW, SID_REGIONS
from corral.build.plan import Plan, build_plan
from corral.evaluate.judge import full_aws_access, run_probes
from corral.evaluate.policy import PolicyRef
from corral.evaluate.probe_kit import (
    EXPECT_DENY,
    EXPECT_NOT_DENIED,
    INCIDENT_TYPE,
    LAUNCH_RESOURCES,
    concrete_principal,
    global_region,
)
from corral.evaluate.probes import probes_for
from corral.evaluate.scope import scope_for
from corral.spec import keys as K
from corral.spec.load import from_config, load_stack_file
from tests.conftest import EXAMPLE_STACK

ROOT_ID = "r-a1b2"
WORKLOADS_ID = "ou-a1b2-workload1"
ACCOUNT = "111122223333"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
Edit = Callable[[dict], None]


def example_config() -> dict:
    """The example stack's config map."""
    return yaml.safe_load(EXAMPLE_STACK.read_text())["config"]


def account_spec(**overrides: object):
    """The example spec in account mode."""
    config = example_config()
    config["corral:mode"] = "account"
    del config["corral:targets"]
    config["corral:principals"] = {"users": ["dev"], "roles": ["AdminRole"]}
    config.update(overrides)
    return from_config(config)


def edited(plan: Plan, name: str, edit: Edit) -> dict:
    """The parsed document ``name`` after ``edit`` changed it in place."""
    document = copy.deepcopy(plan.document(name).policy)
    edit(document)
    return document


def statement(document: dict, sid: str) -> dict:
    """The statement ``sid`` of a parsed document."""
    return next(s for s in document["Statement"] if s["Sid"] == sid)


def org_chain(plan: Plan, ids: list[str], edits: dict[str, Edit]) -> list[list[PolicyRef]]:
    """The chain along ``ids`` with FullAWSAccess, documents edited by name."""
    chain = []
    for tid in ids:
        level = [full_aws_access(tid)]
        for doc in plan.documents_for(tid):
            content = edited(plan, doc.name, edits[doc.name]) if doc.name in edits else doc.content
            level.append(PolicyRef(doc.name, tid, content))
        chain.append(level)
    return chain


def failures(results: list) -> dict[str, str]:
    """Failed probe id -> message."""
    return {r.probe.id: r.message for r in results if not r.passed}


# --------------------------------------------------------------------------- the example


def test_module_docstring_example_runs():
    assert doctest.testmod(corral.evaluate.probes).failed == 0
    assert doctest.testmod(corral.evaluate.scope).failed == 0
    assert doctest.testmod(corral.evaluate.judge).failed == 0


def test_example_spec_passes_every_probe_in_organization_mode():
    results = run_probes(load_stack_file(EXAMPLE_STACK))
    assert results and all(r.passed for r in results), failures(results)
    targets = {r.probe.target for r in results}
    assert targets == {ROOT_ID, WORKLOADS_ID, "ou-a1b2-mlteam001"}
    for target in targets:
        ids = [r.probe.id for r in results if r.probe.target == target]
        assert len(ids) == len(set(ids))
        assert all(KEBAB.match(i) for i in ids)


def test_example_spec_passes_every_probe_in_account_mode():
    results = run_probes(account_spec())
    assert len(results) > 50 and all(r.passed for r in results), failures(results)
    ids = {r.probe.id for r in results}
    assert {"protect-iam-detachrolepolicy", "protect-iam-createaccesskey"} <= ids
    assert "protect-organizations-leaveorganization" not in ids


def test_incident_launch_is_probed_in_every_region_with_every_resource():
    spec = load_stack_file(EXAMPLE_STACK)
    scope = scope_for(spec, [ROOT_ID, WORKLOADS_ID])
    probes = {p.id: p for p in probes_for(spec, scope)}
    for region in ("us-east-2", "us-west-1", "us-west-2", "eu-west-1", "us-east-1"):
        probe = probes[f"incident-launch-{region}"]
        assert probe.expected == EXPECT_DENY
        kinds = [arn.split(":")[5].split("/")[0] for arn in (r.resource for r in probe.requests)]
        assert kinds == [kind for kind, _ in LAUNCH_RESOURCES]
        typed = [r for r in probe.requests if "ec2:instancetype" in r.facts]
        assert typed == [probe.request]
        assert probe.request.facts["ec2:instancetype"] == (INCIDENT_TYPE,)
        assert all(r.facts["aws:requestedregion"] == (region,) for r in probe.requests)
    assert probes["incident-launch-us-west-2"].guardrail == K.REGIONS
    assert probes["incident-launch-eu-west-1"].guardrail == K.INSTANCE_TYPES


def test_representative_types_are_the_smallest_and_largest_permitted_per_pattern():
    spec = load_stack_file(EXAMPLE_STACK)
    scope = scope_for(spec, [ROOT_ID, WORKLOADS_ID])
    chosen = corral.evaluate.scope.representative_types(scope)
    assert "t3.2xlarge" in chosen and "m7i.4xlarge" in chosen
    assert all(scope.permits(t) for t in chosen)
    assert dict(corral.evaluate.scope.forbidden_types(scope)) == {
        "c7i.metal-24xl": "it matches the deny pattern *.metal*",
        "c7i.8xlarge": "it has more than 16 vCPUs",
    }


def test_target_without_instance_rule_gets_no_instance_probes():
    spec = load_stack_file(EXAMPLE_STACK)
    ids = {p.id for p in probes_for(spec, scope_for(spec, [ROOT_ID]))}
    assert "incident-launch-us-west-2" in ids
    assert not [i for i in ids if i.startswith(("allowed-type", "forbidden-type"))]
    assert "incident-launch-eu-west-1" not in ids


# --------------------------------------------------------------------------- acceptance


def test_instance_rule_on_every_resource_is_caught_naming_the_over_blocked_resource():
    spec = load_stack_file(EXAMPLE_STACK)
    plan = build_plan(spec)

    def everything(document: dict) -> None:
        statement(document, SID_INSTANCES_ALLOW)["Resource"] = "*"

    chain = org_chain(plan, [ROOT_ID, WORKLOADS_ID], {"corral-workloads": everything})
    results = run_probes(spec, scp_chain=chain)
    failed = failures(results)
    assert failed["allowed-type-c7i-large-eu-west-1"] == (
        "A launch of c7i.large (permitted) into eu-west-1, an allowed region, is denied on "
        "arn:aws:ec2:eu-west-1::image/ami-0123456789abcdef0 (and on 5 more of its resources) "
        "by statement CorralDenyInstanceTypesNotAllowed of policy corral-workloads on "
        "ou-a1b2-workload1, but the spec permits it; narrow that statement's Resource or "
        "Condition so it no longer matches arn:aws:ec2:eu-west-1::image/ami-0123456789abcdef0."
    )
    over = {r.resource for r in results if not r.passed}
    assert over == {
        "arn:aws:ec2:eu-west-1::image/ami-0123456789abcdef0",
        "arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0",
    }
    assert all(i.startswith("allowed-type-") for i in failed)
    assert len(failed) == 16
    incident = next(r for r in results if r.probe.id == "incident-launch-eu-west-1")
    assert incident.passed and incident.decision.decision == "DENY"


def test_the_over_blocking_spec_would_be_caught_with_the_spec_documents_too():
    """The same defect, in the built documents of an account-mode spec."""
    spec = account_spec()
    plan = build_plan(spec)

    def everything(document: dict) -> None:
        statement(document, SID_INSTANCES_ALLOW)["Resource"] = "*"

    policies = [
        PolicyRef(d.name, "dev", edited(plan, d.name, everything) if SID_INSTANCES_ALLOW in d.sids
                  else d.content)
        for d in plan.guardrail_documents
    ]  # fmt: skip
    results = run_probes(spec, identity_policies=policies)
    failed = failures(results)
    assert failed and all(i.startswith("allowed-type-") for i in failed)
    assert (
        "by statement CorralDenyInstanceTypesNotAllowed of policy corral-guardrails-1 on dev"
        in (failed["allowed-type-t3-large-eu-west-1"])
    )


def test_an_extra_allowed_region_is_caught():
    spec = load_stack_file(EXAMPLE_STACK)
    plan = build_plan(spec)

    def extra_region(document: dict) -> None:
        condition = statement(document, SID_REGIONS)["Condition"]["StringNotEquals"]
        condition["aws:RequestedRegion"].append("us-west-2")

    chain = org_chain(plan, [ROOT_ID, WORKLOADS_ID], {"corral-root": extra_region})
    failed = failures(run_probes(spec, scp_chain=chain))
    assert set(failed) == {"region-deny-launch-c7i-large-us-west-2"}
    assert failed["region-deny-launch-c7i-large-us-west-2"] == (
        "A launch of c7i.large into us-west-2, a region the spec disallows, is not denied: "
        "ec2:RunInstances on arn:aws:ec2:us-west-2:111122223333:instance/* slipped through, "
        "though the regions guardrail must deny it. Statement #0 of SCP 'FullAWSAccess' on "
        "'r-a1b2' allows ec2:RunInstances on arn:aws:ec2:us-west-2:111122223333:instance/* at "
        "level 0. Deploy the documents the spec builds with `pulumi up --refresh` so a statement "
        "denies it."
    )


def test_an_extra_allowed_type_is_caught():
    spec = load_stack_file(EXAMPLE_STACK)
    plan = build_plan(spec)

    def extra_types(document: dict) -> None:
        condition = statement(document, SID_INSTANCES_ALLOW)["Condition"]["StringNotLike"]
        condition["ec2:InstanceType"] += ["c5a.*", "c7i.8xlarge"]

    chain = org_chain(plan, [ROOT_ID, WORKLOADS_ID], {"corral-workloads": extra_types})
    failed = failures(run_probes(spec, scp_chain=chain))
    assert set(failed) == {
        "incident-launch-eu-west-1",
        "incident-launch-us-east-1",
        "forbidden-type-c7i-8xlarge-eu-west-1",
        "forbidden-type-c7i-8xlarge-us-east-1",
    }
    assert failed["forbidden-type-c7i-8xlarge-us-east-1"].startswith(
        "A launch of c7i.8xlarge (forbidden: it has more than 16 vCPUs) into us-east-1, an "
        "allowed region, is not denied: ec2:RunInstances on "
        "arn:aws:ec2:us-east-1:111122223333:instance/* slipped through, though the instances "
        "guardrail must deny it."
    )


def test_a_level_without_full_aws_access_is_reported_as_implicit_deny():
    spec = load_stack_file(EXAMPLE_STACK)
    plan = build_plan(spec)
    chain = org_chain(plan, [ROOT_ID, WORKLOADS_ID], {})
    chain[1] = chain[1][1:]
    results = run_probes(spec, scp_chain=chain)
    failed = failures(results)
    assert failed["global-iam-createrole-us-east-1"] == (
        "The global-service call iam:CreateRole (signed for us-east-1) is implicitly denied on "
        "arn:aws:iam::111122223333:role/<new-name>, but the spec permits it. No SCP "
        "attached at level 1 (ou-a1b2-workload1) allows iam:CreateRole on "
        "arn:aws:iam::111122223333:role/<new-name>; attach FullAWSAccess or an SCP that "
        "allows it there."
    )
    assert all(r.passed for r in results if r.probe.expected == EXPECT_DENY)


def test_deployed_chain_sets_the_scope_from_its_target_ids():
    spec = load_stack_file(EXAMPLE_STACK)
    plan = build_plan(spec)
    chain = [*org_chain(plan, [ROOT_ID], {}), [full_aws_access("ou-a1b2-other0001")]]
    ids = {r.probe.id for r in run_probes(spec, scp_chain=chain)}
    assert "incident-launch-us-west-2" in ids
    assert not [i for i in ids if i.startswith("allowed-type")]
    with_target = run_probes(spec, scp_chain=chain, target="workloads")
    failed = failures(with_target)
    assert "incident-launch-eu-west-1" in failed
    assert (
        "slipped through, though the instances guardrail must deny it"
        in (failed["incident-launch-eu-west-1"])
    )


def test_unknown_target_names_the_choices():
    with pytest.raises(ValueError, match=r"^Target 'nope' is not in the spec's targets; use one"):
        run_probes(load_stack_file(EXAMPLE_STACK), target="nope")


# --------------------------------------------------------------------------- exempt, global


def test_concrete_principals_fill_the_wildcards():
    assert concrete_principal("arn:aws:iam::*:role/corral-break-glass", "aws", ACCOUNT) == (
        f"arn:aws:iam::{ACCOUNT}:role/corral-break-glass"
    )
    assert concrete_principal("arn:*:iam::123456789012:user/ops/*-admin?", "aws-cn", ACCOUNT) == (
        "arn:aws-cn:iam::123456789012:user/ops/x-adminx"
    )


def test_exempt_principal_probes_fail_when_the_exemption_is_dropped():
    spec = load_stack_file(EXAMPLE_STACK)
    plan = build_plan(spec)

    def no_exemption(document: dict) -> None:
        del statement(document, SID_REGIONS)["Condition"]["ArnNotLike"]

    chain = org_chain(plan, [ROOT_ID, WORKLOADS_ID], {"corral-root": no_exemption})
    results = run_probes(spec, scp_chain=chain)
    failed = failures(results)
    assert set(failed) == {
        "exempt-role-corral-break-glass-launch-af-south-1",
        "exempt-role-corral-break-glass-region-deny-launch-c7i-large-af-south-1",
    }
    assert failed["exempt-role-corral-break-glass-launch-af-south-1"] == (
        "The exempt principal arn:aws:iam::111122223333:role/corral-break-glass launching "
        "c5a.24xlarge into af-south-1 is denied on "
        "arn:aws:ec2:af-south-1:111122223333:instance/* (and on 6 more of its resources) by "
        "statement CorralDenyOutsideAllowedRegions of policy corral-root on r-a1b2, but the "
        "spec permits it; narrow that statement's Resource or Condition so it no longer matches "
        "arn:aws:ec2:af-south-1:111122223333:instance/*."
    )
    exempt = [r for r in results if r.probe.id.startswith("exempt-")]
    assert {r.probe.expected for r in exempt} == {EXPECT_NOT_DENIED}
    assert any(r.probe.request.action == "organizations:DetachPolicy" for r in exempt)


def test_global_services_from_outside_us_east_1_are_not_denied():
    config = example_config()
    config.update({"aws:region": "eu-west-1", "corral:allowedRegions": ["eu-west-1"]})
    spec = from_config(config)
    results = run_probes(spec, target="workloads")
    globals_ = {r.probe.id: r for r in results if r.probe.id.startswith("global-")}
    assert set(globals_) == {
        "global-iam-createrole-us-east-1",
        "global-sts-getcalleridentity-us-east-1",
        "global-organizations-describeorganization-us-east-1",
        "global-sts-getcalleridentity-from-af-south-1",
    }
    assert all(r.passed for r in globals_.values())
    plan = build_plan(spec)

    def no_iam(document: dict) -> None:
        statement(document, SID_REGIONS)["NotAction"].remove("iam:*")

    chain = org_chain(plan, [ROOT_ID, WORKLOADS_ID], {"corral-root": no_iam})
    failed = failures(run_probes(spec, scp_chain=chain))
    assert set(failed) == {"global-iam-createrole-us-east-1"}
    assert (
        "by statement CorralDenyOutsideAllowedRegions of policy corral-root"
        in (failed["global-iam-createrole-us-east-1"])
    )


def test_global_region_comes_from_botocore_per_partition():
    assert global_region("aws", "iam") == "us-east-1"
    assert global_region("aws-us-gov", "iam") == "us-gov-west-1"
    assert global_region("aws", "no-such-service") is None


# --------------------------------------------------------------------------- protection


def test_protection_probes_follow_the_toggles():
    spec = account_spec(
        **{"corral:protections": {"cloudTrail": False, "accessKeys": False, "guardDuty": True}}
    )
    ids = {p.id for p in probes_for(spec, scope_for(spec))}
    protect = {i for i in ids if i.startswith("protect-")}
    assert protect == {
        "protect-guardduty-deletedetector",
        "protect-config-stopconfigurationrecorder",
        "protect-iam-detachrolepolicy",
        "protect-iam-createpolicyversion",
    }


def test_detach_probe_names_the_corral_policy_and_removing_protection_is_caught():
    spec = account_spec()
    scope = scope_for(spec)
    detach = next(p for p in probes_for(spec, scope) if p.id == "protect-iam-detachrolepolicy")
    assert detach.request.facts["iam:policyarn"] == (
        f"arn:aws:iam::{ACCOUNT}:policy/corral/corral-guardrails",
    )
    plan = build_plan(spec)

    def unprotected(document: dict) -> None:
        document["Statement"] = [
            s for s in document["Statement"] if s["Sid"] != "CorralProtectGuardrailsIamDetach"
        ]

    policies = [
        PolicyRef(d.name, "dev", edited(plan, d.name, unprotected))
        for d in plan.guardrail_documents
    ]
    failed = failures(run_probes(spec, identity_policies=policies))
    assert set(failed) == {"protect-iam-detachrolepolicy"}
    assert failed["protect-iam-detachrolepolicy"].startswith(
        "The call iam:DetachRolePolicy on arn:aws:iam::111122223333:role/<any-role> by an "
        "ordinary principal is not denied: iam:DetachRolePolicy on "
        "arn:aws:iam::111122223333:role/<any-role> slipped through, though the protection "
        "guardrail must deny it. Statement #0 of identity policy 'principal-own-permissions' "
        "on the guarded principals (user dev, role AdminRole) allows"
    )


def test_result_to_dict_carries_the_decision_and_reasons():
    result = run_probes(load_stack_file(EXAMPLE_STACK), target=ROOT_ID)[0]
    data = result.to_dict()
    assert data["id"] == "incident-launch-af-south-1"
    assert data["decision"] == "DENY" and data["passed"] is True
    assert data["reasons"][0]["sid"] == SID_REGIONS
    assert data["reasons"][0]["policy"] == "corral-root"
