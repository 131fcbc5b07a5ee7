"""Failure classification (``corral.audit.failures``): each cause gets its own words and its
own fix, raw answers never reach a message, and answers no AWS endpoint gives are refused."""

from __future__ import annotations

from types import SimpleNamespace

import botocore.session
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from corral.audit.failures import (
    CONNECTION,
    CREDENTIALS,
    ENDPOINT,
    NO_ORGANIZATION,
    NOT_FOUND,
    PERMISSION,
    SERVICE,
    THROTTLED,
    NotAwsAnswer,
    ReadError,
    check_answer,
    classify,
    clean,
)

URL = "http://127.0.0.1:5000"


def _client_error(code: str, message: str, status: int = 400, retries: int = 0) -> ClientError:
    meta = {"HTTPStatusCode": status, "RetryAttempts": retries}
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": meta}, "X")


def _classify(exc: BaseException, **kw: object) -> ReadError:
    where = {
        "action": "organizations:ListRoots",
        "account": "111122223333",
        "region": None,
        "own": True,
        "role_name": "OrganizationAccountAccessRole",
        "endpoint_url": None,
    }
    return classify(exc, **{**where, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "kind", "text"),
    [
        (_client_error("AccessDeniedException", "no"), PERMISSION,
         "organizations:ListRoots failed in account 111122223333: AccessDeniedException: no; "
         "grant the caller the actions printed by `corral iam-policy` and run it again"),
        (_client_error("AWSOrganizationsNotInUseException", "Your account is not a member."),
         NO_ORGANIZATION,
         "organizations:ListRoots failed in account 111122223333: the caller's account is not "
         "in an organization (AWSOrganizationsNotInUseException: Your account is not a "
         "member.); run corral from the organization's management account, or set "
         "corral:mode: account in the stack file for a standalone account"),
        (_client_error("Throttling", "Rate exceeded", retries=7), THROTTLED,
         "organizations:ListRoots failed in account 111122223333: Throttling: Rate exceeded "
         "(still throttled after 7 retries); run it again later, with fewer --workers, or "
         "split the run with --shard"),
        (_client_error("ExpiredToken", "The security token included in the request is expired"),
         CREDENTIALS, "AWS rejected the credentials (ExpiredToken: The security token"),
        (_client_error("InternalFailure", "", status=500, retries=7), SERVICE,
         "AWS failed with HTTP 500 (InternalFailure); AWS had an internal error; run it again "
         "in a few minutes"),
        (_client_error("403", "<html><body><h1>403 Forbidden</h1></body></html>", status=403),
         ENDPOINT, "AWS answered HTTP 403 without an AWS error, not an AWS answer; check the "
         "proxy (HTTPS_PROXY)"),
        (NoCredentialsError(), CREDENTIALS, "no AWS credentials were found; pass --profile"),
        (ProfileNotFound(profile="nope"), CREDENTIALS, "the profile 'nope', which is not"),
        (EndpointConnectionError(endpoint_url=URL), CONNECTION,
         "could not connect to AWS; check the network and any proxy"),
        (ReadTimeoutError(endpoint_url=URL), CONNECTION, "AWS did not answer in time"),
        (NotAwsAnswer(200, "a web page"), ENDPOINT, "AWS answered HTTP 200 with a web page"),
        (NotAwsAnswer(502, "a web page"), SERVICE, "AWS failed with HTTP 502 (a web page)"),
    ],
)  # fmt: skip
def test_each_cause_has_its_own_words_and_fix(exc: BaseException, kind: str, text: str) -> None:
    error = _classify(exc)
    assert error.kind == kind
    assert text in str(error)
    assert "\n" not in str(error) and "<" not in str(error)
    if kind != PERMISSION:
        assert "iam-policy" not in str(error)


def test_a_member_accounts_permission_fix_names_the_role_and_assume_role_its_own() -> None:
    denied = _client_error("AccessDenied", "not authorized")
    member = _classify(denied, own=False, account="222233334444")
    assert member.fix == (
        "grant the role OrganizationAccountAccessRole (or the caller) the actions printed by "
        "`corral iam-policy` and run it again"
    )
    assume = _classify(denied, action="sts:AssumeRole", own=False, account="222233334444")
    assert assume.fix.startswith(
        "create the role OrganizationAccountAccessRole in account 222233334444 trusting the "
        "caller's account"
    )


def test_a_mistyped_ou_names_the_id_and_the_targets_key() -> None:
    error = _classify(
        _client_error("OrganizationalUnitNotFoundException", "No such OU."),
        action="organizations:ListPoliciesForTarget",
        params={"TargetId": "ou-a1b2-typo0001", "Filter": "SERVICE_CONTROL_POLICY"},
    )  # fmt: skip
    assert error.kind == NOT_FOUND
    assert error.fix.startswith(
        "ou-a1b2-typo0001 does not exist in the organization; correct it in the stack file's "
        "corral:targets"
    )


def test_endpoint_causes_name_the_endpoint() -> None:
    error = _classify(EndpointConnectionError(endpoint_url=URL), endpoint_url=URL)
    assert str(error).endswith(
        f"could not connect to the endpoint {URL}; check that {URL} (--endpoint-url or "
        "AWS_ENDPOINT_URL) is up and reachable"
    )


def test_clean_drops_markup_and_keeps_one_line() -> None:
    assert clean("<html><h1>502 Bad Gateway</h1></html>") == "(an HTML or XML page)"
    assert clean("a\nb\tc") == "a b c"
    assert len(clean("x" * 500)) == 200


def _model(service: str, operation: str):
    return botocore.session.get_session().get_service_model(service).operation_model(operation)


def _answer(status: int, body: bytes) -> dict:
    return {"status_code": status, "headers": {}, "body": body}


@pytest.mark.parametrize(
    ("service", "operation", "status", "body", "refused"),
    [
        ("sts", "GetCallerIdentity", 200, b"<!DOCTYPE html><html></html>", "a web page"),
        ("sts", "GetCallerIdentity", 200, b'{"a": 1}', "a body that is not XML"),
        ("sts", "GetCallerIdentity", 200, b"", "an empty body"),
        ("ec2", "DescribeRegions", 200, b"<html><body/></html>", "a web page"),
        ("ec2", "DescribeRegions", 200, b"<rss/>", "XML whose root <rss> is not an answer"),
        ("organizations", "ListRoots", 200, b'{"hello": "world"}', "JSON sharing no field"),
        ("organizations", "ListRoots", 200, b'{"Roots": [', "not whole JSON"),
        ("organizations", "ListRoots", 200, b"[1, 2]", "JSON that is not an object"),
        ("organizations", "ListRoots", 503, b"<html>down</html>", "a web page"),
        ("sts", "GetCallerIdentity", 200,
         b'<?xml version="1.0"?><GetCallerIdentityResponse xmlns="x"></GetCallerIdentityResponse>',
         None),
        ("organizations", "ListRoots", 200, b'{"Roots": [], "NextToken": null}', None),
        ("organizations", "ListRoots", 200, b"", None),
        ("organizations", "ListRoots", 400, b'{"__type": "AccessDenied"}', None),
    ],
)  # fmt: skip
def test_answers_no_aws_endpoint_gives_are_refused_before_parsing(
    service: str, operation: str, status: int, body: bytes, refused: str | None
) -> None:
    model = _model(service, operation)
    if refused is None:
        check_answer(model, _answer(status, body))
        return
    with pytest.raises(NotAwsAnswer) as caught:
        check_answer(model, _answer(status, body))
    assert refused in str(caught.value)
    assert caught.value.operation == operation


def test_a_streamed_body_is_left_to_botocore() -> None:
    check_answer(_model("sts", "GetCallerIdentity"), _answer(200, SimpleNamespace()))  # type: ignore[arg-type]
