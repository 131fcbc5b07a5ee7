"""corral verify against in-process moto: a guarded org and account pass; tampering fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_verify_support import (
    account_stack,
    bound_principals,
    client,
    deploy_account,
    deploy_org,
    edit_scp,
    load,
    loosen,
    make_account_principals,
    make_org,
    org_stack,
)

from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.verify import ManifestError, verify
from corral.build.manifest import build_manifest
from corral.build.plan import build_plan
from corral.cli import errors as E


@pytest.fixture
def org_case(aws: None, tmp_path: Path):
    org = make_org()
    spec = load(org_stack(tmp_path, org))
    org.policy_ids = deploy_org(spec)
    return org, spec


def run(spec, **kwargs) -> list[F.Finding]:
    return verify(spec, Connection(region=spec.region, max_attempts=2), **kwargs)


def failures(found: list[F.Finding], check: str | None = None) -> list[F.Finding]:
    return [f for f in found if f.status != F.PASS and (check is None or f.check == check)]


def test_guarded_org_passes(org_case) -> None:
    org, spec = org_case
    found = run(spec)
    assert failures(found) == []
    assert E.exit_code(found) == E.EXIT_OK
    checks = {f.check for f in found}
    assert checks == {
        "scp-policy-type-enabled",
        "guardrail-document-present",
        "guardrail-document-content",
        "guardrail-attached",
        "guardrail-full-access",
        "guardrail-no-extra",
        "guardrail-reaches-accounts",
        "identities-trusted",
        "guardrail-effects",
    }
    reach = {f.account: f for f in found if f.check == "guardrail-reaches-accounts"}
    assert reach[org.dev].details["reached"] == ["instances", "protection", "regions"]
    assert reach[org.dev].details["path"][0] == f"root {org.root}"


def test_guardrail_attached_fails_when_detached_from_one_ou(org_case) -> None:
    org, spec = org_case
    client("organizations").detach_policy(
        PolicyId=org.policy_ids["corral-workloads"], TargetId=org.workloads
    )
    found = run(spec)
    [detached] = failures(found, "guardrail-attached")
    assert detached.message == (
        f"corral-workloads is not attached to OU workloads ({org.workloads}), so its "
        "guardrails do not apply there; attach it again with `pulumi up --refresh`."
    )
    [unreached] = failures(found, "guardrail-reaches-accounts")
    assert unreached.account == org.dev
    assert f"corral-workloads is not attached at OU workloads ({org.workloads})" in (
        unreached.message
    )
    assert E.exit_code(found) == E.EXIT_FAIL


def test_guardrail_reaches_accounts_fails_for_an_account_moved_out(org_case) -> None:
    org, spec = org_case
    client("organizations").move_account(
        AccountId=org.test, SourceParentId=org.sandbox, DestinationParentId=org.root
    )
    found = run(spec)
    [moved] = failures(found)
    assert moved.check == "guardrail-reaches-accounts" and moved.account == org.test
    assert moved.details["reached"] == ["protection", "regions"]
    assert moved.details["path"] == [f"root {org.root}", f"{org.test} test"]
    assert moved.message == (
        f"Account {org.test} runs without part of its guardrails: no instances guardrail "
        "reaches it (the spec applies one at ou sandbox, ou workloads); attach them again with "
        "`pulumi up --refresh`, or move the account under a guarded target."
    )


def test_guardrail_document_content_reports_one_more_region(org_case) -> None:
    org, spec = org_case

    more = loosen(
        "CorralDenyOutsideAllowedRegions", "StringNotEquals", "aws:RequestedRegion", "eu-north-1"
    )
    edit_scp("corral-root", org.policy_ids, more)
    [changed] = failures(run(spec), "guardrail-document-content")
    pid = org.policy_ids["corral-root"]
    assert changed.message == (
        f"corral-root ({pid}) differs from what the spec builds: statement "
        "CorralDenyOutsideAllowedRegions allows one more region eu-north-1; run `pulumi up "
        "--refresh` "
        "to restore it."
    )


def test_guardrail_document_content_reports_loosened_instance_rule(org_case) -> None:
    org, spec = org_case

    more = loosen("CorralDenyInstanceTypesNotAllowed", "StringNotLike", "ec2:InstanceType", "c5a.*")
    edit_scp("corral-workloads", org.policy_ids, more)
    [changed] = failures(run(spec), "guardrail-document-content")
    assert (
        "statement CorralDenyInstanceTypesNotAllowed allows one more instance type "
        "pattern c5a.*" in changed.message
    )


def test_guardrail_document_content_ignores_order_and_key_case(org_case) -> None:
    org, spec = org_case

    def reorder(doc: dict) -> dict:
        doc["Statement"].reverse()
        for s in doc["Statement"]:
            if isinstance(s.get("Action"), list):
                s["Action"] = [a.upper() for a in reversed(s["Action"])]
            for block in s.get("Condition", {}).values():
                for key in list(block):
                    block[key.lower()] = list(reversed(block.pop(key)))
        return doc

    edit_scp("corral-root", org.policy_ids, reorder)
    assert failures(run(spec)) == []


def test_guardrail_document_present_fails_when_deleted(org_case) -> None:
    org, spec = org_case
    orgs = client("organizations")
    pid = org.policy_ids["corral-workloads"]  # one document serves both OUs
    for ou in (org.workloads, org.sandbox):
        orgs.detach_policy(PolicyId=pid, TargetId=ou)
    orgs.delete_policy(PolicyId=pid)
    found = run(spec)
    [missing] = failures(found, "guardrail-document-present")
    assert len(failures(found, "guardrail-attached")) == 2
    assert missing.message == (
        "The SCP corral-workloads (instances) is not deployed, so its guardrails deny nothing; "
        "run `pulumi up --refresh` for this stack."
    )


def test_guardrail_full_access_fails_without_an_allow(org_case) -> None:
    org, spec = org_case
    client("organizations").detach_policy(PolicyId="p-FullAWSAccess", TargetId=org.sandbox)
    [locked] = failures(run(spec), "guardrail-full-access")
    assert locked.message == (
        f"ou sandbox ({org.sandbox}) has no SCP that allows anything (FullAWSAccess is "
        f"detached), so every request below it is denied; attach FullAWSAccess to {org.sandbox}."
    )


def test_guardrail_full_access_fails_for_an_intermediate_ou(org_case) -> None:
    org, spec = org_case
    organizations = client("organizations")
    team = organizations.create_organizational_unit(ParentId=org.workloads, Name="team")
    team_id = team["OrganizationalUnit"]["Id"]
    organizations.move_account(
        AccountId=org.dev, SourceParentId=org.workloads, DestinationParentId=team_id
    )
    organizations.detach_policy(PolicyId="p-FullAWSAccess", TargetId=team_id)
    found = run(spec)
    [locked] = failures(found, "guardrail-full-access")
    assert (locked.account, locked.resource) == (org.management, f"ou team ({team_id})")
    assert locked.message == (
        f"ou team ({team_id}) has no SCP that allows anything (FullAWSAccess is detached), so "
        f"every request below it is denied; attach FullAWSAccess to {team_id}."
    )
    levels = {f.resource for f in found if f.check == "guardrail-full-access"}
    assert levels == {
        f"root root ({org.root})",
        f"ou workloads ({org.workloads})",
        f"ou sandbox ({org.sandbox})",
        f"ou team ({team_id})",
        f"account dev ({org.dev})",
        f"account test ({org.test})",
    }


def test_guardrail_full_access_fails_for_one_account(org_case) -> None:
    org, spec = org_case
    client("organizations").detach_policy(PolicyId="p-FullAWSAccess", TargetId=org.test)
    [locked] = failures(run(spec), "guardrail-full-access")
    assert locked.account == org.test
    assert locked.message == (
        f"account test ({org.test}) has no SCP that allows anything (FullAWSAccess is "
        f"detached), so every request in it is denied; attach FullAWSAccess to {org.test}."
    )
    chosen = [f for f in run(spec, accounts=[org.dev]) if f.check == "guardrail-full-access"]
    assert failures(chosen) == []
    assert f"account dev ({org.dev})" in {f.resource for f in chosen}
    [passed] = [f for f in chosen if f.resource == f"ou workloads ({org.workloads})"]
    assert passed.message == (
        f"ou workloads ({org.workloads}) keeps the allowing SCP FullAWSAccess, so requests "
        "below it are denied only where a guardrail denies them."
    )


def test_guardrail_no_extra_fails_on_unplanned_corral_policy(org_case) -> None:
    _org, spec = org_case
    content = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
    )
    pid = client("organizations").create_policy(
        Name="corral-override", Description="x", Type="SERVICE_CONTROL_POLICY", Content=content
    )["Policy"]["PolicySummary"]["Id"]
    [extra] = failures(run(spec), "guardrail-no-extra")
    assert extra.message == (
        f"The SCP corral-override ({pid}) carries corral's name but the spec does not build it; "
        "delete it, or add what it expresses to the spec."
    )


def test_scp_policy_type_enabled_fails_when_disabled(org_case) -> None:
    org, spec = org_case
    client("organizations").disable_policy_type(
        RootId=org.root, PolicyType="SERVICE_CONTROL_POLICY"
    )
    [disabled] = failures(run(spec), "scp-policy-type-enabled")
    assert disabled.message.startswith(
        f"Root {org.root} does not have the SERVICE_CONTROL_POLICY policy type enabled"
    )


def test_access_denied_read_is_an_error_not_a_pass(org_case) -> None:
    org, spec = org_case
    conn = Connection(region=spec.region, max_attempts=2)

    def deny(**_: object):
        from botocore.awsrequest import AWSResponse

        body = {"__type": "AccessDeniedException", "message": "not authorised"}
        return AWSResponse("https://x", 400, {}, None), {
            "Error": {"Code": "AccessDeniedException", "Message": body["message"]},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    conn.events.register("before-call.organizations.ListTargetsForPolicy", deny)
    found = verify(spec, conn)
    errors = [f for f in found if f.status == F.ERROR]
    assert [f.check for f in errors] == ["guardrail-attached"]
    assert errors[0].account == org.management
    assert errors[0].message == (
        "Check guardrail-attached could not complete because "
        f"organizations:ListTargetsForPolicy failed in account {org.management} region "
        "us-east-1: AccessDeniedException: not authorised; grant the caller the actions "
        "printed by `corral iam-policy` and run it again."
    )
    assert E.exit_code(found) == E.EXIT_ERROR


def test_manifest_ids_are_used_and_a_foreign_manifest_is_refused(org_case) -> None:
    org, spec = org_case
    plan = build_plan(spec)
    manifest = build_manifest(spec, plan, org.policy_ids)
    assert failures(run(spec, manifest=manifest)) == []
    manifest["documents"][0]["sha256"] = "0" * 64
    with pytest.raises(ManifestError, match="different content hash"):
        run(spec, manifest=manifest)


# --------------------------------------------------------------------------- account mode


@pytest.fixture
def account_case(aws: None, tmp_path: Path):
    make_account_principals()
    spec = load(account_stack(tmp_path))
    arns = deploy_account(spec)
    bound_principals(spec)  # the operator's one-off step: corral's boundary on each principal
    return spec, arns


def test_guarded_account_passes(account_case) -> None:
    spec, _ = account_case
    found = run(spec)
    assert failures(found) == []
    covered = {f.resource for f in found if f.check == "principals-covered"}
    assert covered == {
        "user alice",
        "user ci-deployer",
        "role AdminRole",
        "role corral-break-glass",
    }


def test_principals_covered_fails_for_a_role_without_the_policy(account_case) -> None:
    spec, _arns = account_case
    iam = client("iam")
    iam.create_role(
        RoleName="LegacyCI",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                    }
                ],
            }
        ),
    )
    found = run(spec)
    [bare] = failures(found, "principals-covered")
    account = found[0].account
    # Every guardrail document, but not the boundary (set as a boundary, never attached).
    lacking = [d.name for d in build_plan(spec).guardrail_documents]
    assert lacking[0] == "corral-guardrails"
    verb = "is" if len(lacking) == 1 else "are"
    assert bare.message == (
        f"IAM role LegacyCI (arn:aws:iam::{account}:role/LegacyCI) is not guarded: "
        f"{' and '.join(lacking)} {verb} not attached to it; add it to corral:principals.roles "
        "and run `pulumi up`, or delete the role."
    )
    [unbounded] = failures(found, "principals-bounded")
    assert unbounded.resource == "role LegacyCI"


def test_guardrail_attached_account_mode_detached_user(account_case) -> None:
    spec, arns = account_case
    client("iam").detach_user_policy(UserName="ci-deployer", PolicyArn=arns["corral-guardrails"])
    found = run(spec)
    [detached] = failures(found, "guardrail-attached")
    assert detached.message == (
        "corral-guardrails is not attached to user ci-deployer, so its guardrails do not apply "
        "there; attach it again with `pulumi up --refresh`."
    )
    assert {f.resource for f in failures(found, "principals-covered")} == {"user ci-deployer"}


def test_guardrail_document_content_account_mode_region_added(account_case, tmp_path) -> None:
    spec, arns = account_case
    wider = load(account_stack(tmp_path, "[us-east-1, eu-west-1, eu-north-1]"))
    iam = client("iam")
    doc = build_plan(wider).documents[0].content
    iam.create_policy_version(
        PolicyArn=arns["corral-guardrails"], PolicyDocument=doc, SetAsDefault=True
    )
    [changed] = failures(run(spec), "guardrail-document-content")
    assert "allows one more region eu-north-1" in changed.message


def test_progress_counts_every_check_and_is_closed(account_case) -> None:
    """verify tells the caller's progress how many checks run and when each finishes; the
    command line draws it on a terminal (corral.cli.progress), --quiet turns it off."""
    from corral.audit import checks
    from corral.audit.checks._base import VERIFY
    from corral.audit.progress import Progress
    from corral.cli.main import build_parser

    class Counted(Progress):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    spec, _ = account_case
    progress = Counted()
    verify(spec, Connection(region=spec.region), progress=progress)
    expected = len(checks.checks(VERIFY, spec.mode))
    assert (progress.total, progress.done, progress.closed) == (expected, expected, 1)
    for command in ("verify", "sweep"):
        argv = [command, "--config", "Pulumi.example.yaml", "--quiet"]
        assert build_parser().parse_args(argv).quiet is True
