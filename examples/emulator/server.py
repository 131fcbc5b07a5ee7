"""moto's server on 127.0.0.1, on a free port, that always stops; one stand-in for a missing API."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator

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


def _with_stand_ins(app: Callable) -> Callable:
    """WSGI middleware: the stand-in above for its one call, moto for everything else."""

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") != SUBSCRIBERS_TARGET:
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        status, payload = _answer_subscribers(environ["wsgi.input"].read(length))
        data = json.dumps(payload).encode()
        start_response(
            status,
            [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
        )
        return [data]

    return wsgi


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on 127.0.0.1 on a free port, in a thread; yield its URL; always stop it.

    It is the WSGI application the ``moto_server`` command serves, run in this
    process so the one stand-in above can read moto's stored budget subscribers.
    """
    for key, value in SERVER_ENV.items():
        os.environ.setdefault(key, value)
    from moto.server import DomainDispatcherApplication, create_backend_app  # noqa: PLC0415
    from werkzeug.serving import make_server  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
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
    """Empty the emulator (every account, every region)."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30)
