"""The docs match the code: every documented command exists, every config key is documented."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from corral.cli.main import build_parser
from corral.spec import keys as K

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = {p.name: p.read_text() for p in (ROOT / "docs").glob("*.md")}


def _commands() -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", README + "\n".join(DOCS.values()), re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line.split(">")[0]) for line in lines if line.startswith("corral ")]


def test_readme_shows_corral_commands():
    assert len(_commands()) >= 5


@pytest.mark.parametrize("argv", _commands(), ids=lambda a: " ".join(a[:2]))
def test_every_documented_command_parses(argv):
    parser = build_parser()
    args = parser.parse_args(argv[1:])
    assert callable(args.handler)


def test_readme_command_table_names_every_subcommand():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        assert f"`corral {name}" in README, name


def test_readme_documents_every_config_key():
    for key in (*K.TOP_LEVEL_KEYS, *K.SPEND_KEYS):
        assert f"`corral:{key}" in README, key


def test_example_stack_documents_every_top_level_key():
    example = (ROOT / "Pulumi.example.yaml").read_text()
    for key in (*K.TOP_LEVEL_KEYS, *K.SPEND_KEYS):
        assert f"corral:{key}:" in example, key
