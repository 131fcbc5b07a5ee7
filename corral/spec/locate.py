"""Where a spec key sits in its stack file: the line of each ``corral:`` key and of each
``corral:targets`` entry, for reports that point at the config (SARIF's physical locations).

The file is composed, not constructed, with the same loader and size cap as
:mod:`corral.spec.stackfile`: PyYAML's nodes carry the line each key starts on. Lines
are 1-based, as editors and code scanning count them.

Example::

    >>> import tempfile, pathlib
    >>> text = "config:\\n  corral:mode: organization\\n  corral:targets:\\n    - id: r-ab12\\n"
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "Pulumi.dev.yaml")
    ...     _ = path.write_text(text)
    ...     lines = key_lines(path)
    >>> lines.keys, lines.targets
    ({'corral:mode': 2, 'corral:targets': 3}, {'r-ab12': 4})
    >>> lines.line(("allowedRegions", "targets"), ["r-ab12"]), lines.line(("allowedRegions",))
    (4, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from corral.spec import keys as K
from corral.spec import stackfile
from corral.spec.readers import SpecError, printable

# The spec keys a guardrail is made from, most specific first (a guardrail-effects finding
# names its guardrail; its location is the key that sets what the probe expected).
GUARDRAIL_KEYS: Mapping[str, tuple[str, ...]] = {
    K.REGIONS: (K.ALLOWED_REGIONS,),
    K.INSTANCE_TYPES: (K.INSTANCES,),
    K.PROTECTION: (K.PROTECTIONS, K.EXEMPT_PRINCIPALS),
    K.CAPACITY: (K.COMPUTE, K.PURCHASES, K.INSTANCES),
}
FIRST_LINE = 1


@dataclass(frozen=True)
class KeyLines:
    """The lines of one stack file's ``corral:`` keys and ``corral:targets`` entries."""

    path: str  # as the user gave it
    keys: Mapping[str, int] = field(default_factory=dict)  # "corral:mode" -> line
    targets: Mapping[str, int] = field(default_factory=dict)  # target id -> its entry's line

    def line(self, spec_keys: Iterable[str], target_ids: Iterable[str | None] = ()) -> int:
        """The line of the first of ``spec_keys`` (names under ``corral:``) the file sets;
        for ``targets``, the entry of the first of ``target_ids`` listed there, else the
        ``corral:targets`` key. Line 1 when the file sets none of them."""
        ids = [i for i in target_ids if i]
        for key in spec_keys:
            if key == K.TARGETS:
                for target in ids:
                    if target in self.targets:
                        return self.targets[target]
            line = self.keys.get(f"{K.NAMESPACE}:{key}")
            if line is not None:
                return line
        return FIRST_LINE


def key_lines(path: str | Path) -> KeyLines:
    """The :class:`KeyLines` of the stack file at ``path``; SpecError naming it otherwise."""
    name = printable(str(path), 100)
    try:
        if Path(path).stat().st_size > stackfile.MAX_BYTES:
            raise SpecError(name, f"is over the {stackfile.MAX_BYTES:,}-byte stack file cap.")
        text = Path(path).read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=stackfile.BaseLoader)  # nodes only: safe
    except FileNotFoundError:
        raise SpecError(name, "file not found; pass --config Pulumi.<stack>.yaml.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problem = " ".join(str(exc).split())[:120]
        raise SpecError(name, f"cannot be read ({problem}); check the path.") from None
    config = _value(root, "config")
    if not isinstance(config, yaml.MappingNode):
        raise SpecError(name, "has no top-level 'config:' map; is it a Pulumi stack file?")
    keys: dict[str, int] = {}
    targets: dict[str, int] = {}
    prefix = K.NAMESPACE + ":"
    for key_node, value_node in config.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str) or not key.startswith(prefix):
            continue
        keys.setdefault(key, key_node.start_mark.line + 1)
        if key == prefix + K.TARGETS and isinstance(value_node, yaml.SequenceNode):
            for entry in value_node.value:
                target = _value(entry, K.TARGET_ID)
                if isinstance(target, yaml.ScalarNode):
                    targets.setdefault(str(target.value), entry.start_mark.line + 1)
    return KeyLines(str(path), keys, targets)


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node of ``key`` in a mapping node (None when absent or not a map)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None
