"""Checks of a request or answer against a botocore model that botocore itself skips,
shared by the emulator's stand-ins (budget actions, anomaly monitors)."""

from __future__ import annotations

from typing import Any


def enum_errors(value: Any, shape: Any, path: str) -> list[str]:
    """Values outside a string shape's enum (botocore's ParamValidator does not check them)."""
    if shape.type_name == "structure" and isinstance(value, dict):
        pairs = [
            (v, shape.members[k], f"{path}.{k}") for k, v in value.items() if k in shape.members
        ]
    elif shape.type_name == "list" and isinstance(value, list):
        pairs = [(v, shape.member, f"{path}[{i}]") for i, v in enumerate(value)]
    elif shape.type_name == "string" and shape.enum and value not in shape.enum:
        return [f"{path} {value!r} is not one of {', '.join(shape.enum)}"]
    else:
        return []
    return [e for v, member, where in pairs for e in enum_errors(v, member, where)]
