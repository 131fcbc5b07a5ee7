"""The corral CLI: render, catalog commands, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from corral.build.plan import build_plan
from corral.cli.main import main
from corral.spec import keys as K
from corral.spec.load import load_stack_file


def test_render_prints_valid_documents_within_limits(capsys):
    assert main(["render", "--config", "Pulumi.example.yaml"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert {d["name"] for d in payload["documents"]} == {
        "corral-root",
        "corral-root-capacity",
        "corral-workloads",
        "corral-ml",
    }
    for doc in payload["documents"]:
        text = json.dumps(doc["policy"], separators=(",", ":"))
        assert len(text) <= K.SCP_MAX_CHARS
        assert doc["size"] == len(text)
    assert payload["manifest"]["mode"] == "organization"
    assert len(payload["attachments"]) == 4
    root = next(b for b in payload["budget"] if b["targetId"] == "r-a1b2")
    sizes = [len(d.content) for d in build_plan(load_stack_file("Pulumi.example.yaml")).documents]
    assert root == {
        "targetId": "r-a1b2",
        "documents": 2,
        "maxDocuments": 4,
        "characters": sizes[0] + sizes[1],
        "maxCharacters": 4 * K.SCP_MAX_CHARS,
    }
    assert captured.err.splitlines()[0] == (
        f"r-a1b2 (root): 2 of 4 SCPs besides FullAWSAccess, {sizes[0] + sizes[1]:,} of "
        f"{4 * K.SCP_MAX_CHARS:,} characters"
    )


def test_render_typo_exits_non_zero_with_one_line(tmp_path):
    stack = tmp_path / "Pulumi.bad.yaml"
    stack.write_text(
        "config:\n  aws:region: us-east-1\n  corral:mode: account\n"
        "  corral:allowedRegions: [us-est-1]\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "corral", "render", "--config", str(stack)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "corral: error: corral:allowedRegions: 'us-est-1' is not a region of partition aws; "
        "did you mean 'us-east-1'?\n"
    )


def test_render_to_folder_writes_each_document(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["render", "--config", "Pulumi.example.yaml", "--output", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "attachments.json",
        "corral-ml.json",
        "corral-root-capacity.json",
        "corral-root.json",
        "corral-workloads.json",
        "manifest.json",
    ]
    assert json.loads((out / "corral-root.json").read_text())["Version"] == "2012-10-17"
    assert "wrote 6 files" in capsys.readouterr().err


def test_render_error_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["render", "--config", str(tmp_path / "missing.yaml"), "--output", str(out)]) == 2
    assert not out.exists()
    assert capsys.readouterr().err.startswith("corral: error: ")


def test_render_refuses_a_file_as_output_folder(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep me")
    assert main(["render", "--config", "Pulumi.example.yaml", "--output", str(target)]) == 2
    assert target.read_text() == "keep me"
    assert f"--output {target} is a file; pass a folder." in capsys.readouterr().err


def test_regions_and_instance_types(capsys):
    assert main(["regions"]) == 0
    assert "us-west-2" in capsys.readouterr().out.split()
    assert main(["instance-types", "c5a.24xlarge"]) == 0
    assert capsys.readouterr().out == "c5a.24xlarge\t96\n"
    assert main(["instance-types", "zz.*"]) == 2
    assert "pattern 'zz.*' matches no EC2 instance type." in capsys.readouterr().err
    assert main(["regions", "nope"]) == 2


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_every_subsystem_command_is_wired():
    parser_help = subprocess.run(
        [sys.executable, "-m", "corral", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in (
        "render",
        "policy-config",
        "preview-check",
        "verify",
        "sweep",
        "iam-policy",
        "merge",
        "explain",
        "regions",
        "instance-types",
        "refresh-catalog",
    ):
        assert command in parser_help, command


def test_policy_config_is_derived_from_the_stack(capsys):
    assert main(["policy-config", "--config", "Pulumi.example.yaml"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["allowed-regions"] == {"regions": ["eu-west-1", "us-east-1"]}
    assert main(["policy-config", "--config", "Pulumi.example.yaml", "--target", "ml"]) == 0
    ml = json.loads(capsys.readouterr().out)["instance-types"]
    assert "p5.*" in ml["allow"]


def test_policy_config_unknown_target_is_one_line(capsys):
    assert main(["policy-config", "--config", "Pulumi.example.yaml", "--target", "mll"]) == 2
    assert capsys.readouterr().err == (
        "corral: error: --target: 'mll' is not a target of the spec; did you mean 'ml'?\n"
    )


def test_preview_check_runs_the_pack_harness_on_a_program():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "corral",
            "preview-check",
            "tests/fixtures/bad_stack",
            "--config",
            "Pulumi.example.yaml",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "mandatory" in result.stdout
    assert "[instance-types]" in result.stdout
