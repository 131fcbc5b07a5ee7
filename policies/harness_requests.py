"""Harness, part 2: the requests the engine sends the analyzer for recorded resources.

Default providers are built from the stack's ``<package>:*`` config, as the engine
does; ``Analyze`` and ``AnalyzeStack`` requests carry each resource with its provider.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from importlib import metadata

from google.protobuf import struct_pb2
from harness_program import STACK_TYPE, Registration
from pulumi.runtime.proto import analyzer_pb2

PROVIDER_PREFIX = "pulumi:providers:"


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
