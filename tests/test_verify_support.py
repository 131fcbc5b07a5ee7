"""Shared helpers for the verifier and sweep tests: build an org or account in moto and
deploy the guardrails into it with boto3 from ``build_plan(spec)`` (no tests here)."""

from __future__ import annotations

import fnmatch
import json
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from moto.budgets.models import budgets_backends

from corral.build import spend_breaker, spend_plan, spend_requests
from corral.build.plan import Plan, build_plan
from corral.spec import keys as K
from corral.spec.load import load_stack_file
from corral.spec.model import Spec
from examples.emulator import server

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


def org_stack(tmp_path: Path, org: Org, extra: str = "", accounts: Sequence[str] = ()) -> Path:
    """A stack file guarding the root (regions, protection), both OUs (instances) and the
    ``accounts`` named (regions)."""
    text = f"""\
    config:
      aws:region: us-east-1
      corral:mode: organization
      corral:allowedRegions: [us-east-1, eu-west-1]
      corral:exemptPrincipals:
        - "arn:aws:iam::*:role/corral-break-glass"
        - "arn:aws:iam::*:role/OrganizationAccountAccessRole"
        - "arn:aws:iam::*:role/stacksets-exec-*"
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
    text = textwrap.dedent(text) + "".join(
        f'    - {{id: "{a}", name: account-{a}, guardrails: [regions]}}\n' for a in accounts
    )
    path = tmp_path / "Pulumi.org.yaml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def account_stack(tmp_path: Path, regions: str = "[us-east-1, eu-west-1]", extra: str = "") -> Path:
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
    path.write_text(textwrap.dedent(text) + extra, encoding="utf-8")
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
    iam.create_role(RoleName="AdminRole", AssumeRolePolicyDocument=trust)
    account = client("sts", endpoint).get_caller_identity()["Account"]
    iam.create_role(RoleName="corral-break-glass", AssumeRolePolicyDocument=own_account(account))
    iam.create_role(
        RoleName="AWSServiceRoleForSupport",
        Path="/aws-service-role/",
        AssumeRolePolicyDocument=trust,
    )


def own_account(account: str) -> str:
    """A trust policy letting principals of ``account`` (only) assume the role."""
    statement = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                 "Action": "sts:AssumeRole"}  # fmt: skip
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def bound_principals(spec: Spec) -> str:
    """What `pulumi up` does for the users and roles corral:principals names, and the
    operator once for the others (alice, guarded through her group): set corral's boundary
    on every user and role that is not service-linked, exempt or corral's own. The user
    call is moto's only through examples/emulator/iam_boundaries.py (the ``aws`` fixture
    installs it). Returns the boundary's ARN."""
    iam = client("iam")
    account = client("sts").get_caller_identity()["Account"]
    arn = f"arn:aws:iam::{account}:policy{K.IAM_PATH}{build_plan(spec).boundary}"
    exempt = list(spec.exempt_principals)
    for role in iam.list_roles()["Roles"]:
        if not role["Path"].startswith(("/aws-service-role/", K.IAM_PATH)) and not any(
            fnmatch.fnmatchcase(role["Arn"], p) for p in exempt
        ):
            iam.put_role_permissions_boundary(RoleName=role["RoleName"], PermissionsBoundary=arn)
    for user in iam.list_users()["Users"]:
        if not any(fnmatch.fnmatchcase(user["Arn"], p) for p in exempt):
            iam.put_user_permissions_boundary(UserName=user["UserName"], PermissionsBoundary=arn)
    return arn


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


def loosen(sid: str, operator: str, key: str, value: str) -> Callable[[dict], dict]:
    """An :func:`edit_scp` edit: ``value`` added to condition ``operator`` / ``key`` of ``sid``."""

    def edit(document: dict) -> dict:
        statement(document, sid)["Condition"][operator][key].append(value)
        return document

    return edit


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


# --------------------------------------------------------------------------- spend detection

SPEND = """\
  corral:notifications:
    emails: [ops@example.com, finance@example.com]
    https: [https://hooks.example.com/aws]
  corral:budgets:
    limit: 200
"""
BREAKER = """\
  corral:circuitBreaker:
    enabled: true
    threshold: 120
"""


def deploy_spend(spec: Spec, regions: Sequence[str] | None = None) -> dict[str, str]:
    """Create, with boto3 from corral.build.spend_requests (as test_spend_moto does), what spend
    detection deploys in the caller's account: topic, policy and subscriptions, budgets,
    alarms and EventBridge forwarding, the last two only in ``regions`` (default: all).
    Returns the account id and the topic ARN."""
    spend = spec.spend
    [site] = [s for s in spend_plan.plan(spend) if s.account_id is None]
    account = client("sts").get_caller_identity()["Account"]
    sns = client("sns", region=site.home)
    topic = sns.create_topic(**spend_requests.topic_request(site))["TopicArn"]
    policy = spend_requests.topic_policy(spend, site, topic, account)
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=policy)
    for request in spend_requests.subscription_requests(spend, topic):
        sns.subscribe(**request)
    budgets = client("budgets")
    for budget in site.budgets:
        budgets.create_budget(**spend_requests.budget_request(spend, budget, account, topic))
    names = spend_plan.names(spend)
    role = client("iam").create_role(
        RoleName=names["forward_role"],
        Path=K.IAM_PATH,
        AssumeRolePolicyDocument=spend_requests.forward_role_trust(account),
    )["Role"]["Arn"]
    client("iam").put_role_policy(
        RoleName=names["forward_role"],
        PolicyName="forward-role-policy-1a2b3c4",  # Pulumi names it
        PolicyDocument=spend_requests.forward_role_policy(spend, account),
    )
    for region in site.regions if regions is None else regions:
        cloudwatch = client("cloudwatch", region=region)
        for alarm in (a for a in site.alarms if a.region == region):
            cloudwatch.put_metric_alarm(**spend_requests.alarm_request(alarm, topic))
        if region in site.forward_regions:
            bus = spend_requests.bus_arn(spend, site.home, account)
            _rule(region, spend_requests.forward_rule_request(spend), {"Arn": bus, "RoleArn": role})
    if site.forward_regions:
        _rule(site.home, spend_requests.deliver_rule_request(spend), {"Arn": topic})
    return {"account": account, "topic": topic}


def _rule(region: str, request: dict, target: dict) -> None:
    events = client("events", region=region)
    events.put_rule(**request)
    events.put_targets(Rule=request["Name"], Targets=[{"Id": "corral", **target}])


def serve_budget_subscribers(events: Any) -> None:
    """Moto implements no DescribeSubscribersForNotification. Answer it, on a connection's
    event system, from the subscribers moto itself stored with each notification at
    CreateBudget or CreateNotification; every other call still goes to moto. Registered
    after the connection's own hooks, so the read-only guard and call counting still run."""
    events.register("before-call", _subscribers)


def _subscribers(model: Any, params: dict, **_: Any) -> tuple[AWSResponse, dict] | None:
    if (model.service_model.service_name, model.name) != (
        "budgets",
        "DescribeSubscribersForNotification",
    ):
        return None
    body = json.loads(params["body"])
    account = body["AccountId"]
    budget = budgets_backends[account]["aws"].budgets[account].get(body["BudgetName"])
    wanted = {k: v for k, v in body["Notification"].items() if k != "NotificationState"}
    notes = [n for n in (budget.notifications if budget else []) if n.details == wanted]
    if not notes:
        error = {"Code": "NotFoundException", "Message": "no such budget notification"}
        meta = {"HTTPStatusCode": 400}
        return AWSResponse("https://budgets", 400, {}, None), {
            "Error": error,
            "ResponseMetadata": meta,
        }
    meta = {"HTTPStatusCode": 200}
    return AWSResponse("https://budgets", 200, {}, None), {
        "Subscribers": notes[0].subscribers,
        "ResponseMetadata": meta,
    }


# --------------------------------------------------------------------------- budget actions


def serve_budget_actions(events: Any) -> None:
    """Moto implements no budget-action API. Answer CreateBudgetAction, UpdateBudgetAction,
    DeleteBudgetAction and DescribeBudgetActionsForBudget, on a client's or a connection's
    event system, from the emulator's stand-in (examples/emulator/server.py), which checks
    each request and answer against botocore's Budgets model; every other call still goes to
    moto. Registered after a connection's own hooks (on the same, unspecific event), so its
    read-only guard refuses the writes and its call counting still runs."""
    events.register("before-call", _budget_actions)


def _budget_actions(model: Any, params: dict, **_: Any) -> tuple[AWSResponse, dict] | None:
    service = model.service_model.service_name
    if service != "budgets" or model.name not in server.BUDGET_ACTION_OPERATIONS:
        return None
    status, payload = server.BUDGET_ACTIONS.answer(model.name, json.loads(params["body"]))
    meta = {"HTTPStatusCode": status}
    response = AWSResponse("https://budgets", status, {}, None)
    if status != 200:
        error = {"Code": payload["__type"], "Message": payload["Message"]}
        return response, {"Error": error, "ResponseMetadata": meta}
    return response, {**payload, "ResponseMetadata": meta}


def budgets_client(endpoint: str | None = None) -> Any:
    """A plain budgets client whose budget-action calls reach the stand-in (in-process, through
    the hook above; through ``endpoint``, the emulator server answers them itself)."""
    budgets = client("budgets", endpoint)
    if endpoint is None:
        serve_budget_actions(budgets.meta.events)
    return budgets


def deploy_breakers(spec: Spec, topic: str, endpoint: str | None = None) -> dict[str, Any]:
    """Create, from corral.build.spend_breaker, each circuit breaker of the deploying account: the
    deny-launch policy (SCP or IAM), the execution role and the budget actions. The budgets
    must exist (``deploy_spend``). Returns the policy reference, the role ARN and the action
    id of each budget. A fresh moto world has no budget actions, so the stand-in starts empty."""
    server.BUDGET_ACTIONS.clear()
    spend, names = spec.spend, spend_plan.names(spec.spend)
    [site] = [s for s in spend_plan.plan(spend) if s.account_id is None]
    account = client("sts", endpoint).get_caller_identity()["Account"]
    content = spend_breaker.deny_launch_policy(spend)
    if spec.mode == K.ORGANIZATION:
        ref = client("organizations", endpoint).create_policy(
            Name=names["breaker_policy"], Description="breaker", Type=SCP, Content=content
        )["Policy"]["PolicySummary"]["Id"]
    else:
        ref = client("iam", endpoint).create_policy(
            PolicyName=names["breaker_policy"], Path=K.IAM_PATH, PolicyDocument=content
        )["Policy"]["Arn"]
    role = client("iam", endpoint).create_role(
        RoleName=names["breaker_role"],
        Path=K.IAM_PATH,
        AssumeRolePolicyDocument=spend_breaker.breaker_role_trust(account),
    )["Role"]["Arn"]
    budgets, ids = budgets_client(endpoint), {}
    policy_arn = ref if spec.mode == K.ACCOUNT else _scp_arn(ref, endpoint)
    for breaker in site.breakers:
        client("iam", endpoint).put_role_policy(
            RoleName=names["breaker_role"],
            PolicyName=f"breaker-grant-{breaker.budget}",
            PolicyDocument=spend_breaker.breaker_role_policy(spend, breaker, policy_arn),
        )
        request = spend_breaker.breaker_request(
            spend, breaker, account_id=account, role_arn=role, policy_ref=ref, topic_arn=topic
        )
        ids[breaker.budget] = budgets.create_budget_action(**request)["ActionId"]
    return {"policy": ref, "role": role, "actions": ids}


def _scp_arn(policy_id: str, endpoint: str | None) -> str:
    """The ARN of SCP ``policy_id`` (the breaker role's grant names the SCP by ARN)."""
    org = client("organizations", endpoint)
    return org.describe_policy(PolicyId=policy_id)["Policy"]["PolicySummary"]["Arn"]
