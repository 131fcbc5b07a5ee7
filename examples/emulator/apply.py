"""Apply a stack config to the emulator by running the real Pulumi program under mocks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
import pulumi
import pulumi.runtime

from components.program import deploy, stack_config
from examples.emulator import (
    alert_handlers,  # noqa: F401 - registers the alert handlers (after spend's)
    spend_handlers,  # noqa: F401 - registers the spend handlers
    stackset_handlers,  # noqa: F401 - registers the StackSet handlers
)
from examples.emulator.mocks import Created, EmulatorMocks

PROJECT = "corral"
STACK = "emulator"


def as_engine(config: Mapping[str, Any]) -> dict[str, str]:
    """Config as the Pulumi engine hands it to a program: structured values as JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def apply_program(
    config: Mapping[str, Any], session: boto3.Session, endpoint_url: str
) -> tuple[dict, list[Created]]:
    """Run the program for ``config``; every resource it registers is created in the emulator.

    Returns the ``manifest`` output and the resources created. A resource the
    emulator cannot create, or an AWS error, propagates as an exception.
    """
    region = str(config.get("aws:region", "us-east-1"))
    pulumi.runtime.reset_options(project=PROJECT, stack=STACK, preview=False)
    pulumi.runtime.set_all_config(as_engine(config), [])
    mocks = EmulatorMocks(session=session, endpoint_url=endpoint_url, default_region=region)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=False)
    box: dict[str, Any] = {}

    @pulumi.runtime.test
    def _program() -> pulumi.Output:
        return deploy(stack_config()).apply(lambda manifest: box.update(manifest=manifest))

    try:
        _program()
    finally:
        pulumi.runtime.set_all_config({}, [])
    return box["manifest"], mocks.created
