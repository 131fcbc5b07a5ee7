"""OrganizationGuardrails and AccountGuardrails under pulumi.runtime.set_mocks."""

from __future__ import annotations

import json

import pytest

from components import ACCOUNT_GUARDRAILS, ORGANIZATION_GUARDRAILS
from components.account import AccountGuardrails, AccountGuardrailsArgs
from components.boundary import BOUNDARY_KIND
from components.organization import OrganizationGuardrails, OrganizationGuardrailsArgs
from corral.build.plan import build_plan
from corral.spec.load import from_config, load_stack_file

SCP = "aws:organizations/policy:Policy"
SCP_ATTACHMENT = "aws:organizations/policyAttachment:PolicyAttachment"
IAM_POLICY = "aws:iam/policy:Policy"
GROUP_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
USER_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
ROLE_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
TAGS = {"corral:managed": "true"}

ACCOUNT_CONFIG = {
    "aws:region": "us-east-1",
    "corral:mode": "account",
    "corral:allowedRegions": ["us-east-1", "eu-west-1"],
    "corral:exemptPrincipals": ["arn:aws:iam::*:role/corral-break-glass"],
    "corral:instances": {"allow": ["t3.*"]},
    "corral:principals": {
        "groups": ["developers"],
        "users": ["ci-deployer"],
        "roles": ["AdminRole", "developers"],
    },
}


@pytest.fixture
def org_plan(example_stack):
    return build_plan(load_stack_file(example_stack))


@pytest.fixture
def account_plan():
    return build_plan(from_config(ACCOUNT_CONFIG))


def test_organization_guardrails_creates_one_scp_per_document(pulumi_mocks, deploy, org_plan):
    def build():
        org = OrganizationGuardrails("corral", OrganizationGuardrailsArgs(org_plan))
        return {"ids": org.policy_ids, "arns": org.policy_arns}

    out = deploy(build)
    [component] = pulumi_mocks.of_type(ORGANIZATION_GUARDRAILS)
    assert component.name == "corral"
    policies = pulumi_mocks.of_type(SCP)
    names = ["corral-ml", "corral-root", "corral-root-capacity", "corral-workloads"]
    assert sorted(p.name for p in policies) == names
    assert len(pulumi_mocks.created) == 1 + 4 + 4
    for doc in org_plan.documents:
        [policy] = [p for p in policies if p.name == doc.name]
        assert policy.inputs == {
            "name": doc.name,
            "type": "SERVICE_CONTROL_POLICY",
            "content": doc.content,
            "description": doc.description,
            "tags": TAGS,
        }
        assert json.loads(policy.inputs["content"]) == doc.policy
    assert out["ids"] == {p.name: p.id for p in policies}
    assert out["ids"]["corral-root"].startswith("p-")
    assert out["arns"] == {p.name: p.state["arn"] for p in policies}


def test_organization_attachments_wire_each_policy_to_its_target(pulumi_mocks, deploy, org_plan):
    deploy(lambda: OrganizationGuardrails("corral", OrganizationGuardrailsArgs(org_plan)).urn)
    ids = {p.name: p.id for p in pulumi_mocks.of_type(SCP)}
    attachments = pulumi_mocks.of_type(SCP_ATTACHMENT)
    assert sorted((a.name, a.inputs) for a in attachments) == [
        ("corral-ml.ml", {"policyId": ids["corral-ml"], "targetId": "ou-a1b2-mlteam001"}),
        (
            "corral-root-capacity.root",
            {"policyId": ids["corral-root-capacity"], "targetId": "r-a1b2"},
        ),
        ("corral-root.root", {"policyId": ids["corral-root"], "targetId": "r-a1b2"}),
        (
            "corral-workloads.workloads",
            {"policyId": ids["corral-workloads"], "targetId": "ou-a1b2-workload1"},
        ),
    ]


def test_organization_children_are_parented_to_the_component(pulumi_mocks, deploy, org_plan):
    def build():
        org = OrganizationGuardrails("corral", OrganizationGuardrailsArgs(org_plan))
        children = [*org.policies.values(), *org.attachments.values()]
        return [child.urn for child in children]

    urns = deploy(build)
    assert len(urns) == 8
    assert urns[0] == (
        "urn:pulumi:test::corral::corral:index:OrganizationGuardrails"
        "$aws:organizations/policy:Policy::corral-root"
    )
    assert all(f"::{ORGANIZATION_GUARDRAILS}$aws:organizations/" in urn for urn in urns)


def test_account_guardrails_creates_iam_policy_and_attachments(pulumi_mocks, deploy, account_plan):
    def build():
        account = AccountGuardrails("corral", AccountGuardrailsArgs(account_plan))
        urns = [child.urn for child in account.attachments.values()]
        return {"ids": account.policy_ids, "arns": account.policy_arns, "urns": urns}

    out = deploy(build)
    policies = {p.name: p for p in pulumi_mocks.of_type(IAM_POLICY)}
    assert sorted(policies) == [
        "corral-boundary",
        "corral-guardrails",
        "corral-guardrails-capacity",
    ]
    prefix = "arn:aws:iam::111111111111:policy/corral/"
    for doc in account_plan.documents:
        assert policies[doc.name].inputs == {
            "name": doc.name,
            "path": "/corral/",
            "policy": doc.content,
            "description": doc.description,
            "tags": TAGS,
        }
    assert out["arns"] == {name: prefix + name for name in policies}
    assert out["ids"] == {name: p.state["policyId"] for name, p in policies.items()}
    wiring = sorted(
        (c.type, c.name, c.inputs)
        for c in pulumi_mocks.created
        if c.type in (GROUP_ATTACHMENT, USER_ATTACHMENT, ROLE_ATTACHMENT)
    )
    # Every guardrail policy reaches every principal; the boundary is never attached as one.
    assert wiring == sorted(
        (kind, f"{doc}.{label}", {key: name, "policyArn": prefix + doc})
        for doc in ("corral-guardrails", "corral-guardrails-capacity")
        for kind, label, key, name in (
            (GROUP_ATTACHMENT, "group.developers", "group", "developers"),
            (ROLE_ATTACHMENT, "role.AdminRole", "role", "AdminRole"),
            (ROLE_ATTACHMENT, "role.developers", "role", "developers"),
            (USER_ATTACHMENT, "user.ci-deployer", "user", "ci-deployer"),
        )
    )
    bounded = sorted(
        (c.inputs["principalKind"], c.inputs["principalName"], c.inputs["policyArn"])
        for c in pulumi_mocks.created
        if c.inputs.get("kind") == BOUNDARY_KIND
    )
    # Users and roles carry the boundary; the group cannot.
    assert bounded == [
        ("role", "AdminRole", prefix + "corral-boundary"),
        ("role", "developers", prefix + "corral-boundary"),
        ("user", "ci-deployer", prefix + "corral-boundary"),
    ]
    assert len(pulumi_mocks.created) == 1 + 3 + 8 + 3
    assert all(f"::{ACCOUNT_GUARDRAILS}$aws:iam/" in urn for urn in out["urns"])


def test_organization_guardrails_refuses_an_account_plan(pulumi_mocks, deploy, account_plan):
    with pytest.raises(ValueError) as excinfo:
        deploy(lambda: OrganizationGuardrails("corral", OrganizationGuardrailsArgs(account_plan)))
    assert str(excinfo.value) == (
        "Document corral-guardrails is an iam policy, but OrganizationGuardrails deploys "
        "Service Control Policies only; build the plan in organization mode."
    )
    assert pulumi_mocks.of_type(IAM_POLICY) == []
    assert pulumi_mocks.of_type(SCP) == []


def test_account_guardrails_refuses_an_organization_plan(pulumi_mocks, deploy, org_plan):
    with pytest.raises(ValueError) as excinfo:
        deploy(lambda: AccountGuardrails("corral", AccountGuardrailsArgs(org_plan)))
    assert str(excinfo.value) == (
        "Document corral-root is an scp policy, but AccountGuardrails deploys IAM policies "
        "only; build the plan in account mode."
    )
    assert pulumi_mocks.of_type(IAM_POLICY) == []
