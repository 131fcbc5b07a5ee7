"""Identical runs send identical requests, each once: reads are single-flight.

Requests are observed on the wire, in botocore's ``before-send`` event (registered first,
so it sees every request before in-process moto answers it): the operation, the access key
and region it is signed with (which account and region it reads) and the body (its
parameters). Each request also waits a few milliseconds there, a stand-in for the network,
so that concurrent workers overlap the way they do against AWS; nothing is timed.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from test_verify_support import client, deploy_org, load, make_org, org_stack

from corral.audit.aws import Connection
from corral.audit.checks import _organization
from corral.audit.sweep import Progress, sweep
from corral.audit.verify import verify

LATENCY = 0.005
REGIONS = ["us-east-1", "eu-west-1", "us-west-2"]
SCOPE = re.compile(r"Credential=([^/]+)/\d+/([^/]+)/")


class Wire:
    """Every request a connection sends: (operation, access key, region, body)."""

    def __init__(self, conn: Connection) -> None:
        self.sent: list[tuple[str, str, str, bytes]] = []
        self._lock = threading.Lock()
        conn.events.register_first("before-send", self._seen)

    def _seen(self, request, **_: object) -> None:
        key, region = SCOPE.search(request.headers["Authorization"].decode()).groups()
        target = request.headers.get("X-Amz-Target", b"").decode()
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        action = re.search(rb"Action=(\w+)", body)
        operation = target.rsplit(".", 1)[-1] if target else action.group(1).decode()
        with self._lock:
            self.sent.append((operation, key, region, body))
        time.sleep(LATENCY)

    def operations(self) -> Counter[str]:
        return Counter(operation for operation, *_ in self.sent)

    def repeated(self) -> list[tuple[str, str, str, bytes]]:
        return [request for request, n in Counter(self.sent).items() if n > 1]


def org_with_members(tmp_path: Path):
    """The test organization with two more member accounts, one per OU, and an instance in
    every swept region of each member account: each region's unit looks up its account's
    path (``ListParents``) to learn which rules apply there."""
    org = make_org()
    api, sts = client("organizations"), client("sts")
    members = [org.dev, org.test]
    for name, ou in (("dev2", org.workloads), ("test2", org.sandbox)):
        status = api.create_account(Email=f"{name}@example.com", AccountName=name)
        members.append(status["CreateAccountStatus"]["AccountId"])
        api.move_account(AccountId=members[-1], SourceParentId=org.root, DestinationParentId=ou)
    for account in members:
        role = f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        c = sts.assume_role(RoleArn=role, RoleSessionName="tests")["Credentials"]
        keys = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key":
                c["SecretAccessKey"], "aws_session_token": c["SessionToken"]}  # fmt: skip
        for region in REGIONS:
            ec2 = client("ec2", None, region, **keys)
            ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                              InstanceType="t3.micro")  # fmt: skip
    return org, load(org_stack(tmp_path, org))


def swept(spec) -> Wire:
    conn = Connection(region=spec.region, max_attempts=1)
    wire = Wire(conn)
    sweep(spec, conn, regions=REGIONS, workers=16, progress=Progress())
    return wire


def verified(spec) -> Wire:
    conn = Connection(region=spec.region, max_attempts=1)
    wire = Wire(conn)
    verify(spec, conn)
    return wire


@pytest.mark.parametrize("run", [swept, verified], ids=["sweep", "verify"])
def test_identical_runs_send_identical_requests_each_once(aws: None, tmp_path: Path, run) -> None:
    _, spec = org_with_members(tmp_path)
    deploy_org(spec)
    first, second = run(spec), run(spec)
    assert first.repeated() == []
    assert second.repeated() == []
    assert first.operations() == second.operations()
    # One path lookup per member account and per OU, one role assumed per member account
    # (verify reads every member's path; it reads IAM in the caller's account only).
    assert first.operations()["ListParents"] == 6
    assert first.operations()["AssumeRole"] == (4 if run is swept else 0)


def test_a_read_in_flight_is_sent_once_for_every_caller(aws: None) -> None:
    conn = Connection(region="us-east-1", max_attempts=1)
    wire = Wire(conn)
    barrier = threading.Barrier(8)
    answers: list[dict] = []

    def ask() -> None:
        barrier.wait()
        answers.append(conn.read("sts", "GetCallerIdentity"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wire.operations() == Counter({"GetCallerIdentity": 1})
    assert len(answers) == 8 and all(a is answers[0] for a in answers)


def test_verify_reads_ahead_only_what_its_checks_read(
    aws: None, tmp_path: Path, monkeypatch
) -> None:
    """The concurrent read-ahead of the organization changes neither the findings (nor their
    order) nor the requests: the same run with the read-ahead switched off sends the same."""
    org, spec = org_with_members(tmp_path)
    deploy_org(spec)
    selections = [{}, {"accounts": [org.dev]}] + [{"shard": (i, 3)} for i in (1, 2, 3)]

    def runs() -> list[tuple[list, Counter]]:
        out = []
        for selection in selections:
            conn = Connection(region=spec.region, max_attempts=1)
            wire = Wire(conn)
            found = verify(spec, conn, **selection)
            out.append((found, Counter(wire.sent)))
        return out

    ahead = runs()
    monkeypatch.setattr(_organization, "prefetch", lambda ctx, fan: None)
    assert runs() == ahead
