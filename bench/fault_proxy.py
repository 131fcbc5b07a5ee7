"""A loopback HTTP proxy in front of ``moto_server`` that injects AWS-shaped faults.

Each request is attributed to an account, region, service and API before it is
forwarded:

- region and service come from the SigV4 credential scope of the ``Authorization``
  header (``Credential=AKID/date/REGION/SERVICE/aws4_request``);
- the API comes from ``X-Amz-Target`` (JSON protocol) or the ``Action`` form field
  (query protocol);
- the account comes from the access key: the proxy learns key -> account from the
  ``sts:GetCallerIdentity`` and ``sts:AssumeRole`` responses it forwards (an
  ``AssumeRole`` request itself belongs to the account of its ``RoleArn``).

A :class:`FaultPlan` chooses, at a rate and for chosen accounts and regions, one of:
``throttle`` (the service's own throttling error), ``5xx``, ``reset`` (TCP RST, no
response), ``slow`` (a delay, then the real response) and ``denied`` (the service's
own access-denied error). Injection is bounded by a count and a time window and stops
by itself; the proxy also shuts itself down after ``lifetime`` seconds.

Every attempt is logged with botocore's ``amz-sdk-invocation-id``, so
:meth:`FaultProxy.failed_reads` tells which API calls failed on their last attempt
(retries exhausted or not retryable): those are the reads a check could not make.

Usage::

    with FaultProxy("http://127.0.0.1:5000", FaultPlan(rate=0.2)) as proxy:
        ...  # point clients at proxy.url
        print(proxy.stats())
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

THROTTLE, SERVER, RESET, SLOW, DENIED = "throttle", "5xx", "reset", "slow", "denied"
KINDS = (THROTTLE, SERVER, RESET, SLOW, DENIED)
TRANSIENT = (THROTTLE, SERVER, RESET)  # botocore retries these
DEFAULT_ACCOUNT = "123456789012"  # moto's account for keys it did not issue

_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_ARN_ACCOUNT = re.compile(r"arn:[^:]+:iam::(\d{12}):")
_TAG = "<{0}>([^<]+)</{0}>"
# The service's own wording (HTTP status, code, message) for a throttled call.
_THROTTLE = {
    "ec2": (503, "RequestLimitExceeded", "Request limit exceeded."),
    "iam": (400, "Throttling", "Rate exceeded"),
    "sts": (400, "Throttling", "Rate exceeded"),
    "organizations": (
        400,
        "TooManyRequestsException",
        "AWS Organizations can't complete your request because another request is already "
        "in progress. Try again later.",
    ),
}
_THROTTLE_DEFAULT = (400, "ThrottlingException", "Rate exceeded")
_DENIED = {
    "ec2": (403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
}


@dataclass(frozen=True)
class FaultPlan:
    """Which requests get a fault, which faults, and for how long."""

    rate: float = 0.0  # probability that a matching request gets a fault
    kinds: tuple[str, ...] = KINDS
    accounts: frozenset[str] | None = None  # None: every account
    regions: frozenset[str] | None = None  # None: every region
    actions: frozenset[str] | None = None  # API names, e.g. "ListParents"; None: every API
    max_faults: int = 1_000
    window: float = 120.0  # seconds after start during which faults are injected
    slow_seconds: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not 0 <= self.rate <= 1:
            raise ValueError(f"fault kinds must be among {KINDS} and rate in [0, 1]")


@dataclass(frozen=True)
class Call:
    """One attempt seen by the proxy."""

    invocation: str
    attempt: int
    account: str | None
    region: str | None
    service: str | None
    action: str | None
    fault: str | None  # the injected fault, or None
    status: int | None  # HTTP status returned (None: connection reset)


@dataclass
class _Ledger:
    calls: list[Call] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    keys: dict[str, str] = field(default_factory=dict)  # access key -> account


class FaultProxy(ThreadingHTTPServer):
    """A threaded proxy on 127.0.0.1 (free port) forwarding to ``upstream``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: str, plan: FaultPlan, lifetime: float = 600.0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.plan = plan
        self.lifetime = lifetime
        self.ledger = _Ledger()
        self.lock = threading.Lock()
        self.local = threading.local()
        self.rng = random.Random(plan.seed)
        self.started = time.monotonic()
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: pass it as ``--endpoint-url``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FaultProxy:
        """Serve in a daemon thread; shut down by itself after ``lifetime`` seconds."""
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._thread is not None and self._thread.is_alive():
            self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Broken connections are expected here (injected resets): stay quiet."""

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def replan(self, plan: FaultPlan) -> None:
        """Use ``plan`` from now on: clears the log and counters, restarts the window."""
        with self.lock:
            self.plan = plan
            self.rng = random.Random(plan.seed)
            self.started = time.monotonic()
            keys = self.ledger.keys
            self.ledger = _Ledger(keys=keys)

    # ---------------------------------------------------------------- decisions

    def choose(self, account: str | None, region: str | None, action: str | None) -> str | None:
        """The fault for a call of ``action`` in ``account``/``region``, or None."""
        plan = self.plan
        with self.lock:
            if sum(self.ledger.faults.values()) >= plan.max_faults:
                return None
            if time.monotonic() - self.started > plan.window:
                return None
            if plan.accounts is not None and account not in plan.accounts:
                return None
            if plan.regions is not None and region not in plan.regions:
                return None
            if plan.actions is not None and action not in plan.actions:
                return None
            if self.rng.random() >= plan.rate:
                return None
            kind = self.rng.choice(plan.kinds)
            self.ledger.faults[kind] += 1
            return kind

    def record(self, call: Call) -> None:
        """Log one attempt."""
        with self.lock:
            self.ledger.calls.append(call)

    def learn(self, key: str, account: str) -> None:
        """Remember that access key ``key`` belongs to ``account``."""
        with self.lock:
            self.ledger.keys[key] = account

    def account_of(self, key: str | None) -> str | None:
        """The account of an access key (None: not learnt yet)."""
        with self.lock:
            return self.ledger.keys.get(key or "")

    # ---------------------------------------------------------------- results

    def failed_reads(self) -> list[Call]:
        """The last attempt of every API call whose last attempt failed."""
        with self.lock:
            last: dict[str, Call] = {}
            for call in self.ledger.calls:
                if call.invocation and call.attempt >= last.get(call.invocation, call).attempt:
                    last[call.invocation] = call
        return [c for c in last.values() if c.status is None or c.status >= 400]

    def stats(self) -> dict[str, Any]:
        """Requests seen, faults injected (by kind) and API calls that failed."""
        with self.lock:
            requests, faults = len(self.ledger.calls), dict(self.ledger.faults)
        return {
            "requests": requests,
            "faults": sum(faults.values()),
            "by_kind": faults,
            "failed_calls": len(self.failed_reads()),
        }


def attribute(headers: Any, body: bytes, path: str) -> dict[str, str | None]:
    """Access key, region, service, action and (for AssumeRole) target account of a request."""
    scope = _SCOPE.search(headers.get("Authorization") or "")
    key, region, service = scope.groups() if scope else (None, None, None)
    target = headers.get("X-Amz-Target")
    if target:
        action = target.rsplit(".", 1)[-1]
        params: dict[str, Any] = {}
    else:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        form.update(urllib.parse.parse_qs(urllib.parse.urlsplit(path).query))
        params = {k: v[0] for k, v in form.items()}
        action = params.get("Action")
    role = _ARN_ACCOUNT.search(params.get("RoleArn", "")) if action == "AssumeRole" else None
    return {
        "key": key,
        "region": region,
        "service": service,
        "action": action,
        "role_account": role.group(1) if role else None,
        "json": "1" if target else None,
    }


def fault_response(kind: str, service: str | None, json_protocol: bool) -> tuple[int, str, bytes]:
    """(status, content type, body) of the service's own error for ``kind``."""
    if kind == THROTTLE:
        status, code, message = _THROTTLE.get(service or "", _THROTTLE_DEFAULT)
    elif kind == DENIED:
        default = (400 if json_protocol else 403, "AccessDenied", "User is not authorized.")
        status, code, message = _DENIED.get(service or "", default)
        if json_protocol:
            code = "AccessDeniedException"
    else:
        status, code, message = 503, "ServiceUnavailable", "Service is unavailable. Try again."
    if json_protocol:
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, "application/x-amz-json-1.1", body
    if service == "ec2":
        text = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            "</Error></Errors><RequestID>fault-proxy</RequestID></Response>"
        )
    else:
        text = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>fault-proxy</RequestId>"
            "</ErrorResponse>"
        )
    return status, "text/xml", text.encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultProxy

    def log_message(self, *args: object) -> None:
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        who = attribute(self.headers, body, self.path)
        account = who["role_account"] or self.server.account_of(who["key"])
        if who["key"] and account is None:
            account = DEFAULT_ACCOUNT if who["action"] != "AssumeRole" else None
        kind = self.server.choose(account, who["region"], who["action"]) if who["key"] else None
        attempt = re.search(r"attempt=(\d+)", self.headers.get("amz-sdk-request") or "")
        call = {
            "invocation": self.headers.get("amz-sdk-invocation-id") or "",
            "attempt": int(attempt.group(1)) if attempt else 1,
            "account": account,
            "region": who["region"],
            "service": who["service"],
            "action": who["action"],
            "fault": kind,
        }
        if kind == RESET:
            self.server.record(Call(**call, status=None))
            self._reset()
            return
        if kind in (THROTTLE, SERVER, DENIED):
            status, ctype, data = fault_response(kind, who["service"], bool(who["json"]))
            self.server.record(Call(**call, status=status))
            self._reply(status, [("Content-Type", ctype)], data)
            return
        if kind == SLOW:
            time.sleep(self.server.plan.slow_seconds)
        status, headers, data = self._upstream(body)
        self.server.record(Call(**call, status=status))
        if status < 400:
            self._learn(who, data)
        self._reply(status, headers, data)

    def _upstream(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = getattr(self.server.local, "conn", None)
        if conn is None:
            conn = self.server.local.conn = http.client.HTTPConnection(*self.server.upstream)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            reply = conn.getresponse()
        except (OSError, http.client.HTTPException):  # stale keep-alive: reconnect once
            conn.close()
            conn.request(self.command, self.path, body=body or None, headers=headers)
            reply = conn.getresponse()
        return reply.status, reply.getheaders(), reply.read()

    def _learn(self, who: dict[str, str | None], data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        if who["action"] == "GetCallerIdentity" and who["key"]:
            found = re.search(_TAG.format("Account"), text)
            if found:
                self.server.learn(who["key"], found.group(1))
        elif who["action"] == "AssumeRole" and who["role_account"]:
            found = re.search(_TAG.format("AccessKeyId"), text)
            if found:
                self.server.learn(found.group(1), who["role_account"])

    def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST and no response."""
        self.close_connection = True
        sock: socket.socket = self.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward
