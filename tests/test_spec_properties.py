"""Hostile config: the spec loader and the CLI answer every input with a valid spec or
one line naming the key, never a traceback (property-based, hypothesis)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.build.plan import build_plan
from corral.cli.main import main
from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.load import from_config
from corral.spec.readers import SpecError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "us-east-1\nus-west-2",
            "'; DROP TABLE policies; --",
            "${aws:username}",
            "arn:aws:iam::*:*",
            "*",
            "\u202eus-east-1",
            "us-east-1\x00",
            "\uff55\uff53-\uff45\uff41\uff53\uff54-\uff11",
            "{{ template }}",
            "$(rm -rf /)",
            "A" * 5000,
        ]
    ),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), NASTY_TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(NASTY_TEXT, inner, max_size=6)
    ),
    max_leaves=25,
)
KEYS = st.one_of(
    st.sampled_from([f"corral:{k}" for k in K.TOP_LEVEL_KEYS] + ["aws:region"]),
    NASTY_TEXT.map(lambda s: f"corral:{s}"),
)


def _valid_base() -> dict:
    return {
        "aws:region": "us-east-1",
        "corral:mode": "organization",
        "corral:allowedRegions": ["us-east-1"],
        "corral:exemptPrincipals": ["arn:aws:iam::*:role/BreakGlass"],
        "corral:targets": [{"id": "r-ab12"}],
    }


def _assert_valid_or_one_line(config: dict) -> None:
    try:
        spec = from_config(config)
    except SpecError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message
        assert message.split(":", 1)[0] in ("aws", "corral") or message.startswith(
            ("corral:", "aws:region")
        )
        assert len(message) < 600
        return
    plan = build_plan(spec) if spec.allowed_regions else None
    if plan is not None:
        for doc in plan.documents:
            json.loads(doc.content)


@SETTINGS
@given(st.dictionaries(KEYS, VALUES, max_size=8))
def test_random_configs_never_crash(config):
    _assert_valid_or_one_line(config)


@SETTINGS
@given(KEYS, VALUES)
def test_one_hostile_value_in_a_valid_config(key, value):
    config = _valid_base()
    config[key] = value
    _assert_valid_or_one_line(config)


@SETTINGS
@given(
    st.sampled_from(["allow", "deny", "maxVcpus", "nope"]),
    st.one_of(VALUES, st.lists(NASTY_TEXT, max_size=30)),
)
def test_hostile_instance_rules(key, value):
    config = _valid_base()
    config["corral:instances"] = {key: value}
    _assert_valid_or_one_line(config)


@SETTINGS
@given(st.lists(st.sampled_from(catalog.regions()), min_size=1, max_size=10, unique=True))
def test_valid_region_lists_are_accepted_and_sorted(regions):
    config = _valid_base()
    config["corral:allowedRegions"] = regions
    config["aws:region"] = regions[0]
    spec = from_config(config)
    assert spec.allowed_regions == tuple(sorted(regions))


def test_huge_lists_are_refused_with_the_key():
    config = _valid_base()
    config["corral:allowedRegions"] = ["us-east-1"] * 100_000
    try:
        from_config(config)
    except SpecError as exc:
        assert str(exc) == (
            "corral:allowedRegions: has 100000 entries; at most 1000 are supported."
        )
    else:
        raise AssertionError("a 100,000-entry list was accepted")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
def test_cli_on_random_stack_files_prints_one_line(tmp_path_factory, text):
    stack = tmp_path_factory.mktemp("stack") / "Pulumi.fuzz.yaml"
    stack.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["render", "--config", str(stack)])
    if code == 0:
        json.loads(out.getvalue())
    else:
        assert code == 2
        assert out.getvalue() == ""
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith("corral: error: ")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_cli_on_random_yaml_configs(tmp_path_factory, config):
    stack = tmp_path_factory.mktemp("stack") / "Pulumi.fuzz.yaml"
    stack.write_text(yaml.safe_dump({"config": config}, allow_unicode=True), encoding="utf-8")
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = main(["render", "--config", str(stack)])
    assert code in (0, 2)
    if code == 2:
        assert len(err.getvalue().splitlines()) == 1
