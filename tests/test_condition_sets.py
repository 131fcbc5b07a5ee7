"""Set qualifiers, request values of the wrong type, policy variables and the validation
of conditions; the operators one by one are in ``test_conditions.py``.

Expected results follow AWS's documentation, cited by title in each test: "Conditions with
multiple context keys or values", "Single-valued vs. multivalued context keys", "IAM JSON
policy elements: Condition operators" and "IAM policy elements: Variables and tags".
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_conditions import REGION, TAGS, check

from corral.evaluate.conditions import OPERATORS
from corral.evaluate.patterns import ElementError, normalize_context

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
