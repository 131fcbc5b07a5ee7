"""Reading a Pulumi stack file: bounded, fast and strict.

- A stack file larger than :data:`MAX_BYTES` is refused before it is read: a corral stack
  file is a few kilobytes, and a stray multi-megabyte file should fail at once, naming
  its size and the cap.
- PyYAML's C parser (``CSafeLoader``, libyaml) is used when PyYAML was built with it, the
  pure-Python ``SafeLoader`` otherwise; both construct only plain data.
- A key that appears twice in one map is an error naming both lines: YAML loaders keep
  the last one silently, so a guardrail set twice would quietly lose the first setting.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import yaml

from corral.spec.readers import SpecError, printable

MAX_BYTES = 1 << 20  # 1 MiB
MERGE_TAG = "tag:yaml.org,2002:merge"
BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DuplicateKeyError(yaml.YAMLError):
    """A map holds the same key twice; names the key and both lines."""

    def __init__(self, key: Any, first: int, second: int) -> None:
        super().__init__(f"key {key!r} appears twice, at lines {first} and {second}")
        self.key, self.first, self.second = key, first, second


def _strict(base: type) -> type:
    """``base`` (a PyYAML safe loader) refusing duplicate keys in any map."""

    class Strict(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue  # merged maps may override; complex keys are refused later
                key = self.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise DuplicateKeyError(key, seen[key], line)
                seen[key] = line
            return super().construct_mapping(node, deep)

    Strict.__name__ = f"Strict{base.__name__}"
    return Strict


StrictLoader = _strict(BaseLoader)
PurePythonStrictLoader = _strict(yaml.SafeLoader)


def parse(text: str, loader: type = StrictLoader) -> Any:
    """The YAML document in ``text``; raises yaml.YAMLError (DuplicateKeyError included).

    The cyclic garbage collector is paused meanwhile: parsing allocates many objects and
    frees none, so its passes only cost time (about half of it, bench/bench_yaml_parse.py).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return yaml.load(text, Loader=loader)  # both loaders are safe loaders
    finally:
        if paused:
            gc.enable()


def read(path: str | Path, max_bytes: int = MAX_BYTES) -> Any:
    """The YAML document of the stack file at ``path``; SpecError naming the file otherwise."""
    file = Path(path)
    name = printable(str(file), 100)
    try:
        size = file.stat().st_size
        if file.is_dir():
            raise SpecError(name, "is a folder; pass --config Pulumi.<stack>.yaml.")
        if size > max_bytes:
            raise SpecError(
                name,
                f"is {size:,} bytes, over the {max_bytes:,}-byte ({max_bytes / (1 << 20):g} MiB) "
                "cap for a stack file; a corral stack file is a few kilobytes, so check that "
                "--config names the stack file.",
            )
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(name, "file not found; pass --config Pulumi.<stack>.yaml.") from None
    except (OSError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())
        raise SpecError(name, f"cannot be read ({problem}); check the path.") from None
    try:
        return parse(text)
    except DuplicateKeyError as exc:
        raise SpecError(name, f"{exc}; keep one of them.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError(name, f"{problem} at {where}; fix the YAML syntax.") from None
    except RecursionError:
        raise SpecError(name, "nests too deeply; fix the YAML structure.") from None
