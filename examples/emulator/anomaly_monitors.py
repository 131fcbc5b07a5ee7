"""Stand-in for the Cost Explorer anomaly-detection calls moto 5.2.5 lacks.

moto's Cost Explorer implements cost categories and GetCostAndUsage but no anomaly monitor
or subscription call (``CreateAnomalyMonitor`` is answered "not yet implemented").
:func:`install` adds exactly the calls corral's program and verifier make: Create, Get and
Delete for monitors and for subscriptions, and UpdateAnomalySubscription. They are stored on
moto's own Cost Explorer backend of the account, so moto's reset forgets them, and tagged
through moto's tagger, so ListTagsForResource answers for them.

Each request is checked against the operation's input shape in botocore's ``ce`` model
(types, required members, lengths, enums; a ``ValidationException`` as AWS answers), and
each answer against its output shape, so the stand-in cannot drift from the real API. It
also enforces what the model documents beyond shapes: SNS subscribers only with IMMEDIATE
frequency and email only with DAILY or WEEKLY; a threshold expression on
ANOMALY_TOTAL_IMPACT_ABSOLUTE or _PERCENTAGE with GREATER_THAN_OR_EQUAL and numeric values;
and AWS's limit of one AWS services (DIMENSIONAL SERVICE) monitor per account, which it
refuses with LimitExceededException in its own words. It does not detect anomalies,
deliver alerts, check the topic's policy, or page results (everything is one page).
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import uuid
from typing import Any

import botocore.session
import botocore.validate
from moto.ce.responses import CostExplorerResponse
from moto.core.exceptions import JsonRESTError

from examples.emulator.model_checks import enum_errors

IMPACT_KEYS = ("ANOMALY_TOTAL_IMPACT_ABSOLUTE", "ANOMALY_TOTAL_IMPACT_PERCENTAGE")
SNS_FREQUENCY = "IMMEDIATE"
MAX_IMPACT = 10_000_000_000
UPDATABLE = ("MonitorArnList", "Subscribers", "Frequency", "SubscriptionName")


class StandInError(JsonRESTError):
    """An AWS error answered by the stand-in."""


@functools.cache
def _model() -> Any:
    return botocore.session.get_session().get_service_model("ce")


def _shape_errors(value: dict, shape: Any, path: str) -> list[str]:
    report = botocore.validate.ParamValidator().validate(value, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    return problems + enum_errors(value, shape, path)


def _store(response: CostExplorerResponse) -> dict[str, dict]:
    backend = response.ce_backend
    if not hasattr(backend, "corral_anomaly"):  # moto's reset rebuilds the backend
        backend.corral_anomaly = {"monitors": {}, "subscriptions": {}}
    return backend.corral_anomaly


def _arn(response: CostExplorerResponse, kind: str) -> str:
    return f"arn:{response.partition}:ce::{response.current_account}:{kind}/{uuid.uuid4()}"


def _today() -> str:
    return datetime.date.today().isoformat()


def _call(operation: str):
    """A CostExplorerResponse method answering ``operation`` with ``handler(self, request)``,
    the request and answer checked against botocore's model."""

    def wrap(handler):
        def method(self: CostExplorerResponse) -> str:
            model = _model().operation_model(operation)
            request = json.loads(self.body or "{}")
            problems = _shape_errors(request, model.input_shape, operation)
            if problems:
                raise StandInError("ValidationException", "\n".join(problems))
            answer = handler(self, request)
            problems = _shape_errors(answer, model.output_shape, operation)
            if problems:  # a bug here, not the caller's: never answer what AWS would not
                raise RuntimeError(f"the {operation} stand-in answered off-model: {problems}")
            return json.dumps(answer)

        method.__name__ = handler.__name__
        return method

    return wrap


@_call("CreateAnomalyMonitor")
def create_anomaly_monitor(self: CostExplorerResponse, request: dict) -> dict:
    """CreateAnomalyMonitor; at most one AWS services monitor per account."""
    monitors = _store(self)["monitors"]
    wanted = request["AnomalyMonitor"]
    if wanted.get("MonitorDimension") == "SERVICE" and any(
        m.get("MonitorDimension") == "SERVICE" for m in monitors.values()
    ):
        raise StandInError(
            "LimitExceededException",
            "An account can have only one AWS services (DIMENSIONAL SERVICE) monitor.",
        )
    arn = _arn(self, "anomalymonitor")
    monitor = {"MonitorArn": arn, "CreationDate": _today(), "LastUpdatedDate": _today()}
    monitor.update(copy.deepcopy(wanted))
    monitors[arn] = monitor
    self.ce_backend.tagger.tag_resource(arn, request.get("ResourceTags", []))
    return {"MonitorArn": arn}


@_call("GetAnomalyMonitors")
def get_anomaly_monitors(self: CostExplorerResponse, request: dict) -> dict:
    """GetAnomalyMonitors, filtered by MonitorArnList."""
    monitors = _store(self)["monitors"]
    wanted = request.get("MonitorArnList") or list(monitors)
    unknown = [arn for arn in wanted if arn not in monitors]
    if unknown:
        raise StandInError("UnknownMonitorException", f"Monitor {unknown[0]} does not exist.")
    return {"AnomalyMonitors": [copy.deepcopy(monitors[arn]) for arn in wanted]}


@_call("DeleteAnomalyMonitor")
def delete_anomaly_monitor(self: CostExplorerResponse, request: dict) -> dict:
    """DeleteAnomalyMonitor."""
    if _store(self)["monitors"].pop(request["MonitorArn"], None) is None:
        raise StandInError("UnknownMonitorException", f"{request['MonitorArn']} not found.")
    return {}


def _check_subscription(subscription: dict, monitors: dict) -> None:
    """What ce's model documents beyond the shapes (see the module docstring)."""
    for arn in subscription.get("MonitorArnList", []):
        if arn not in monitors:
            raise StandInError("UnknownMonitorException", f"Monitor {arn} does not exist.")
    frequency = subscription.get("Frequency")
    for subscriber in subscription.get("Subscribers", []):
        if (subscriber["Type"] == "SNS") != (frequency == SNS_FREQUENCY):
            raise StandInError(
                "ValidationException",
                f"{subscriber['Type']} subscribers cannot receive {frequency} notifications: "
                "SNS takes IMMEDIATE only, email DAILY or WEEKLY.",
            )
    dimension = (subscription.get("ThresholdExpression") or {}).get("Dimensions")
    if dimension is None:
        return
    values = dimension.get("Values", [])
    numeric = all(v.replace(".", "", 1).isdigit() and float(v) <= MAX_IMPACT for v in values)
    if (
        dimension.get("Key") not in IMPACT_KEYS
        or dimension.get("MatchOptions") != ["GREATER_THAN_OR_EQUAL"]
        or not values
        or not numeric
    ):
        raise StandInError("ValidationException", f"Invalid ThresholdExpression {dimension}.")


@_call("CreateAnomalySubscription")
def create_anomaly_subscription(self: CostExplorerResponse, request: dict) -> dict:
    """CreateAnomalySubscription; its monitors must exist."""
    store = _store(self)
    wanted = request["AnomalySubscription"]
    _check_subscription(wanted, store["monitors"])
    arn = _arn(self, "anomalysubscription")
    subscription = {"SubscriptionArn": arn, "AccountId": self.current_account}
    subscription.update(copy.deepcopy(wanted))
    for subscriber in subscription["Subscribers"]:
        subscriber.setdefault("Status", "CONFIRMED")
    store["subscriptions"][arn] = subscription
    self.ce_backend.tagger.tag_resource(arn, request.get("ResourceTags", []))
    return {"SubscriptionArn": arn}


def _subscription(self: CostExplorerResponse, arn: str) -> dict:
    found = _store(self)["subscriptions"].get(arn)
    if found is None:
        raise StandInError("UnknownSubscriptionException", f"Subscription {arn} does not exist.")
    return found


@_call("GetAnomalySubscriptions")
def get_anomaly_subscriptions(self: CostExplorerResponse, request: dict) -> dict:
    """GetAnomalySubscriptions, filtered by SubscriptionArnList and MonitorArn."""
    subscriptions = _store(self)["subscriptions"]
    wanted = [_subscription(self, a) for a in request.get("SubscriptionArnList") or subscriptions]
    monitor = request.get("MonitorArn")
    found = [s for s in wanted if monitor is None or monitor in s["MonitorArnList"]]
    return {"AnomalySubscriptions": copy.deepcopy(found)}


@_call("UpdateAnomalySubscription")
def update_anomaly_subscription(self: CostExplorerResponse, request: dict) -> dict:
    """UpdateAnomalySubscription: what it names changes, the rest stays."""
    subscription = _subscription(self, request["SubscriptionArn"])
    changed = {**subscription, **{k: request[k] for k in UPDATABLE if k in request}}
    if "ThresholdExpression" in request:
        changed["ThresholdExpression"] = request["ThresholdExpression"]
    _check_subscription(changed, _store(self)["monitors"])
    subscription.clear()
    subscription.update(copy.deepcopy(changed))
    return {"SubscriptionArn": request["SubscriptionArn"]}


@_call("DeleteAnomalySubscription")
def delete_anomaly_subscription(self: CostExplorerResponse, request: dict) -> dict:
    """DeleteAnomalySubscription."""
    arn = _subscription(self, request["SubscriptionArn"])["SubscriptionArn"]
    del _store(self)["subscriptions"][arn]
    return {}


CALLS = (
    create_anomaly_monitor,
    get_anomaly_monitors,
    delete_anomaly_monitor,
    create_anomaly_subscription,
    get_anomaly_subscriptions,
    update_anomaly_subscription,
    delete_anomaly_subscription,
)


def install() -> None:
    """Add the calls to moto's Cost Explorer responses (idempotent; in-process and server)."""
    for call in CALLS:
        setattr(CostExplorerResponse, call.__name__, call)
