"""The verifier's connection to AWS: one session, shared clients, read-only by construction.

- One boto3 session (``--profile``); one client per service, created lazily and
  shared by every worker thread, account and region. Creating a client costs
  20-40 ms of CPU (an EC2 client builds some 800 methods), more than a call, so
  a sweep of N accounts x R regions keeps one EC2 client, not R or N x R.
- Where a call runs is chosen per thread (:meth:`Connection.scope`):
  - the account: the session's credentials resolve, at signing time, to the
    caller's own or to those of ``--role-name`` assumed in that account (cached,
    refreshed);
  - the region: a ``before-endpoint-resolution`` hook gives botocore's endpoint
    rules that region, so the call goes to the region's own endpoint and is
    signed for it, exactly as a client created in that region would do.
- ``--endpoint-url`` (or ``AWS_ENDPOINT_URL``) is applied to every client;
  botocore's adaptive retry mode handles throttling; every attempt waits at most
  ``timeout`` seconds, and the first call of a run (``sts:GetCallerIdentity``) is tried
  only :data:`FIRST_CALL_ATTEMPTS` times, so an endpoint that is down or never answers
  stops the run in seconds, naming the cause (throttling and 5xx answers then get the
  full retry budget, as every call does).
- A ``before-parameter-build`` hook refuses every operation that is not a read
  before anything is validated, signed or sent (:class:`WriteRefused`); a
  ``before-parse`` hook refuses answers no AWS endpoint gives (a web page, foreign
  JSON), so garbage never becomes an empty, passing result.
- Every failure becomes a :class:`~corral.audit.failures.ReadError` naming the API,
  account and region, the cause and the fix for that cause (:func:`failures.classify`).
- Reads and role assumptions are single-flight (:meth:`Connection.once`): workers asking
  for the same read at the same time wait for one request, so identical runs send
  identical requests, each once.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.credentials
import botocore.session
from botocore import xform_name
from botocore.config import Config

from corral.audit.failures import (
    CREDENTIALS,
    CREDENTIALS_FIX,
    SERVICE,
    THROTTLED,
    ReadError,
    check_answer,
    classify,
)
from corral.audit.sessions import CALL_ERRORS, client_config
from corral.audit.sessions import session as _session
from corral.audit.settings import (
    DEFAULT_ROLE_NAME,
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    FIRST_CALL_ATTEMPTS,
)
from corral.spec import catalog

SESSION_NAME = "corral-verify"
FIRST_CALLS_WAIT = 0.5  # seconds :meth:`Connection.prepare` waits for the first calls at most
_FIRST_CALL = Config(retries={"mode": "standard", "total_max_attempts": FIRST_CALL_ATTEMPTS})
READ_PREFIXES = ("Describe", "Get", "List")
# Calls that are not named like reads but change nothing.
READ_ALLOWLIST = frozenset(
    {"sts:AssumeRole", "sts:GetCallerIdentity", "iam:SimulatePrincipalPolicy"}
)
# Operation -> IAM action, where the IAM action is not ``<service>:<operation>``.
IAM_ACTION_OVERRIDES = {
    "budgets:DescribeBudgets": "budgets:ViewBudget",
    "budgets:DescribeNotificationsForBudget": "budgets:ViewBudget",
    "budgets:DescribeSubscribersForNotification": "budgets:ViewBudget",
    "stepfunctions:ListStateMachines": "states:ListStateMachines",  # IAM's prefix is states
    "stepfunctions:DescribeStateMachine": "states:DescribeStateMachine",
}


class WriteRefused(PermissionError):
    """An operation that is not a read was attempted; nothing was sent."""


def iam_action(service: str, operation: str) -> str:
    """The IAM action that authorises ``operation`` of boto3 ``service``."""
    action = f"{service}:{operation}"
    return IAM_ACTION_OVERRIDES.get(action, action)


def is_read(service: str, operation: str) -> bool:
    """True when ``operation`` only reads: Describe*/Get*/List* or the allow-set."""
    return operation.startswith(READ_PREFIXES) or f"{service}:{operation}" in READ_ALLOWLIST


def refuse_writes(model: Any, **_: Any) -> None:
    """botocore ``before-parameter-build`` hook: raise :class:`WriteRefused` for writes."""
    service = model.service_model.service_name
    if not is_read(service, model.name):
        raise WriteRefused(
            f"{service}:{model.name} is not a read; the verifier is read-only and "
            "refused it before sending."
        )


class _AccountCredentials(botocore.credentials.Credentials):
    """Credentials resolved per thread: the caller's, or those assumed in an account."""

    def __init__(self, connection: Connection) -> None:
        super().__init__("scoped", "scoped")
        self._connection = connection

    def get_frozen_credentials(self) -> botocore.credentials.ReadOnlyCredentials:
        return self._connection._credentials_now().get_frozen_credentials()


class _AccountProvider(botocore.credentials.CredentialProvider):
    """Hands the scoped session the per-thread credentials above."""

    METHOD = "corral-account"
    CANONICAL_NAME = "CorralAccount"

    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def load(self) -> _AccountCredentials:
        return _AccountCredentials(self._connection)


class Connection:
    """Lazily created, shared, read-only clients for the verifier and the sweep."""

    def __init__(
        self,
        *,
        region: str,
        profile: str | None = None,
        endpoint_url: str | None = None,
        role_name: str = DEFAULT_ROLE_NAME,
        partition: str = "aws",
        max_attempts: int | None = None,  # retries after the first; default: AWS_MAX_ATTEMPTS
        max_pool_connections: int = DEFAULT_WORKERS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.region = region
        self.partition = partition
        self.role_name = role_name
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self.calls: Counter[str] = Counter()
        self._base = _session(profile, region)
        core = botocore.session.Session(profile=profile)
        core.register_component("data_loader", catalog.loader())
        core.register("before-parameter-build", refuse_writes)
        core.register("before-parse", check_answer)
        core.register("before-call", self._count)
        core.register("before-endpoint-resolution", self._route)
        resolver = core.get_component("credential_provider")
        resolver.insert_before("env", _AccountProvider(self))
        self._scoped = boto3.Session(botocore_session=core, region_name=region)
        self._config = client_config(timeout, max_attempts).merge(
            Config(max_pool_connections=max_pool_connections)
        )
        self._clients: dict[str, Any] = {}
        self._creating = threading.Lock()
        self._memo: dict[tuple, Any] = {}  # reads and assumed roles: answer or ReadError
        self._inflight: dict[tuple, threading.Event] = {}
        self._lock = threading.Lock()
        self._called = threading.Condition(self._lock)  # notified as each call is made
        self._local = threading.local()
        self._caller: str | None = None

    # ------------------------------------------------------------------ accounts

    def caller_account(self) -> str:
        """The account id of the credentials in use (sts:GetCallerIdentity)."""
        if self._caller is None:
            client = self.client("sts", first_call=True)
            with self.scope(None):
                try:
                    identity = self._call("sts", "GetCallerIdentity", None, self.region, {}, client)
                except ReadError as exc:  # throttling and 5xx pass: retry as every call does
                    if exc.kind not in (THROTTLED, SERVICE):
                        raise
                    identity = self._call("sts", "GetCallerIdentity", None, self.region, {})
            self._caller = identity["Account"]
        return self._caller

    @contextmanager
    def scope(self, account_id: str | None, region: str | None = None) -> Iterator[None]:
        """Make calls in this thread run in ``account_id`` and ``region``.

        None means the caller's own account and the connection's region.
        """
        before = (getattr(self._local, "account", None), getattr(self._local, "region", None))
        self._local.account, self._local.region = account_id, region
        try:
            yield
        finally:
            self._local.account, self._local.region = before

    def _route(self, builtins: dict, context: dict, **_: Any) -> None:
        """``before-endpoint-resolution`` hook: resolve and sign for this thread's region."""
        region = getattr(self._local, "region", None)
        if region is not None:
            builtins["AWS::Region"] = region
            context.setdefault("signing", {})["region"] = region

    def enter(self, account: str) -> None:
        """Assume ``--role-name`` in ``account`` now, unless it is the caller's own.

        Raises :class:`ReadError` naming ``sts:AssumeRole`` when the role cannot be assumed.
        """
        with self.scope(account):
            self._credentials_now()

    def _credentials_now(self) -> botocore.credentials.Credentials:
        account = getattr(self._local, "account", None)
        base = self._base.get_credentials()
        if base is None:
            raise ReadError("", "(caller)", None, "no AWS credentials were found", CREDENTIALS_FIX,
                            CREDENTIALS)  # fmt: skip
        if account is None or account == self._caller:
            return base
        return self.once(("sts", "AssumeRole", account), lambda: self._assume(account))

    def _assume(self, account: str) -> botocore.credentials.Credentials:
        arn = f"arn:{self.partition}:iam::{account}:role/{self.role_name}"

        def refresh() -> dict[str, str]:
            with self.scope(None):
                out = self._call(
                    "sts",
                    "AssumeRole",
                    account,
                    self.region,
                    {"RoleArn": arn, "RoleSessionName": SESSION_NAME},
                )
            c = out["Credentials"]
            return {
                "access_key": c["AccessKeyId"],
                "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"],
                "expiry_time": c["Expiration"].isoformat(),
            }

        return botocore.credentials.RefreshableCredentials.create_from_metadata(
            refresh(), refresh, "assume-role"
        )

    @property
    def events(self) -> Any:
        """The guarded session's botocore event system (instrumentation, fault injection)."""
        return self._scoped.events

    # ------------------------------------------------------------------ clients

    def client(self, service: str, *, first_call: bool = False) -> Any:
        """The shared, guarded client for ``service`` (created once; see :meth:`scope`);
        ``first_call``: the one the run's first call goes through (fewer attempts)."""
        key = f"{service}#first" if first_call else service
        client = self._clients.get(key)
        if client is not None:
            return client
        # One creation at a time: the data clients share (endpoints, the list of services) is
        # then read once, not by several threads at once. Existing clients never wait here.
        with self._creating:
            client = self._clients.get(key)
            if client is None:
                config = self._config.merge(_FIRST_CALL) if first_call else self._config
                client = self._scoped.client(service, endpoint_url=self.endpoint_url, config=config)
                self._clients[key] = client
        return client

    def prepare(self, services: Sequence[str], beside: Sequence[str] = ()) -> None:
        """Build the clients a run needs, in the order it needs them, as one task: the first
        call's own (STS, fewer attempts) and those of the calls made ``beside`` it; then,
        once those first calls are on their way, one client per service in ``services``.

        One after another, botocore reads its data directory once. Built while the first
        calls wait for their answers, a large model (EC2's: some 40 ms of parsing that holds
        the interpreter lock) costs no time: built before, or between, it delayed the first
        calls; built after, it delayed what follows their answers."""
        self.client("sts", first_call=True)
        for service in beside:
            self.client(service)
        with self._called:  # bounded: a first call that fails before it is made wakes no one
            self._called.wait_for(
                lambda: self.calls.total() > len(beside), timeout=FIRST_CALLS_WAIT
            )
        for service in services:
            self.client(service)

    def _count(self, model: Any, **_: Any) -> None:
        action = f"{model.service_model.service_name}:{model.name}"
        with self._called:
            self.calls[action] += 1
            self._called.notify_all()

    # ------------------------------------------------------------------ reads

    def read(
        self,
        service: str,
        operation: str,
        *,
        account: str | None = None,
        region: str | None = None,
        first_page: bool = False,
        **params: Any,
    ) -> dict:
        """Call a read (all pages merged, or the ``first_page`` alone, with its NextToken),
        memoised per account, region and parameters. Failures are memoised as well, so
        checks sharing a read do not retry it.

        Raises :class:`ReadError` naming the account, region and API when AWS
        refuses or fails after retries, including when the role cannot be assumed.
        """
        region = region or self.region
        key = (service, operation, account, region, first_page, json.dumps(params, sort_keys=True))

        def fetch() -> dict:
            with self.scope(account, region):
                return self._call(service, operation, account, region, params, pages=not first_page)

        return self.once(key, fetch)

    def once(self, key: tuple, fetch: Any) -> Any:
        """``fetch()``'s answer for ``key``, fetched once per connection (single-flight).

        The first caller fetches; callers arriving meanwhile wait for its answer instead of
        sending the same request. A :class:`ReadError` is remembered and raised again (a
        fresh copy per caller), so checks sharing a read do not retry it.
        """
        while True:
            with self._lock:
                if key in self._memo:
                    result = self._memo[key]
                    break
                waiting = self._inflight.get(key)
                if waiting is None:
                    self._inflight[key] = threading.Event()
            if waiting is not None:
                waiting.wait()  # then read the memo; if the fetch raised, try it ourselves
                continue
            try:
                try:
                    result = fetch()
                except ReadError as exc:  # remembered too: the next check must not retry it
                    result = exc
                with self._lock:
                    self._memo[key] = result
            finally:  # after any other exception the waiters try again rather than hang
                with self._lock:
                    self._inflight.pop(key).set()
            break
        if isinstance(result, ReadError):
            r = result
            raise ReadError(r.action, r.account, r.region, r.reason, r.fix, r.kind)
        return result

    def _call(
        self,
        service: str,
        operation: str,
        account: str | None,
        region: str,
        params: dict,
        client: Any = None,
        pages: bool = True,
    ) -> dict:
        client = client or self.client(service)
        method = _snake(operation)
        action = iam_action(service, operation)
        who = account or self._caller or "(caller)"
        try:
            if pages and client.can_paginate(method):
                return client.get_paginator(method).paginate(**params).build_full_result()
            return getattr(client, method)(**params)
        except CALL_ERRORS as exc:  # a ReadError: the role for ``account`` was not assumed
            own = account is None or account == self._caller
            raise classify(
                exc,
                action=action,
                account=who,
                region=region,
                own=own,
                role_name=self.role_name,
                endpoint_url=self.endpoint_url,
                params=params,
            ) from None


def _snake(operation: str) -> str:
    """``ListPoliciesForTarget`` -> ``list_policies_for_target`` (botocore's own rule)."""
    return xform_name(operation)
