"""guardrail-effects against in-process moto: the probes, evaluated against the policies
read from the live organization (or the IAM policies on each guarded principal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse
from test_verify_support import (
    SCP,
    account_stack,
    client,
    deploy_account,
    deploy_org,
    edit_scp,
    load,
    loosen,
    make_account_principals,
    make_org,
    org_stack,
    statement,
)

from corral.audit import checks
from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.checks import _deployed
from corral.audit.checks._base import VerifyContext
from corral.audit.verify import run_check, verify
from corral.build.plan import build_plan
from corral.evaluate.judge import run_probes

CHECK = "guardrail-effects"
[EFFECTS] = [c for c in checks.REGISTRY if c.id == CHECK]


@pytest.fixture
def org_case(aws: None, tmp_path: Path):
    org = make_org()
    spec = load(org_stack(tmp_path, org))
    org.policy_ids = deploy_org(spec)
    return org, spec


def effects(spec, conn: Connection | None = None) -> list[F.Finding]:
    """The findings of guardrail-effects alone."""
    conn = conn or Connection(region=spec.region, max_attempts=2)
    ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account())
    return run_check(EFFECTS, ctx, ctx.account, None, conn.role_name)


def by_resource(found: list[F.Finding], account: str) -> dict[str, F.Finding]:
    return {f.resource: f for f in found if f.account == account}


def test_guardrail_effects_guarded_org_passes_every_probe(org_case) -> None:
    org, spec = org_case
    found = [f for f in verify(spec, Connection(region=spec.region)) if f.check == CHECK]
    assert [f for f in found if f.status != F.PASS] == []
    assert {f.account for f in found} == {org.management, org.dev, org.test}
    expected = run_probes(spec, target="workloads")
    dev = by_resource(found, org.dev)
    assert sorted(dev) == sorted(f"probe {r.probe.id}" for r in expected)
    incident = dev["probe incident-launch-us-west-1"]
    assert incident.region == "us-west-1"
    assert incident.message == (
        "The incident's launch of c5a.24xlarge into us-west-1, a region the spec disallows, is "
        "denied, as expected. Statement CorralDenyOutsideAllowedRegions of SCP 'corral-root' on "
        f"'{org.root}' explicitly denies ec2:RunInstances on "
        f"arn:aws:ec2:us-west-1:{org.dev}:instance/*."
    )
    assert (incident.details["policy"], incident.details["statement"]) == (
        "corral-root",
        "CorralDenyOutsideAllowedRegions",
    )
    [management] = by_resource(found, org.management).values()
    assert management.message == (
        f"Account {org.management} is the management account: SCPs do not apply to it, so no "
        "deny probe holds there and none was evaluated; run no workloads in it and rely on its "
        "spend alarms."
    )


def test_guardrail_effects_fails_when_one_more_region_is_allowed(org_case) -> None:
    org, spec = org_case

    more = loosen(
        "CorralDenyOutsideAllowedRegions", "StringNotEquals", "aws:RequestedRegion", "us-west-1"
    )
    edit_scp("corral-root", org.policy_ids, more)
    found = effects(spec)
    failed = {(f.account, f.resource) for f in found if f.status == F.FAIL}
    slipped = "probe region-deny-launch-m7i-large-us-west-1"
    assert failed == {(org.dev, slipped), (org.test, slipped)}
    message = by_resource(found, org.dev)[slipped].message
    assert message == (
        "A launch of m7i.large into us-west-1, a region the spec disallows, is not denied: "
        f"ec2:RunInstances on arn:aws:ec2:us-west-1:{org.dev}:instance/* slipped through, "
        "though the regions guardrail must deny it. Statement #0 of SCP 'FullAWSAccess' on "
        f"'{org.root}' allows ec2:RunInstances on arn:aws:ec2:us-west-1:{org.dev}:instance/* "
        "at level 0. Deploy the documents the spec builds with `pulumi up --refresh` so a "
        "statement "
        "denies it."
    )
    # The incident's own type is still stopped there, by the instance rule on the OU.
    incident = by_resource(found, org.dev)["probe incident-launch-us-west-1"]
    assert incident.status == F.PASS
    assert incident.details["statement"] == "CorralDenyInstanceTypesNotAllowed"


def test_guardrail_effects_fails_when_the_instance_rule_covers_every_resource(org_case) -> None:
    org, spec = org_case

    def widen(doc: dict) -> dict:
        statement(doc, "CorralDenyInstanceTypesNotAllowed")["Resource"] = "*"
        return doc

    edit_scp("corral-workloads", org.policy_ids, widen)
    found = effects(spec)
    over = by_resource(found, org.dev)["probe allowed-type-t3-large-us-east-1"]
    assert over.status == F.FAIL
    image = "arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0"
    assert over.message == (
        "A launch of t3.large (permitted) into us-east-1, an allowed region, is denied on "
        f"{image} (and on 5 more of its resources) by statement "
        f"CorralDenyInstanceTypesNotAllowed of policy corral-workloads on {org.workloads}, but "
        "the spec permits it; narrow that statement's Resource or Condition so it no longer "
        f"matches {image}."
    )
    failing = {f.resource for f in found if f.status == F.FAIL and f.account == org.dev}
    assert failing and all(r.startswith("probe allowed-type-") for r in failing)


def test_guardrail_effects_fails_when_a_level_has_no_scp(org_case) -> None:
    org, spec = org_case
    organizations = client("organizations")
    attached = organizations.list_policies_for_target(TargetId=org.sandbox, Filter=SCP)
    for policy in attached["Policies"]:
        organizations.detach_policy(PolicyId=policy["Id"], TargetId=org.sandbox)
    [bare] = [f for f in effects(spec) if f.account == org.test]
    assert (bare.status, bare.resource) == (F.FAIL, f"account {org.test}")
    assert bare.message == (
        f"The guardrails reaching account {org.test} cannot be evaluated because no SCP is "
        f"attached to {org.sandbox}, so AWS denies everything below; deploy the documents the "
        "spec builds with `pulumi up --refresh` and keep FullAWSAccess attached at every level."
    )


def test_guardrail_effects_refused_read_is_an_error_for_that_account(org_case) -> None:
    org, spec = org_case
    conn = Connection(region=spec.region, max_attempts=2)

    def deny(params: dict, **_: object):
        if json.loads(params["body"]).get("ChildId") != org.dev:
            return None
        error = {"Code": "AccessDeniedException", "Message": "not authorised"}
        meta = {"HTTPStatusCode": 400}
        return AWSResponse("https://x", 400, {}, None), {"Error": error, "ResponseMetadata": meta}

    conn.events.register("before-call.organizations.ListParents", deny)
    found = effects(spec, conn)
    [error] = [f for f in found if f.account == org.dev]
    assert (error.status, error.resource) == (F.ERROR, f"account {org.dev}")
    assert error.message == (
        "Check guardrail-effects could not complete because organizations:ListParents failed "
        f"in account {org.management} region us-east-1: AccessDeniedException: not authorised; "
        "grant the caller the actions printed by `corral iam-policy` and run it again."
    )
    others = [f for f in found if f.account == org.test]
    assert others and {f.status for f in others} == {F.PASS}


@pytest.fixture
def account_case(aws: None, tmp_path: Path):
    make_account_principals()
    spec = load(account_stack(tmp_path))
    return spec, deploy_account(spec)


def test_guardrail_effects_account_mode_each_principal(account_case) -> None:
    spec, arns = account_case
    found = effects(spec)
    assert [f for f in found if f.status != F.PASS] == []
    subjects = {f.resource.split(":")[0] for f in found}
    assert subjects == {"group developers", "user ci-deployer", "role AdminRole"}
    client("iam").detach_role_policy(RoleName="AdminRole", PolicyArn=arns["corral-guardrails"])
    found = effects(spec)
    failed = {f.resource.split(":")[0] for f in found if f.status == F.FAIL}
    assert failed == {"role AdminRole"}
    account = found[0].account
    [incident] = [
        f for f in found if f.resource == "role AdminRole: probe incident-launch-us-west-1"
    ]
    assert incident.message == (
        "The incident's launch of c5a.24xlarge into us-west-1, a region the spec disallows, is "
        f"not denied: ec2:RunInstances on arn:aws:ec2:us-west-1:{account}:instance/* slipped "
        "through, though the regions guardrail must deny it. Statement #0 of identity policy "
        "'principal-own-permissions' on "
        "the guarded principals (group developers, user ci-deployer, role AdminRole) allows "
        f"ec2:RunInstances on arn:aws:ec2:us-west-1:{account}:instance/*. Deploy the documents "
        "the spec builds with `pulumi up --refresh` so a statement denies it."
    )


def test_guardrail_effects_judges_launches_only_in_the_chosen_regions(org_case) -> None:
    org, spec = org_case
    chosen = ("eu-west-1", "us-west-2")
    conn = Connection(region=spec.region, max_attempts=2)
    found = [f for f in verify(spec, conn, regions=chosen) if f.check == CHECK]
    dev = by_resource(found, org.dev)
    launches = {f.region for f in dev.values() if f.details["request"].startswith("arn:aws:ec2:")}
    assert launches == set(chosen)
    assert "probe incident-launch-us-west-2" in dev
    assert "probe incident-launch-us-west-1" not in dev
    # One each, not per region: the global-service and protection probes are always judged.
    assert "probe protect-iam-createaccesskey" in dev
    everywhere = by_resource(effects(spec), org.dev)
    assert {k for k in everywhere if "launch" not in k and "type" not in k} == {
        k for k in dev if "launch" not in k and "type" not in k
    }


class _Tree:
    """Organizations' answers for a root r-1 > ou-a > ou-b > account 1111, and the reads."""

    CHILDREN = {"r-1": ["ou-a"], "ou-a": ["ou-b"], "ou-b": []}
    PARENTS = {"1111": "ou-b", "ou-b": "ou-a", "ou-a": "r-1"}

    def __init__(self) -> None:
        self.reads: list[tuple[str, str]] = []

    def once(self, key: tuple, fetch):
        return fetch()

    def read(self, service: str, operation: str, **params: str) -> dict:
        self.reads.append((operation, next(iter(params.values()), "")))
        if operation == "ListAccounts":  # one page: paths come from ListParents
            return {"Accounts": [{"Id": "1111", "Status": "ACTIVE"}]}
        if operation == "ListRoots":
            return {"Roots": [{"Id": "r-1"}]}
        if operation == "ListParents":
            return {"Parents": [{"Id": self.PARENTS[params["ChildId"]]}]}
        ous = self.CHILDREN.get(params["ParentId"], [])
        return {"OrganizationalUnits": [{"Id": ou} for ou in ous]}


def test_a_path_takes_the_ous_places_from_the_tree_and_the_account_from_list_parents() -> None:
    tree = _Tree()
    assert _deployed.chain_ids(tree, "1111", tree=True) == ["r-1", "ou-a", "ou-b", "1111"]
    assert [op for op, _ in tree.reads if op == "ListParents"] == ["ListParents"]
    plain = _Tree()
    assert _deployed.chain_ids(plain, "1111") == ["r-1", "ou-a", "ou-b", "1111"]
    assert [child for op, child in plain.reads if op == "ListParents"] == ["1111", "ou-b", "ou-a"]


def test_an_ou_no_root_lists_is_a_chain_problem() -> None:
    tree = _Tree()
    tree.PARENTS = {**_Tree.PARENTS, "1111": "ou-gone"}
    with pytest.raises(_deployed.ChainProblem, match="ou-gone is not listed below any root"):
        _deployed.chain_ids(tree, "1111", tree=True)
