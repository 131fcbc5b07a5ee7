"""Sessions and clients made the way the verifier makes them: one place for the profile
check, the timeouts and retries, and the answer check, so ``explain`` and
``refresh-catalog`` fail with the same one-line causes and fixes as ``verify``."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound
from botocore.parsers import ResponseParserError

from corral.audit.failures import (
    CREDENTIALS,
    ENDPOINT,
    NotAwsAnswer,
    ReadError,
    check_answer,
    classify,
    profile_problem,
)
from corral.audit.settings import (
    CONNECT_TIMEOUT_CAP,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_ROLE_NAME,
    DEFAULT_TIMEOUT,
    MAX_ATTEMPTS_ENV,
)

# Retries of a plain client's calls: a command outside verify and sweep makes a few calls
# in a row, so a dead or throttling endpoint fails it in seconds.
PLAIN_RETRIES = 2
# What a botocore call raises for the environment (answers, network, credentials).
CALL_ERRORS = (ClientError, BotoCoreError, ResponseParserError, NotAwsAnswer, ReadError)


def client_config(
    timeout: float = DEFAULT_TIMEOUT,
    max_attempts: int | None = None,
    default: int = DEFAULT_MAX_ATTEMPTS,
) -> Config:
    """Timeouts per attempt and adaptive retries: ``max_attempts`` retries, else
    ``AWS_MAX_ATTEMPTS`` (total attempts, as AWS's tools read it), else ``default``."""
    if max_attempts is None:
        text = os.environ.get(MAX_ATTEMPTS_ENV, "")
        if text and not (text.isdigit() and int(text) >= 1):
            raise ReadError("", "(caller)", None, f"{MAX_ATTEMPTS_ENV}={text!r} is not a number "
                            "of attempts", f"set {MAX_ATTEMPTS_ENV} to a whole number such as 3 "
                            "or unset it")  # fmt: skip
        max_attempts = int(text) - 1 if text else default
    return Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        connect_timeout=min(timeout, CONNECT_TIMEOUT_CAP),
        read_timeout=timeout,
    )


def plain_client(
    service: str,
    *,
    region: str,
    profile: str | None = None,
    endpoint_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Any:
    """A client for commands outside verify and sweep (explain, refresh-catalog): the same
    timeouts, retries and answer check. Raises :class:`ReadError` for an unknown profile."""
    boto_session = session(profile, region)
    try:
        client = boto_session.client(
            service, endpoint_url=endpoint_url, config=client_config(timeout, default=PLAIN_RETRIES)
        )
    except ProfileNotFound:
        raise _no_profile(profile) from None
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        reason = f"the endpoint URL {url!r} is not valid ({exc})"
        fix = "correct --endpoint-url or AWS_ENDPOINT_URL"
        raise ReadError("", "(caller)", None, reason, fix, ENDPOINT) from None
    client.meta.events.register("before-parse", check_answer)
    return client


def failed(
    exc: BaseException, service: str, endpoint_url: str | None, operation: str = ""
) -> ReadError:
    """The :class:`ReadError` for ``exc``, raised by a call of a :func:`plain_client`
    (``operation``: the one it names when the exception does not say)."""
    named = getattr(exc, "operation_name", None) or getattr(exc, "operation", None)
    action = f"{service}:{named or operation}" if named or operation else f"{service} call"
    return classify(
        exc,
        action=action,
        account="(caller)",
        region=None,
        own=True,
        role_name=DEFAULT_ROLE_NAME,
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
    )


def session(profile: str | None, region: str) -> boto3.Session:
    """A boto3 session; :class:`ReadError` when the profile (or AWS_PROFILE) is unknown."""
    try:
        made = boto3.Session(profile_name=profile, region_name=region)
        made._session.get_scoped_config()  # resolves AWS_PROFILE too
    except ProfileNotFound:
        raise _no_profile(profile) from None
    return made


def _no_profile(profile: str | None) -> ReadError:
    name = profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "?"
    reason, fix = profile_problem(name, from_env=profile is None)
    return ReadError("", "(caller)", None, reason, fix, CREDENTIALS)
