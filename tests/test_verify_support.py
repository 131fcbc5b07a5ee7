"""Shared helpers for the verifier and sweep tests: build an org or account in moto and
deploy the guardrails into it with boto3 from ``build_plan(spec)`` (no tests here)."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from corral import keys as K
from corral.documents import Plan, build_plan
from corral.spec import Spec, load_stack_file

REGION = "us-east-1"
SCP = "SERVICE_CONTROL_POLICY"
INCIDENT = {"us-east-1": 8, "us-east-2": 6, "us-west-1": 6, "us-west-2": 6}


def client(service: str, endpoint: str | None = None, region: str = REGION, **creds: Any) -> Any:
    """A plain boto3 client (tests deploy and tamper with these, not the guarded ones)."""
    return boto3.client(service, region_name=region, endpoint_url=endpoint, **creds)


@dataclass
class Org:
    """A moto organization: root, two OUs with one member account each."""

    root: str
    workloads: str
    sandbox: str
    dev: str
    test: str
    management: str
    policy_ids: dict[str, str] = field(default_factory=dict)


def make_org(endpoint: str | None = None) -> Org:
    """Create the organization, OUs and accounts."""
    org = client("organizations", endpoint)
    org.create_organization(FeatureSet="ALL")
    management = org.describe_organization()["Organization"]["MasterAccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    ous = {}
    for name in ("workloads", "sandbox"):
        ou = org.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]
        ous[name] = ou["Id"]
    accounts = {}
    for name, ou in (("dev", ous["workloads"]), ("test", ous["sandbox"])):
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)
        account = status["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
        accounts[name] = account
    return Org(
        root, ous["workloads"], ous["sandbox"], accounts["dev"], accounts["test"], management
    )


def org_stack(tmp_path: Path, org: Org, extra: str = "") -> Path:
    """A stack file guarding the root (regions, protection) and both OUs (instances)."""
    text = f"""\
    config:
      aws:region: us-east-1
      corral:mode: organization
      corral:allowedRegions: [us-east-1, eu-west-1]
      corral:exemptPrincipals: ["arn:aws:iam::*:role/corral-break-glass"]
      corral:instances:
        allow: [t3.*, m7i.*]
      corral:targets:
        - id: {org.root}
          name: root
          guardrails: [regions, protection]
        - id: {org.workloads}
          name: workloads
          guardrails: [instances]
        - id: {org.sandbox}
          name: sandbox
          guardrails: [instances]
    """
    path = tmp_path / "Pulumi.org.yaml"
    path.write_text(textwrap.dedent(text) + extra, encoding="utf-8")
    return path


def account_stack(tmp_path: Path, regions: str = "[us-east-1, eu-west-1]") -> Path:
    """A standalone-account stack naming a group, a user and a role."""
    text = f"""\
    config:
      aws:region: us-east-1
      corral:mode: account
      corral:allowedRegions: {regions}
      corral:exemptPrincipals: ["arn:aws:iam::*:role/corral-break-glass"]
      corral:instances:
        allow: [t3.*, m7i.*]
      corral:principals:
        groups: [developers]
        users: [ci-deployer]
        roles: [AdminRole]
    """
    path = tmp_path / "Pulumi.acct.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def deploy_org(spec: Spec, endpoint: str | None = None) -> dict[str, str]:
    """Enable SCPs, create every planned SCP and attach it; return name -> policy id."""
    org = client("organizations", endpoint)
    root = org.list_roots()["Roots"][0]
    if not root["PolicyTypes"]:
        org.enable_policy_type(RootId=root["Id"], PolicyType=SCP)
    plan = build_plan(spec)
    ids = {}
    for doc in plan.documents:
        policy = org.create_policy(
            Name=doc.name, Description=doc.description, Type=SCP, Content=doc.content
        )["Policy"]["PolicySummary"]
        ids[doc.name] = policy["Id"]
    for attachment in plan.attachments:
        org.attach_policy(PolicyId=ids[attachment.document], TargetId=attachment.target_id)
    return ids


def make_account_principals(endpoint: str | None = None) -> None:
    """Users, groups and roles of the standalone account (before the guardrails)."""
    iam = client("iam", endpoint)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    iam.create_group(GroupName="developers")
    for user in ("alice", "ci-deployer"):
        iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName="developers", UserName="alice")
    for role in ("AdminRole", "corral-break-glass"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    iam.create_role(
        RoleName="AWSServiceRoleForSupport",
        Path="/aws-service-role/",
        AssumeRolePolicyDocument=trust,
    )


def deploy_account(spec: Spec, endpoint: str | None = None) -> dict[str, str]:
    """Create the IAM policy under /corral/ and attach it to the named principals."""
    iam = client("iam", endpoint)
    plan: Plan = build_plan(spec)
    arns = {}
    for doc in plan.documents:
        arns[doc.name] = iam.create_policy(
            PolicyName=doc.name, Path=K.IAM_PATH, PolicyDocument=doc.content
        )["Policy"]["Arn"]
    attach = {
        "group": ("attach_group_policy", "GroupName"),
        "user": ("attach_user_policy", "UserName"),
        "role": ("attach_role_policy", "RoleName"),
    }
    for a in plan.attachments:
        method, key = attach[a.target_kind]
        getattr(iam, method)(PolicyArn=arns[a.document], **{key: a.target_id})
    return arns


def edit_scp(name: str, ids: dict[str, str], edit: Any, endpoint: str | None = None) -> None:
    """Rewrite SCP ``name`` with ``edit(document) -> document`` (console-style tampering)."""
    org = client("organizations", endpoint)
    content = json.loads(org.describe_policy(PolicyId=ids[name])["Policy"]["Content"])
    org.update_policy(PolicyId=ids[name], Content=json.dumps(edit(content)))


def statement(document: dict, sid: str) -> dict:
    """The statement ``sid`` of ``document``."""
    return next(s for s in document["Statement"] if s["Sid"] == sid)


def launch_incident(endpoint: str | None = None, **creds: Any) -> None:
    """The incident: 26 c5a.24xlarge across four US regions."""
    for region, count in INCIDENT.items():
        ec2 = client("ec2", endpoint, region, **creds)
        ec2.run_instances(
            ImageId="ami-12345678",
            MinCount=count,
            MaxCount=count,
            InstanceType="c5a.24xlarge",
            KeyName="miner",
        )


def load(path: Path) -> Spec:
    """The spec of a stack file."""
    return load_stack_file(path)
