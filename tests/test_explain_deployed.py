"""``corral explain`` against what is deployed: SCPs read from Organizations (moto,
in-process) and the SimulatePrincipalPolicy cross-check; decisions from the spec's own
documents and bad input are in ``test_explain.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from test_explain import example, run

from corral.build.plan import build_plan
from corral.cli.explain import (
    CommandError,
    compare_simulation,
    read_scp_chain,
    simulation_params,
    validate_simulation_params,
)
from corral.evaluate.engine import DENY, IMPLICIT_DENY, Decision, Reason, evaluate
from corral.evaluate.policy import Request
from corral.spec.load import load_stack_file
from tests.conftest import EXAMPLE_STACK

INSTANCE_W2 = "arn:aws:ec2:us-west-2:111122223333:instance/*"
BREAK_GLASS = "arn:aws:iam::111122223333:role/corral-break-glass"

# --------------------------------------------------------------------------- deployed


@pytest.fixture
def organization(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """An emulated organization: root -> workloads OU -> team OU -> account, with the
    example spec's SCPs attached at the root and the workloads OU, and an AWS profile."""
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[corral-test]\naws_access_key_id = testing\naws_secret_access_key = x\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    plan = build_plan(load_stack_file(EXAMPLE_STACK))
    with mock_aws():
        org = boto3.client("organizations", region_name="us-east-1")
        org.create_organization(FeatureSet="ALL")
        root = org.list_roots()["Roots"][0]["Id"]
        workloads = org.create_organizational_unit(ParentId=root, Name="workloads")
        workloads_id = workloads["OrganizationalUnit"]["Id"]
        team = org.create_organizational_unit(ParentId=workloads_id, Name="team")
        team_id = team["OrganizationalUnit"]["Id"]
        status = org.create_account(AccountName="dev", Email="dev@example.com")
        account = status["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=team_id)
        for name, target in (("corral-root", root), ("corral-workloads", workloads_id)):
            policy = org.create_policy(
                Name=name, Description="corral", Type="SERVICE_CONTROL_POLICY",
                Content=plan.document(name).content,
            )  # fmt: skip
            org.attach_policy(PolicyId=policy["Policy"]["PolicySummary"]["Id"], TargetId=target)
        yield {"client": org, "root": root, "workloads": workloads_id, "team": team_id,
               "account": account}  # fmt: skip


def test_read_scp_chain_returns_the_levels_root_first(organization):
    chain, management = read_scp_chain(organization["client"], organization["account"])
    assert not management
    assert [[(p.name, p.target) for p in level] for level in chain] == [
        [("FullAWSAccess", organization["root"]), ("corral-root", organization["root"])],
        [("FullAWSAccess", organization["workloads"]),
         ("corral-workloads", organization["workloads"])],
        [("FullAWSAccess", organization["team"])],
        [("FullAWSAccess", organization["account"])],
    ]  # fmt: skip
    launch = Request(
        "ec2:RunInstances", INSTANCE_W2,
        {"aws:RequestedRegion": "eu-west-1", "ec2:InstanceType": "c5a.24xlarge"},
    )  # fmt: skip
    decision = evaluate(launch, scp_chain=chain, identity_allows_all=True)
    assert decision.decision == DENY
    assert decision.reasons[0].sid == "CorralDenyInstanceTypesNotAllowed"


def test_management_account_is_recognised(organization):
    client = organization["client"]
    master = client.describe_organization()["Organization"]["MasterAccountId"]
    chain, management = read_scp_chain(client, master)
    assert management and [p.name for p in chain[-1]] == ["FullAWSAccess"]


def test_explain_reads_the_deployed_chain(capsys, organization):
    account = organization["account"]
    code, out, err = run(
        capsys,
        *example("--action", "ec2:RunInstances", "--region", "us-west-2", "--profile"),
        *("corral-test", "--account", account, "--instance-type", "c5a.24xlarge"),
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        f"DENY: ec2:RunInstances on arn:aws:ec2:us-west-2:{account}:instance/* "
        f"(SCPs deployed along {account}'s chain)"
    )
    assert f"corral-root on {organization['root']} [CorralDenyOutsideAllowedRegions]" in out


def test_a_detached_full_aws_access_gives_implicit_deny(capsys, organization):
    client, team = organization["client"], organization["team"]
    allow_ec2 = {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}
    only_ec2 = client.create_policy(
        Name="only-ec2", Description="ec2 only", Type="SERVICE_CONTROL_POLICY",
        Content=json.dumps({"Version": "2012-10-17", "Statement": [allow_ec2]}),
    )  # fmt: skip
    client.attach_policy(PolicyId=only_ec2["Policy"]["PolicySummary"]["Id"], TargetId=team)
    client.detach_policy(PolicyId="p-FullAWSAccess", TargetId=team)
    code, out, _ = run(
        capsys,
        *example("--action", "s3:GetObject", "--region", "eu-west-1", "--profile", "corral-test"),
        *("--account", organization["account"], "--format", "json"),
    )
    payload = json.loads(out)
    assert code == 0 and payload["decision"] == IMPLICIT_DENY
    assert payload["reasons"] == [
        {
            "policy": None,
            "target": team,
            "sid": None,
            "effect": "ImplicitDeny",
            "note": f"No SCP attached at level 2 ({team}) allows s3:GetObject on *; attach "
            "FullAWSAccess or an SCP that allows it there.",
        }
    ]


def test_unknown_account_is_one_line_error(capsys, organization):
    code, out, err = run(
        capsys,
        *example("--action", "s3:GetObject", "--profile", "corral-test"),
        *("--account", "999999999999"),
    )
    assert (code, out) == (2, "")
    assert err.startswith("corral: error: cannot read the SCPs of account 999999999999: ")
    assert err.count("\n") == 1


# --------------------------------------------------------------------------- cross-check


def test_simulation_params_are_valid_for_the_iam_model():
    request = Request(
        "ec2:RunInstances", INSTANCE_W2,
        {"aws:RequestedRegion": "us-west-2", "ec2:InstanceType": ["c5a.24xlarge"]},
        principal_arn="arn:aws:iam::111122223333:user/dev",
    )  # fmt: skip
    params = simulation_params(request)
    validate_simulation_params(params)
    assert params == {
        "PolicySourceArn": "arn:aws:iam::111122223333:user/dev",
        "ActionNames": ["ec2:RunInstances"],
        "ResourceArns": [INSTANCE_W2],
        "ContextEntries": [
            {"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": ["us-west-2"],
             "ContextKeyType": "stringList"},
            {"ContextKeyName": "ec2:InstanceType", "ContextKeyValues": ["c5a.24xlarge"],
             "ContextKeyType": "stringList"},
        ],
    }  # fmt: skip
    with pytest.raises(CommandError, match=r"^--cross-check needs --principal"):
        simulation_params(Request("s3:GetObject"))
    with pytest.raises(CommandError, match=r"^cannot build the SimulatePrincipalPolicy request: "):
        validate_simulation_params({**params, "PolicySourceArn": "short"})


def test_compare_simulation_reports_agreement_and_disagreement():
    deny = Decision(DENY, (Reason("p", "r-1", "S", "Deny", "denied."),))
    response = {
        "EvaluationResults": [
            {
                "EvalActionName": "ec2:RunInstances",
                "EvalDecision": "explicitDeny",
                "OrganizationsDecisionDetail": {"AllowedByOrganizations": False},
            }
        ]
    }
    assert compare_simulation(deny, response) == (
        True,
        "IAM SimulatePrincipalPolicy says explicitDeny (AllowedByOrganizations=false); it "
        "agrees with corral's DENY.",
    )
    response["EvaluationResults"][0]["EvalDecision"] = "allowed"
    assert compare_simulation(deny, response)[0] is False
    assert compare_simulation(deny, {"EvaluationResults": []}) == (
        False,
        "SimulatePrincipalPolicy returned no evaluation result; cannot compare.",
    )


def test_cross_check_against_the_emulator_reports_it_is_not_implemented(capsys, organization):
    code, out, err = run(
        capsys,
        *example("--action", "s3:GetObject", "--profile", "corral-test", "--cross-check"),
        *("--account", organization["account"], "--principal", BREAK_GLASS),
    )
    assert (code, out) == (2, "")
    assert err == (
        "corral: error: the endpoint does not implement SimulatePrincipalPolicy; run "
        "--cross-check against AWS itself.\n"
    )
