"""Emulator handlers for corral's StackSet and its stack instances.

Each turns the registered inputs into the boto3 request of the same CloudFormation API
(CreateStackSet, CreateStackInstances) and sends it to the emulator. What moto does not do
with them (AutoDeployment, accounts below nested OUs, the account filter, automatic
deployment, alarms/topic policy/budget inside the template) is stood in by
:mod:`examples.emulator.stacksets`, installed with the emulator's server.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi

from examples.emulator.mocks import EmulatorMocks, Site, _tags, handles

Args = pulumi.runtime.MockResourceArgs


def _nested(value: Any) -> dict:
    """A nested input, which the engine may hand over as JSON text."""
    return json.loads(value) if isinstance(value, str) else dict(value or {})


@handles("aws:cloudformation/stackSet:StackSet")
def _stack_set(mocks: EmulatorMocks, args: Args, site: Site):
    inputs, cf = args.inputs, mocks.client("cloudformation", site)
    auto = _nested(inputs.get("autoDeployment"))
    managed = _nested(inputs.get("managedExecution"))
    cf.create_stack_set(
        StackSetName=inputs["name"],
        Description=inputs.get("description", ""),
        TemplateBody=inputs["templateBody"],
        Capabilities=list(inputs.get("capabilities") or []),
        PermissionModel=inputs["permissionModel"],
        AutoDeployment={
            "Enabled": bool(auto.get("enabled")),
            "RetainStacksOnAccountRemoval": bool(auto.get("retainStacksOnAccountRemoval")),
        },
        CallAs=inputs.get("callAs", "SELF"),
        ManagedExecution={"Active": bool(managed.get("active"))},
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v}
            for k, v in sorted(_nested(inputs.get("parameters")).items())
        ],
        Tags=_tags(inputs),
    )
    described = cf.describe_stack_set(StackSetName=inputs["name"])["StackSet"]
    return described["StackSetName"], {
        "arn": described["StackSetARN"],
        "stackSetId": described["StackSetId"],
    }


@handles("aws:cloudformation/stackSetInstance:StackSetInstance")
def _stack_set_instance(mocks: EmulatorMocks, args: Args, site: Site):
    inputs, cf = args.inputs, mocks.client("cloudformation", site)
    given = _nested(inputs.get("deploymentTargets"))
    targets: dict[str, Any] = {"OrganizationalUnitIds": list(given["organizationalUnitIds"])}
    if given.get("accountFilterType"):
        targets["AccountFilterType"] = given["accountFilterType"]
        targets["Accounts"] = list(given.get("accounts") or [])
    region = inputs["stackSetInstanceRegion"]
    cf.create_stack_instances(
        StackSetName=inputs["stackSetName"],
        DeploymentTargets=targets,
        Regions=[region],
        CallAs=inputs.get("callAs", "SELF"),
    )
    units = "/".join(targets["OrganizationalUnitIds"])
    return f"{inputs['stackSetName']},{units},{region}", {}


@handles("aws:cloudwatch/eventPermission:EventPermission")
def _bus_permission(mocks: EmulatorMocks, args: Args, site: Site):
    """corral's one statement on the management account's home bus policy that lets member
    relays deliver (organization mode, ``trigger: alarm``): moto's PutPermission with
    StatementId and Condition adds it beside the bus's other statements, stores it but, like its
    cross-account delivery, never enforces it (principal: :func:`principal_as_eventbridge`)."""
    inputs, bus = args.inputs, args.inputs.get("eventBusName") or "default"
    condition = _nested(inputs.get("condition"))
    request = {"EventBusName": bus, "StatementId": inputs["statementId"],
               "Principal": inputs["principal"],
               "Action": inputs.get("action") or "events:PutEvents"}  # fmt: skip
    if condition:
        request["Condition"] = {"Type": condition["type"], "Key": condition["key"],
                                "Value": condition["value"]}  # fmt: skip
    events = mocks.client("events", site)
    events.put_permission(**request)
    if request["Principal"] == "*":
        account = mocks.client("sts", site).get_caller_identity()["Account"]
        principal_as_eventbridge(account, events.meta.region_name, bus, request["StatementId"])
    return f"{bus}/{request['StatementId']}", {}


def principal_as_eventbridge(account: str, region: str, bus: str, statement_id: str) -> None:
    """Stood in: moto writes PutPermission's principal ``*`` into the bus policy as
    ``{"AWS": "arn:aws:iam::*:root"}`` (no valid IAM principal), where EventBridge writes
    ``"*"``; the statement gets ``"*"`` back. Nothing else of the bus changes."""
    from moto.events.models import events_backends  # noqa: PLC0415 - moto only here

    bus_model = events_backends[account][region].describe_event_bus(bus)
    bus_model._statements[statement_id].principal = "*"
