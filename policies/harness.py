"""Run the corral policy pack the way ``pulumi preview --policy-pack`` does, without the CLI.

1. A Pulumi program runs under ``pulumi.runtime.set_mocks`` with a recording
   monitor, which keeps what the engine would receive for every resource: type,
   name, inputs (unknowns kept), provider reference, parent, dependencies and
   property dependencies, and options.
2. The pack starts as the CLI starts it (``python -u -m pulumi.policy ADDR .``
   in the pack directory, with PULUMI_CONFIG/PROJECT/STACK/DRY_RUN set); the
   port it prints is read and the analyzer is driven over gRPC:
   ``GetAnalyzerInfo``, ``Configure`` (settings validated against each rule's
   schema, unknown keys rejected), ``Analyze`` per resource with its provider
   (default providers are built from the stack's ``<package>:*`` config, as the
   engine does), then ``AnalyzeStack``.

Use it from tests (:func:`run_pack`, :class:`PackProcess`) or from the command
line: ``python policies/harness.py PROGRAM --config Pulumi.<stack>.yaml``
(``corral preview-check``). The pack process is always stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import runpy
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import pulumi
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

PACK_DIR = Path(__file__).resolve().parent
STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_PREFIX = "pulumi:providers:"
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
_SIG = rpc._special_sig_key  # the key marking special values in a Struct
_RESOURCE_SIG = rpc._special_resource_sig


class HarnessError(RuntimeError):
    """The program, the pack or its config cannot be run; the message names the fix."""


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


# --------------------------------------------------------------------------- recording


@dataclass
class Registration:
    """A resource as the engine sees it after the program registers it."""

    urn: str
    type: str
    name: str
    custom: bool
    inputs: struct_pb2.Struct
    provider: str = ""
    id: str = ""
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def package(self) -> str:
        """The package a custom resource belongs to (``aws`` for ``aws:ec2/...``)."""
        return self.type.split(":", 1)[0]


def _qualified_type(urn: str) -> str:
    return urn.split("::")[2]


class RecordingMonitor(mocks.MockMonitor):
    """A mock resource monitor that records every registration and makes engine-style URNs."""

    def __init__(self, mocks_: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks_)
        self.registrations: list[Registration] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine gives: parent types chained with ``$``, the stack left out."""
        if parent and _qualified_type(parent) != STACK_TYPE:
            type_ = f"{_qualified_type(parent)}${type_}"
        return f"urn:pulumi:{settings.get_stack()}::{settings.get_project()}::{type_}::{name}"

    def RegisterResource(self, request: Any) -> Any:
        """Record the registration, then let the mocks answer it."""
        response = super().RegisterResource(request)
        self.registrations.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=request.custom,
                inputs=_downgrade_references(request.object),
                provider=request.provider,
                id=response.id,
                parent=request.parent,
                dependencies=list(request.dependencies),
                property_dependencies={
                    k: list(v.urns) for k, v in request.propertyDependencies.items()
                },
                options={
                    "protect": request.protect,
                    "ignoreChanges": list(request.ignoreChanges),
                    "deleteBeforeReplace": request.deleteBeforeReplace,
                    "deleteBeforeReplaceDefined": request.deleteBeforeReplaceDefined,
                    "additionalSecretOutputs": list(request.additionalSecretOutputs),
                    "parent": request.parent,
                },
            )
        )
        return response


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks answering like a preview: a resource's outputs are its inputs, the rest unknown."""

    def __init__(self, call: Callable[[Any], dict] | None = None) -> None:
        self._call = call

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        """An id derived from the name, and the inputs as state."""
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        """Function calls return what ``call`` returns (nothing by default)."""
        return self._call(args) if self._call else {}


def _downgrade_references(struct: struct_pb2.Struct) -> struct_pb2.Struct:
    """Resource references become ids (custom) or URNs (component), as the engine sends them."""

    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get(_SIG) == _RESOURCE_SIG:
                return value.get("id") or rpc.UNKNOWN if "id" in value else value.get("urn", "")
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    result = struct_pb2.Struct()
    result.update(fix(json_format.MessageToDict(struct)))
    return result


def config_strings(config: Mapping[str, Any]) -> dict[str, str]:
    """Stack config as the engine hands it over: text as is, anything else as JSON."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and "secure" in value:
            raise HarnessError(
                f"{key} is a secret, which only the Pulumi CLI can decrypt; set a plain test value."
            )
        flat[key] = value if isinstance(value, str) else json.dumps(value)
    return flat


def record(
    program: Callable[[], Any],
    stack_config: Mapping[str, Any] | None = None,
    *,
    project: str = "corral",
    stack: str = "dev",
    call: Callable[[Any], dict] | None = None,
) -> list[Registration]:
    """Run ``program`` under preview mocks and return every registration, in order."""
    settings.ROOT.set(None)
    pulumi.runtime.set_all_config(config_strings(stack_config or {}))
    recording_mocks = RecordingMocks(call)
    monitor = RecordingMonitor(recording_mocks)
    pulumi.runtime.set_mocks(recording_mocks, project, stack, preview=True, monitor=monitor)
    mocks.test(program)()
    return monitor.registrations


# --------------------------------------------------------------------------- providers


def _provider_version(package: str) -> str:
    with contextlib.suppress(metadata.PackageNotFoundError):
        return metadata.version(f"pulumi_{package.replace('-', '_')}")
    return ""


def default_provider(package: str, stack_config: Mapping[str, str], stack: str, project: str):
    """The default provider the engine creates for ``package`` from ``<package>:*`` config."""
    version = _provider_version(package)
    name = f"default_{version.replace('.', '_')}" if version else "default"
    inputs = {k.split(":", 1)[1]: v for k, v in stack_config.items() if k.startswith(f"{package}:")}
    if version:
        inputs["version"] = version
    struct = struct_pb2.Struct()
    struct.update(inputs)
    urn = f"urn:pulumi:{stack}::{project}::{PROVIDER_PREFIX}{package}::{name}"
    return Registration(urn, f"{PROVIDER_PREFIX}{package}", name, True, struct, id=f"{name}-id")


def with_default_providers(
    registrations: list[Registration], stack_config: Mapping[str, str], stack: str, project: str
) -> list[Registration]:
    """The registrations with each package's default provider inserted before its first use."""
    result: list[Registration] = []
    made: dict[str, Registration] = {}
    for reg in registrations:
        needs = reg.custom and not reg.provider and not reg.type.startswith(PROVIDER_PREFIX)
        if needs and reg.type != STACK_TYPE:
            if reg.package not in made:
                made[reg.package] = default_provider(reg.package, stack_config, stack, project)
                result.append(made[reg.package])
            reg.provider = f"{made[reg.package].urn}::{made[reg.package].id}"
        result.append(reg)
    return result


# --------------------------------------------------------------------------- requests


def _options(reg: Registration) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(**reg.options)


def _provider(reg: Registration, by_urn: Mapping[str, Registration]):
    if not reg.provider:
        return None
    prov = by_urn.get(reg.provider.rsplit("::", 1)[0])
    if prov is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=prov.type, urn=prov.urn, name=prov.name, properties=prov.inputs
    )


def analyze_request(reg: Registration, by_urn: Mapping[str, Registration]):
    """The ``Analyze`` request the engine sends for one resource."""
    return analyzer_pb2.AnalyzeRequest(
        type=reg.type,
        name=reg.name,
        urn=reg.urn,
        properties=reg.inputs,
        options=_options(reg),
        provider=_provider(reg, by_urn),
    )


def stack_request(registrations: list[Registration]):
    """The ``AnalyzeStack`` request the engine sends at the end."""
    by_urn = {r.urn: r for r in registrations}
    return analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                name=r.name,
                urn=r.urn,
                properties=r.inputs,
                options=_options(r),
                provider=_provider(r, by_urn),
                parent=r.parent,
                dependencies=r.dependencies,
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                    for k, v in r.property_dependencies.items()
                    if v
                },
            )
            for r in registrations
        ]
    )


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


# --------------------------------------------------------------------------- one call


def check(
    program: Callable[[], Any],
    pack_config: Mapping[str, Any],
    stack_config: Mapping[str, Any] | None = None,
    *,
    pack: PackProcess | None = None,
    project: str = "corral",
    stack: str = "dev",
    call: Callable[[Any], dict] | None = None,
) -> Report:
    """Run ``program`` under mocks and analyze what it registers with the pack."""
    stack_config = dict(stack_config or {})
    registrations = record(program, stack_config, project=project, stack=stack, call=call)
    registrations = with_default_providers(
        registrations, config_strings(stack_config), stack, project
    )
    with contextlib.ExitStack() as stack_:
        if pack is None:
            pack = stack_.enter_context(PackProcess(stack_config=stack_config))
        pack.configure(pack_config)
        return pack.analyze(registrations)


def run_pack(
    program: Callable[[], Any],
    config: Mapping[str, Any],
    stack_config: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> list[Diagnostic]:
    """The diagnostics the pack reports for ``program`` under pack config ``config``."""
    return check(program, config, stack_config, **kwargs).diagnostics


# --------------------------------------------------------------------------- command line


def load_stack_config(path: str | Path) -> dict[str, Any]:
    """The ``config:`` map of a ``Pulumi.<stack>.yaml`` file."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise HarnessError(
            f"{path}: cannot be read ({exc}); pass --config Pulumi.<stack>.yaml."
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise HarnessError(f"{path}: has no top-level 'config:' map; is it a Pulumi stack file?")
    return document["config"]


def program_callable(path: str | Path) -> tuple[Callable[[], None], Path]:
    """A callable running the Python program at ``path`` (a directory or a file)."""
    target = Path(path).resolve()
    main = target / "__main__.py" if target.is_dir() else target
    if not main.is_file():
        raise HarnessError(f"{path}: no Python program found; pass a directory with __main__.py.")

    def run() -> None:
        old_cwd, old_path = Path.cwd(), list(sys.path)
        os.chdir(main.parent)
        sys.path.insert(0, str(main.parent))
        try:
            runpy.run_path(str(main), run_name="__main__")
        finally:
            os.chdir(old_cwd)
            sys.path[:] = old_path

    return run, main.parent


def _project_name(program_dir: Path) -> str:
    with contextlib.suppress(OSError, yaml.YAMLError, AttributeError, TypeError):
        return str(yaml.safe_load((program_dir / "Pulumi.yaml").read_text())["name"])
    return program_dir.name


def _pack_config(args: argparse.Namespace) -> dict[str, Any]:
    if args.policy_pack_config:
        try:
            return json.loads(Path(args.policy_pack_config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HarnessError(
                f"{args.policy_pack_config}: cannot be read as JSON ({exc})."
            ) from None
    from corral.build import packconfig  # noqa: PLC0415 (only needed without a config file)
    from corral.spec import model as spec  # noqa: PLC0415 (only needed without a config file)

    try:
        return packconfig.pack_config(spec.load_stack_file(args.config), args.target)
    except spec.SpecError as exc:
        raise HarnessError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corral preview-check",
        description="Run a Pulumi program under mocks and check it with the corral policy pack.",
    )
    parser.add_argument("program", help="program directory (with __main__.py) or file")
    parser.add_argument("--config", required=True, help="the stack file, Pulumi.<stack>.yaml")
    parser.add_argument("--policy-pack-config", help="pack config JSON (default: from --config)")
    parser.add_argument("--target", help="use this target's instance and region overrides")
    parser.add_argument("--pack", default=str(PACK_DIR), help="policy pack directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``corral preview-check``: 0 when no mandatory violation, 1 when some, 2 on error."""
    args = _parser().parse_args(argv)
    try:
        stack_config = load_stack_config(args.config)
        pack_config = _pack_config(args)
        program, program_dir = program_callable(args.program)
        stack = Path(args.config).name.removeprefix("Pulumi.").removesuffix(".yaml")
        project = _project_name(program_dir)
        with PackProcess(args.pack, stack_config=stack_config, project=project, stack=stack) as p:
            report = check(program, pack_config, stack_config, pack=p, project=project, stack=stack)
    except HarnessError as exc:
        print(f"corral preview-check: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 (the user's program failed; say so in one line)
        print(f"corral preview-check: error: the program failed: {exc!r}", file=sys.stderr)
        return 2
    for d in report.diagnostics:
        print(f"{d.enforcement}: [{d.policy}] {d.detail}")
    count = len(report.mandatory)
    print(f"{len(report.diagnostics)} diagnostics, {count} mandatory.")
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main())
