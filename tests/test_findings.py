"""Findings and reports: JSON round trip, exit codes, table and tree, SARIF, JUnit, atomic."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

import corral
from corral.audit import findings as F
from corral.cli import errors as E
from corral.spec.locate import key_lines

SAMPLE = [
    F.Finding(
        "vcpu-totals",
        F.FAIL,
        "222222222222",
        "us-east-1",
        "region us-east-1",
        "Account 222222222222 runs 8 instances with 768 vCPUs in us-east-1.",
    ),
    F.Finding(
        "guardrail-attached",
        F.PASS,
        "111111111111",
        None,
        "corral-root -> root r-ab12",
        "corral-root is attached to root root (r-ab12).",
    ),
    F.Finding(
        "guardrail-reaches-accounts",
        F.PASS,
        "222222222222",
        None,
        "account 2",
        "Account 2 is reached.",
        {
            "path": ["root r-ab12", "OU w (ou-ab12-12345678)", "222222222222 dev"],
            "reached": ["instances", "regions"],
        },
    ),
    F.Finding(
        "account-reachable",
        F.ERROR,
        "333333333333",
        None,
        "account-reachable",
        "Check account-reachable could not complete.",
    ),
]


def test_exit_codes() -> None:
    assert E.exit_code([]) == E.EXIT_OK
    assert E.exit_code(SAMPLE[1:3]) == E.EXIT_OK
    assert E.exit_code(SAMPLE[:3]) == E.EXIT_FAIL
    assert E.exit_code(SAMPLE) == E.EXIT_ERROR


def test_json_round_trip_is_sorted_and_stable(tmp_path: Path) -> None:
    text = F.to_json(SAMPLE)
    data = json.loads(text)
    assert [f["account"] for f in data["findings"]] == [
        "111111111111",
        "222222222222",
        "222222222222",
        "333333333333",
    ]
    assert data["findings"][0]["region"] is None
    assert set(data["findings"][0]) == {
        "check",
        "status",
        "account",
        "region",
        "resource",
        "message",
    }
    assert data["summary"] == {"PASS": 2, "FAIL": 1, "ERROR": 1}
    path = tmp_path / "r.json"
    path.write_text(text)
    assert F.to_json(F.load_json(path)) == text
    assert F.to_json(list(reversed(SAMPLE)) + SAMPLE) == text  # order and duplicates


def test_load_json_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"results": []}')
    with pytest.raises(F.ReportError, match="has no 'findings' list; use a report from"):
        F.load_json(path)


def test_table_groups_by_account_and_draws_the_org_tree() -> None:
    text = F.to_table(SAMPLE, show_pass=True)
    assert text.index("Account 111111111111") < text.index("Account 222222222222")
    assert "         Account 222222222222 runs 8 instances with 768 vCPUs in us-east-1." in text
    assert (
        "Organization: guardrails reaching each account\n  - root r-ab12\n"
        "    - OU w (ou-ab12-12345678)\n      - 222222222222 dev: instances, regions\n" in text
    )
    assert text.endswith("2 passed, 1 failed, 1 could not be checked.\n")


def test_sarif_2_1_0(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(
        "config:\n  corral:mode: organization\n  corral:instances:\n    maxVcpus: 16\n"
        "  corral:targets:\n    - id: r-ab12\n      name: root\n"
    )
    rules = {
        "vcpu-totals": {
            "title": "vCPUs",
            "severity": "low",
            "risk": "r",
            "remediation": "fix",
            "spec_keys": ("instances",),
        },
        "account-reachable": {"title": "Reach", "severity": "high", "spec_keys": ("targets",)},
    }
    log = json.loads(F.to_sarif(SAMPLE, rules, key_lines(stack), "verify"))
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("corral", corral.__version__)
    rules_seen = [r["id"] for r in driver["rules"]]
    assert rules_seen == sorted(rules_seen) and "vcpu-totals" in rules_seen
    vcpus = driver["rules"][rules_seen.index("vcpu-totals")]
    assert vcpus["name"] == "VcpuTotals" and vcpus["help"]["text"] == "r Fix: fix"
    assert vcpus["defaultConfiguration"] == {"level": "note"}
    # The two PASS findings are left out: one FAIL (error) and one ERROR (warning) remain.
    assert [(r["ruleId"], r["level"]) for r in run["results"]] == [
        ("vcpu-totals", "error"),
        ("account-reachable", "warning"),
    ]
    fail, error = run["results"]
    assert rules_seen[fail["ruleIndex"]] == "vcpu-totals"
    loc = fail["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
    assert loc == "222222222222/us-east-1/region us-east-1"
    # FAIL: the instances key (line 3); ERROR of a targets check in an account the targets
    # do not list: the corral:targets key (line 5).
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in (fail, error)]
    assert lines == [3, 5]
    assert fail["partialFingerprints"] != error["partialFingerprints"]


def test_junit() -> None:
    root = ET.fromstring(F.to_junit(SAMPLE))
    assert root.attrib == {"name": "corral", "tests": "4", "failures": "1", "errors": "1"}
    suites = {s.attrib["name"]: s for s in root}
    assert suites["vcpu-totals"].find("testcase/failure") is not None
    assert suites["account-reachable"].find("testcase/error") is not None


def test_write_atomically_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    F.write_atomically(target, "one\n")

    with pytest.raises(TypeError):
        F.write_atomically(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "one\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_table_lists_fail_and_error_by_default_with_counts_per_check() -> None:
    text = F.to_table(SAMPLE)
    assert "PASS" not in text and "Account 111111111111" not in text
    assert "  FAIL   vcpu-totals" in text and "  ERROR  account-reachable" in text
    assert "- 222222222222 dev: instances, regions" in text  # the tree still shows every account
    assert text.endswith(
        "check                           passed  failed   error\n"
        "account-reachable                    0       0       1\n"
        "guardrail-attached                   1       0       0\n"
        "guardrail-reaches-accounts           1       0       0\n"
        "vcpu-totals                          0       1       0\n"
        "\n"
        "The 2 passing findings are not listed; --show-pass lists them.\n"
        "2 passed, 1 failed, 1 could not be checked.\n"
    )
