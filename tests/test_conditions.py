"""Condition operators one by one, Null and IfExists (set qualifiers, values of the wrong
type, policy variables and validation: ``test_condition_sets.py``).

Expected results follow AWS's documentation, cited by title in each test:
"IAM JSON policy elements: Condition operators", "Conditions with multiple context keys or
values", "Single-valued vs. multivalued context keys" and "IAM policy elements: Variables
and tags".
"""

from __future__ import annotations

import base64

import pytest

from corral.evaluate.conditions import compile_condition, parse_date
from corral.evaluate.patterns import normalize_context
from corral.evaluate.policy import PolicyRef, Request


def check(operator: str, key: str, values: object, context: dict, *, variables: bool = True):
    """Compile ``{operator: {key: values}}`` and evaluate it against ``context``."""
    condition = compile_condition(
        operator, key, values, path=f"Condition.{operator}", variables=variables
    )
    return condition.evaluate(normalize_context(context))


REGION = "aws:RequestedRegion"
TAGS = "aws:TagKeys"


# --------------------------------------------------------------------------- String


def test_string_equals_is_case_sensitive_and_ors_its_values():
    """Condition operators: StringEquals is exact, case-sensitive matching; several values
    for one key are ORed ("Conditions with multiple context keys or values")."""
    values = ["eu-west-1", "eu-central-1"]
    assert check("StringEquals", REGION, values, {REGION: "eu-central-1"}) is True
    assert check("StringEquals", REGION, values, {REGION: "EU-CENTRAL-1"}) is False
    assert check("StringEquals", REGION, values, {REGION: "us-east-1"}) is False


def test_string_not_equals_with_several_values_is_a_nor():
    """Conditions with multiple context keys or values: for a negated operator the listed
    values act as a logical AND of negations (true only if the value is none of them)."""
    values = ["eu-west-1", "eu-central-1"]
    assert check("StringNotEquals", REGION, values, {REGION: "us-east-1"}) is True
    assert check("StringNotEquals", REGION, values, {REGION: "eu-west-1"}) is False


def test_ignore_case_operators_fold_case():
    """Condition operators: StringEqualsIgnoreCase / StringNotEqualsIgnoreCase."""
    ctx = {"aws:PrincipalTag/team": "Platform"}
    assert check("StringEqualsIgnoreCase", "aws:PrincipalTag/team", "PLATFORM", ctx) is True
    assert check("StringNotEqualsIgnoreCase", "aws:PrincipalTag/team", "platform", ctx) is False
    assert check("StringNotEqualsIgnoreCase", "aws:PrincipalTag/team", "data", ctx) is True


def test_string_like_wildcards_are_case_sensitive_and_span_any_character():
    """Condition operators: StringLike matches * (any run) and ? (one character)."""
    key = "ec2:InstanceType"
    assert check("StringLike", key, "t3.*", {key: "t3.micro"}) is True
    assert check("StringLike", key, "t?.micro", {key: "t3.micro"}) is True
    assert check("StringLike", key, "t?.micro", {key: "t3a.micro"}) is False
    assert check("StringLike", key, "T3.*", {key: "t3.micro"}) is False
    assert check("StringLike", "s3:prefix", "home/*", {"s3:prefix": "home/a/b:c"}) is True
    assert check("StringNotLike", key, ["t3.*", "t4g.*"], {key: "c5a.24xlarge"}) is True
    assert check("StringNotLike", key, ["t3.*", "t4g.*"], {key: "t4g.nano"}) is False


def test_missing_key_is_false_for_positive_and_true_for_negated_operators():
    """Condition operators (Important box): a key absent from the request context makes
    the condition false, except for negated operators such as StringNotLike or
    ArnNotLike, for which it is true."""
    assert check("StringEquals", "ec2:InstanceType", "t3.micro", {}) is False
    assert check("StringLike", "ec2:InstanceType", "t3.*", {}) is False
    for negated in ("StringNotEquals", "StringNotLike", "StringNotEqualsIgnoreCase"):
        assert check(negated, "ec2:InstanceType", "t3.micro", {}) is True
    assert check("ArnNotLike", "aws:PrincipalArn", "arn:aws:iam::*:role/Admin", {}) is True
    assert check("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {}) is True
    assert check("NumericNotEquals", "s3:max-keys", "10", {}) is True
    assert check("DateNotEquals", "aws:CurrentTime", "2020-01-01", {}) is True


def test_condition_keys_are_case_insensitive_values_are_not():
    """Condition element: key names are case-insensitive; values are case-sensitive."""
    assert check("StringEquals", "AWS:REQUESTEDREGION", "us-east-1", {REGION: "us-east-1"})
    assert check("StringEquals", REGION, "us-east-1", {"aws:requestedregion": "us-east-1"})
    assert not check("StringEquals", REGION, "us-east-1", {REGION: "US-EAST-1"})


# --------------------------------------------------------------------------- Numeric, Date


@pytest.mark.parametrize(
    ("operator", "below", "equal", "above"),
    [
        ("NumericEquals", False, True, False),
        ("NumericNotEquals", True, False, True),
        ("NumericLessThan", True, False, False),
        ("NumericLessThanEquals", True, True, False),
        ("NumericGreaterThan", False, False, True),
        ("NumericGreaterThanEquals", False, True, True),
    ],
)
def test_numeric_operators_compare_the_request_value_to_the_policy_value(
    operator, below, equal, above
):
    """Condition operators: numeric condition operators."""
    key = "s3:max-keys"
    assert check(operator, key, "10", {key: 9}) is below
    assert check(operator, key, "10", {key: "10.0"}) is equal
    assert check(operator, key, 10, {key: "11"}) is above


def test_numeric_request_value_that_is_not_a_number_never_matches():
    """A request value that is not a number satisfies neither a Numeric operator nor its
    negation, as in the IAM policy simulator: NumericNotEquals against "ten" is false."""
    assert check("NumericLessThan", "s3:max-keys", "10", {"s3:max-keys": "ten"}) is False
    assert check("NumericNotEquals", "s3:max-keys", "10", {"s3:max-keys": "ten"}) is False


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("DateEquals", False),
        ("DateNotEquals", True),
        ("DateLessThan", True),
        ("DateLessThanEquals", True),
        ("DateGreaterThan", False),
        ("DateGreaterThanEquals", False),
    ],
)
def test_date_operators_accept_iso_8601_and_epoch_seconds(operator, expected):
    """Condition operators: date condition operators take ISO 8601 dates or epoch time."""
    now = {"aws:CurrentTime": "2024-06-30T23:59:59Z"}
    assert check(operator, "aws:CurrentTime", "2024-07-01T00:00:00Z", now) is expected
    assert check(operator, "aws:CurrentTime", "1719792000", now) is expected


def test_dates_with_offsets_and_plain_dates_compare_as_instants():
    """Condition operators: dates are compared as points in time."""
    assert parse_date("2024-07-01T02:00:00+02:00") == parse_date("2024-07-01T00:00:00Z")
    assert parse_date("2024-07-01") == parse_date("2024-07-01T00:00:00Z") == 1719792000.0
    ctx = {"aws:CurrentTime": "2024-07-01T02:00:00+02:00"}
    assert check("DateEquals", "aws:CurrentTime", "2024-07-01T00:00:00Z", ctx) is True


# --------------------------------------------------------------------------- Bool, Binary, IP


def test_bool_matches_true_and_false_and_missing_key_is_false():
    """Condition operators: Bool; BoolIfExists is the documented way to treat a missing
    aws:MultiFactorAuthPresent as a match."""
    key = "aws:MultiFactorAuthPresent"
    assert check("Bool", key, "true", {key: True}) is True
    assert check("Bool", key, "false", {key: "true"}) is False
    assert check("Bool", key, "false", {key: "FALSE"}) is True
    assert check("Bool", key, True, {key: "true"}) is True
    assert check("Bool", key, "false", {}) is False
    assert check("BoolIfExists", key, "false", {}) is True


def test_binary_equals_compares_base64_values():
    """Condition operators: BinaryEquals compares base64-encoded binary values."""
    blob = base64.b64encode(b"\x00\x01guardrail").decode()
    other = base64.b64encode(b"other").decode()
    assert check("BinaryEquals", "key", blob, {"key": blob}) is True
    assert check("BinaryEquals", "key", blob, {"key": other}) is False
    assert check("BinaryEquals", "key", blob, {"key": "not base64!"}) is False


def test_ip_address_matches_cidr_ranges_and_single_addresses():
    """Condition operators: IpAddress / NotIpAddress take CIDR ranges (IPv4 and IPv6)."""
    key = "aws:SourceIp"
    ranges = ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]
    assert check("IpAddress", key, ranges, {key: "203.0.113.9"}) is True
    assert check("IpAddress", key, ranges, {key: "198.51.100.7"}) is True
    assert check("IpAddress", key, ranges, {key: "2001:db8::1"}) is True
    assert check("IpAddress", key, ranges, {key: "192.0.2.1"}) is False
    assert check("NotIpAddress", key, ranges, {key: "192.0.2.1"}) is True
    assert check("NotIpAddress", key, ranges, {key: "203.0.113.9"}) is False
    assert check("IpAddress", key, ranges, {key: "not-an-ip"}) is False


# --------------------------------------------------------------------------- ARN


def test_arn_like_matches_each_arn_component_separately():
    """Condition operators (ARN condition operators): each of the six colon-delimited ARN
    components is checked separately, so a wildcard does not cross a colon."""
    key = "aws:PrincipalArn"
    role = "arn:aws:iam::123456789012:role/BreakGlass"
    assert check("ArnLike", key, "arn:aws:iam::*:role/BreakGlass", {key: role}) is True
    assert check("ArnLike", key, "arn:aws:iam::*:role/Break*", {key: role}) is True
    assert check("ArnLike", key, "arn:aws:iam::*:role/breakglass", {key: role}) is False
    odd = "arn:aws:iam::12:extra:role/x"
    assert check("ArnLike", key, "arn:aws:iam::12*:role/x", {key: odd}) is False
    obj = "arn:aws:s3:::bucket/key:with:colons"
    assert check("ArnLike", "aws:SourceArn", "arn:aws:s3:::bucket/*", {"aws:SourceArn": obj})


def test_arn_equals_behaves_like_arn_like_and_negations_complement_them():
    """Condition operators: ArnEquals and ArnLike share one description (wildcards
    allowed); ArnNotEquals and ArnNotLike are their negations."""
    key = "aws:SourceArn"
    ctx = {key: "arn:aws:sns:us-east-1:123456789012:alerts"}
    pattern = "arn:aws:sns:*:123456789012:*"
    assert check("ArnEquals", key, pattern, ctx) is True
    assert check("ArnLike", key, pattern, ctx) is True
    assert check("ArnNotEquals", key, pattern, ctx) is False
    assert check("ArnNotLike", key, pattern, ctx) is False
    assert check("ArnLike", key, pattern, {key: "not-an-arn"}) is False


# --------------------------------------------------------------------------- Null, IfExists


def test_null_tests_presence_of_the_key():
    """Condition operators: Null with true means the key is absent, false that it is
    present."""
    key = "aws:TokenIssueTime"
    assert check("Null", key, "true", {}) is True
    assert check("Null", key, "true", {key: "2024-01-01T00:00:00Z"}) is False
    assert check("Null", key, "false", {key: "2024-01-01T00:00:00Z"}) is True
    assert check("Null", key, False, {}) is False
    assert check("Null", "aws:TagKeys", "true", {"aws:TagKeys": []}) is True


@pytest.mark.parametrize("qualifier", ["ForAllValues", "ForAnyValue"])
def test_null_under_a_set_qualifier_is_plain_null(qualifier):
    """Condition operators: the missing-key logic "applies to all condition operators
    except ...IfExists and Null check"; a set qualifier on Null is accepted (as the IAM
    policy simulator does) and the result is plain Null on the key's presence, for a
    present, an absent and a multivalued key."""
    operator = f"{qualifier}:Null"
    assert check(operator, TAGS, "true", {}) is True
    assert check(operator, TAGS, "false", {}) is False
    assert check(operator, TAGS, "true", {TAGS: []}) is True
    assert check(operator, TAGS, "true", {TAGS: "team"}) is False
    assert check(operator, TAGS, "false", {TAGS: "team"}) is True
    assert check(operator, TAGS, "true", {TAGS: ["team", "env"]}) is False
    assert check(operator, TAGS, "false", {TAGS: ["team", "env"]}) is True
    assert check(operator, TAGS, ["true", "false"], {TAGS: ["team"]}) is True
    for values, ctx in (("true", {}), ("false", {TAGS: ["team"]}), ("false", {})):
        assert check(operator, TAGS, values, ctx) is check("Null", TAGS, values, ctx)


def test_null_under_a_set_qualifier_in_a_statement():
    """A ForAllValues:Null condition compiles inside a policy document and decides."""
    statement = {
        "Effect": "Deny",
        "Action": "iam:Tag*",
        "Resource": "*",
        "Condition": {"ForAllValues:Null": {"aws:TagKeys": "false"}},
    }
    policy = PolicyRef("p", "principal", {"Version": "2012-10-17", "Statement": [statement]})
    tagged = Request("iam:TagRole", context={TAGS: ["team"]})
    assert policy.statements[0].applies("iam:tagrole", "*", tagged.facts) is True
    untagged = Request("iam:TagRole")
    assert policy.statements[0].applies("iam:tagrole", "*", untagged.facts) is False


def test_if_exists_makes_a_missing_key_true_and_checks_a_present_one():
    """Condition operators (...IfExists): if the key is present, evaluate as specified;
    if it is absent, the condition is true."""
    key = "ec2:InstanceType"
    assert check("StringEqualsIfExists", key, "t3.micro", {}) is True
    assert check("StringEqualsIfExists", key, "t3.micro", {key: "t3.micro"}) is True
    assert check("StringEqualsIfExists", key, "t3.micro", {key: "c5a.24xlarge"}) is False
    assert check("StringNotEqualsIfExists", key, "t3.micro", {}) is True
    assert check("StringNotEqualsIfExists", key, "t3.micro", {key: "t3.micro"}) is False
    assert check("NumericLessThanIfExists", "s3:max-keys", "5", {}) is True
