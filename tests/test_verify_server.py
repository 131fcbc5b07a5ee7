"""End to end through moto_server on 127.0.0.1 and ``--endpoint-url``: verify and sweep CLIs."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_verify_support import (
    INCIDENT,
    account_stack,
    client,
    deploy_account,
    deploy_org,
    launch_incident,
    load,
    make_account_principals,
    make_org,
    org_stack,
)

from corral.cli import errors as E
from corral.cli.verify import register

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from support import moto_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    with moto_server() as (_, url):
        yield url


@pytest.fixture
def endpoint(server: str) -> str:
    request = urllib.request.Request(f"{server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10)
    return server


def corral(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="corral")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_verify_org_through_the_server_then_detached(endpoint: str, tmp_path: Path) -> None:
    org = make_org(endpoint)
    stack = org_stack(tmp_path, org)
    ids = deploy_org(load(stack), endpoint)
    out = tmp_path / "report.json"
    args = (
        "verify",
        "--config",
        str(stack),
        "--endpoint-url",
        endpoint,
        "--format",
        "json",
        "--output",
        str(out),
    )
    assert corral(*args) == E.EXIT_OK
    assert json.loads(out.read_text())["summary"]["FAIL"] == 0
    client("organizations", endpoint).detach_policy(
        PolicyId=ids["corral-workloads"], TargetId=org.workloads
    )
    assert corral(*args) == E.EXIT_FAIL
    failed = [f for f in json.loads(out.read_text())["findings"] if f["status"] == "FAIL"]
    assert {f["check"] for f in failed} == {
        "guardrail-attached",
        "guardrail-reaches-accounts",
        "guardrail-effects",
    }


def test_verify_account_mode_role_without_policy(endpoint: str, tmp_path: Path) -> None:
    make_account_principals(endpoint)
    stack = account_stack(tmp_path)
    deploy_account(load(stack), endpoint)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                }
            ],
        }
    )
    client("iam", endpoint).create_role(RoleName="Forgotten", AssumeRolePolicyDocument=trust)
    out = tmp_path / "r.sarif"
    code = corral(
        "verify",
        "--config",
        str(stack),
        "--endpoint-url",
        endpoint,
        "--format",
        "sarif",
        "--output",
        str(out),
    )
    assert code == E.EXIT_FAIL
    results = json.loads(out.read_text())["runs"][0]["results"]
    failed = [r for r in results if r["kind"] == "fail"]
    # No principal here carries corral's boundary (moto_server cannot set a user's): every
    # one fails principals-bounded; only Forgotten lacks the guardrail policies.
    assert {r["ruleId"] for r in failed} == {"principals-covered", "principals-bounded"}
    [bad] = [r for r in failed if r["ruleId"] == "principals-covered"]
    assert bad["message"]["text"].startswith("IAM role Forgotten (arn:aws:iam::")


def test_sweep_finds_the_incident_through_the_server(endpoint: str, tmp_path: Path) -> None:
    make_account_principals(endpoint)
    stack = account_stack(tmp_path, "[eu-west-1, us-east-1]")
    launch_incident(endpoint)
    out = tmp_path / "sweep.json"
    code = corral(
        "sweep",
        "--config",
        str(stack),
        "--endpoint-url",
        endpoint,
        "--format",
        "json",
        "--output",
        str(out),
        "--regions",
        *INCIDENT,
        "eu-west-1",
    )
    assert code == E.EXIT_FAIL
    totals = {
        f["region"]: f["details"]["instances"]
        for f in json.loads(out.read_text())["findings"]
        if f["check"] == "vcpu-totals"
    }
    assert totals == {**INCIDENT, "eu-west-1": 0}


def test_bad_config_exits_2_and_writes_nothing(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "report.json"
    code = corral(
        "verify",
        "--config",
        str(tmp_path / "missing.yaml"),
        "--endpoint-url",
        endpoint,
        "--output",
        str(out),
    )
    assert code == E.EXIT_ERROR and not out.exists()
    assert capsys.readouterr().err.startswith("corral: error: ")


def test_shards_then_merge_equal_a_single_run(endpoint: str, tmp_path: Path) -> None:
    org = make_org(endpoint)
    stack = org_stack(tmp_path, org)
    deploy_org(load(stack), endpoint)
    base = ("verify", "--config", str(stack), "--endpoint-url", endpoint, "--format", "json")
    whole = tmp_path / "whole.json"
    assert corral(*base, "--output", str(whole)) == E.EXIT_OK
    parts = []
    for i in (1, 2):
        part = tmp_path / f"part{i}.json"
        corral(*base, "--shard", f"{i}/2", "--output", str(part))
        parts.append(str(part))
    merged = tmp_path / "merged.json"
    assert corral("merge", *parts, "--format", "json", "--output", str(merged)) == E.EXIT_OK
    assert merged.read_text() == whole.read_text()
