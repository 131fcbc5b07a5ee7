"""Harness, part 1: run a Pulumi program under preview mocks and record what it registers.

A recording monitor keeps what the engine would receive for every resource: type,
name, inputs (unknowns kept), provider reference, parent, dependencies and
property dependencies, and options. :class:`HarnessError` is the harness's one error.
Imported by ``harness.py`` from the same directory (``policies/`` on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks, rpc, settings

STACK_TYPE = "pulumi:pulumi:Stack"
_SIG = rpc._special_sig_key  # the key marking special values in a Struct
_RESOURCE_SIG = rpc._special_resource_sig


class HarnessError(RuntimeError):
    """The program, the pack or its config cannot be run; the message names the fix."""


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


# --------------------------------------------------------------------------- program files


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
