"""moto's server on 127.0.0.1, on a free port, that always stops; stand-ins for the budget
APIs moto 5.2.5 lacks (DescribeSubscribersForNotification, and the budget-action calls
corral's program and verifier make), each checked against botocore's Budgets model."""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os
import socket
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import botocore.session
import botocore.validate
from botocore import xform_name

from examples.emulator import anomaly_monitors, iam_boundaries, stacksets
from examples.emulator.model_checks import enum_errors

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
SERVER_ENV = {
    # moto's ~1,300 default AMIs and snapshots per region would dominate every EC2 call.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    # botocore knows regions newer than moto's own list (e.g. me-west-1).
    "MOTO_ALLOW_NONEXISTENT_REGION": "true",
}


class ServerError(RuntimeError):
    """moto_server did not start."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SUBSCRIBERS_TARGET = "AWSBudgetServiceGateway.DescribeSubscribersForNotification"


def _answer_subscribers(body: bytes) -> tuple[str, dict]:
    """The one call moto lacks, answered from the subscribers moto itself stored.

    moto keeps each notification's subscribers from CreateBudget/CreateNotification
    but implements no DescribeSubscribersForNotification; this stand-in reads them
    back, and answers AWS's NotFoundException when the notification does not exist.
    """
    from moto.budgets.models import budgets_backends  # noqa: PLC0415 - moto only here

    request = json.loads(body or b"{}")
    account = request.get("AccountId", "")
    budget = (
        budgets_backends[account]["aws"].budgets.get(account, {}).get(request.get("BudgetName", ""))
    )
    wanted = {k: v for k, v in request.get("Notification", {}).items() if k != "NotificationState"}
    notes = [n for n in (budget.notifications if budget else []) if n.details == wanted]
    if not notes:
        error = {"__type": "NotFoundException", "Message": "The budget notification was not found."}
        return "400 Bad Request", error
    return "200 OK", {"Subscribers": notes[0].subscribers}


BUDGETS_PREFIX = "AWSBudgetServiceGateway."
BUDGET_ACTION_OPERATIONS = (
    "CreateBudgetAction",
    "UpdateBudgetAction",
    "DeleteBudgetAction",
    "DescribeBudgetActionsForBudget",
)
# What UpdateBudgetAction may change (its input members but the keys).
UPDATABLE = (
    "NotificationType",
    "ActionThreshold",
    "Definition",
    "ExecutionRoleArn",
    "ApprovalModel",
    "Subscribers",
)
STATUS_LINES = {200: "200 OK", 400: "400 Bad Request"}


class StandInError(Exception):
    """An AWS error the stand-in answers: its code (``__type``) and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@functools.cache
def _budgets_model() -> Any:
    return botocore.session.get_session().get_service_model("budgets")


def _shape_errors(value: dict, shape: Any, path: str) -> str:
    """Every way ``value`` breaks ``shape`` (types, required members, lengths, enums)."""
    report = botocore.validate.ParamValidator().validate(value, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    return "\n".join(problems + enum_errors(value, shape, path))


class BudgetActions:
    """The budget-action API moto lacks, narrowed to the calls corral makes: create, update,
    delete, and DescribeBudgetActionsForBudget. Each request is checked against the
    operation's input shape in botocore's Budgets model (InvalidParameterException, as AWS),
    each answer against its output shape, so the stand-in cannot drift from the real API.
    An action lives only while moto holds its budget."""

    def __init__(self) -> None:
        self._actions: dict[tuple[str, str], dict[str, dict]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every action (with moto's reset)."""
        with self._lock:
            self._actions.clear()

    def answer(self, operation: str, request: dict) -> tuple[int, dict]:
        """(HTTP status, JSON body) for ``operation``; AWS's error body on failure."""
        model = _budgets_model().operation_model(operation)
        try:
            problems = _shape_errors(request, model.input_shape, operation)
            if problems:
                raise StandInError("InvalidParameterException", problems)
            with self._lock:
                payload = getattr(self, f"_{xform_name(operation)}")(request)
        except StandInError as exc:
            return 400, {"__type": exc.code, "Message": exc.message}
        problems = _shape_errors(payload, model.output_shape, operation)
        if problems:  # a bug here, not the caller's: never answer what AWS would not
            raise RuntimeError(f"the {operation} stand-in answered off-model: {problems}")
        return 200, payload

    def _budget(self, request: dict) -> dict[str, dict]:
        account, name = request["AccountId"], request["BudgetName"]
        if not _moto_has_budget(account, name):
            self._actions.pop((account, name), None)  # AWS deletes a budget's actions with it
            raise StandInError("NotFoundException", f"Budget {name} does not exist.")
        return self._actions.setdefault((account, name), {})

    def _action(self, request: dict) -> dict:
        action = self._budget(request).get(request["ActionId"])
        if action is None:
            raise StandInError("NotFoundException", f"Action {request['ActionId']} not found.")
        return action

    def _create_budget_action(self, request: dict) -> dict:
        action_id = str(uuid.uuid4())
        action = {"ActionId": action_id, "BudgetName": request["BudgetName"], "Status": "STANDBY"}
        action.update({k: copy.deepcopy(request[k]) for k in ("ActionType", *UPDATABLE)})
        self._budget(request)[action_id] = action
        return {**_budget_key(request), "ActionId": action_id}

    def _update_budget_action(self, request: dict) -> dict:
        action = self._action(request)
        old = copy.deepcopy(action)
        action.update({k: copy.deepcopy(request[k]) for k in UPDATABLE if k in request})
        return {**_budget_key(request), "OldAction": old, "NewAction": copy.deepcopy(action)}

    def _delete_budget_action(self, request: dict) -> dict:
        action = self._action(request)
        del self._budget(request)[action["ActionId"]]
        return {**_budget_key(request), "Action": action}

    def _describe_budget_actions_for_budget(self, request: dict) -> dict:
        return {"Actions": copy.deepcopy(list(self._budget(request).values()))}


def _budget_key(request: dict) -> dict:
    return {"AccountId": request["AccountId"], "BudgetName": request["BudgetName"]}


def _moto_has_budget(account: str, name: str) -> bool:
    from moto.budgets.models import budgets_backends  # noqa: PLC0415 - moto only here

    return name in budgets_backends[account]["aws"].budgets.get(account, {})


BUDGET_ACTIONS = BudgetActions()


STAND_IN_TARGETS = frozenset(
    {SUBSCRIBERS_TARGET, *(BUDGETS_PREFIX + op for op in BUDGET_ACTION_OPERATIONS)}
)


def _stand_in(target: str, body: bytes) -> tuple[int, dict]:
    """The stand-in's answer to the call ``X-Amz-Target`` names (one of STAND_IN_TARGETS)."""
    if target == SUBSCRIBERS_TARGET:
        status, payload = _answer_subscribers(body)
        return int(status.split()[0]), payload
    return BUDGET_ACTIONS.answer(target.removeprefix(BUDGETS_PREFIX), json.loads(body or b"{}"))


def _with_stand_ins(app: Callable) -> Callable:
    """WSGI middleware: the stand-ins above for their calls, moto for everything else."""

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target not in STAND_IN_TARGETS:
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        status, payload = _stand_in(target, environ["wsgi.input"].read(length))
        data = json.dumps(payload).encode()
        start_response(
            STATUS_LINES[status],
            [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
        )
        return [data]

    return wsgi


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on 127.0.0.1 on a free port, in a thread; yield its URL; always stop it.

    It is the WSGI application the ``moto_server`` command serves, run in this
    process so the stand-ins above can read moto's stored budgets and subscribers.
    """
    for key, value in SERVER_ENV.items():
        os.environ.setdefault(key, value)
    from moto.server import DomainDispatcherApplication, create_backend_app  # noqa: PLC0415
    from werkzeug.serving import make_server  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    iam_boundaries.install()  # PutUserPermissionsBoundary, which moto lacks
    anomaly_monitors.install()  # Cost Explorer anomaly monitors, which moto lacks
    stacksets.install()  # StackSets auto-deployment and what moto's CloudFormation lacks
    app = _with_stand_ins(DomainDispatcherApplication(create_backend_app))
    try:
        httpd = make_server("127.0.0.1", free_port(), app, threaded=True)
    except OSError as exc:
        raise ServerError(f"the emulator could not listen on 127.0.0.1: {exc}") from None
    thread = threading.Thread(target=httpd.serve_forever, name="emulator", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_port}"
    try:
        yield url
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def reset(url: str) -> None:
    """Empty the emulator (every account, every region) and the stand-ins' store."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30)
    BUDGET_ACTIONS.clear()
