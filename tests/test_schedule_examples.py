"""The scheduled examples (examples/schedule/) parse, and every `corral` command in them is
accepted by the CLI's own parser: the GitHub Actions workflow and the Kubernetes CronJob."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from corral.cli.main import build_parser
from corral.spec.load import load_stack_file

ROOT = Path(__file__).resolve().parent.parent
SCHEDULE = ROOT / "examples" / "schedule"


def corral_commands(script: str) -> list[list[str]]:
    """The argv of every `corral verify|sweep` line of a shell script (before `||`)."""
    found = []
    for raw in script.splitlines():
        line = raw.strip().split("||")[0]
        if line.startswith("corral ") and line.split()[1] in ("verify", "sweep"):
            found.append(shlex.split(line)[1:])
    return found


def parses(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert callable(args.handler)


def test_the_workflow_runs_verify_and_sweep_daily_with_sarif_and_a_topic_summary() -> None:
    workflow = yaml.safe_load((SCHEDULE / "verify-and-sweep.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"] == [{"cron": "17 6 * * *"}]
    assert workflow["permissions"]["security-events"] == "write"
    assert workflow["permissions"]["id-token"] == "write"
    steps = workflow["jobs"]["verify-and-sweep"]["steps"]
    commands = [c for s in steps for c in corral_commands(s.get("run", ""))]
    assert [c[0] for c in commands] == ["verify", "sweep"]
    for argv in commands:
        parses(argv)
        assert argv[argv.index("--format") + 1] == "sarif"
    uploads = [
        s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif")
    ]
    assert sorted(s["with"]["sarif_file"] for s in uploads) == ["sweep.sarif", "verify.sarif"]
    [publish] = [s for s in steps if "aws sns publish" in s.get("run", "")]
    assert "failure" in publish["if"] and "--topic-arn" in publish["run"]
    assert "secrets." not in (SCHEDULE / "verify-and-sweep.yml").read_text()


def test_the_cronjob_runs_verify_and_sweep_with_irsa_and_no_secret(tmp_path: Path) -> None:
    documents = list(yaml.safe_load_all((SCHEDULE / "cronjob.yaml").read_text()))
    kinds = {d["kind"]: d for d in documents}
    assert "Secret" not in kinds
    account = kinds["ServiceAccount"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam::"
    )
    job = kinds["CronJob"]["spec"]
    assert job["schedule"] == "17 6 * * *"
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    [container] = pod["containers"]
    env = {e["name"] for e in container["env"]}
    assert not env & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
    assert not any("secretKeyRef" in str(e) for e in container["env"])
    [script] = container["args"]
    commands = corral_commands(script.replace('"$STACK_FILE"', "Pulumi.prod.yaml"))
    assert [c[0] for c in commands] == ["verify", "sweep"]
    for argv in commands:
        parses(argv)
    assert "aws sns publish --topic-arn" in script
    # The stack file it mounts is a valid corral spec.
    stack = tmp_path / "Pulumi.prod.yaml"
    stack.write_text(kinds["ConfigMap"]["data"]["Pulumi.prod.yaml"])
    assert load_stack_file(stack).alerts.enabled
