"""Emulator handlers for the alerts (gate table and state machine, GuardDuty, the CIS metric
filter, rule targets with an input transformer), and the one delivery moto lacks.

Each handler turns the inputs the program registered into the boto3 request of the same
AWS API and sends it to the emulator. What moto 5.2.5 does not do, and what stands in:

- **CloudTrail emits nothing**: no API call in moto produces an "AWS API Call via
  CloudTrail" event. Tests and the demo put CloudTrail-shaped events on the default bus
  with ``PutEvents``; from there moto's own EventBridge matches the rules' patterns
  (``prefix``, ``suffix``, ``numeric``, ``anything-but``, ``$or``).
- **EventBridge -> Step Functions**: moto's EventBridge delivers to SQS, CloudWatch Logs,
  archives and other buses only (an SNS or Step Functions target raises
  NotImplementedError). :func:`install` adds exactly the Step Functions case: it applies
  the target's input transformer as EventBridge documents it (:func:`apply_template`) and
  calls moto's StartExecution, as EventBridge does with the target's role; moto's Step
  Functions interpreter then runs the gate (DynamoDB conditional put, SNS publish) and
  moto's SNS delivers to subscribed queues.
  The stand-in waits for each execution to finish, so what reached the topic can be read
  at once; on AWS the execution runs after PutEvents returns.
- **Input transformers**: moto applies them to the targets it delivers to, but only JSON
  templates, inserting each value as it is (right for the placeholders inside strings that
  corral uses) and leaving the placeholder of a missing path in place where AWS drops it.
  :func:`apply_template` applies a template the way EventBridge documents it; the tests show
  both agree on the incident's events.
- **HTTP(S) subscribers**: moto posts to them inside Publish and fails the Publish when the
  endpoint is unreachable; AWS delivers after Publish returns. :func:`install` lets that
  post fail quietly.
- **GuardDuty organization configuration**: moto has no UpdateOrganizationConfiguration;
  the handler records the request in :data:`ORGANIZATION_CONFIGURATIONS` (no check reads it).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pulumi

from examples.emulator import spend_handlers
from examples.emulator.mocks import HANDLERS, EmulatorMocks, Site, _tags, handles

Args = pulumi.runtime.MockResourceArgs
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ORGANIZATION_CONFIGURATIONS: dict[tuple[str, str], dict] = {}  # (region, detector) -> request
EXECUTION_TIMEOUT = 30.0
_SPEND_TARGET = spend_handlers._target  # the spend rules' targets: no transformer


def _nested(value: Any) -> Any:
    """Nested inputs reach a handler as dicts in-process and as JSON text from the engine."""
    return json.loads(value) if isinstance(value, str) else value


@handles(TARGET)
def _target(mocks: EmulatorMocks, args: Args, site: Site):
    """PutTargets, with the input transformer when the alert rules set one."""
    i = args.inputs
    transformer = _nested(i.get("inputTransformer"))
    if not transformer:
        return _SPEND_TARGET(mocks, args, site)
    target = {
        "Id": i.get("targetId") or "corral",
        "Arn": i["arn"],
        "InputTransformer": {
            "InputPathsMap": dict(transformer.get("inputPaths") or {}),
            "InputTemplate": transformer["inputTemplate"],
        },
    }
    if i.get("roleArn"):
        target["RoleArn"] = i["roleArn"]
    mocks.client("events", site).put_targets(Rule=i["rule"], Targets=[target])
    return f"{i['rule']}-{target['Id']}", {}


@handles("aws:dynamodb/table:Table")
def _table(mocks: EmulatorMocks, args: Args, site: Site):
    i = args.inputs
    attributes = [_nested(a) for a in i["attributes"]]
    table = mocks.client("dynamodb", site).create_table(
        TableName=i["name"],
        AttributeDefinitions=[
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in attributes
        ],
        KeySchema=[{"AttributeName": i["hashKey"], "KeyType": "HASH"}],
        BillingMode=i.get("billingMode", "PAY_PER_REQUEST"),
        Tags=_tags(i),
    )["TableDescription"]
    return table["TableName"], {"arn": table["TableArn"], "name": table["TableName"]}


@handles("aws:sfn/stateMachine:StateMachine")
def _state_machine(mocks: EmulatorMocks, args: Args, site: Site):
    i = args.inputs
    arn = mocks.client("stepfunctions", site).create_state_machine(
        name=i["name"],
        definition=i["definition"],
        roleArn=i["roleArn"],
        type=i.get("type", "STANDARD"),
        tags=[{"key": t["Key"], "value": t["Value"]} for t in _tags(i)],
    )["stateMachineArn"]
    return arn, {"arn": arn, "name": i["name"]}


@handles("aws:guardduty/detector:Detector")
def _detector(mocks: EmulatorMocks, args: Args, site: Site):
    i = args.inputs
    client = mocks.client("guardduty", site)
    detector = client.create_detector(
        Enable=bool(i.get("enable", True)),
        FindingPublishingFrequency=i.get("findingPublishingFrequency", "SIX_HOURS"),
        Tags=dict(i.get("tags") or {}),
    )["DetectorId"]
    account = mocks.client("sts", site).get_caller_identity()["Account"]
    return detector, {"arn": f"arn:aws:guardduty:{site.region}:{account}:detector/{detector}"}


@handles("aws:guardduty/organizationAdminAccount:OrganizationAdminAccount")
def _guardduty_admin(mocks: EmulatorMocks, args: Args, site: Site):
    admin = args.inputs["adminAccountId"]
    mocks.client("guardduty", site).enable_organization_admin_account(AdminAccountId=admin)
    return f"{site.region}:{admin}", {}


@handles("aws:guardduty/organizationConfiguration:OrganizationConfiguration")
def _guardduty_members(mocks: EmulatorMocks, args: Args, site: Site):
    """Recorded only: moto has no UpdateOrganizationConfiguration."""
    i = args.inputs
    ORGANIZATION_CONFIGURATIONS[(site.region, i["detectorId"])] = {
        "DetectorId": i["detectorId"],
        "AutoEnableOrganizationMembers": i["autoEnableOrganizationMembers"],
    }
    return i["detectorId"], {}


@handles("aws:cloudwatch/logMetricFilter:LogMetricFilter")
def _metric_filter(mocks: EmulatorMocks, args: Args, site: Site):
    i = args.inputs
    metric = _nested(i["metricTransformation"])
    mocks.client("logs", site).put_metric_filter(
        logGroupName=i["logGroupName"],
        filterName=i["name"],
        filterPattern=i["pattern"],
        metricTransformations=[
            {
                "metricName": metric["name"],
                "metricNamespace": metric["namespace"],
                "metricValue": metric["value"],
            }
        ],
    )
    return i["name"], {}


assert HANDLERS[TARGET] is _target  # registered after the spend handler it extends


# --------------------------------------------------------------------------- delivery


def install() -> None:
    """Let moto's EventBridge start Step Functions targets, and moto's Step Functions run
    them (idempotent; in-process and in the emulator's server thread)."""
    from moto.core.config import default_user_config  # noqa: PLC0415 - moto only here
    from moto.events import models  # noqa: PLC0415

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    _quiet_http_subscribers()
    _reuse_interpreter_clients()
    if getattr(models.Rule.send_to_targets, "corral_stand_in", False):
        return
    original = models.Rule.send_to_targets

    def send_to_targets(self, event, transform_input=True):
        gates = [t for t in self.targets if ":states:" in t["Arn"]]
        if not gates:
            return original(self, event, transform_input)
        everything, self.targets = self.targets, [t for t in self.targets if t not in gates]
        try:
            original(self, event, transform_input)
        finally:
            self.targets = everything
        if self.event_pattern.matches_event(event):
            for target in gates:
                _start(target, event)
        return None

    send_to_targets.corral_stand_in = True
    send_to_targets.moto = original  # moto's own, for the test that proves the gap
    models.Rule.send_to_targets = send_to_targets


def _quiet_http_subscribers() -> None:
    """moto posts to an HTTP(S) subscriber inside Publish and fails the Publish when the
    endpoint cannot be reached (the example's https://hooks.example.com); AWS delivers after
    Publish returns and retries on its own. Let moto's post fail quietly, as on AWS."""
    import requests  # noqa: PLC0415
    from moto.sns import models  # noqa: PLC0415

    if getattr(models.Subscription.publish, "corral_stand_in", False):
        return
    original = models.Subscription.publish

    def publish(self, *args, **kwargs):
        if self.protocol not in ("http", "https"):
            return original(self, *args, **kwargs)
        try:
            return original(self, *args, **kwargs)
        except requests.RequestException:
            return None

    publish.corral_stand_in = True
    models.Subscription.publish = publish


def _start(target: dict, event: dict) -> None:
    """What EventBridge does for a Step Functions target: apply the input transformer (as
    documented, :func:`apply_template`) and StartExecution with the result."""
    from moto.stepfunctions.responses import get_backend  # noqa: PLC0415

    transformer = target.get("InputTransformer")  # none: the event as it is (the breaker)
    payload = apply_template(transformer, event) if transformer else json.dumps(event)
    _, _, _, region, account, _ = target["Arn"].split(":", 5)
    backend = get_backend(account, region)
    execution = backend.start_execution(
        target["Arn"], name=str(uuid.uuid4()), execution_input=payload
    )
    deadline = time.monotonic() + EXECUTION_TIMEOUT
    while backend.describe_execution(execution.execution_arn).status == "RUNNING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gate execution {execution.execution_arn} did not finish")
        time.sleep(0.001)


def _reuse_interpreter_clients() -> None:
    """moto's Step Functions interpreter builds a new boto3 client for every task it runs
    (tens of milliseconds each); keep one per region and service for the gate's two tasks.
    Speed only: the calls and their answers are unchanged."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: PLC0415
        state_task_service_dynamodb,
        state_task_service_sns,
    )

    for module in (state_task_service_dynamodb, state_task_service_sns):
        build = module.boto_client_for
        if getattr(build, "corral_stand_in", False):
            continue
        clients: dict[tuple, Any] = {}

        def cached(region, service, state_credentials=None, _build=build, _clients=clients):
            if state_credentials is not None:
                return _build(region, service, state_credentials)
            key = (region, service, botocore_stubber_enabled())
            if key not in _clients:
                _clients[key] = _build(region, service)
            return _clients[key]

        cached.corral_stand_in = True
        module.boto_client_for = cached


def botocore_stubber_enabled() -> bool:
    """True in-process (mock_aws intercepts botocore), False against the emulator's server."""
    from moto.core.models import botocore_stubber  # noqa: PLC0415

    return bool(botocore_stubber.enabled)


# --------------------------------------------------------------------------- transformers

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def apply_template(transformer: dict, event: dict) -> str:
    """The text EventBridge sends for ``transformer`` and ``event``, as its user guide
    documents input transformation: each variable takes the value at its JSON path (dot
    notation); inside a JSON string the value goes in as it is, unescaped; outside one a
    string goes in quoted, other values as JSON; a variable whose path is not in the event is
    not created and does not appear in the output."""
    values = {name: _path(event, path) for name, path in transformer["InputPathsMap"].items()}
    template = transformer["InputTemplate"]
    out, inside, escaped, last = [], False, False, 0
    for index, char in enumerate(template):
        if char == "<" and (match := _PLACEHOLDER.match(template, index)) and index >= last:
            name = match.group(1)
            out.append(template[last:index])
            last = match.end()
            if name in values and values[name] is not _MISSING:
                value = values[name]
                if inside:
                    out.append(value if isinstance(value, str) else json.dumps(value))
                else:
                    out.append(json.dumps(value))
            continue
        if index < last:
            continue
        if char == '"' and not escaped:
            inside = not inside
        escaped = char == "\\" and not escaped
    out.append(template[last:])
    return "".join(out)


_MISSING = object()


def _path(event: dict, path: str) -> Any:
    node: Any = event
    for part in path.removeprefix("$.").split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node
