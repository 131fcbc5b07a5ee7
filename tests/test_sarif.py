"""SARIF that GitHub code scanning accepts, from a real failing ``corral verify`` (moto).

Checked three ways: the official SARIF 2.1.0 JSON schema with the ``jsonschema`` validator
(vendored, so the test runs offline, in tests/fixtures/sarif-schema-2.1.0.json: the OASIS
schema, ``$id``
https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json,
with the errata01 amendments such as ``anyOf`` on message and physicalLocation; this copy is
the file sarif-schema-2.1.0.json of the GitHub repository Security-Falcon/SARIFCourier at
commit c41d6483db77, sha256 3f5f2d5ee0fd9b57cbe873a8bf870597cea6da7cbdff57f7bc34aea4570ce33b);
GitHub's documented upload rules (docs.github.com, "SARIF support for code
scanning" and "SARIF results exceed limits": a physical location on every result, ruleId and
message text, the driver's name, at most 20 runs, 25,000 results and rules per run, 1,000
locations per result, 20 tags per rule, 10 MB gzipped); and every result's line against the
stack file's own text.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_verify_support import client, deploy_org, edit_scp, load, loosen, make_org, org_stack

import corral
from corral.audit import checks
from corral.audit import findings as F
from corral.cli import errors as E
from corral.cli.main import main
from corral.spec import keys as K
from corral.spec.locate import key_lines
from tests.conftest import ROOT

SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text("utf-8")
)
MAX_RUNS, MAX_RESULTS, MAX_RULES, MAX_LOCATIONS, MAX_TAGS = 20, 25_000, 25_000, 1_000, 20
MAX_GZIPPED_BYTES = 10 * 1024 * 1024
SPEC_KEYS = set(K.TOP_LEVEL_KEYS + K.SPEND_KEYS + K.ALERT_KEYS)


def schema_errors(log: Any) -> list[str]:
    """Every violation of the SARIF 2.1.0 schema, as ``path: message``."""
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]


def github_problems(text: str) -> list[str]:
    """What GitHub code scanning would reject in the SARIF ``text`` (its documented rules)."""
    log = json.loads(text)
    problems = []
    if len(gzip.compress(text.encode())) > MAX_GZIPPED_BYTES:
        problems.append("larger than 10 MB gzipped")
    if log.get("version") != "2.1.0":
        problems.append("version is not 2.1.0")
    runs = log.get("runs")
    if not isinstance(runs, list) or len(runs) > MAX_RUNS:
        problems.append("runs is not a list of at most 20 runs")
        return problems
    for r, run in enumerate(runs):
        driver = run.get("tool", {}).get("driver", {})
        if not driver.get("name"):
            problems.append(f"run {r}: tool.driver.name is missing")
        rules = driver.get("rules", [])
        if len(rules) > MAX_RULES or len(run.get("results", [])) > MAX_RESULTS:
            problems.append(f"run {r}: more than 25,000 rules or results")
        if len(run.get("tool", {}).get("extensions", [])) > 100:
            problems.append(f"run {r}: more than 100 tool extensions")
        for rule in rules:
            if len(rule.get("properties", {}).get("tags", [])) > MAX_TAGS:
                problems.append(f"rule {rule.get('id')}: more than 20 tags")
        for i, result in enumerate(run.get("results", [])):
            where = f"run {r} result {i}"
            if not result.get("ruleId"):
                problems.append(f"{where}: no ruleId")
            elif "ruleIndex" in result and rules[result["ruleIndex"]]["id"] != result["ruleId"]:
                problems.append(f"{where}: ruleIndex does not point at {result['ruleId']}")
            if not result.get("message", {}).get("text"):
                problems.append(f"{where}: no message.text")
            locations = result.get("locations") or []
            if not locations or len(locations) > MAX_LOCATIONS:
                problems.append(f"{where}: needs 1 to 1,000 locations")
                continue
            physical = locations[0].get("physicalLocation", {})
            if not physical.get("artifactLocation", {}).get("uri"):
                problems.append(f"{where}: no physicalLocation.artifactLocation.uri")
            if not isinstance(physical.get("region", {}).get("startLine"), int):
                problems.append(f"{where}: no physicalLocation.region.startLine")
    return problems


# --------------------------------------------------------------------------- the checkers


def test_the_checkers_reject_what_code_scanning_rejects() -> None:
    finding = F.Finding("vcpu-totals", F.FAIL, "222222222222", "us-east-1", "r", "Too many.")
    bare = F.to_sarif([finding], checks.rules())  # no stack file: no physical location
    assert schema_errors(json.loads(bare)) == []  # valid SARIF ...
    assert github_problems(bare) == [  # ... that code scanning refuses
        "run 0 result 0: no physicalLocation.artifactLocation.uri",
        "run 0 result 0: no physicalLocation.region.startLine",
    ]
    log = json.loads(bare)
    log["runs"][0]["results"][0]["level"] = "fatal"
    del log["runs"][0]["tool"]["driver"]["name"]
    errors = schema_errors(log)
    assert any("'fatal' is not one of" in e for e in errors)
    assert any("'name' is a required property" in e for e in errors)
    log["runs"] *= 21
    assert "runs is not a list of at most 20 runs" in github_problems(json.dumps(log))


def test_every_check_declares_spec_keys_the_stack_file_can_set() -> None:
    for check in checks.REGISTRY:
        keys = check.metadata.spec_keys
        assert keys and set(keys) <= SPEC_KEYS, check.id


def test_pass_is_left_out_and_error_is_a_warning(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    stack = Path("Pulumi.dev.yaml")
    stack.write_text("config:\n  corral:mode: organization\n  corral:allowedRegions: [a]\n")
    found = [
        F.Finding("vcpu-totals", F.PASS, "111111111111", "us-east-1", "r", "Fine."),
        F.Finding("account-reachable", F.ERROR, "111111111111", None, "account", "Could not."),
        F.Finding("instances-outside-regions", F.FAIL, "111111111111", "ap-east-1", "i-1", "Bad."),
    ]
    text = F.to_sarif(found, checks.rules(), key_lines(stack), "sweep")
    assert schema_errors(json.loads(text)) == [] and github_problems(text) == []
    run = json.loads(text)["runs"][0]
    assert [(r["ruleId"], r["level"]) for r in run["results"]] == [
        ("account-reachable", "warning"),
        ("instances-outside-regions", "error"),
    ]
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in run["results"]]
    assert lines == [2, 3]  # mode (no targets in the file), then allowedRegions
    assert run["automationDetails"] == {"id": "corral-sweep/"}  # upload-sarif's category
    artifact = {"uri": "Pulumi.dev.yaml", "uriBaseId": "%SRCROOT%"}
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == artifact
    # An absolute path below the working directory is made relative to it; one outside it
    # stays an absolute file URI (code scanning then cannot place it: docs/verify.md).
    absolute = json.loads(F.to_sarif(found, checks.rules(), key_lines(tmp_path / stack)))
    location = absolute["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == artifact
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    outside = json.loads(F.to_sarif(found, checks.rules(), key_lines(tmp_path / stack)))
    location = outside["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": (tmp_path / stack).resolve().as_uri()}


# --------------------------------------------------------------------------- a real verify


@pytest.fixture
def tampered(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A guarded org with the dev account as its own target, then tampered: one more
    region allowed at the root, the workloads SCP detached."""
    org = make_org()
    stack = org_stack(tmp_path, org, accounts=[org.dev])
    spec = load(stack)
    org.policy_ids = deploy_org(spec)
    more = loosen(
        "CorralDenyOutsideAllowedRegions", "StringNotEquals", "aws:RequestedRegion", "us-west-1"
    )
    edit_scp("corral-root", org.policy_ids, more)
    client("organizations").detach_policy(
        PolicyId=org.policy_ids["corral-workloads"], TargetId=org.workloads
    )
    monkeypatch.chdir(tmp_path)  # the stack file named as a user in the checkout names it
    return org, stack


def verify_sarif(name: str) -> tuple[int, str]:
    code = main(["verify", "--config", "Pulumi.org.yaml", "--format", "sarif", "--output", name])
    return code, Path(name).read_text("utf-8")


def line_of(text: str, pattern: str) -> int:
    [line] = [n for n, line in enumerate(text.splitlines(), 1) if re.search(pattern, line)]
    return line


def test_sarif_of_a_failing_verify_is_accepted_and_points_at_the_keys(tampered) -> None:
    org, stack = tampered
    code, text = verify_sarif("verify.sarif")
    assert code == E.EXIT_FAIL
    log = json.loads(text)
    assert schema_errors(log) == []
    assert github_problems(text) == []
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["version"] == driver["semanticVersion"] == corral.__version__
    assert driver["informationUri"].startswith("https://")
    assert len(driver["rules"]) == len(checks.REGISTRY)
    for rule in driver["rules"]:
        assert rule["name"] and rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"] and rule["help"]["text"]
        assert rule["help"]["markdown"] and rule["defaultConfiguration"]["level"] in (
            "error",
            "warning",
            "note",
        )
    results = run["results"]
    assert "FAIL" in {r["properties"]["status"] for r in results}
    # Exactly the FAIL and ERROR findings of the same run, PASS left out.
    main(["verify", "--config", "Pulumi.org.yaml", "--format", "json", "--output", "r.json"])
    found = F.load_json("r.json")
    assert len(results) == len([f for f in found if f.status != F.PASS]) < len(found)
    assert {r["ruleId"] for r in results} >= {
        "guardrail-effects",
        "guardrail-attached",
        "guardrail-document-content",
        "guardrail-reaches-accounts",
    }
    assert run["automationDetails"] == {"id": "corral-verify/"}
    # Effect messages name the deploy command and real principals (docs/verify.md).
    assert not [
        r for r in results if re.search(r"corral render|corral-probe", r["message"]["text"])
    ]
    config = stack.read_text("utf-8")
    lines = config.splitlines()
    for result in results:
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": "Pulumi.org.yaml", "uriBaseId": "%SRCROOT%"}
        line = lines[physical["region"]["startLine"] - 1]
        # Every result sits on a corral key or a target's entry, never a stray line.
        assert re.match(r"\s*(corral:\w+:|- \{?id: )", line), (result["ruleId"], line)
    by_resource = {(r["ruleId"], r["properties"]["resource"]): r for r in results}

    def start(rule: str, resource: str) -> int:
        result = by_resource[(rule, resource)]
        return result["locations"][0]["physicalLocation"]["region"]["startLine"]

    # A region probe that slipped through: the allowedRegions key.
    slipped = "probe region-deny-launch-m7i-large-us-west-1"
    assert start("guardrail-effects", slipped) == line_of(config, r"^  corral:allowedRegions:")
    # The detached SCP: the workloads OU's entry under corral:targets.
    detached = f"corral-workloads -> OU workloads ({org.workloads})"
    assert start("guardrail-attached", detached) == line_of(config, rf"- id: {org.workloads}$")
    # An account no longer reached: that account's own entry.
    [unreached] = [r for r in results if r["ruleId"] == "guardrail-reaches-accounts"]
    assert unreached["properties"]["account"] == org.dev
    start_line = unreached["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert start_line == line_of(config, rf'id: "{org.dev}"')
    # One fingerprint per result, the same in a second run.
    prints = [r["partialFingerprints"]["corralFinding/v1"] for r in results]
    assert len(set(prints)) == len(prints)
    _, again = verify_sarif("again.sarif")
    assert [r["partialFingerprints"] for r in json.loads(again)["runs"][0]["results"]] == [
        r["partialFingerprints"] for r in results
    ]


def test_merge_to_sarif_needs_the_stack_file(tampered, capsys) -> None:
    main(["verify", "--config", "Pulumi.org.yaml", "--format", "json", "--output", "r.json"])
    capsys.readouterr()
    assert main(["merge", "r.json", "--format", "sarif"]) == E.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--format sarif needs --config Pulumi.<stack>.yaml" in err
    assert not Path("merged.sarif").exists()
    other = ["--config", str(ROOT / "Pulumi.example.yaml"), "--output", "merged.sarif"]
    assert main(["merge", "r.json", "--format", "sarif", *other]) == E.EXIT_ERROR
    err = capsys.readouterr().err
    assert "is not the stack file these reports were made from" in err
    assert not Path("merged.sarif").exists()
    code = main(["merge", "r.json", "--format", "sarif", "--config", "Pulumi.org.yaml",
                 "--output", "merged.sarif"])  # fmt: skip
    assert code == E.EXIT_FAIL
    merged = Path("merged.sarif").read_text("utf-8")
    assert github_problems(merged) == [] and schema_errors(json.loads(merged)) == []
