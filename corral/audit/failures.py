"""Why a call to AWS failed, in words a user can act on: :class:`ReadError` and :func:`classify`.

Every failure is put in one kind, and each kind has its own fix:

| kind | from | fix |
| --- | --- | --- |
| connection | refused, reset, timed out, TLS | the endpoint / network |
| credentials | none found, unknown profile, rejected, expired | credentials / profile |
| permission | AccessDenied and kin; a role not assumed | ``corral iam-policy`` / the role |
| no-organization | AWSOrganizationsNotInUseException | management account, or account mode |
| not-found | an Organizations id that does not exist (a mistyped OU) | ``corral:targets`` |
| throttled | throttling left after every retry | later, fewer workers, shards |
| service | HTTP 5xx | later (AWS) / the emulator |
| endpoint | not AWS's answer (HTML, foreign JSON, cut off) | ``--endpoint-url`` / proxy |

Raw answers are never pasted into messages: markup is dropped and text is clipped to one
line. This module imports no botocore at load time (the command line's parser reads it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

CONNECTION = "connection"
CREDENTIALS = "credentials"
PERMISSION = "permission"
NO_ORGANIZATION = "no-organization"
NOT_FOUND = "not-found"
THROTTLED = "throttled"
SERVICE = "service"
ENDPOINT = "endpoint"
OTHER = "other"

IAM_POLICY_FIX = "the actions printed by `corral iam-policy` and run it again"
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
_REJECTED = {
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidToken",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
}
_THROTTLED = {
    "BandwidthLimitExceeded",
    "EC2ThrottledException",
    "LimitExceededException",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ThrottledException",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
}
_SERVICE = {"InternalError", "InternalFailure", "ServiceException", "ServiceUnavailable"}
_ORG_MISSING = {
    "AccountNotFoundException",
    "ChildNotFoundException",
    "OrganizationalUnitNotFoundException",
    "ParentNotFoundException",
    "RootNotFoundException",
    "TargetNotFoundException",
}
_ID_PARAMS = ("TargetId", "ChildId", "ParentId", "OrganizationalUnitId", "AccountId", "RootId")
_MARKUP = re.compile(r"<\s*[A-Za-z!/?][^>]*>")


class ReadError(RuntimeError):
    """A call failed after retries; names the API, the account and region, the cause and
    the fix for that cause (``kind`` is one of the kinds above)."""

    def __init__(
        self,
        action: str,
        account: str,
        region: str | None,
        reason: str,
        fix: str = "",
        kind: str = OTHER,
    ) -> None:
        self.action = action
        self.account = account
        self.region = region
        self.reason = reason
        self.fix = fix
        self.kind = kind
        super().__init__(self.cause + (f"; {fix}" if fix else ""))

    @property
    def cause(self) -> str:
        """What failed and why, without the fix."""
        if not self.action:
            return self.reason
        where = f"account {self.account}" + (f" region {self.region}" if self.region else "")
        return f"{self.action} failed in {where}: {self.reason}"


class NotAwsAnswer(Exception):
    """The endpoint answered something that is not an answer of the AWS API called."""

    def __init__(self, status: int, what: str, operation: str = "") -> None:
        super().__init__(f"HTTP {status} with {what}")
        self.status = status
        self.what = what
        self.operation = operation


def clean(text: Any, limit: int = 200) -> str:
    """``text`` as one printable line, without markup, clipped to ``limit`` characters."""
    line = " ".join(str(text or "").split())
    if _MARKUP.search(line):
        return "(an HTML or XML page)"
    line = "".join(c for c in line if c.isprintable())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# --------------------------------------------------------------------------- answers


def check_answer(operation_model: Any, response_dict: Mapping[str, Any], **_: Any) -> None:
    """botocore ``before-parse`` hook: raise :class:`NotAwsAnswer` for an answer no AWS
    endpoint gives (a web page, a body of another protocol, JSON sharing nothing with
    the operation's output), before botocore turns it into an empty result."""
    status = int(response_dict.get("status_code") or 0)
    body = response_dict.get("body")
    if not isinstance(body, bytes | bytearray):
        return  # a streamed body: left to botocore
    head = bytes(body[:512]).lstrip().lower()
    operation = operation_model.name
    if head.startswith((b"<!doctype html", b"<html")):
        raise NotAwsAnswer(status, "a web page", operation)
    if not 200 <= status < 300:
        return
    protocol = operation_model.metadata.get("protocol")
    problem = None
    if protocol in ("query", "ec2"):
        problem = _xml_problem(head)
    elif protocol == "json":
        problem = _json_problem(body, operation_model.output_shape)
    if problem:
        raise NotAwsAnswer(status, problem, operation)


def _xml_problem(head: bytes) -> str | None:
    text = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", head)
    found = re.match(rb"<([A-Za-z0-9_:.-]+)", text)
    if found is None:
        return "a body that is not XML" if text else "an empty body"
    if not found.group(1).endswith(b"response"):
        return f"XML whose root <{found.group(1).decode()}> is not an answer"
    return None


def _json_problem(body: bytes, shape: Any) -> str | None:
    if not body.strip():
        return None  # AWS answers some JSON operations with an empty body
    try:
        data = json.loads(body)
    except ValueError:
        return "a body that is not whole JSON (cut off or garbled)"
    if not isinstance(data, dict):
        return "JSON that is not an object"
    members = set(getattr(shape, "members", {}) or {})
    if data and members and not members & set(data):
        return "JSON sharing no field with the operation's answer"
    return None


# --------------------------------------------------------------------------- classify


def classify(
    exc: BaseException,
    *,
    action: str,
    account: str,
    region: str | None,
    own: bool,
    role_name: str,
    endpoint_url: str | None,
    params: Mapping[str, Any] | None = None,
) -> ReadError:
    """The :class:`ReadError` for ``exc`` raised by a call of ``action``. ``own``: the
    call ran with the caller's credentials (not a role assumed in a member account)."""
    if isinstance(exc, ReadError):
        return ReadError(action, account, region, exc.cause, exc.fix, exc.kind)
    kind, reason, fix = _explain(exc, action, account, own, role_name, endpoint_url, params or {})
    return ReadError(action, account, region, reason, fix, kind)


def _explain(
    exc: BaseException,
    action: str,
    account: str,
    own: bool,
    role_name: str,
    url: str | None,
    params: Mapping[str, Any],
) -> tuple[str, str, str]:
    from botocore import exceptions as B  # noqa: PLC0415 - loaded by then
    from botocore.parsers import ResponseParserError  # noqa: PLC0415

    if isinstance(exc, B.ClientError):
        return _client_error(exc, action, account, own, role_name, url, params)
    if isinstance(exc, NotAwsAnswer) and exc.status >= 500:
        return (
            SERVICE,
            f"{_origin(url)} failed with HTTP {exc.status} ({exc.what})",
            _service_fix(url),
        )
    if isinstance(exc, NotAwsAnswer | ResponseParserError):
        what = str(exc) if isinstance(exc, NotAwsAnswer) else "a body that cannot be parsed"
        return ENDPOINT, f"{_origin(url)} answered {what}, not an AWS answer", _endpoint_fix(url)
    if isinstance(exc, B.ProfileNotFound):
        return CREDENTIALS, *profile_problem(exc.kwargs.get("profile", "?"))
    if isinstance(exc, B.NoCredentialsError | B.PartialCredentialsError):
        return CREDENTIALS, "no AWS credentials were found", CREDENTIALS_FIX
    if isinstance(exc, B.TokenRetrievalError | B.SSOError | B.CredentialRetrievalError):
        return CREDENTIALS, f"the credentials cannot be loaded ({clean(exc)})", CREDENTIALS_FIX
    if isinstance(exc, B.SSLError):
        return CONNECTION, f"TLS with {_origin(url)} failed ({clean(exc)})", _tls_fix(url)
    if isinstance(exc, B.ConnectTimeoutError | B.ReadTimeoutError):
        return CONNECTION, f"{_origin(url)} did not answer in time", _connection_fix(url, True)
    if isinstance(exc, B.HTTPClientError | B.ConnectionError):
        return CONNECTION, f"could not connect to {_origin(url)}", _connection_fix(url, False)
    return OTHER, clean(exc) or type(exc).__name__, "fix what it names and run it again"


def _client_error(
    exc: Any,
    action: str,
    account: str,
    own: bool,
    role_name: str,
    url: str | None,
    params: Mapping[str, Any],
) -> tuple[str, str, str]:
    error = exc.response.get("Error") or {}
    meta = exc.response.get("ResponseMetadata") or {}
    code = str(error.get("Code") or "Unknown")
    message = clean(error.get("Message"))
    status = int(meta.get("HTTPStatusCode") or 0)
    retries = int(meta.get("RetryAttempts") or 0)
    said = f"{code}: {message}".rstrip(": ") if message else code
    if code in _THROTTLED:
        return (
            THROTTLED,
            f"{said} (still throttled after {retries} {'retry' if retries == 1 else 'retries'})",
            "run it again later, with fewer --workers, or split the run with --shard",
        )
    if code in _REJECTED:
        return CREDENTIALS, f"AWS rejected the credentials ({said})", CREDENTIALS_FIX
    if code == "AWSOrganizationsNotInUseException":
        whose = "the caller's account" if own else f"account {account}"
        return NO_ORGANIZATION, f"{whose} is not in an organization ({said})", NO_ORGANIZATION_FIX
    if code in _ORG_MISSING:
        named = next((str(params[p]) for p in _ID_PARAMS if params.get(p)), "the id")
        return (
            NOT_FOUND,
            said,
            f"{named} does not exist in the organization; correct it in the stack file's "
            "corral:targets (`aws organizations list-roots` and `aws organizations "
            "list-organizational-units-for-parent` list the ids)",
        )
    if code in _DENIED:
        return PERMISSION, said, _permission_fix(action, account, own, role_name)
    if status >= 500 or code in _SERVICE:
        return SERVICE, f"{_origin(url)} failed with HTTP {status} ({said})", _service_fix(url)
    if code.isdigit() or code == "Unknown":
        what = f"HTTP {status or code} without an AWS error"
        return ENDPOINT, f"{_origin(url)} answered {what}, not an AWS answer", _endpoint_fix(url)
    return OTHER, said, "fix what AWS names and run it again"


def profile_problem(profile: str, from_env: bool = False) -> tuple[str, str]:
    """The reason and fix for a profile that is not configured."""
    where = "AWS_PROFILE names" if from_env else "--profile names"
    return (
        f"{where} the profile '{clean(profile, 60)}', which is not configured",
        "use a profile `aws configure list-profiles` prints, or create it with "
        "`aws configure --profile NAME` (or `aws configure sso`)",
    )


NO_ORGANIZATION_FIX = (
    "run corral from the organization's management account, or set corral:mode: account in "
    "the stack file for a standalone account"
)
CREDENTIALS_FIX = (
    "pass --profile with a configured profile (`aws configure list-profiles`; for SSO run "
    "`aws sso login --profile NAME` first), or set AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, then run it again"
)


def _permission_fix(action: str, account: str, own: bool, role_name: str) -> str:
    if action == "sts:AssumeRole":
        return (
            f"create the role {role_name} in account {account} trusting the caller's account "
            "and allow the caller sts:AssumeRole on it (`corral iam-policy`), or pass "
            "--role-name with a role that exists there"
        )
    who = "the caller" if own else f"the role {role_name} (or the caller)"
    return f"grant {who} {IAM_POLICY_FIX}"


def _origin(url: str | None) -> str:
    return f"the endpoint {url}" if url else "AWS"


def _endpoint_fix(url: str | None) -> str:
    if url:
        return (
            f"point --endpoint-url (or AWS_ENDPOINT_URL) at an AWS endpoint or an emulator "
            f"such as moto_server instead of {url}, or drop it to use AWS"
        )
    return "check the proxy (HTTPS_PROXY) between this machine and AWS"


def _connection_fix(url: str | None, slow: bool) -> str:
    extra = "; --timeout waits longer" if slow else ""
    if url:
        return f"check that {url} (--endpoint-url or AWS_ENDPOINT_URL) is up and reachable{extra}"
    return f"check the network and any proxy (HTTPS_PROXY) between this machine and AWS{extra}"


def _tls_fix(url: str | None) -> str:
    return (
        f"check the certificate {_origin(url)} presents (AWS_CA_BUNDLE names extra CAs); "
        "corral never turns TLS verification off"
    )


def _service_fix(url: str | None) -> str:
    if url:
        return (
            f"check the emulator at {url}: it may not implement this call; or run it against "
            "AWS without --endpoint-url"
        )
    return "AWS had an internal error; run it again in a few minutes"
