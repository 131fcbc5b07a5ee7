"""Condition operators, set qualifiers, IfExists and policy variables.

Expected results follow AWS's documentation, cited by title in each test:
"IAM JSON policy elements: Condition operators", "Conditions with multiple context keys or
values", "Single-valued vs. multivalued context keys" and "IAM policy elements: Variables
and tags".
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.evaluate.conditions import OPERATORS, compile_condition, parse_date
from corral.evaluate.patterns import ElementError, normalize_context
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


# --------------------------------------------------------------------------- set operators


def test_for_all_values_needs_every_request_value_in_the_policy_set():
    """Single-valued vs. multivalued context keys: ForAllValues is true if every request
    value matches a policy value, and also when the key is missing or empty."""
    allowed = ["team", "env"]
    assert check("ForAllValues:StringEquals", TAGS, allowed, {TAGS: ["team", "env"]}) is True
    assert check("ForAllValues:StringEquals", TAGS, allowed, {TAGS: ["team", "cost"]}) is False
    assert check("ForAllValues:StringEquals", TAGS, allowed, {}) is True
    assert check("ForAllValues:StringEquals", TAGS, allowed, {TAGS: []}) is True


def test_for_any_value_needs_one_request_value_and_is_false_when_missing():
    """Single-valued vs. multivalued context keys: ForAnyValue is true if at least one
    request value matches, and false when the key is missing."""
    assert check("ForAnyValue:StringEquals", TAGS, ["env"], {TAGS: ["team", "env"]}) is True
    assert check("ForAnyValue:StringEquals", TAGS, ["cost"], {TAGS: ["team", "env"]}) is False
    assert check("ForAnyValue:StringEquals", TAGS, ["env"], {}) is False
    assert check("ForAnyValue:StringNotEquals", TAGS, ["env"], {}) is False
    assert check("ForAnyValue:StringEqualsIfExists", TAGS, ["env"], {}) is True


def test_negated_operators_under_set_qualifiers():
    """Conditions with multiple context keys or values: ForAllValues:StringNotLike needs
    every request value to match none of the patterns; ForAnyValue:StringNotEquals needs
    one request value that equals none of them."""
    ctx = {TAGS: ["team", "secret-x"]}
    assert check("ForAllValues:StringNotLike", TAGS, ["secret-*"], ctx) is False
    assert check("ForAllValues:StringNotLike", TAGS, ["secret-*"], {TAGS: ["team"]}) is True
    assert check("ForAnyValue:StringNotEquals", TAGS, ["team"], ctx) is True
    assert check("ForAnyValue:StringNotEquals", TAGS, ["team"], {TAGS: ["team"]}) is False


def test_set_operators_treat_a_single_valued_key_as_a_one_element_set():
    """Single-valued vs. multivalued context keys: a set operator on a single-valued key
    evaluates that value as a set of one (AWS warns this can be overly permissive)."""
    ctx = {REGION: "us-east-1"}
    assert check("ForAnyValue:StringEquals", REGION, ["us-east-1"], ctx) is True
    assert check("ForAllValues:StringEquals", REGION, ["eu-west-1"], ctx) is False
    assert check("ForAllValues:StringEquals", REGION, ["eu-west-1"], {}) is True


def test_plain_operators_on_a_multivalued_key():
    """A plain positive operator matches when any request value does; the negated
    operator is its complement (true only when no request value matches)."""
    ctx = {TAGS: ["team", "env"]}
    assert check("StringEquals", TAGS, "env", ctx) is True
    assert check("StringNotEquals", TAGS, "env", ctx) is False
    assert check("StringNotEquals", TAGS, "cost", ctx) is True


@given(
    value=st.text(alphabet="ab*?.-", max_size=6),
    pattern=st.text(alphabet="ab*?.-", max_size=6),
)
def test_every_negated_operator_is_the_complement_of_its_positive_form(value, pattern):
    """Condition operators: each Not operator is the negation of its positive operator
    whenever the key is present."""
    pairs = [
        ("StringEquals", "StringNotEquals"),
        ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"),
        ("StringLike", "StringNotLike"),
    ]
    for positive, negated in pairs:
        ctx = {"k": value}
        assert check(negated, "k", pattern, ctx) is (not check(positive, "k", pattern, ctx))


# --------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    ("negated", "positive", "key", "policy", "good", "bad"),
    [
        ("NumericNotEquals", "NumericEquals", "s3:max-keys", "10", "11", "abc"),
        ("DateNotEquals", "DateEquals", "aws:CurrentTime", "2024-07-01", "2024-07-02", "yesterday"),
        ("NotIpAddress", "IpAddress", "aws:SourceIp", "10.0.0.0/8", "192.0.2.1", "not-an-ip"),
        (
            "ArnNotLike",
            "ArnLike",
            "aws:PrincipalArn",
            "arn:aws:iam::*:role/Admin",
            "arn:aws:iam::111122223333:role/Dev",
            "not-an-arn",
        ),
    ],
)
def test_negated_operators_on_a_value_of_the_wrong_type_do_not_match(
    negated, positive, key, policy, good, bad
):
    """A request value that cannot be read as the operator's type makes the condition
    false for the negated operator as for the plain one (IAM policy simulator), with or
    without IfExists; a value of the right type that differs still matches the negation."""
    assert check(negated, key, policy, {key: good}) is True
    assert check(negated, key, policy, {key: bad}) is False
    assert check(positive, key, policy, {key: bad}) is False
    assert check(f"{negated}IfExists", key, policy, {key: bad}) is False
    assert check(f"{positive}IfExists", key, policy, {key: bad}) is False
    for qualifier in ("ForAllValues", "ForAnyValue"):
        assert check(f"{qualifier}:{negated}", key, policy, {key: [bad]}) is False
        assert check(f"{qualifier}:{positive}", key, policy, {key: [bad]}) is False


def test_numeric_comparisons_on_a_value_of_the_wrong_type_do_not_match():
    """Every Numeric and Date comparison is false on a value that is not of its type."""
    for suffix in ("LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals"):
        assert check(f"Numeric{suffix}", "s3:max-keys", "10", {"s3:max-keys": "10 keys"}) is False
        assert (
            check(f"Date{suffix}", "aws:CurrentTime", "2024-07-01", {"aws:CurrentTime": "now"})
            is False
        )


def test_binary_and_bool_values_of_the_wrong_type_do_not_match():
    """BinaryEquals on text that is not base64, and Bool on anything but true/false, are
    false whatever the policy value, under a set qualifier too."""
    blob = base64.b64encode(b"guardrail").decode()
    assert check("BinaryEquals", "k", blob, {"k": "not base64!"}) is False
    assert check("ForAnyValue:BinaryEquals", "k", blob, {"k": ["not base64!", blob]}) is True
    assert check("ForAllValues:BinaryEquals", "k", blob, {"k": ["not base64!", blob]}) is False
    key = "aws:SecureTransport"
    assert check("Bool", key, "true", {key: "yes"}) is False
    assert check("Bool", key, "false", {key: "yes"}) is False
    assert check("ForAllValues:Bool", key, "true", {key: ["true", "1"]}) is False
    assert check("BoolIfExists", key, "false", {key: "no"}) is False


def test_string_operators_read_any_text():
    """String operators have no wrong type: StringNotEquals on number-like or empty text is
    an ordinary mismatch, so the negation holds."""
    assert check("StringNotEquals", "k", "10", {"k": "abc"}) is True
    assert check("StringNotEquals", "k", "abc", {"k": ""}) is True
    assert check("StringNotLike", "k", "a*", {"k": "10"}) is True


def test_a_value_of_the_wrong_type_among_several_request_values():
    """Without a qualifier, a positive operator needs one value that matches; a negated one
    needs every value of the operator's type and none matching. Under a qualifier, a value
    of the wrong type is one that does not satisfy the operator."""
    key = "s3:max-keys"
    assert check("NumericEquals", key, "10", {key: ["abc", "10"]}) is True
    assert check("NumericNotEquals", key, "10", {key: ["abc", "5"]}) is False
    assert check("NumericNotEquals", key, "10", {key: ["7", "5"]}) is True
    assert check("ForAnyValue:NumericNotEquals", key, "10", {key: ["abc", "5"]}) is True
    assert check("ForAllValues:NumericNotEquals", key, "10", {key: ["abc", "5"]}) is False
    assert check("ForAllValues:NumericNotEquals", key, "10", {key: ["7", "5"]}) is True
    assert check("ForAnyValue:NumericEquals", key, "10", {key: ["abc"]}) is False


# --------------------------------------------------------------------------- variables


def test_policy_variables_resolve_from_the_request_context():
    """IAM policy elements: Variables and tags: ${key} is replaced by the request value."""
    ctx = {"aws:username": "alice", "s3:prefix": "home/alice/notes"}
    assert check("StringLike", "s3:prefix", "home/${aws:username}/*", ctx) is True
    assert (
        check("StringLike", "s3:prefix", "home/${aws:username}/*", {**ctx, "aws:username": "bob"})
        is False
    )
    assert check("StringEquals", "s3:prefix", "home/${AWS:UserName}/notes", ctx) is True


def test_unresolvable_variable_makes_that_value_not_match():
    """IAM policy elements: Variables and tags (policy variables with no value): a missing
    or multivalued key leaves the variable unresolved and the value does not match."""
    ctx = {"s3:prefix": "home/alice/notes"}
    assert check("StringLike", "s3:prefix", "home/${aws:username}/*", ctx) is False
    assert check("StringLike", "s3:prefix", ["home/${aws:username}/*", "home/*"], ctx) is True
    multi = {**ctx, "aws:username": ["alice", "bob"]}
    assert check("StringLike", "s3:prefix", "home/${aws:username}/*", multi) is False
    assert check("StringNotLike", "s3:prefix", "home/${aws:username}/*", ctx) is True


def test_variable_default_values():
    """IAM policy elements: Variables and tags (specifying default values)."""
    key = "aws:ResourceTag/team"
    value = "${aws:PrincipalTag/team, 'company-wide'}"
    assert check("StringEquals", key, value, {key: "company-wide"}) is True
    assert check("StringEquals", key, value, {key: "data", "aws:PrincipalTag/team": "data"})
    assert check("StringEquals", key, "${aws:x, 'it''s'}", {key: "it's"}) is True


def test_special_character_escapes_are_literal():
    """IAM policy elements: Variables and tags: ${*}, ${?} and ${$} stand for a literal
    *, ? and $ where those characters would otherwise be special."""
    key = "s3:prefix"
    assert check("StringLike", key, "a${*}b", {key: "a*b"}) is True
    assert check("StringLike", key, "a${*}b", {key: "axb"}) is False
    assert check("StringLike", key, "a${?}", {key: "a?"}) is True
    assert check("StringLike", key, "a${?}", {key: "ab"}) is False
    assert check("StringEquals", key, "cost${$}", {key: "cost$"}) is True


def test_variables_are_plain_text_in_version_2008_documents():
    """IAM policy elements: Variables and tags: variables need Version 2012-10-17."""
    key = "s3:prefix"
    literal = "home/${aws:username}"
    assert check("StringEquals", key, literal, {key: literal}, variables=False) is True
    ctx = {key: "home/alice", "aws:username": "alice"}
    assert check("StringEquals", key, literal, ctx, variables=False) is False


# --------------------------------------------------------------------------- validation


def test_every_documented_operator_family_is_known():
    """Condition operators: String, Numeric, Date, Bool, Binary, IP, ARN and Null."""
    expected = {
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "Null",
    }
    for family in ("Numeric", "Date"):
        for suffix in (
            "Equals",
            "NotEquals",
            "LessThan",
            "LessThanEquals",
            "GreaterThan",
            "GreaterThanEquals",
        ):
            expected.add(family + suffix)
    assert {spec.name for spec in OPERATORS.values()} == expected


def test_unknown_operator_is_rejected_with_its_name():
    with pytest.raises(ElementError) as info:
        check("StringEqualz", REGION, "us-east-1", {})
    assert str(info.value) == (
        "Condition.StringEqualz: 'StringEqualz' is not a condition operator; use one listed "
        "in 'IAM JSON policy elements: Condition operators'"
    )


@pytest.mark.parametrize(
    ("operator", "values", "problem"),
    [
        ("ForEveryValue:StringEquals", "x", "the set qualifier 'ForEveryValue' is unknown"),
        ("NullIfExists", "true", "Null takes no IfExists"),
        ("ForAllValues:NullIfExists", "true", "Null takes no IfExists"),
        ("NumericLessThan", "ten", "'ten' is not a number as NumericLessThan needs"),
        ("DateLessThan", "yesterday", "'yesterday' is not an ISO 8601 date"),
        ("Bool", "yes", "'yes' is not true or false"),
        ("IpAddress", "10.0.0.300/8", "does not appear to be an IPv4 or IPv6 network"),
        ("BinaryEquals", "!!", "'!!' is not base64"),
        ("StringEquals", [], "has no values"),
        ("StringEquals", [{"a": 1}], "is not a string, number or bool"),
        ("StringEquals", "${}", "the policy variable '${}' is malformed"),
    ],
)
def test_malformed_condition_values_are_rejected(operator, values, problem):
    with pytest.raises(ElementError, match=problem.replace("$", r"\$").replace("{", r"\{")):
        check(operator, "k", values, {})


def test_context_values_of_unsupported_types_are_rejected():
    with pytest.raises(ValueError) as info:
        normalize_context({"aws:TagKeys": {"a": 1}})
    assert str(info.value) == (
        "Context key 'aws:TagKeys' has a value of type dict; use a string, a number, a bool "
        "or a list of those."
    )
