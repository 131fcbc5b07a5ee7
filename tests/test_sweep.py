"""corral sweep against in-process moto: the incident, member accounts, errors, shards."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse
from test_verify_support import (
    INCIDENT,
    account_stack,
    client,
    launch_incident,
    load,
    make_account_principals,
    make_org,
    org_stack,
)

from corral.audit import findings as F
from corral.audit.aws import Connection
from corral.audit.progress import Progress
from corral.audit.sweep import services, sweep
from corral.audit.verify import SelectionError
from corral.cli import errors as E

REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1"]


def quiet() -> Progress:
    return Progress()


def by(found: list[F.Finding], check: str, status: str | None = None) -> list[F.Finding]:
    return [f for f in found if f.check == check and (status is None or f.status == status)]


def test_instances_outside_regions_finds_the_incident(aws: None, tmp_path: Path) -> None:
    make_account_principals()
    spec = load(account_stack(tmp_path, "[eu-west-1, us-east-1]"))
    launch_incident()
    conn = Connection(region=spec.region, max_attempts=2)
    found = sweep(spec, conn, progress=quiet())
    outside = by(found, "instances-outside-regions", F.FAIL)
    per_region = {r: sum(1 for f in outside if f.region == r) for r in INCIDENT}
    assert per_region == {"us-east-1": 0, "us-east-2": 6, "us-west-1": 6, "us-west-2": 6}
    sample = outside[0]
    assert sample.message.startswith(f"Instance {sample.resource} (c5a.24xlarge) in ")
    assert (
        ", key pair miner runs outside the allowed regions (eu-west-1, us-east-1); "
        "capture it, terminate it and rotate the credentials that launched it." in sample.message
    )
    # us-east-1 is allowed, but the type is not: every one of the 26 is flagged.
    assert len(by(found, "instance-types-not-allowed", F.FAIL)) == 26
    totals = {f.region: f.details for f in by(found, "vcpu-totals") if f.details["instances"]}
    assert {r: d["instances"] for r, d in totals.items()} == INCIDENT
    assert totals["us-east-1"]["vcpus"] == 8 * 96
    failing = {f.region: f for f in by(found, "vcpu-totals", F.FAIL)}
    assert set(failing) == set(INCIDENT)
    east = failing["us-east-1"]
    assert east.message == (
        f"Account {east.account} runs 8 instances with 768 vCPUs in us-east-1: 8 c5a.24xlarge, "
        "outside the guardrails; see the instance findings and stop what should not run."
    )
    assert len({f.region for f in by(found, "vcpu-totals")}) == 38  # every enabled region


def test_account_reachable_and_member_accounts_via_role(aws: None, tmp_path: Path) -> None:
    org = make_org()
    spec = load(org_stack(tmp_path, org))
    sts = client("sts")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{org.dev}:role/OrganizationAccountAccessRole",
        RoleSessionName="tests",
    )["Credentials"]
    launch_incident(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    conn = Connection(region=spec.region, max_attempts=2)
    found = sweep(spec, conn, regions=REGIONS, progress=quiet())
    reached = by(found, "account-reachable", F.PASS)
    assert {f.account for f in reached} == {org.management, org.dev, org.test}
    dev = next(f for f in reached if f.account == org.dev)
    assert dev.message == (
        f"Account {org.dev} was reached through role OrganizationAccountAccessRole; "
        "38 regions are enabled."
    )
    outside = by(found, "instances-outside-regions", F.FAIL)
    assert {f.account for f in outside} == {org.dev} and len(outside) == 18
    assert {f.region for f in by(found, "vcpu-totals")} == set(REGIONS)


def test_assume_role_denied_is_an_error_for_that_account(aws: None, tmp_path: Path) -> None:
    org = make_org()
    spec = load(org_stack(tmp_path, org))
    conn = Connection(region=spec.region, max_attempts=2)

    def deny(params: dict, **_: object):
        if org.test not in str(params["body"]):
            return None
        return AWSResponse("https://sts", 403, {}, None), {
            "Error": {"Code": "AccessDenied", "Message": "not authorized to assume"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }

    conn.events.register("before-call.sts.AssumeRole", deny)
    found = sweep(spec, conn, regions=["us-east-1"], progress=quiet())
    [error] = [f for f in found if f.status == F.ERROR]
    assert error.account == org.test and error.check == "account-reachable"
    assert "sts:AssumeRole failed" in error.message and "AccessDenied" in error.message
    assert not [f for f in found if f.account == org.test and f.status == F.PASS]
    assert {f.account for f in by(found, "vcpu-totals")} == {org.management, org.dev}
    assert E.exit_code(found) == E.EXIT_ERROR


def test_throttled_region_is_an_error_after_retries(aws: None, tmp_path: Path) -> None:
    make_account_principals()
    spec = load(account_stack(tmp_path))
    conn = Connection(region=spec.region, max_attempts=2)
    sent = []

    def throttle(request, **_: object):
        if "us-west-2" not in request.url:
            return None
        sent.append(request.url)
        body = (
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down"
            b"</Message></Error></Errors><RequestID>1</RequestID></Response>"
        )
        return AWSResponse(request.url, 503, {}, _Raw(body))

    conn.events.register_first("before-send.ec2.DescribeInstances", throttle)
    found = sweep(spec, conn, regions=["us-east-1", "us-west-2"], progress=quiet())
    errors = [f for f in found if f.status == F.ERROR]
    assert {(f.check, f.region) for f in errors} == {
        ("instances-outside-regions", "us-west-2"),
        ("instance-types-not-allowed", "us-west-2"),
        ("vcpu-totals", "us-west-2"),
    }
    assert len(sent) == 3  # the request and two retries, once: the failure is memoised
    assert "RequestLimitExceeded" in errors[0].message
    assert by(found, "vcpu-totals", F.PASS)[0].region == "us-east-1"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self.body


def test_access_keys_active_and_root_access_keys(aws: None, tmp_path: Path) -> None:
    make_account_principals()
    key = client("iam").create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    spec = load(account_stack(tmp_path))
    found = sweep(spec, Connection(region=spec.region), regions=["us-east-1"], progress=quiet())
    [active] = by(found, "access-keys-active", F.FAIL)
    assert active.message == (
        f"IAM user alice in account {active.account} has active access key {key}, 0 days old, "
        "never used; delete it and use roles or IAM Identity Center instead."
    )
    [root] = by(found, "root-access-keys")
    assert root.status == F.PASS


def test_shards_merge_to_the_single_run_report(aws: None, tmp_path: Path) -> None:
    org = make_org()
    spec = load(org_stack(tmp_path, org))
    launch_incident()
    whole = sweep(spec, Connection(region=spec.region), regions=REGIONS, progress=quiet())
    parts = []
    for i in (1, 2, 3):
        conn = Connection(region=spec.region)
        parts += sweep(spec, conn, regions=REGIONS, shard=(i, 3), progress=quiet())
    shards = [json.loads(F.to_json(parts))]
    merged = [F.Finding.from_dict(d) for s in shards for d in s["findings"]]
    assert F.to_json(merged) == F.to_json(whole)
    assert F.to_sarif(merged, {}) == F.to_sarif(whole, {})


def test_progress_counts_every_unit_and_is_closed(aws: None, tmp_path: Path) -> None:
    """The caller's progress learns every unit (account and region) and sees each finish;
    it is closed at the end, also when the run fails."""

    class Counted(Progress):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    spec = load(account_stack(tmp_path))
    progress = Counted()
    sweep(spec, Connection(region=spec.region), regions=["us-east-1", "eu-west-1"],
          progress=progress)  # fmt: skip
    assert progress.total == progress.done > 2
    assert progress.closed == 1
    failing = Counted()
    with pytest.raises(SelectionError):
        sweep(spec, Connection(region=spec.region), accounts=["999999999999"], progress=failing)
    assert failing.closed == 1


def test_instance_types_not_allowed_in_an_allowed_region(aws: None, tmp_path: Path) -> None:
    make_account_principals()
    spec = load(account_stack(tmp_path))
    ec2 = client("ec2")
    ok = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro")
    bad = ec2.run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="p5.48xlarge"
    )["Instances"][0]
    found = sweep(spec, Connection(region=spec.region), regions=["us-east-1"], progress=quiet())
    assert not by(found, "instances-outside-regions")
    [wrong] = by(found, "instance-types-not-allowed", F.FAIL)
    assert wrong.resource == bad["InstanceId"] != ok["Instances"][0]["InstanceId"]
    assert wrong.message == (
        f"Instance {bad['InstanceId']} (p5.48xlarge) in us-east-1, launched "
        f"{bad['LaunchTime'].isoformat()}, key pair none has type p5.48xlarge, which "
        "corral:instances does not permit; stop or resize it."
    )


def test_vcpu_totals_pass_within_the_guardrails(aws: None, tmp_path: Path) -> None:
    make_account_principals()
    spec = load(account_stack(tmp_path))
    client("ec2").run_instances(
        ImageId="ami-12345678", MinCount=3, MaxCount=3, InstanceType="t3.large"
    )
    found = sweep(spec, Connection(region=spec.region), regions=["us-east-1"], progress=quiet())
    [total] = by(found, "vcpu-totals")
    assert total.status == F.PASS
    assert total.message == (
        f"Account {total.account} runs 3 instances with 6 vCPUs in us-east-1: 3 t3.large, "
        "within the guardrails."
    )


def test_root_access_keys_present_fails(aws: None, tmp_path: Path) -> None:
    make_account_principals()
    spec = load(account_stack(tmp_path))
    conn = Connection(region=spec.region)

    def keys_present(**_: object):
        return AWSResponse("https://iam", 200, {}, None), {
            "SummaryMap": {"AccountAccessKeysPresent": 1},
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    conn.events.register("before-call.iam.GetAccountSummary", keys_present)
    found = sweep(spec, conn, regions=["us-east-1"], progress=quiet())
    [root] = by(found, "root-access-keys")
    assert root.status == F.FAIL
    assert root.message == (
        f"The root user of account {root.account} has access keys, which no guardrail can "
        "restrict; sign in as root and delete them under Security credentials."
    )


def test_services_come_from_the_checks_in_the_order_they_are_first_called() -> None:
    assert services("organization") == ["sts", "organizations", "ec2", "iam"]


def test_the_callers_account_is_swept_before_the_account_list_arrives(
    aws: None, tmp_path: Path
) -> None:
    org = make_org()
    spec = load(org_stack(tmp_path, org))
    conn = Connection(region=spec.region, max_attempts=1)
    caller_reached = threading.Event()
    waited: list[bool] = []

    def note(params: dict, **_: object) -> None:
        if "DescribeRegions" in str(params["body"]):
            caller_reached.set()

    def hold(**_: object) -> None:  # ListAccounts answers only once the caller is reached
        waited.append(caller_reached.wait(timeout=5))

    conn.events.register("before-call.ec2.DescribeRegions", note)
    conn.events.register("before-call.organizations.ListAccounts", hold)
    found = sweep(spec, conn, regions=["us-east-1"], progress=quiet())
    assert waited == [True]
    reached = {f.account for f in by(found, "account-reachable", F.PASS)}
    assert reached == {org.management, org.dev, org.test}


def test_workers_share_one_client_per_service(aws: None) -> None:
    conn = Connection(region="us-east-1")
    made: list[str] = []
    real = conn._scoped.client

    def counting(service: str, **kwargs: object):
        made.append(service)
        return real(service, **kwargs)

    conn._scoped.client = counting  # type: ignore[method-assign]
    barrier = threading.Barrier(8)
    got: list[object] = []

    def build() -> None:
        barrier.wait()
        got.append(conn.client("ec2"))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == ["ec2"] and all(c is got[0] for c in got)


def test_clients_are_built_one_at_a_time_and_the_large_ones_after_the_first_calls(
    aws: None, tmp_path: Path
) -> None:
    """The first calls (who the caller is, which accounts exist) are made before the EC2
    client is built (its model is parsed while holding the interpreter lock), and no two
    clients are built at the same time (the data they share is read once)."""
    org = make_org()
    spec = load(org_stack(tmp_path, org))
    conn = Connection(region=spec.region, max_attempts=1)
    events: list[str] = []
    building = threading.Semaphore(1)
    overlapped: list[str] = []
    real = conn._scoped.client

    def watched(service: str, **kwargs: object):
        if not building.acquire(blocking=False):
            overlapped.append(service)
        events.append(f"client {service}")
        try:
            return real(service, **kwargs)
        finally:
            building.release()

    conn._scoped.client = watched  # type: ignore[method-assign]
    # First: noted before the connection counts the call (and prepare may go on).
    conn.events.register_first("before-call", lambda model, **_: events.append(model.name))
    sweep(spec, conn, regions=["us-east-1"], progress=quiet())
    assert overlapped == []
    ec2 = events.index("client ec2")
    assert {"GetCallerIdentity", "ListAccounts"} <= set(events[:ec2])
