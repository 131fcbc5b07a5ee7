"""Identical runs send identical requests, each once: reads are single-flight.

Requests are observed on the wire, in botocore's ``before-send`` event (registered first,
so it sees every request before in-process moto answers it): the operation, the access key
and region it is signed with (which account and region it reads) and the body (its
parameters). Each request also waits a few milliseconds there, a stand-in for the network,
so that concurrent workers overlap the way they do against AWS; nothing is timed.
"""

from __future__ import annotations

import re
import textwrap
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
    # One path lookup per account and per OU, one role assumed per member account (the sweep
    # reads every account's path ahead, the management account's too; verify asks only each
    # member for its parent, the tree it reads gives the OUs' places; it reads IAM in the
    # caller's account only).
    assert first.operations()["ListParents"] == (7 if run is swept else 4)
    assert first.operations()["AssumeRole"] == (4 if run is swept else 0)


def test_without_an_ou_target_a_sweep_reads_the_root_once_and_no_path(
    aws: None, tmp_path: Path
) -> None:
    """With only the root and accounts as targets, a target is on an account's path exactly
    when it is the root or the account: one ListRoots replaces every account's ListParents,
    and each target's rules still reach the accounts they should."""
    org, _ = org_with_members(tmp_path)
    stack = tmp_path / "Pulumi.roots.yaml"
    stack.write_text(
        textwrap.dedent(f"""\
            config:
              aws:region: us-east-1
              corral:mode: organization
              corral:allowedRegions: [us-east-1, eu-west-1]
              corral:allowLockout: true
              corral:instances: {{allow: [t3.*]}}
              corral:targets:
                - {{id: {org.root}, name: root, guardrails: [regions]}}
                - id: "{org.dev}"
                  name: dev
                  guardrails: [instances]
                  instances: {{allow: [m7i.*]}}
            """),
        encoding="utf-8",
    )
    spec = load(stack)
    conn = Connection(region=spec.region, max_attempts=1)
    wire = Wire(conn)
    found = sweep(spec, conn, regions=REGIONS, workers=16, progress=Progress())
    assert wire.operations()["ListParents"] == 0
    assert wire.operations()["ListRoots"] == 1
    outside = {(f.account, f.region) for f in found
               if f.check == "instances-outside-regions" and f.status == "FAIL"}  # fmt: skip
    members = {f.account for f in found if f.account != org.management}
    assert len(members) == 4
    assert outside == {(member, "us-west-2") for member in members}  # the root's regions
    types = {f.account for f in found
             if f.check == "instance-types-not-allowed" and f.status == "FAIL"}  # fmt: skip
    assert types == {org.dev}  # t3.micro: allowed by the spec, not by dev's own target


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
    order) nor the requests: the same run with the read-ahead switched off sends the same,
    but for the one documented exception: a whole run or the first shard reads the content
    of every SCP, also of one no covered account's path reaches."""
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
    plain = runs()
    assert [found for found, _ in plain] == [found for found, _ in ahead]
    scps = client("organizations").list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
    contents = {f'{{"PolicyId": "{p["Id"]}"}}'.encode() for p in scps}
    for selection, (_, sent), (_, sent_plain) in zip(selections, ahead, plain, strict=True):
        assert sent_plain - sent == Counter()  # nothing the checks read is left out
        extra = sent - sent_plain
        if selection.get("shard", (1,))[0] != 1:
            assert extra == Counter()
        assert all(op == "DescribePolicy" and body in contents for op, _, _, body in extra)
    assert ahead[0][1] == plain[0][1]  # every SCP here is on some member's path
