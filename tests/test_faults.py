"""Fault injection on loopback: ``verify`` and ``sweep`` never turn a fault into PASS or
silence. The proxy and the comparison live in ``bench/`` (``bench_faults.py`` prints
the full figures); this is the bounded version (< ~60 s)."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_faults as B  # noqa: E402
from fault_proxy import DENIED, THROTTLE, FaultPlan, FaultProxy  # noqa: E402

pytestmark = pytest.mark.slow

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """Emulator, deployed org, proxy, fault-free runs and the read observer."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in CREDENTIALS.items():
            mp.setenv(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
            mp.delenv(name, raising=False)
        with B.environment(tmp_path_factory.mktemp("faults")) as environment:
            yield environment


def _run(env: tuple, command: str, plan: FaultPlan, tmp_path: Path) -> tuple[B.Run, B.Outcome]:
    scenario, proxy, clean, observer = env
    observer.take()
    proxy.replan(plan)
    run = B.run_command(command, scenario, proxy.url, tmp_path / f"{command}.json")
    outcome = B.compare(clean[command], run, scenario.management)
    false_pass, silent = observer.take()
    outcome.false_pass += false_pass
    outcome.lost += silent
    return run, outcome


def test_fault_free_runs_find_the_tampering_and_the_incident(env: tuple) -> None:
    _, _, clean, _ = env
    verify_fails = {f["check"] for f in clean["verify"].findings if f["status"] == "FAIL"}
    assert "guardrail-attached" in verify_fails
    sweep_fails = [f for f in clean["sweep"].findings if f["check"] == "instances-outside-regions"]
    assert len(sweep_fails) == 18  # the incident's instances outside us-east-1 and eu-west-1
    assert clean["verify"].code == clean["sweep"].code == 1


@pytest.mark.parametrize("rate", [0.2, 0.5])
@pytest.mark.parametrize("command", B.COMMANDS)
def test_random_faults_never_pass_and_never_vanish(
    env: tuple, command: str, rate: float, tmp_path: Path
) -> None:
    plan = FaultPlan(rate=rate, max_faults=60, window=8.0, seed=7)
    run, outcome = _run(env, command, plan, tmp_path)
    assert env[1].stats()["faults"] > 0
    assert outcome.false_pass == []
    assert outcome.lost == []
    assert not outcome.bad_exit, (run.code, run.crash)


def test_denied_region_is_an_error_naming_account_region_and_api(
    env: tuple, tmp_path: Path
) -> None:
    scenario = env[0]
    dev = scenario.members[0]
    plan = FaultPlan(
        rate=1.0,
        kinds=(DENIED,),
        accounts=frozenset({dev}),
        regions=frozenset({"us-west-2"}),
        actions=frozenset({"DescribeInstances"}),
    )
    run, outcome = _run(env, "sweep", plan, tmp_path)
    assert run.code == 2 and outcome.lost == [] and outcome.false_pass == []
    [error] = [f for f in run.findings if f["status"] == "ERROR" and f["check"] == "vcpu-totals"]
    assert (error["account"], error["region"]) == (dev, "us-west-2")
    assert error["message"] == (
        f"Check vcpu-totals could not complete because ec2:DescribeInstances failed in "
        f"account {dev} region us-west-2: UnauthorizedOperation: You are not authorized to "
        "perform this operation.; grant the role OrganizationAccountAccessRole (or the "
        "caller) the actions printed by `corral iam-policy` and run it again."
    )
    assert not any(
        f["account"] == dev and f["region"] == "us-west-2" and f["status"] == "PASS"
        for f in run.findings
    )


def test_throttling_is_retried_until_it_stops(env: tuple, tmp_path: Path) -> None:
    plan = FaultPlan(rate=1.0, kinds=(THROTTLE,), max_faults=3)
    run, outcome = _run(env, "verify", plan, tmp_path)
    assert env[1].stats()["faults"] == 3
    clean = env[2]["verify"]
    assert run.code == clean.code and run.findings == clean.findings
    assert outcome == B.Outcome()


def test_management_read_failing_for_a_member_names_the_member(env: tuple, tmp_path: Path) -> None:
    scenario = env[0]
    plan = FaultPlan(
        rate=1.0,
        kinds=(DENIED,),
        accounts=frozenset({scenario.management}),
        actions=frozenset({"ListParents"}),
    )
    _, outcome = _run(env, "sweep", plan, tmp_path)
    assert outcome.lost == []


# --------------------------------------------------------------------------- the proxy


def _client(service: str, url: str, attempts: int = 1):
    config = Config(retries={"mode": "standard", "max_attempts": attempts})
    return boto3.client(service, region_name="us-east-1", endpoint_url=url, config=config)


@pytest.mark.parametrize(
    ("service", "call", "throttle", "denied"),
    [
        ("ec2", "describe_regions", "RequestLimitExceeded", "UnauthorizedOperation"),
        ("iam", "list_users", "Throttling", "AccessDenied"),
        ("sts", "get_caller_identity", "Throttling", "AccessDenied"),
        ("organizations", "list_roots", "TooManyRequestsException", "AccessDeniedException"),
    ],
)
def test_faults_speak_each_protocol(
    env: tuple, service: str, call: str, throttle: str, denied: str
) -> None:
    proxy = env[1]
    for kind, code in ((THROTTLE, throttle), (DENIED, denied)):
        proxy.replan(FaultPlan(rate=1.0, kinds=(kind,)))
        with pytest.raises(ClientError) as caught:
            getattr(_client(service, proxy.url), call)()
        assert caught.value.response["Error"]["Code"] == code
    [failed] = proxy.failed_reads()
    assert (failed.service, failed.account, failed.region) == (service, "123456789012", "us-east-1")


def test_injection_is_bounded_in_count_and_time(env: tuple) -> None:
    proxy = env[1]
    proxy.replan(FaultPlan(rate=1.0, kinds=(THROTTLE,), max_faults=2))
    _client("sts", proxy.url, attempts=5).get_caller_identity()
    assert proxy.stats()["faults"] == 2
    proxy.replan(FaultPlan(rate=1.0, kinds=(THROTTLE,), window=0.0))
    time.sleep(0.01)
    _client("sts", proxy.url).get_caller_identity()
    assert proxy.stats()["faults"] == 0


def test_proxy_stops_by_itself() -> None:
    proxy = FaultProxy("http://127.0.0.1:9", FaultPlan(), lifetime=0.3).start()
    url = proxy.url
    time.sleep(0.8)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/moto-api/", timeout=2)
