"""The exit-code contract (STYLE.md 10, ``corral.cli.errors``), command by failure.

Every command, against every environment failure (no credentials, an unknown profile,
connection refused, an endpoint answering a web page, foreign JSON, a cut-off body,
HTTP 500, throttling to the end, never answering) and every bad input (paths, manifest,
reports, shards, YAML, options, a missing optional dependency): exit 2, exactly one line
on stderr naming the cause and the fix for that cause only, no traceback, no output file.
Exit 1 is left for FAIL findings. The bad endpoints are ``tests/bad_endpoint.py`` servers
on 127.0.0.1 that stop by themselves; hypothesis then fuzzes the arguments.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bad_endpoint import bad_endpoint, refused_url

from corral.audit import runs
from corral.audit.findings import FAIL, PASS, Finding, to_json
from corral.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "Pulumi.example.yaml")  # organization mode
ACCOUNT = str(ROOT / "Pulumi.spend-example.yaml")  # account mode
ACCOUNT_ID = "123456789012"

pytestmark = pytest.mark.slow


def invoke(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    """Run ``corral argv`` in this process: (exit code, stdout, stderr). An exception other
    than SystemExit escaping ``main`` would be a traceback for the user: it fails here."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_stopped(code: int, err: str, *fragments: str) -> None:
    """Exit 2, one line on stderr naming the cause (``fragments``), no traceback."""
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("corral"), err
    assert "Traceback" not in err and "internal error" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.fixture(autouse=True)
def no_host_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No profile or retry setting of the machine running the tests leaks in."""
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # bounded retries: throttling, HTTP 500
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


# --------------------------------------------------------------------------- the environment

# command -> argv (given the endpoint URL and the output file)
COMMANDS: dict[str, Callable[[str, Path], list[str]]] = {
    "verify-org": lambda url, out: ["verify", "--config", EXAMPLE, "--endpoint-url", url,
                                    "--output", str(out)],
    "verify-account": lambda url, out: ["verify", "--config", ACCOUNT, "--endpoint-url", url,
                                        "--format", "json", "--output", str(out)],
    "sweep": lambda url, out: ["sweep", "--config", ACCOUNT, "--endpoint-url", url,
                               "--output", str(out)],
    "refresh-catalog": lambda url, out: ["refresh-catalog", "--endpoint-url", url,
                                         "--output", str(out)],
    "explain": lambda url, out: ["explain", "--config", EXAMPLE, "--action", "ec2:RunInstances",
                                 "--account", ACCOUNT_ID, "--endpoint-url", url],
    "explain-cross-check": lambda url, out: [
        "explain", "--config", ACCOUNT, "--action", "ec2:RunInstances", "--cross-check",
        "--principal", f"arn:aws:iam::{ACCOUNT_ID}:role/ci", "--endpoint-url", url],
}  # fmt: skip

# failure -> what the message must say (the cause), and what it must not (wrong advice)
FAILURES = {
    "refused": "could not connect to the endpoint",
    "html": "answered HTTP 200 with a web page, not an AWS answer",
    "json": "not an AWS answer",
    "cut": "not an AWS answer",
    "500": "failed with HTTP 500",
    "throttle": "(still throttled after 1 retry); run it again later",  # AWS_MAX_ATTEMPTS=2
    "silent": "did not answer in time",
    "no-credentials": "no AWS credentials were found; pass --profile",
    "bad-profile": "--profile names the profile 'nope', which is not configured",
}


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    failure = request.param
    if failure in ("refused", "no-credentials", "bad-profile"):
        if failure == "no-credentials":
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                         "AWS_SECURITY_TOKEN"):  # fmt: skip
                monkeypatch.delenv(name, raising=False)
        yield refused_url()
        return
    with bad_endpoint(failure, lifetime=60) as url:
        yield url


@pytest.mark.parametrize("endpoint", list(FAILURES), indirect=True)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_stops_on_every_environment_failure(
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    endpoint: str,
    command: str,
    tmp_path: Path,
) -> None:
    failure = request.node.callspec.params["endpoint"]
    out = tmp_path / "out.json"
    argv = COMMANDS[command](endpoint, out)
    if failure == "bad-profile":
        argv += ["--profile", "nope"]
    if failure == "silent":
        argv += ["--timeout", "0.5"]
    start = time.monotonic()
    code, stdout, err = invoke(capsys, argv)
    assert_stopped(code, err, FAILURES[failure])
    assert time.monotonic() - start < 10  # seconds, not minutes: bounded attempts and waits
    assert stdout == "" and not out.exists()
    if failure != "bad-profile":  # the fix is for this cause only, never the role or policy
        assert "iam-policy" not in err and "OrganizationAccountAccessRole" not in err


# --------------------------------------------------------------------------- paths and files


def _reports(
    tmp_path: Path, shards: list[str | None], spec: str = "sha256:a", prefix: str = "report"
) -> list[str]:
    """JSON reports of a (sharded) run, made with corral's own functions."""
    paths = []
    for i, shard in enumerate(shards):
        found = [Finding("vcpu-totals", PASS, f"11111111111{i}", "us-east-1", "r", "ok.")]
        parsed = tuple(int(p) for p in shard.split("/")) if shard else None
        run = runs.record("sweep", spec, parsed, [f"11111111111{i}"])  # type: ignore[arg-type]
        path = tmp_path / f"{prefix}{i}.json"
        path.write_text(to_json(found, run))
        paths.append(str(path))
    return paths


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


STACK = (
    "config:\n  aws:region: us-east-1\n  corral:mode: account\n"
    "  corral:allowedRegions: [us-east-1]\n"
)
DUPLICATE = STACK + "  corral:mode: organization\n"

# case -> (argv given tmp_path, what the message must say)
INPUTS: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "policy-config --output DIR": (
        lambda t: ["policy-config", "--config", EXAMPLE, "--output", str(t)],
        "is a folder; pass a file name."),
    "render --output under a file": (
        lambda t: ["render", "--config", EXAMPLE, "--output", _write(t, "f", "x") + "/out"],
        "is a file, not a folder; pass a folder."),
    "render --output unwritable": (
        lambda t: ["render", "--config", EXAMPLE, "--output", "/proc/corral-test/out"],
        "/proc/corral-test"),
    "verify --output DIR": (
        lambda t: ["verify", "--config", EXAMPLE, "--output", str(t)], "is a folder"),
    "sweep --output in a missing folder": (
        lambda t: ["sweep", "--config", EXAMPLE, "--output", str(t / "no" / "r.json")],
        "does not exist; create it"),
    "iam-policy --output DIR": (
        lambda t: ["iam-policy", "--output", str(t)], "is a folder"),
    "merge --output DIR": (
        lambda t: ["merge", *_reports(t, [None]), "--output", str(t)], "is a folder"),
    "refresh-catalog --output DIR": (
        lambda t: ["refresh-catalog", "--output", str(t)], "is a folder"),
    "verify --manifest [1,2]": (
        lambda t: ["verify", "--config", EXAMPLE, "--manifest", _write(t, "m.json", "[1,2]")],
        "holds a JSON list without a list of documents; pass the exported manifest"),
    "verify --manifest not JSON": (
        lambda t: ["verify", "--config", EXAMPLE, "--manifest", _write(t, "m.json", "{")],
        "not JSON"),
    "verify --manifest missing": (
        lambda t: ["verify", "--config", EXAMPLE, "--manifest", str(t / "none.json")],
        "no such file or directory; check the path."),
    "merge [1,2]": (
        lambda t: ["merge", _write(t, "r.json", "[1,2]")], "has no 'findings' list"),
    "merge bad finding": (
        lambda t: ["merge", _write(t, "r.json", '{"findings": [{"check": 1}]}')], "lacks"),
    "merge missing shard": (
        lambda t: ["merge", *_reports(t, ["1/3", "3/3"])], "shard 2/3 is missing"),
    "merge duplicate shard": (
        lambda t: ["merge", *_reports(t, ["1/2", "1/2"])], "are both shard 1/2"),
    "merge mismatched shard count": (
        lambda t: ["merge", *_reports(t, ["1/2", "2/3"])], "is shard 2/3 but"),
    "merge shards of two specs": (
        lambda t: ["merge", _reports(t, ["1/2"])[0],
                   _reports(t, ["2/2"], "sha256:b", "other")[0]],
        "(spec sha256:b) does not match"),
    "merge report without run record": (
        lambda t: ["merge", _write(t, "r.json", '{"findings": []}')], "has no run record"),
    "duplicate YAML key": (
        lambda t: ["render", "--config", _write(t, "s.yaml", DUPLICATE)],
        "key 'corral:mode' appears twice, at lines 3 and 5; keep one of them."),
    "stack file over the cap": (
        lambda t: ["render", "--config", _write(t, "s.yaml", STACK + "#" * (1 << 20))],
        "over the 1,048,576-byte (1 MiB) cap for a stack file"),
    "stack file is a folder": (
        lambda t: ["policy-config", "--config", str(t)], "is a folder; pass --config"),
    "stack file missing": (
        lambda t: ["verify", "--config", str(t / "none.yaml")], "file not found"),
    "invalid YAML": (
        lambda t: ["render", "--config", _write(t, "s.yaml", "config: [\n")], "fix the YAML"),
    "--accounts 123": (
        lambda t: ["verify", "--config", EXAMPLE, "--accounts", "123"],
        "'123' is not a 12-digit account id"),
    "--partition bogus": (
        lambda t: ["iam-policy", "--partition", "bogus"], "is not a partition; use one of aws,"),
    "--role-name bad": (
        lambda t: ["verify", "--config", EXAMPLE, "--role-name", "a/b"], "not an IAM role name"),
    "--format bogus": (
        lambda t: ["verify", "--config", EXAMPLE, "--format", "xml"], "invalid choice"),
    "--workers 0": (
        lambda t: ["sweep", "--config", EXAMPLE, "--workers", "0"], "is not a whole number"),
    "--shard 3/2": (
        lambda t: ["verify", "--config", EXAMPLE, "--shard", "3/2"], "I must be between 1 and N"),
    "--shard x": (lambda t: ["sweep", "--config", EXAMPLE, "--shard", "x"], "is not I/N"),
    "--regions typo": (
        lambda t: ["sweep", "--config", EXAMPLE, "--regions", "eu-wset-1"],
        "did you mean 'eu-west-1'?"),
    "--timeout 0": (
        lambda t: ["verify", "--config", EXAMPLE, "--timeout", "0"], "is not a number of seconds"),
    "--endpoint-url not a URL": (
        lambda t: ["verify", "--config", EXAMPLE, "--endpoint-url", "localhost"],
        "is not an http(s) URL"),
    "refresh-catalog --region typo": (
        lambda t: ["refresh-catalog", "--region", "us-est-1"], "did you mean 'us-east-1'?"),
    "regions bogus": (lambda t: ["regions", "bogus"], "partition 'bogus' is unknown"),
    "unknown command": (lambda t: ["frobnicate"], "invalid choice"),
    "no command": (lambda t: [], "required"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(INPUTS))
def test_every_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", refused_url())  # input is checked before any call
    build, fragment = INPUTS[case]
    argv = build(tmp_path)  # writes the case's own input files
    before = sorted(tmp_path.rglob("*"))
    code, stdout, err = invoke(capsys, argv)
    assert_stopped(code, err, fragment)
    assert "could not connect" not in err  # refused before any call
    assert stdout == ""
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even partly


def test_aws_endpoint_url_and_max_attempts_from_the_environment_are_checked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "not a url")
    code, _, err = invoke(capsys, ["verify", "--config", EXAMPLE])
    assert_stopped(code, err, "AWS_ENDPOINT_URL 'not a url' is not an http(s) URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL", refused_url())
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "many")
    code, _, err = invoke(capsys, ["sweep", "--config", ACCOUNT])
    assert_stopped(code, err, "AWS_MAX_ATTEMPTS='many' is not a number of attempts")


def test_preview_check_without_its_optional_dependencies(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "grpc", None)  # find_spec answers None: not installed
    argv = ["preview-check", "tests/fixtures/bad_stack", "--config", EXAMPLE]
    code, _, err = invoke(capsys, argv)
    assert_stopped(code, err)
    assert err == (
        "corral: error: preview-check needs grpcio, which is not installed; install corral "
        "with its pack extra: pip install 'corral[pack]' (from a checkout: pip install -e "
        "'.[pack]').\n"
    )


@pytest.mark.parametrize("argv", [["preview-check", "--help"], ["--help"], ["--version"]])
def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, stdout, err = invoke(capsys, argv)
    assert (code, err) == (0, "")
    assert stdout.startswith(("usage: corral", "corral 0."))


# --------------------------------------------------------------------------- the emulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    sys.path.insert(0, str(ROOT / "bench"))
    from support import moto_server

    with moto_server() as (_, url):
        yield url


@pytest.fixture
def fresh(emulator: str) -> str:
    import urllib.request

    request = urllib.request.Request(f"{emulator}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return emulator


@pytest.mark.parametrize("command", ["verify", "sweep"])
def test_organization_mode_without_an_organization_stops(
    capsys: pytest.CaptureFixture[str], fresh: str, command: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    argv = [command, "--config", EXAMPLE, "--endpoint-url", fresh, "--output", str(out)]
    code, _, err = invoke(capsys, argv)
    assert_stopped(code, err, "is not in an organization; run corral from the organization's "
                   "management account, or set corral:mode: account")  # fmt: skip
    assert not out.exists()


@pytest.mark.parametrize("command", ["verify", "sweep"])
def test_accounts_outside_the_run_are_an_error_not_a_pass(
    capsys: pytest.CaptureFixture[str], fresh: str, command: str
) -> None:
    base = [command, "--endpoint-url", fresh, "--accounts", "999999999999"]
    code, _, err = invoke(capsys, [*base, "--config", ACCOUNT])
    assert_stopped(code, err, "--accounts 999999999999: in account mode corral checks the "
                   f"caller's own account {ACCOUNT_ID} only")  # fmt: skip
    import boto3

    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=fresh)
    org.create_organization(FeatureSet="ALL")
    code, _, err = invoke(capsys, [*base, "--config", EXAMPLE])
    assert_stopped(code, err, "--accounts 999999999999 is not an active account of the "
                   "organization (1 are;")  # fmt: skip


def test_cross_check_against_the_emulator_names_the_unimplemented_call(
    capsys: pytest.CaptureFixture[str], fresh: str
) -> None:
    code, stdout, err = invoke(capsys, COMMANDS["explain-cross-check"](fresh, Path("-")))
    assert_stopped(code, err, "iam:SimulatePrincipalPolicy failed", "failed with HTTP 500",
                   "it may not implement this call")  # fmt: skip
    assert stdout == ""


def test_exit_1_is_for_fail_findings_only(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    failing = [Finding("vcpu-totals", FAIL, "111111111111", None, "r", "too many.")]
    report = tmp_path / "r.json"
    report.write_text(to_json(failing, runs.record("sweep", "sha256:a", None, ["111111111111"])))
    code, stdout, err = invoke(capsys, ["merge", str(report), "--format", "json"])
    assert (code, err) == (1, "")
    assert json.loads(stdout)["run"]["accounts"] == ["111111111111"]


def test_default_waits_and_attempts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from corral.audit.aws import Connection
    from corral.audit.settings import DEFAULT_TIMEOUT, FIRST_CALL_ATTEMPTS

    monkeypatch.delenv("AWS_MAX_ATTEMPTS")
    config = Connection(region="us-east-1").client("sts").meta.config
    assert (config.connect_timeout, config.read_timeout) == (5, DEFAULT_TIMEOUT) == (5, 10.0)
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 9}  # 8 retries
    assert FIRST_CALL_ATTEMPTS == 2
