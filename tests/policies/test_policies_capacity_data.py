"""The capacity rules' data against the pinned pulumi-aws and corral's data files.

Every type token the rules name must be a resource of the pinned pulumi-aws, and every
property path they read must be an input of that resource (read from the SDK's own args
classes, so a renamed input fails here rather than passing silently at preview).
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest
from rules import capacity, markets
from rules import tokens as T

from corral.spec.capacity import compute_services, purchase_categories

NO_RESOURCE = {"marketplace", "outposts", "supportPlans"}  # no pulumi-aws resource buys these


def resource_class(token: str) -> type:
    """The pinned pulumi-aws class of ``token``; fails unless it registers that token."""
    package, module_path, name = token.split(":")
    assert package == "aws", token
    module = module_path.split("/")[0]
    sdk = importlib.import_module(f"pulumi_aws.{'lambda_' if module == 'lambda' else module}")
    cls = getattr(sdk, name, None)
    assert cls is not None, f"{token}: pulumi_aws.{module} has no {name}"
    source = inspect.getsource(cls._internal_init)
    assert f"'{token}'" in source, f"{token}: {cls.__name__} registers another type"
    return cls


def _inputs(args_class: type) -> dict[str, str]:
    """``{wire name: annotation}`` of an SDK args class."""
    wires = {
        name: member.fget._pulumi_name
        for name, member in inspect.getmembers(args_class)
        if isinstance(member, property) and hasattr(member.fget, "_pulumi_name")
    }
    parameters = inspect.signature(args_class.__init__).parameters
    return {wires[n]: str(p.annotation) for n, p in parameters.items() if n in wires}


def resolve(token: str, path: str) -> None:
    """Fail unless ``path`` (``a.b[].c``) is an input path of ``token``'s resource."""
    cls = resource_class(token)
    sdk = importlib.import_module(cls.__module__.rsplit(".", 1)[0])
    current: type | None = getattr(sdk, f"{cls.__name__}Args")
    for segment in filter(None, path.split(".")):
        assert current is not None, f"{token}: {path} goes below a plain value"
        inputs = _inputs(current)
        key = segment.removesuffix("[]")
        assert key in inputs, f"{token}: {path}: no input {key} (has {sorted(inputs)})"
        nested = re.findall(r"'(\w+Args)'", inputs[key])
        current = getattr(sdk, nested[0]) if nested else None


def test_compute_mapping_covers_exactly_the_data_services():
    assert set(T.COMPUTE_SERVICE.values()) == set(compute_services())
    for token in T.COMPUTE_SERVICE:
        resource_class(token)


def test_purchase_mapping_names_data_categories():
    assert set(T.PURCHASE_CATEGORY.values()) == set(purchase_categories()) - NO_RESOURCE
    for token in T.PURCHASE_CATEGORY:
        resource_class(token)
    for token, (key, _) in T.PURCHASE_EXCEPTIONS.items():
        assert token in T.PURCHASE_CATEGORY
        resolve(token, key)


@pytest.mark.parametrize(
    ("token", "path"),
    [(t, p) for t, fields in markets.FIELDS.items() for p, _ in fields],
)
def test_spot_fields_are_inputs_of_the_pinned_provider(token, path):
    resolve(token, path)


@pytest.mark.parametrize(
    ("token", "path"),
    [(t, p) for t, fields in capacity.FIELDS.items() for p, _ in fields],
)
def test_instance_type_fields_are_inputs_of_the_pinned_provider(token, path):
    resolve(token, path)


def named(args_class: type, key: str, sdk, trail: str = "", seen=frozenset()) -> list[str]:
    """Every input path of ``args_class`` that ends in a property named ``key``."""
    found = []
    for wire, annotation in _inputs(args_class).items():
        here = f"{trail}.{wire}" if trail else wire
        if wire == key:
            found.append(here)
        for nested in set(re.findall(r"'(\w+Args)'", annotation)) - seen:
            found += named(getattr(sdk, nested), key, sdk, here, seen | {nested})
    return found


def test_typed_services_name_instance_types_where_the_rule_looks():
    for token, service in T.COMPUTE_SERVICE.items():
        if compute_services()[service].types is None or token.endswith(":Endpoint"):
            continue  # an endpoint launches what its endpoint configuration names
        cls = resource_class(token)
        sdk = importlib.import_module(cls.__module__.rsplit(".", 1)[0])
        assert named(getattr(sdk, f"{cls.__name__}Args"), T.SERVICE_INSTANCE_TYPE, sdk), token
