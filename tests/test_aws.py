"""The connection: read-only guard, endpoint, shared clients, per-thread accounts."""

from __future__ import annotations

import threading

import pytest

from corral.audit.aws import Connection, ReadError, WriteRefused, iam_action, is_read


@pytest.mark.parametrize(
    ("service", "operation", "read"),
    [
        ("ec2", "DescribeInstances", True),
        ("iam", "GetAccountSummary", True),
        ("organizations", "ListPoliciesForTarget", True),
        ("sts", "AssumeRole", True),
        ("sts", "GetCallerIdentity", True),
        ("ec2", "RunInstances", False),
        ("organizations", "DetachPolicy", False),
        ("iam", "CreateAccessKey", False),
        ("s3", "PutObject", False),
    ],
)
def test_is_read(service: str, operation: str, read: bool) -> None:
    assert is_read(service, operation) is read


def test_write_is_refused_before_it_is_sent(aws: None) -> None:
    conn = Connection(region="us-east-1")
    sent: list[str] = []
    conn.events.register_first("before-send", lambda request, **_: sent.append(request.url))
    ec2 = conn.client("ec2")
    with pytest.raises(WriteRefused) as refused, conn.scope(None, "us-west-2"):
        ec2.run_instances(
            ImageId="ami-12345678", MinCount=26, MaxCount=26, InstanceType="c5a.24xlarge"
        )
    assert str(refused.value) == (
        "ec2:RunInstances is not a read; the verifier is read-only and refused it before sending."
    )
    with pytest.raises(WriteRefused):
        conn.client("iam").create_access_key(UserName="x")
    assert sent == []
    assert conn.calls == {}
    ec2.describe_instances()
    assert len(sent) == 1 and conn.calls == {"ec2:DescribeInstances": 1}


def test_endpoint_url_applies_to_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    conn = Connection(region="us-east-1")
    for service in ("ec2", "iam", "organizations", "sts"):
        assert conn.client(service).meta.endpoint_url == "http://127.0.0.1:5999"
    explicit = Connection(region="us-east-1", endpoint_url="http://127.0.0.1:6000")
    assert explicit.client("ec2").meta.endpoint_url == "http://127.0.0.1:6000"


def test_one_client_per_service_serves_every_region() -> None:
    conn = Connection(region="us-east-1")
    assert conn.client("ec2") is conn.client("ec2")
    assert conn.client("ec2") is not conn.client("iam")
    config = conn.client("ec2").meta.config
    assert config.retries["mode"] == "adaptive"


def _sent(conn: Connection) -> list[tuple[str, str]]:
    """Record (url, SigV4 scope region) of every request, and answer it without sending."""
    from botocore.awsrequest import AWSResponse

    seen: list[tuple[str, str]] = []

    def capture(request, **_):
        auth = request.headers["Authorization"].decode()
        seen.append((request.url, auth.split("Credential=")[1].split("/")[2]))
        body = b"<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>"
        return AWSResponse(request.url, 200, {}, _Raw(body))

    conn.events.register_first("before-send", capture)
    return seen


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object):
        yield self.body


def test_each_call_goes_to_and_is_signed_for_its_region(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    conn = Connection(region="us-east-1")
    seen = _sent(conn)
    for region in ("eu-north-1", "ap-south-1", None):
        conn.read("ec2", "DescribeInstances", region=region)
    assert seen == [
        ("https://ec2.eu-north-1.amazonaws.com/", "eu-north-1"),
        ("https://ec2.ap-south-1.amazonaws.com/", "ap-south-1"),
        ("https://ec2.us-east-1.amazonaws.com/", "us-east-1"),
    ]
    assert list(conn._clients) == ["ec2"]


def test_regions_stay_apart_in_threads(aws: None) -> None:
    import boto3

    regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-north-1", "sa-east-1"]
    for count, region in enumerate(regions, start=1):
        boto3.client("ec2", region_name=region).run_instances(
            ImageId="ami-12345678", MinCount=count, MaxCount=count, InstanceType="t3.micro"
        )
    conn = Connection(region="us-east-1")
    barrier = threading.Barrier(len(regions))
    counted: dict[str, int] = {}

    def count(region: str) -> None:
        barrier.wait()
        out = conn.read("ec2", "DescribeInstances", region=region)
        counted[region] = sum(len(r["Instances"]) for r in out["Reservations"])

    threads = [threading.Thread(target=count, args=(r,)) for r in regions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counted == {r: n for n, r in enumerate(regions, start=1)}


def test_threads_run_in_their_own_accounts(aws: None) -> None:
    import boto3

    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    accounts = [
        org.create_account(Email=f"a{i}@example.com", AccountName=f"a{i}")["CreateAccountStatus"][
            "AccountId"
        ]
        for i in range(4)
    ]
    conn = Connection(region="us-east-1")
    caller = conn.caller_account()
    seen: dict[str, str] = {}
    barrier = threading.Barrier(len(accounts))

    def who(account: str) -> None:
        barrier.wait()
        with conn.scope(account):
            seen[account] = conn.client("sts").get_caller_identity()["Account"]

    threads = [threading.Thread(target=who, args=(a,)) for a in accounts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {a: a for a in accounts}
    assert conn.read("sts", "GetCallerIdentity")["Account"] == caller
    assert conn.calls["sts:AssumeRole"] == 4


def test_read_error_names_account_region_and_api(aws: None) -> None:
    conn = Connection(region="us-east-1", max_attempts=1)
    with pytest.raises(ReadError) as failed:
        conn.read("iam", "GetPolicy", PolicyArn="arn:aws:iam::123456789012:policy/none")
    assert str(failed.value).startswith(
        "iam:GetPolicy failed in account (caller) region us-east-1: NoSuchEntity"
    )


def test_iam_action_overrides() -> None:
    assert iam_action("budgets", "DescribeBudgets") == "budgets:ViewBudget"
    assert iam_action("ec2", "DescribeRegions") == "ec2:DescribeRegions"


def test_clients_read_service_models_through_the_catalogs_loader() -> None:
    from corral.spec import catalog

    catalog.instance_types()  # the spec reads the EC2 model for its instance types
    conn = Connection(region="us-east-1")
    assert conn.client("ec2")._loader is catalog.loader()  # the same model, read once
