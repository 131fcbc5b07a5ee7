"""Reading stack files (``corral.spec.stackfile``): the C loader, duplicate keys named with
both lines, a size cap with a clear error, and the same results from both loaders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from corral.spec import stackfile
from corral.spec.readers import SpecError

ROOT = Path(__file__).resolve().parent.parent


def test_the_c_loader_is_used_when_pyyaml_has_it() -> None:
    assert yaml.__with_libyaml__
    assert issubclass(stackfile.StrictLoader, yaml.CSafeLoader)
    assert issubclass(stackfile.PurePythonStrictLoader, yaml.SafeLoader)


@pytest.mark.parametrize("loader", [stackfile.StrictLoader, stackfile.PurePythonStrictLoader])
def test_both_loaders_read_the_example_stacks_alike(loader: type) -> None:
    for name in ("Pulumi.example.yaml", "Pulumi.spend-example.yaml"):
        text = (ROOT / name).read_text()
        assert stackfile.parse(text, loader) == yaml.safe_load(text)


@pytest.mark.parametrize("loader", [stackfile.StrictLoader, stackfile.PurePythonStrictLoader])
def test_a_duplicate_key_names_both_lines_at_any_depth(loader: type) -> None:
    text = "config:\n  corral:instances:\n    allow: [t3.*]\n    deny: []\n    allow: [p5.*]\n"
    with pytest.raises(stackfile.DuplicateKeyError) as caught:
        stackfile.parse(text, loader)
    assert str(caught.value) == "key 'allow' appears twice, at lines 3 and 5"
    assert stackfile.parse("a: 1\nb: {a: 1}\n", loader) == {"a": 1, "b": {"a": 1}}
    merged = "base: &b {x: 1, y: 2}\nthis:\n  <<: *b\n  x: 3\n"  # a merge key may override
    assert stackfile.parse(merged, loader)["this"] == {"x": 3, "y": 2}


def test_read_refuses_a_duplicate_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dup.yaml"
    path.write_text("config:\n  corral:mode: account\n  aws:region: us-east-1\n  corral:mode: x\n")
    with pytest.raises(SpecError) as caught:
        stackfile.read(path)
    assert str(caught.value) == (
        f"{path}: key 'corral:mode' appears twice, at lines 2 and 4; keep one of them."
    )


def test_read_refuses_a_file_over_the_cap_before_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.big.yaml"
    path.write_bytes(b"config: {}\n" + b"#" * stackfile.MAX_BYTES)
    with pytest.raises(SpecError) as caught:
        stackfile.read(path)
    assert str(caught.value) == (
        f"{path}: is {stackfile.MAX_BYTES + 11:,} bytes, over the 1,048,576-byte (1 MiB) cap "
        "for a stack file; a corral stack file is a few kilobytes, so check that --config "
        "names the stack file."
    )
    path.write_bytes(b"config: {}\n" + b"#" * (stackfile.MAX_BYTES - 20))
    assert stackfile.read(path) == {"config": {}}


def test_read_names_syntax_errors_and_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  a: [1, 2\n")
    with pytest.raises(SpecError, match=r"at line 3; fix the YAML syntax\.$"):
        stackfile.read(bad)
    binary = tmp_path / "Pulumi.bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SpecError, match=r"cannot be read \(.*\); check the path\.$"):
        stackfile.read(binary)
    with pytest.raises(SpecError, match=r"is a folder; pass --config"):
        stackfile.read(tmp_path)
