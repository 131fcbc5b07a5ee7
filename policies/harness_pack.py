"""Harness, part 3: the policy pack running as the CLI runs it, driven over gRPC.

The pack starts as ``python -u -m pulumi.policy ADDR .`` in the pack directory, with
PULUMI_CONFIG/PROJECT/STACK/DRY_RUN set; the port it prints is read, then
``GetAnalyzerInfo``, ``Configure`` (settings validated against each rule's schema,
unknown keys rejected), ``Analyze`` per resource and ``AnalyzeStack`` are sent.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format
from harness_program import HarnessError, Registration, config_strings
from harness_requests import analyze_request, stack_request
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

PACK_DIR = Path(__file__).resolve().parent
START_TIMEOUT = 60.0
CALL_TIMEOUT = 120.0
LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_CODES = {name: code for code, name in LEVELS.items()}
SEVERITIES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic the pack reported, as the CLI would print it."""

    policy: str
    message: str
    urn: str
    enforcement: str
    severity: str

    @property
    def detail(self) -> str:
        """The rule's own sentence(s), without the policy description the SDK prepends."""
        return self.message.split("\n", 1)[-1]


@dataclass(frozen=True)
class NotApplicable:
    """A rule that declared itself not applicable to a resource (or the stack)."""

    policy: str
    reason: str
    urn: str


@dataclass
class Report:
    """Everything the pack said about one stack."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Diagnostic]:
        """Diagnostics that would fail ``pulumi preview``."""
        return [d for d in self.diagnostics if d.enforcement == "mandatory"]


# --------------------------------------------------------------------------- the pack process


class PackProcess:
    """The policy pack running as the CLI runs it; a context manager that always stops it."""

    def __init__(
        self,
        pack_dir: str | Path = PACK_DIR,
        *,
        python: str = sys.executable,
        stack_config: Mapping[str, Any] | None = None,
        project: str = "corral",
        stack: str = "dev",
        timeout: float = START_TIMEOUT,
    ) -> None:
        self.pack_dir = Path(pack_dir)
        self.python = python
        self.timeout = timeout
        self.env = {
            **os.environ,
            "PULUMI_CONFIG": json.dumps(config_strings(stack_config or {})),
            "PULUMI_PROJECT": project,
            "PULUMI_STACK": stack,
            "PULUMI_DRY_RUN": "true",
        }
        self.process: subprocess.Popen | None = None
        self.channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.info: Any = None

    def __enter__(self) -> PackProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the pack, read the port it prints and connect to it."""
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise HarnessError(
                f"{self.pack_dir} has no PulumiPolicy.yaml; pass the pack directory."
            )
        self.process = subprocess.Popen(
            [self.python, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
            cwd=self.pack_dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        try:
            port = self._read_port()
            self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            grpc.channel_ready_future(self.channel).result(timeout=self.timeout)
            self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
            self.info = self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def _read_port(self) -> int:
        assert self.process is not None and self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(self.timeout)
        line = self.process.stdout.readline().strip() if ready else b""
        if not line.isdigit():
            self._stderr.seek(0)
            tail = self._stderr.read().decode(errors="replace").strip().splitlines()[-1:]
            why = tail[0] if tail else f"no port within {self.timeout:.0f}s"
            raise HarnessError(f"policy pack in {self.pack_dir} did not start: {why}")
        return int(line)

    def stop(self) -> None:
        """Close the connection and end the pack process."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
        self._stderr.close()

    # ----------------------------------------------------------------- protocol

    def configure(self, pack_config: Mapping[str, Any]) -> None:
        """Send ``Configure`` like the CLI for ``--policy-pack-config``: every policy, validated."""
        assert self.stub is not None
        policies = {p.name: p for p in self.info.policies}
        for name in pack_config:
            if name not in policies:
                raise HarnessError(
                    f"pack config names '{name}', which is not a policy of the pack."
                )
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, policy in policies.items():
            level, props = _split_config(name, pack_config.get(name), policy)
            entry = request.policyConfig[name]
            entry.enforcementLevel = level
            entry.properties.update(props)
        self.stub.Configure(request, timeout=CALL_TIMEOUT)

    def analyze(self, registrations: list[Registration]) -> Report:
        """``Analyze`` each resource in order, then ``AnalyzeStack``; collect what the pack says."""
        assert self.stub is not None
        report = Report()
        by_urn = {r.urn: r for r in registrations}
        for reg in registrations:
            response = self.stub.Analyze(analyze_request(reg, by_urn), timeout=CALL_TIMEOUT)
            _collect(report, response, reg.urn)
        response = self.stub.AnalyzeStack(stack_request(registrations), timeout=CALL_TIMEOUT)
        _collect(report, response, "")
        return report


def _split_config(name: str, entry: Any, policy: Any) -> tuple[int, dict[str, Any]]:
    level = policy.enforcementLevel
    props: dict[str, Any] = {}
    if isinstance(entry, str):
        entry = {"enforcementLevel": entry}
    if isinstance(entry, Mapping):
        props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        if "enforcementLevel" in entry:
            if entry["enforcementLevel"] not in LEVEL_CODES:
                raise HarnessError(
                    f"{name}.enforcementLevel: '{entry['enforcementLevel']}' is not valid; use "
                    f"one of {', '.join(LEVEL_CODES)}."
                )
            level = LEVEL_CODES[entry["enforcementLevel"]]
    elif entry is not None:
        raise HarnessError(f"{name}: must be an enforcement level or a map of settings.")
    schema = json_format.MessageToDict(policy.configSchema)
    full = {
        "type": "object",
        "properties": schema.get("properties", {}),
        "required": schema.get("required", []),
        "additionalProperties": False,
    }
    try:
        jsonschema.validate(props, full)
    except jsonschema.ValidationError as error:
        where = ".".join(str(p) for p in error.absolute_path)
        key = f"{name}.{where}" if where else name
        raise HarnessError(f"{key}: {error.message}; fix the policy pack config.") from None
    return level, props


def _collect(report: Report, response: Any, urn: str) -> None:
    for d in response.diagnostics:
        report.diagnostics.append(
            Diagnostic(
                policy=d.policyName,
                message=d.message,
                urn=urn or d.urn,
                enforcement=LEVELS.get(d.enforcementLevel, str(d.enforcementLevel)),
                severity=SEVERITIES.get(d.severity, ""),
            )
        )
    for n in response.not_applicable:
        report.not_applicable.append(NotApplicable(n.policy_name, n.reason, urn))
