"""corral installs like a tool: one version everywhere, the pack's dependencies as a pinned
extra, a CI example that uses it, and a parser that answers without loading botocore."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from corral import __version__
from corral.cli.main import PACK_MODULES, build_parser

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CI = ROOT / "examples" / "ci" / "github-actions.yml"


def _pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            found[name.lower().replace("_", "-")] = version
    return found


def test_the_version_comes_from_the_package() -> None:
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "corral.__version__"}
    out = subprocess.run([sys.executable, "-m", "corral", "--version"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out == f"corral {__version__}\n"


def test_the_pack_extra_is_pinned_like_the_requirements() -> None:
    pins = _pins(ROOT / "constraints.txt")
    extra = PYPROJECT["project"]["optional-dependencies"]["pack"]
    for requirement in extra:
        name, version = requirement.split("==")
        assert pins[name.lower()] == version, requirement
    names = {r.split("==")[0] for r in extra}
    assert {package for _, package in PACK_MODULES} <= names


def test_the_ci_example_installs_the_extra_and_its_commands_parse() -> None:
    workflow = yaml.safe_load(CI.read_text())
    runs = [step["run"] for job in workflow["jobs"].values() for step in job["steps"]
            if "run" in step]  # fmt: skip
    assert any("pip install '.[pack]'" in run for run in runs)
    parser = build_parser()
    commands = [
        c for run in runs for c in re.split(r"&&|\n", run) if c.strip().startswith("corral ")
    ]
    assert len(commands) >= 3
    for command in commands:
        argv = shlex.split(command.replace("${STACK}", "dev").split(">")[0])[1:]
        if argv != ["--version"]:
            assert callable(parser.parse_args(argv).handler), command


def test_the_parser_loads_no_botocore_and_no_spec() -> None:
    code = (
        "import sys; from corral.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith(('botocore', 'boto3', 'yaml', "
        "'corral.spec.load', 'corral.audit.aws', 'corral.evaluate'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout  # fmt: skip
    assert out == "[]\n"


def test_the_pulumi_venv_gets_corral_itself_and_pinned_dependencies() -> None:
    """`pulumi install` builds ./venv from requirements.txt: corral must be in it (so the
    program's `venv/bin/corral` exists and matches), and everything else pinned as in CI."""
    lines = [
        line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
    ]
    entries = [line for line in lines if line]
    assert entries[0] == "-e ."
    pins = _pins(ROOT / "constraints.txt")
    for entry in entries[1:]:
        name, sep, version = entry.partition("==")
        assert sep, f"{entry} is not pinned"
        assert pins[name.lower().replace("_", "-")] == version, entry
    assert PYPROJECT["project"]["name"] == "corral"
