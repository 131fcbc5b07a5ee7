"""``--shard``: I/N as given, or I from the engine running the copies; and the scale-out
examples (examples/scale/) for Kubernetes Indexed Jobs, AWS Batch array jobs and a GitHub
Actions matrix: each parses (the workflow against GitHub's workflow schema, the Batch
requests against botocore's own model of the API), runs a command corral's parser accepts,
relies on the variable corral reads, has as many copies as shards, and merges every shard.

tests/fixtures/github-workflow.schema.json is SchemaStore's GitHub workflow schema as
vendored by check-jsonschema 0.39.0 (Apache-2.0, licence beside it).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import botocore.session
import jsonschema
import pytest
import yaml
from botocore.validate import validate_parameters
from test_verify_support import load, make_org, org_stack

from corral.audit.findings import load_report
from corral.audit.verify import ENGINE_INDEX, InputError, in_shard, parse_shard
from corral.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
SCALE = ROOT / "examples" / "scale"
K8S, BATCH = "JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"
ENGINE_NAMES = {name for name, _ in ENGINE_INDEX}


# ---------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        (None, {}, None),
        ("3/8", {}, (3, 8)),
        ("3/8", {K8S: "0"}, (3, 8)),  # given explicitly: the engine is not asked
        ("8", {K8S: "0"}, (1, 8)),
        ("auto/8", {K8S: "7"}, (8, 8)),
        ("auto/8", {BATCH: "2"}, (3, 8)),
        ("auto/8", {K8S: "2", BATCH: "2"}, (3, 8)),
        (" auto/1 ", {BATCH: "0"}, (1, 1)),
    ],
)
def test_shard_from_the_command_line_or_the_engine(text, env, expected) -> None:
    assert parse_shard(text, env) == expected


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (None, {K8S: "3"}, "JOB_COMPLETION_INDEX=3 is set, so this is one of several copies, "
         "but --shard gives no shard count; pass --shard auto/N (N: the number of copies) or "
         "unset JOB_COMPLETION_INDEX."),
        ("auto/4", {}, "--shard auto/4 takes the shard index from JOB_COMPLETION_INDEX "
         "(Kubernetes Indexed Jobs) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array jobs), and "
         "neither is set; pass --shard I/N (1-based) instead."),
        ("4", {BATCH: "4"}, "AWS_BATCH_JOB_ARRAY_INDEX=4 is out of range for --shard auto/4 "
         "(0-based: 0 to 3); make the number of copies (completions, array size) equal N."),
        ("auto/4", {K8S: "one"}, "JOB_COMPLETION_INDEX='one' is not a 0-based index; it must "
         "be a whole number."),
        ("auto/4", {K8S: "-1"}, "JOB_COMPLETION_INDEX='-1' is not a 0-based index"),
        ("auto/4", {K8S: "1", BATCH: "2"}, "JOB_COMPLETION_INDEX=1 and "
         "AWS_BATCH_JOB_ARRAY_INDEX=2 disagree"),
        ("3/2", {}, "--shard 3/2: I must be between 1 and N, e.g. 1/2."),
        ("0/2", {}, "I must be between 1 and N"),
        ("x", {}, "--shard 'x' is not I/N (1-based, e.g. 1/4), or N or auto/N"),
        ("auto", {K8S: "0"}, "is not I/N"),
        ("auto/0", {K8S: "0"}, "is not I/N"),
        ("/4", {K8S: "0"}, "is not I/N"),
        ("1/2/3", {}, "is not I/N"),
        ("", {}, "is not I/N"),
    ],
)  # fmt: skip
def test_a_bad_shard_is_an_error_naming_it_and_the_fix(text, env, message) -> None:
    with pytest.raises(InputError) as raised:
        parse_shard(text, env)
    assert message in str(raised.value)


def test_every_engine_index_picks_a_different_shard_and_together_all() -> None:
    for name in ENGINE_NAMES:
        shards = [parse_shard("auto/5", {name: str(i)}) for i in range(5)]
        assert shards == [(i, 5) for i in range(1, 6)]


def test_the_cli_stops_with_exit_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(K8S, "9")
    code = main(["sweep", "--config", str(ROOT / "Pulumi.example.yaml"), "--shard", "auto/4"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "JOB_COMPLETION_INDEX=9 is out of range for --shard auto/4" in err
    code = main(["verify", "--config", str(ROOT / "Pulumi.example.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "JOB_COMPLETION_INDEX=9 is set" in err


# ---------------------------------------------------------------------- the examples


def commands(script: str, program: str = "corral") -> list[list[str]]:
    """The argv (after ``corral``) of every corral command in a shell line or script,
    without what follows ``||`` or ``;``/``&&`` of other programs."""
    found = []
    for part in re.split(r"\|\||&&|;|\n|(?:^|\s)[{}](?=\s|$)", script):
        words = shlex.split(part.strip()) if part.strip() else []
        if words[:1] == [program]:
            found.append(words[1:])
    return found


def expand(text: str, values: dict[str, str]) -> str:
    for expression, value in values.items():
        text = text.replace(expression, value)
    return text


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def parses(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert callable(args.handler)


def shard_count(argv: list[str]) -> int:
    """N of --shard auto/N (the examples' engines give the index)."""
    text = option(argv, "--shard")
    assert text.startswith("auto/"), text
    return int(text.split("/")[1])


def outputs_by_index(path: str, variable: str, count: int) -> list[str]:
    """The report path each copy writes, its index put in for ``$variable``."""
    assert f"${variable}" in path
    return [path.replace(f"${variable}", str(i)) for i in range(count)]


def k8s_documents() -> tuple[dict, dict]:
    [job] = [d for d in yaml.safe_load_all((SCALE / "kubernetes-indexed-job.yaml").read_text())
             if d["kind"] == "Job"]  # fmt: skip
    merge = yaml.safe_load((SCALE / "kubernetes-merge-job.yaml").read_text())
    return job, merge


def test_the_kubernetes_indexed_job_shards_by_completion_index() -> None:
    job, merge = k8s_documents()
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    [container] = spec["template"]["spec"]["containers"]
    [sweep] = commands(container["args"][0])
    parses(sweep)
    count = shard_count(sweep)
    assert spec["completions"] == spec["parallelism"] == count
    assert K8S in ENGINE_NAMES
    written = outputs_by_index(option(sweep, "--output"), K8S, count)
    [merged] = commands(merge["spec"]["template"]["spec"]["containers"][0]["args"][0])
    parses(merged)
    assert merged[0] == "merge" and merged[1 : 1 + count] == written
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert all(path.startswith(mounts["reports"] + "/") for path in written)


def test_the_kubernetes_example_runs_and_merges_against_the_emulator(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Every copy's command, as the manifest gives it, run with its JOB_COMPLETION_INDEX
    (one region, the stack and reports moved to tmp_path), then the merge job's command."""
    org = make_org()
    stack = org_stack(tmp_path, org)
    job, merge = k8s_documents()
    [container] = job["spec"]["template"]["spec"]["containers"]
    [sweep] = commands(container["args"][0])
    local = {"/config/Pulumi.prod.yaml": str(stack), "/reports/": f"{tmp_path}/"}

    def moved(argv: list[str]) -> list[str]:
        out = []
        for word in argv:
            for path, there in local.items():
                word = word.replace(path, there)  # noqa: PLW2901
            out.append(word)
        return out

    for index in range(job["spec"]["completions"]):
        monkeypatch.setenv(K8S, str(index))
        argv = [w.replace(f"${K8S}", str(index)) for w in moved(sweep)]
        assert main([*argv, "--regions", "us-east-1"]) in (0, 1), capsys.readouterr().err
    monkeypatch.delenv(K8S)
    [merged] = commands(merge["spec"]["template"]["spec"]["containers"][0]["args"][0])
    assert main(moved(merged)) in (0, 1), capsys.readouterr().err
    _, run = load_report(str(tmp_path / "sweep.json"))
    assert run["shard"] is None
    assert sorted(run["accounts"]) == sorted([org.management, org.dev, org.test])
    shards = [load_report(str(tmp_path / f"shard-{i}.json"))[1] for i in range(8)]
    for i, record in enumerate(shards):
        assert record["shard"] == f"{i + 1}/8"
        assert all(in_shard(a, (i + 1, 8)) for a in record["accounts"])
    spec = load(stack)
    assert spec.mode == "organization"


def batch_model():
    return botocore.session.get_session().get_service_model("batch")


def test_the_aws_batch_array_job_shards_by_array_index() -> None:
    model = batch_model()
    definition = json.loads((SCALE / "batch-job-definition.json").read_text())
    submit = json.loads((SCALE / "batch-submit-job.json").read_text())
    merge = json.loads((SCALE / "batch-submit-merge.json").read_text())
    # The requests `aws batch ... --cli-input-json` sends, checked as botocore checks them.
    validate_parameters(definition, model.operation_model("RegisterJobDefinition").input_shape)
    validate_parameters(submit, model.operation_model("SubmitJob").input_shape)
    validate_parameters(merge, model.operation_model("SubmitJob").input_shape)
    assert submit["jobDefinition"] == merge["jobDefinition"] == definition["jobDefinitionName"]
    [sweep] = commands(definition["containerProperties"]["command"][2])
    parses(sweep)
    count = shard_count(sweep)
    assert submit["arrayProperties"]["size"] == count
    assert BATCH in ENGINE_NAMES
    uploads = re.findall(r"s3://\S+?/shard-\$" + BATCH + r"\.json", json.dumps(definition))
    assert len(uploads) == 1
    [merged] = commands(merge["containerOverrides"]["command"][2])
    parses(merged)
    assert merged[1 : 1 + count] == [f"/tmp/reports/shard-{i}.json" for i in range(count)]
    assert merge["dependsOn"] == [{"jobId": "ARRAY_JOB_ID"}]
    assert "arrayProperties" not in merge


def test_the_github_actions_matrix_passes_each_shard_and_merges_them_all() -> None:
    text = (SCALE / "github-actions-matrix.yml").read_text()
    workflow = yaml.safe_load(text)
    schema = json.loads((ROOT / "tests" / "fixtures" / "github-workflow.schema.json").read_text())
    # YAML 1.1 reads the key `on` as true; GitHub reads it as "on".
    jsonschema.validate({("on" if k is True else k): v for k, v in workflow.items()}, schema)
    shard, merge = workflow["jobs"]["shard"], workflow["jobs"]["merge"]
    assert merge["needs"] == "shard"
    assert shard["strategy"]["fail-fast"] is False
    matrix = shard["strategy"]["matrix"]["shard"]
    count = len(matrix)
    assert matrix == list(range(1, count + 1))
    # GitHub puts the expression's value in before the shell reads the line.
    shell = {"${{ matrix.shard }}": "@SHARD@"}
    written = {}
    for step in shard["steps"]:
        for argv in commands(expand(step.get("run", ""), shell)):
            if argv[0] not in ("verify", "sweep"):
                continue  # corral --version
            assert option(argv, "--shard") == f"@SHARD@/{count}"
            for value in matrix:
                parses([w.replace("@SHARD@", str(value)) for w in argv])
            written[argv[0]] = option(argv, "--output")
    assert sorted(written) == ["sweep", "verify"]
    merged = {argv[1].split("/")[1].split("-")[0]: argv for s in merge["steps"]
              for argv in commands(s.get("run", "")) if argv[0] == "merge"}  # fmt: skip
    for command, path in written.items():
        expected = [f"reports/{path.replace('@SHARD@', str(v))}" for v in matrix]
        argv = merged[command]
        parses(argv)
        assert argv[0] == "merge" and argv[1 : 1 + count] == expected
    uploaded = [s for s in merge["steps"] if s.get("uses", "").startswith("actions/download")]
    assert uploaded[0]["with"]["pattern"] == "corral-shard-*"
