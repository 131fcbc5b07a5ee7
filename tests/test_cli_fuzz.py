"""Hypothesis fuzzes ``corral``'s arguments: whatever the command line, the exit code is 0, 1
or 2, a 2 comes with one line on stderr, and nothing escapes as a traceback.

Every call to AWS goes to a port nobody listens on (``AWS_ENDPOINT_URL``), with one attempt;
``preview-check``'s harness process is stubbed and ``refresh-catalog``'s default output is
a temporary file, so a run touches nothing outside the test's folder.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from bad_endpoint import refused_url
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from corral.audit import catalog_refresh, runs
from corral.audit.findings import PASS, Finding, to_json
from corral.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="corral-fuzz-"))
REPORT = WORK / "report.json"
REPORT.write_text(
    to_json(
        [Finding("vcpu-totals", PASS, "111111111111", "us-east-1", "r", "ok.")],
        runs.record("sweep", "sha256:a", (1, 2), ["111111111111"]),
    )
)
(WORK / "list.json").write_text("[1, 2]")
(WORK / "file").write_text("x")
REFUSED = refused_url()

COMMANDS = [
    "render", "regions", "instance-types", "refresh-catalog", "policy-config", "preview-check",
    "verify", "sweep", "iam-policy", "merge", "explain", "frobnicate",
]  # fmt: skip
VALUES = {
    "--config": [str(ROOT / "Pulumi.example.yaml"), str(ROOT / "Pulumi.spend-example.yaml"),
                 str(WORK / "none.yaml"), str(WORK), str(REPORT), ""],
    "--format": ["table", "json", "sarif", "junit", "text", "xml"],
    "--accounts": ["123456789012", "123", "999999999999", "x" * 13],
    "--regions": ["us-east-1", "eu-wset-1", ""],
    "--shard": ["1/2", "0/0", "3/2", "x", "1/1", "2/2"],
    "--role-name": ["OrganizationAccountAccessRole", "a/b", ""],
    "--profile": ["nope", ""],
    "--endpoint-url": [REFUSED, "localhost", "http://", "http://127.0.0.1:0", "ftp://x"],
    "--timeout": ["0.3", "-1", "x", "1e9", "nan"],
    "--workers": ["0", "1", "x", "100000"],
    "--partition": ["aws", "aws-cn", "bogus"],
    "--manifest": [str(WORK / "list.json"), str(REPORT), str(WORK / "none.json")],
    "--output": [str(WORK / "out.json"), str(WORK), str(WORK / "no" / "o.json"),
                 str(WORK / "file" / "o")],
    "--action": ["ec2:RunInstances", "s3:GetObject", "bad"],
    "--target": ["ml", "nope", "r-a1b2"],
    "--account": ["123456789012", "1"],
    "--context": ["aws:SourceIp=1.2.3.4", "novalue"],
    "--instance-type": ["c5a.24xlarge", "zz"],
    "--principal": ["arn:aws:iam::123456789012:role/x", "x"],
    "--region": ["us-east-1", "mars-1"],
    "--policy-pack-config": [str(REPORT)],
}  # fmt: skip
FLAGS = ["--help", "--version", "--cross-check", "--under-boundary", "-h"]
POSITIONALS = ["aws", "bogus", "c5a.*", "zz.*", str(REPORT), str(WORK / "list.json"),
               "tests/fixtures/bad_stack"]  # fmt: skip


def _options_of(command: str) -> list[str]:
    """The options ``command`` accepts, read from the parser itself."""
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    parser = sub.choices.get(command)
    if parser is None:
        return ["--help"]
    return sorted(set(parser._option_string_actions) - {"-h", "--help"}) or ["--help"]


def _option(name: str) -> st.SearchStrategy[list[str]]:
    if name in VALUES:
        return st.sampled_from(VALUES[name]).map(lambda value: [name, value])
    return st.just([name])


def _words(command: str) -> st.SearchStrategy[list[str]]:
    """Mostly the command's own options with pooled values; sometimes anything."""
    own = st.sampled_from(_options_of(command)).flatmap(_option)
    other = st.one_of(
        st.sampled_from(sorted(VALUES)).flatmap(_option),
        st.sampled_from(FLAGS).map(lambda flag: [flag]),
        st.sampled_from(POSITIONALS).map(lambda text: [text]),
        st.text(max_size=12).map(lambda text: [text]),
    )
    return st.one_of(own, own, own, own, other)


# What each command needs to get past the parser, drawn from the pools above (mostly valid).
REQUIRED = {
    "render": ["--config"],
    "policy-config": ["--config"],
    "preview-check": ["--config"],
    "verify": ["--config"],
    "sweep": ["--config"],
    "explain": ["--config", "--action"],
}


def _needed(command: str) -> st.SearchStrategy[list[str]]:
    parts = [st.sampled_from(VALUES[name]).map(lambda v, n=name: [n, v]) for name in
             REQUIRED.get(command, [])]  # fmt: skip
    if command in ("merge", "preview-check"):
        parts.append(st.sampled_from(POSITIONALS).map(lambda text: [text]))
    return st.tuples(*parts).map(lambda groups: [w for g in groups for w in g])


argvs = st.sampled_from(COMMANDS).flatmap(
    lambda command: st.tuples(_needed(command), st.lists(_words(command), max_size=5)).map(
        lambda parts: [command, *parts[0], *(w for group in parts[1] for w in group)]
    )
)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", REFUSED)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(WORK / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(WORK / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(catalog_refresh, "DEFAULT_PATH", WORK / "catalog.json")
    monkeypatch.setattr(
        cli.subprocess, "run", lambda argv, **_: subprocess.CompletedProcess(argv, 0)
    )


@pytest.mark.slow
@pytest.mark.usefixtures("sandbox")
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=argvs)
def test_any_command_line_exits_0_1_or_2_without_a_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse: usage errors, --help, --version
        code = exit_.code
    _, err = capsys.readouterr()
    event(f"exit {code}: {' '.join(err.split()[:4])[:50]}")
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    if code == 2:
        assert err.endswith("\n") and err.count("\n") == 1, (argv, err)
