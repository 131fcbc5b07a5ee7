"""Capacity beyond EC2 On-Demand: the compute services and purchase categories corral knows.

Both lists are data (``data/compute_services.json``, ``data/purchases.json``), each with
its source and review date, so a stale entry is a one-line change and a test checks
every action against botocore's service models.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from corral.spec import keys as K

DATA_PACKAGE = "corral.spec.data"


@dataclass(frozen=True)
class TypeRule:
    """How an allowed service carries instance types: the condition key, the prefix its
    type names add to EC2's (``ml.`` for SageMaker) and the actions that carry it."""

    key: str
    prefix: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Capacity:
    """One compute service or purchase category: the actions corral denies unless allowed."""

    name: str
    actions: tuple[str, ...]
    botocore: tuple[str, ...] = ()
    console_only: tuple[str, ...] = ()
    types: TypeRule | None = None


def _read(name: str) -> dict:
    return json.loads(resources.files(DATA_PACKAGE).joinpath(name).read_text("utf-8"))


def _entries(data: dict) -> dict[str, Capacity]:
    result = {}
    for name, raw in sorted(data.items()):
        typed = raw.get("instanceTypes")
        result[name] = Capacity(
            name=name,
            actions=tuple(sorted(raw["actions"])),
            botocore=tuple(raw.get("botocore", ())),
            console_only=tuple(raw.get("consoleOnly", ())),
            types=TypeRule(typed["key"], typed["prefix"], tuple(sorted(typed["actions"])))
            if typed
            else None,
        )
    return result


@functools.cache
def compute_services() -> dict[str, Capacity]:
    """Every compute service corral denies unless ``compute.allow`` lists it (not ``ec2``)."""
    return _entries(_read("compute_services.json")["services"])


@functools.cache
def purchase_categories() -> dict[str, Capacity]:
    """Every purchase category corral denies unless ``purchases.allow`` lists it."""
    return _entries(_read("purchases.json")["categories"])


def compute_names() -> tuple[str, ...]:
    """The names ``compute.allow`` accepts: ``ec2`` and every listed service."""
    return (K.EC2_COMPUTE, *compute_services())


def source(kind: str) -> tuple[str, str]:
    """``(source, reviewed)`` of ``compute`` or ``purchases`` data."""
    data = _read("compute_services.json" if kind == K.COMPUTE else "purchases.json")
    return data["source"], data["reviewed"]
