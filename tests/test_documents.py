"""corral.build.documents and .plan: golden documents, determinism, limits and packing."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from corral.build import documents
from corral.build.plan import VERSION, BuildError, build_plan, pack
from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.load import from_config, load_stack_file

GOLDEN = Path(__file__).parent / "golden" / "example"
UPDATE = os.environ.get("CORRAL_UPDATE_GOLDEN") == "1"

BASE = {
    "aws:region": "us-east-1",
    "corral:mode": "organization",
    "corral:allowedRegions": ["us-east-1"],
    "corral:exemptPrincipals": ["arn:aws:iam::*:role/BreakGlass"],
    "corral:targets": [{"id": "r-ab12"}],
}


def plan_for(**changes):
    config = dict(BASE)
    config.update({f"corral:{k}": v for k, v in changes.items()})
    return build_plan(from_config(config))


def test_example_documents_match_golden_files():
    """Golden files; regenerate with CORRAL_UPDATE_GOLDEN=1 after a reviewed change."""
    plan = build_plan(load_stack_file("Pulumi.example.yaml"))
    rendered = {
        f"{d.name}.json": json.dumps(d.policy, indent=1, sort_keys=True) + "\n"
        for d in plan.documents
    }
    rendered["attachments.json"] = json.dumps(plan.to_dict()["attachments"], indent=1) + "\n"
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            (GOLDEN / name).write_text(text)
    expected = {p.name: p.read_text() for p in GOLDEN.iterdir()}
    assert rendered == expected


def test_documents_are_minified_sorted_and_deterministic():
    first = build_plan(load_stack_file("Pulumi.example.yaml"))
    second = build_plan(load_stack_file("Pulumi.example.yaml"))
    assert first == second
    for doc in first.documents:
        assert doc.content == json.dumps(
            json.loads(doc.content), sort_keys=True, separators=(",", ":")
        )
        assert list(doc.sids) == sorted(doc.sids)
        assert len(doc.content) <= K.SCP_MAX_CHARS


def test_region_statement_exempts_global_services_and_break_glass():
    doc = plan_for().documents[0].policy
    region = next(s for s in doc["Statement"] if s["Sid"] == documents.SID_REGIONS)
    assert region["Effect"] == "Deny"
    assert region["Resource"] == "*"
    assert {"iam:*", "organizations:*", "sts:*", "cloudfront:*", "route53:*"} <= set(
        region["NotAction"]
    )
    assert "ec2:*" not in region["NotAction"]
    assert not any(a.startswith("ec2:RunInstances") for a in region["NotAction"])
    assert region["Condition"] == {
        "StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]},
        "ArnNotLike": {"aws:PrincipalARN": ["arn:aws:iam::*:role/BreakGlass"]},
    }


def test_instance_statements_target_the_instance_resource_only():
    plan = plan_for(instances={"allow": ["t3.*"], "deny": ["*.metal"]})
    statements = {s["Sid"]: s for s in plan.documents[0].policy["Statement"]}
    launch = statements[documents.SID_INSTANCES_ALLOW]
    # On Resource "*" a negated condition would also deny the image, subnet and volume
    # of every launch, which carry no ec2:InstanceType key.
    assert launch["Resource"] == "arn:aws:ec2:*:*:instance/*"
    assert launch["Action"] == ["ec2:RunInstances", "ec2:StartInstances"]
    assert launch["Condition"]["StringNotLike"] == {"ec2:InstanceType": ["t3.*"]}
    denied = statements[documents.SID_INSTANCES_DENY]
    assert denied["Condition"]["StringLike"] == {"ec2:InstanceType": ["*.metal"]}
    scaling = statements[documents.SID_ASG_ALLOW]
    assert scaling["Condition"]["ForAnyValue:StringNotLike"] == {
        "autoscaling:InstanceTypes": ["t3.*"]
    }
    assert set(scaling["Action"]) == set(documents.AUTOSCALING_ACTIONS)


def test_vcpu_ceiling_becomes_an_exact_allow_list():
    plan = plan_for(instances={"maxVcpus": 16})
    statements = {s["Sid"]: s for s in plan.documents[0].policy["Statement"]}
    allowed = statements[documents.SID_INSTANCES_ALLOW]["Condition"]["StringNotLike"][
        "ec2:InstanceType"
    ]
    denied = statements[documents.SID_INSTANCES_DENY]["Condition"]["StringLike"]["ec2:InstanceType"]
    permitted = catalog.expand(allowed) - catalog.expand(denied)
    assert "c5a.24xlarge" not in permitted
    assert "c5a.4xlarge" in permitted
    assert all(catalog.vcpus()[t] <= 16 for t in permitted)


def test_no_instance_rule_means_no_instance_statements():
    sids = plan_for().documents[0].sids
    assert not any("Instance" in sid or "AutoScaling" in sid for sid in sids)


def test_protection_statements_follow_toggles():
    flags = {name: False for name in K.PROTECTION_KEYS} | {"accessKeys": True}
    sids = [s for d in plan_for(protections=flags).documents for s in d.sids]
    assert "CorralProtectAccessKeys" in sids
    assert not any(s.startswith("CorralProtect") and s != "CorralProtectAccessKeys" for s in sids)


def test_account_mode_builds_iam_policy_for_every_principal():
    config = {
        **BASE,
        "corral:mode": "account",
        "corral:principals": {"groups": ["devs"], "users": ["ci"], "roles": ["Admin"]},
        "corral:instances": {"allow": ["t3.*"]},
    }
    del config["corral:targets"]
    plan = build_plan(from_config(config))
    assert {d.kind for d in plan.documents} == {"iam"}
    guardrails = [d for d in plan.documents if d.name != plan.boundary]
    assert plan.boundary == "corral-boundary" and plan.documents[-1].name == plan.boundary
    assert {(a.target_kind, a.target_id) for a in plan.attachments} == {
        (kind, name)
        for kind, name in (("group", "devs"), ("user", "ci"), ("role", "Admin"))
        for _ in guardrails
    }
    assert {a.document for a in plan.attachments} == {d.name for d in guardrails}
    statements = [s for d in guardrails for s in d.policy["Statement"]]
    sids = {s["Sid"] for s in statements}
    # /corral/ policies are covered by CorralProtectIdentities; the detach rule stays.
    assert {"CorralProtectIdentities", "CorralRequireBoundary", "CorralProtectBoundary"} <= sids
    assert "CorralProtectGuardrailsIam" not in sids
    assert "CorralProtectLeaveOrganization" not in sids  # no organization to leave
    detach = next(s for s in statements if s["Sid"].endswith("Detach"))
    assert detach["Condition"]["ArnLike"] == {"iam:PolicyARN": ["arn:aws:iam::*:policy/corral/*"]}


def test_identical_targets_share_documents():
    plan = plan_for(
        targets=[
            {"id": "ou-ab12-11111111", "name": "a"},
            {"id": "ou-ab12-22222222", "name": "b"},
        ]
    )
    names = [d.name for d in plan.documents]
    assert names == ["corral-a", "corral-a-capacity"]  # capacity packs into its own SCP
    assert [a.document for a in plan.attachments] == names + names


def test_pack_uses_as_few_documents_as_fit():
    statements = [{"Sid": f"S{i}", "Effect": "Deny", "Action": "x:" + "a" * 900} for i in range(9)]
    groups = pack(statements, 2000, "test")
    assert len(groups) == 5  # two 9xx-character statements fit per 2,000-character document
    assert sum(len(g) for g in groups) == 9
    for group in groups:
        assert len(documents.minify({"Version": VERSION, "Statement": group})) <= 2000


def test_pack_refuses_a_statement_larger_than_a_document():
    with pytest.raises(BuildError) as info:
        pack([{"Sid": "Big", "Action": "x" * 3000}], 2000, "test")
    assert str(info.value) == (
        "test: statement Big is 3025 characters, more than one document of 2000 can hold; "
        "use fewer or broader patterns."
    )


def test_long_deny_list_is_split_over_statements_and_documents():
    many = sorted(catalog.instance_types())[:300]
    plan = plan_for(instances={"deny": many})
    docs = plan.documents_for("r-ab12")
    assert len(docs) >= 2
    denied: list[str] = []
    for doc in docs:
        assert len(doc.content) <= K.SCP_MAX_CHARS
        for statement in doc.policy["Statement"]:
            if statement["Sid"].startswith(documents.SID_INSTANCES_DENY):
                denied += statement["Condition"]["StringLike"]["ec2:InstanceType"]
    assert sorted(denied) == many


def test_scp_count_per_target_is_limited():
    many = sorted(catalog.instance_types())
    with pytest.raises(BuildError) as info:
        plan_for(instances={"deny": many[:1000]}, allowLockout=True)
    message = str(info.value)
    assert message.startswith("target r-ab12 would need ")
    assert message.endswith(
        "corral SCPs plus FullAWSAccess, more than the 5 AWS allows; "
        "use fewer or broader instance patterns."
    )


def test_allow_list_too_long_for_one_document_is_refused():
    many = sorted(catalog.instance_types())[:500]
    with pytest.raises(BuildError) as info:
        plan_for(instances={"allow": many})
    assert re.fullmatch(
        r"corral-r-ab12: statement CorralDeny\w+NotAllowed is \d+ characters, more than one "
        r"document of 5120 can hold; use fewer or broader patterns\.",
        str(info.value),
    )
