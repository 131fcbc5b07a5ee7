"""identities-trusted and principals-bounded against in-process moto: a clean deploy passes;
each step of a takeover by a guarded principal's leaked admin key fails, naming the role (or
user) and what changed.

Moto 5.2 has no PutUserPermissionsBoundary: the ``aws`` fixture installs the stand-in of
examples/emulator/iam_boundaries.py (tests/test_boundary_provider.py proves moto still lacks
it). Roles use moto's own PutRolePermissionsBoundary; AWS-managed policies such as
AdministratorAccess are loaded only where a test asks for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse
from test_verify_support import (
    BREAKER,
    SPEND,
    account_stack,
    bound_principals,
    client,
    deploy_account,
    deploy_breakers,
    deploy_org,
    deploy_spend,
    load,
    make_account_principals,
    make_org,
    org_stack,
    own_account,
)

from corral.audit import checks
from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.checks import _identities
from corral.audit.checks._base import VERIFY, VerifyContext
from corral.audit.verify import run_check
from corral.build import spend_requests
from corral.build.plan import build_plan
from corral.cli import errors as E
from corral.cli.main import main as corral_main

CHECKS = ("identities-trusted", "principals-bounded", "principals-covered")
FORWARDER = "corral-spend-forwarder"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
OUTSIDER = "arn:aws:iam::999999999999:root"


def run(spec, *only: str) -> list[F.Finding]:
    """The findings of the checks ``only`` (default: the identity checks)."""
    conn = Connection(region=spec.region, max_attempts=2)
    ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account())
    chosen = [c for c in checks.checks(VERIFY, spec.mode) if c.id in (only or CHECKS)]
    return [f for c in chosen for f in run_check(c, ctx, ctx.account, None, conn.role_name)]


def failures(found: list[F.Finding], check: str | None = None) -> list[F.Finding]:
    return [f for f in found if f.status != F.PASS and check in (None, f.check)]


def trust(principal: dict) -> str:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def account(aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    """A standalone account after `pulumi up` (guardrails, boundary, spend detection with
    its forwarder and circuit-breaker roles) and the operator's one-off boundary step."""
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    make_account_principals()
    spec = load(account_stack(tmp_path, extra=SPEND + BREAKER))
    deploy_account(spec)
    spent = deploy_spend(spec, regions=["us-east-1", "eu-west-1"])
    deploy_breakers(spec, spent["topic"])
    return {"spec": spec, "account": spent["account"], "boundary": bound_principals(spec)}


@pytest.fixture
def aws_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moto loads AWS-managed policies (AdministratorAccess, ...) only when asked, before the
    account's IAM is first used (0.8 s)."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


@pytest.fixture
def org_case(aws: None, tmp_path: Path):
    org = make_org()
    spec = load(org_stack(tmp_path, org))
    deploy_org(spec)
    return org, spec


# --------------------------------------------------------------------------- a clean deploy


def test_identities_trusted_passes_after_a_clean_deploy(account: dict) -> None:
    found = run(account["spec"])
    assert failures(found) == []
    a = account["account"]
    trusted = {f.resource: f.message for f in found if f.check == "identities-trusted"}
    assert trusted == {
        "role corral-break-glass": f"Role corral-break-glass in account {a} matches "
        "corral:exemptPrincipals and trusts only principals of the account.",
        f"role {FORWARDER}": f"Role {FORWARDER} in account {a} is corral's own service role, "
        "with exactly the trust and policies corral deploys.",
        "role corral-circuit-breaker": f"Role corral-circuit-breaker in account {a} is corral's "
        "own service role, with exactly the trust and policies corral deploys.",
    }
    bounded = {f.resource for f in found if f.check == "principals-bounded"}
    assert bounded == {
        "user alice",
        "user ci-deployer",
        "role AdminRole",
        "role corral-break-glass",
    }


def test_identities_trusted_judges_each_kind_of_principal() -> None:
    home = "111122223333"
    document = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [home, f"arn:aws:iam::{home}:user/ops"]}},
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{home}:saml-provider/idp"},
            },
            {"Effect": "Allow", "Principal": {"Federated": "accounts.google.com"}},
            {"Effect": "Allow", "Principal": {"AWS": "AROAEXAMPLEDELETEDROLE"}},
            {"Effect": "Allow", "Principal": "*"},
            {"Effect": "Allow", "NotPrincipal": {"AWS": OUTSIDER}},
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}},
            {"Effect": "Deny", "Principal": {"AWS": OUTSIDER}},
        ]
    }
    assert _identities.foreign(document, {home}) == [
        "AROAEXAMPLEDELETEDROLE",
        "every AWS account (*)",
        'every principal except {"AWS": "arn:aws:iam::999999999999:root"}',
        "the AWS service ec2.amazonaws.com",
        "the identity provider accounts.google.com",
    ]


def test_identities_trusted_lists_exempt_users(account: dict, tmp_path: Path) -> None:
    exempt = '["arn:aws:iam::*:role/corral-break-glass", "arn:aws:iam::*:user/ops-*"]'
    text = account_stack(tmp_path, extra=SPEND + BREAKER).read_text()
    stack = tmp_path / "Pulumi.users.yaml"
    stack.write_text(text.replace('["arn:aws:iam::*:role/corral-break-glass"]', exempt))
    client("iam").create_user(UserName="ops-emergency")
    found = run(load(stack), "identities-trusted")
    [user] = [f for f in found if f.resource == "user ops-emergency"]
    assert (user.status, user.message) == (
        F.PASS,
        f"User ops-emergency in account {account['account']} matches corral:exemptPrincipals "
        "(its credentials are not judged here).",
    )


# --------------------------------------------------------------------------- the takeover


def test_identities_trusted_fails_for_a_new_break_glass_role_trusting_another_account(
    org_case,
) -> None:
    org, spec = org_case
    assert failures(run(spec)) == []
    client("iam").create_role(
        RoleName="corral-break-glass", AssumeRolePolicyDocument=trust({"AWS": OUTSIDER})
    )
    [hijacked] = failures(run(spec))
    assert (hijacked.check, hijacked.account, hijacked.resource) == (
        "identities-trusted",
        org.management,
        "role corral-break-glass",
    )
    assert hijacked.message == (
        f"Role corral-break-glass in account {org.management} trusts {OUTSIDER}, outside the "
        "organization; restore its trust policy to the break-glass account and rotate the "
        "credentials that changed it."
    )


def test_identities_trusted_accepts_a_member_account_of_the_organization(org_case) -> None:
    org, spec = org_case
    member = f"arn:aws:iam::{org.dev}:root"
    client("iam").create_role(
        RoleName="corral-break-glass", AssumeRolePolicyDocument=trust({"AWS": member})
    )
    [ok] = run(spec)
    assert ok.status == F.PASS
    assert ok.message == (
        f"Role corral-break-glass in account {org.management} matches corral:exemptPrincipals "
        "and trusts only principals of the organization."
    )


def test_identities_trusted_fails_when_break_glass_is_retrusted(account: dict) -> None:
    client("iam").update_assume_role_policy(
        RoleName="corral-break-glass", PolicyDocument=trust({"AWS": [OUTSIDER, "*"]})
    )
    found = failures(run(account["spec"]))
    a = account["account"]
    assert [f.message for f in found] == [
        f"Role corral-break-glass in account {a} trusts {OUTSIDER}, outside the account; "
        "restore its trust policy to the break-glass account and rotate the credentials that "
        "changed it.",
        f"Role corral-break-glass in account {a} trusts every AWS account (*), outside the "
        "account; restore its trust policy to the break-glass account and rotate the "
        "credentials that changed it.",
    ]


def test_identities_trusted_fails_when_a_service_may_assume_break_glass(account: dict) -> None:
    client("iam").update_assume_role_policy(
        RoleName="corral-break-glass", PolicyDocument=trust({"Service": "lambda.amazonaws.com"})
    )
    [found] = failures(run(account["spec"]))
    assert "trusts the AWS service lambda.amazonaws.com, outside the account" in found.message


def test_identities_trusted_fails_when_admin_is_attached_to_the_forwarder(
    aws_policies: None, account: dict
) -> None:
    client("iam").attach_role_policy(RoleName=FORWARDER, PolicyArn=ADMIN)
    [found] = failures(run(account["spec"]))
    assert (found.check, found.resource) == ("identities-trusted", f"role {FORWARDER}")
    assert found.message == (
        f"Role {FORWARDER} in account {account['account']} has {ADMIN} attached, which corral "
        "does not deploy; detach it and rotate the credentials that attached it."
    )


def test_identities_trusted_fails_when_the_forwarder_is_retrusted_to_lambda(
    account: dict,
) -> None:
    client("iam").update_assume_role_policy(
        RoleName=FORWARDER, PolicyDocument=trust({"Service": "lambda.amazonaws.com"})
    )
    found = run(account["spec"])
    # principals-covered still sees a role only AWS services assume: the content is this check's.
    [retrusted] = failures(found)
    assert retrusted.check == "identities-trusted"
    assert retrusted.message == (
        f"Role {FORWARDER} in account {account['account']} has a trust policy corral did not "
        "deploy: it trusts the AWS service lambda.amazonaws.com; it no longer trusts the AWS "
        "service events.amazonaws.com; run `pulumi up --refresh` to restore it and rotate the "
        "credentials "
        "that changed it."
    )


def test_identities_trusted_fails_when_the_source_account_condition_is_dropped(
    account: dict,
) -> None:
    client("iam").update_assume_role_policy(
        RoleName=FORWARDER, PolicyDocument=trust({"Service": "events.amazonaws.com"})
    )
    [loosened] = failures(run(account["spec"]))
    assert "its conditions or actions differ from the ones corral deploys" in loosened.message


def test_identities_trusted_fails_for_an_inline_policy_added_to_the_breaker(
    account: dict,
) -> None:
    grant = {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}
    client("iam").put_role_policy(
        RoleName="corral-circuit-breaker",
        PolicyName="extra",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
    )
    [added] = failures(run(account["spec"]))
    assert added.message == (
        f"Role corral-circuit-breaker in account {account['account']} has the inline policy "
        "extra, which corral does not deploy; delete it and rotate the credentials that added it."
    )


def test_identities_trusted_fails_when_the_forwarder_loses_its_grant(account: dict) -> None:
    iam = client("iam")
    [name] = iam.list_role_policies(RoleName=FORWARDER)["PolicyNames"]
    iam.delete_role_policy(RoleName=FORWARDER, PolicyName=name)
    [missing] = failures(run(account["spec"]))
    assert missing.message == (
        f"Role {FORWARDER} in account {account['account']} lacks the inline policy corral "
        "deploys for it (CorralForwardSpendAlarms); run `pulumi up --refresh` to restore it."
    )


def test_identities_trusted_fails_for_a_role_under_corral_it_does_not_deploy(
    account: dict,
) -> None:
    iam, a = client("iam"), account["account"]
    iam.create_role(
        RoleName="corral-helper", Path="/corral/", AssumeRolePolicyDocument=own_account(a)
    )
    found = failures(run(account["spec"]))
    # principals-covered agrees: a /corral/ role is corral's own only by its planned name.
    assert {f.check: f.resource for f in found} == {
        "identities-trusted": "role corral-helper",
        "principals-covered": "role corral-helper",
    }
    [unplanned] = failures(found, "identities-trusted")
    assert unplanned.message == (
        f"Role corral-helper in account {a} lies under /corral/, but corral deploys no such "
        "role there; delete it and rotate the credentials that created it."
    )


def test_principals_bounded_fails_for_a_user_created_without_the_boundary(
    account: dict,
) -> None:
    client("iam").create_user(UserName="dev-bob")
    [bare] = failures(run(account["spec"]), "principals-bounded")
    assert bare.resource == "user dev-bob"
    assert bare.message == (
        f"IAM user dev-bob in account {account['account']} has no permissions boundary, so "
        "nothing caps it, or the principals it creates, once no guardrail policy reaches it; "
        f"set {account['boundary']} as its permissions boundary, or list it under "
        "corral:exemptPrincipals."
    )


def test_principals_bounded_fails_for_a_role_with_another_boundary(account: dict) -> None:
    iam, a = client("iam"), account["account"]
    other = iam.create_policy(
        PolicyName="loose",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName="AdminRole", PermissionsBoundary=other)
    [loose] = failures(run(account["spec"], "principals-bounded"))
    assert loose.message.startswith(
        f"IAM role AdminRole in account {a} has the permissions boundary {other} instead of "
        "corral's, so nothing caps it"
    )


def test_principals_bounded_is_silent_when_the_principal_protections_are_off(
    aws: None, tmp_path: Path
) -> None:
    make_account_principals()
    spec = load(account_stack(tmp_path, extra="  corral:protections:\n    principals: false\n"))
    assert build_plan(spec).boundary is None
    deploy_account(spec)
    assert run(spec, "principals-bounded") == []


# --------------------------------------------------------------------------- member accounts


def test_identities_trusted_reads_the_member_accounts_spend_reaches(
    aws: None, tmp_path: Path
) -> None:
    org = make_org()
    spec = load(org_stack(tmp_path, org, SPEND, accounts=[org.dev]))
    deploy_org(spec)
    role = f"arn:aws:iam::{org.dev}:role/OrganizationAccountAccessRole"
    creds = client("sts").assume_role(RoleArn=role, RoleSessionName="deploy")["Credentials"]
    member = client(
        "iam",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    member.create_role(
        RoleName=FORWARDER,
        Path="/corral/",
        AssumeRolePolicyDocument=spend_requests.forward_role_trust(org.dev),
    )
    member.put_role_policy(
        RoleName=FORWARDER,
        PolicyName="forward",
        PolicyDocument=spend_requests.forward_role_policy(spec.spend, org.dev),
    )
    found = run(spec, "identities-trusted")
    assert failures(found) == []
    assert {(f.account, f.resource) for f in found} == {
        (org.management, "roles"),
        (org.dev, f"role {FORWARDER}"),
        (org.dev, "role OrganizationAccountAccessRole"),  # trusts the management account
    }
    member.update_assume_role_policy(
        RoleName=FORWARDER, PolicyDocument=trust({"Service": "lambda.amazonaws.com"})
    )
    [retrusted] = failures(run(spec, "identities-trusted"))
    assert (retrusted.account, retrusted.resource) == (org.dev, f"role {FORWARDER}")


def test_identities_trusted_compares_the_scp_circuit_breaker_role(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    org = make_org()
    management = SPEND.replace("limit: 200\n", "limit: 200\n    deployment: management\n")
    spec = load(org_stack(tmp_path, org, management + BREAKER, [org.dev]))
    deploy_org(spec)
    deploy_breakers(spec, deploy_spend(spec, regions=["us-east-1"])["topic"])
    found = run(spec)
    assert failures(found) == []
    assert {(f.account, f.resource) for f in found} == {
        (org.management, "role corral-circuit-breaker"),
        (org.management, f"role {FORWARDER}"),
        (org.dev, "role OrganizationAccountAccessRole"),  # the member's forwarder: not deployed
    }
    grant = client("iam").list_role_policies(RoleName="corral-circuit-breaker")["PolicyNames"][0]
    document = client("iam").get_role_policy(RoleName="corral-circuit-breaker", PolicyName=grant)
    resources = list(document["PolicyDocument"]["Statement"][0]["Resource"])
    document["PolicyDocument"]["Statement"][0]["Resource"].append("*")
    client("iam").put_role_policy(
        RoleName="corral-circuit-breaker",
        PolicyName=grant,
        PolicyDocument=json.dumps(document["PolicyDocument"]),
    )
    [widened] = failures(run(spec))
    assert widened.message == (
        f"Role corral-circuit-breaker in account {org.management} has the inline policy {grant}, "
        "which differs from the one corral deploys: statement CorralApplyCircuitBreaker changes "
        f"Resource from {', '.join(sorted(resources))} to {', '.join(sorted([*resources, '*']))}; "
        "run `pulumi up --refresh` to restore it and rotate the credentials that changed it."
    )


def test_identities_trusted_read_failure_is_an_error_for_that_account(account: dict) -> None:
    conn = Connection(region="us-east-1", max_attempts=2)

    def deny(**_: object):
        error = {"Code": "AccessDenied", "Message": "not authorised"}
        return AWSResponse("https://iam", 403, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }

    conn.events.register("before-call.iam.GetRole", deny)
    spec = account["spec"]
    ctx = VerifyContext(spec, build_plan(spec), conn, conn.caller_account())
    [check] = [c for c in checks.REGISTRY if c.id == "identities-trusted"]
    [error] = run_check(check, ctx, ctx.account, None, conn.role_name)
    assert (error.status, error.account) == (F.ERROR, account["account"])
    assert error.message.startswith(
        "Check identities-trusted could not complete because iam:GetRole failed in account "
        f"{account['account']}"
    )


# --------------------------------------------------------------------------- the command


@pytest.mark.usefixtures("org_case")
def test_identities_trusted_makes_corral_verify_exit_1(tmp_path: Path) -> None:
    stack = next(tmp_path.glob("Pulumi.*.yaml"))
    report = tmp_path / "report.json"
    argv = ["verify", "--config", str(stack), "--format", "json", "--output", str(report)]
    assert corral_main(argv) == E.EXIT_OK
    client("iam").create_role(
        RoleName="corral-break-glass", AssumeRolePolicyDocument=trust({"AWS": OUTSIDER})
    )
    assert corral_main(argv) == E.EXIT_FAIL
    findings = json.loads(report.read_text())["findings"]
    assert [f["check"] for f in findings if f["status"] == F.FAIL] == ["identities-trusted"]
