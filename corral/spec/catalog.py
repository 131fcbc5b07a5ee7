"""Regions and EC2 instance types, derived from botocore's own data.

Nothing here is hand-typed: partitions and regions come from botocore's
``partitions.json``, instance types from the EC2 service model's ``InstanceType``
enum, and vCPU counts from ``data/instance_types.json``, which
``scripts/refresh_instance_types.py`` builds from ``ec2:DescribeInstanceTypes``.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import gzip
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import botocore.loaders
import botocore.model
import botocore.session

DATA_PACKAGE = "corral.spec.data"
VCPU_FILE = "instance_types.json"
_PATTERN_RE = re.compile(r"^[a-z0-9.*?-]+$")
# The InstanceType shape of the EC2 model, as its text gives it: a string with an enum.
_ENUM_RE = re.compile(
    rb'"InstanceType"\s*:\s*\{\s*"type"\s*:\s*"string"\s*,\s*"enum"\s*:\s*(\[[^\]]*\])\s*\}'
)


@dataclass(frozen=True)
class Partition:
    """One AWS partition (``aws``, ``aws-cn``, ...) and its regions."""

    name: str
    region_regex: str
    regions: tuple[str, ...]


@functools.cache
def loader() -> botocore.loaders.Loader:
    """The process's one botocore data loader: each service model is read once.

    :class:`corral.audit.aws.Connection` shares it, so the EC2 model the spec reads for its
    instance types is the one the connection's EC2 client is built from.
    """
    return botocore.session.get_session().get_component("data_loader")


@functools.cache
def partitions() -> dict[str, Partition]:
    """Every partition botocore knows, with its regions sorted."""
    data = loader().load_data("partitions")
    result = {}
    for raw in data["partitions"]:
        regex = raw["regionRegex"]
        names = tuple(sorted(r for r in raw.get("regions", {}) if re.match(regex, r)))
        result[raw["id"]] = Partition(raw["id"], regex, names)
    return result


def partition_of(region: str) -> str | None:
    """The partition whose region pattern matches ``region``, or None."""
    for partition in partitions().values():
        if re.match(partition.region_regex, region):
            return partition.name
    return None


def regions(partition: str = "aws") -> tuple[str, ...]:
    """The regions of ``partition``, sorted."""
    return partitions()[partition].regions


@functools.cache
def instance_types() -> tuple[str, ...]:
    """Every instance type in botocore's EC2 service model, sorted.

    The model is some 4 MB of JSON that every command loading a spec would parse for this
    one list (50 ms); :func:`_instance_type_enum` reads the list from the model's text
    instead, and the model is parsed once, when an EC2 client is built."""
    found = _instance_type_enum()
    if found is None:
        model = botocore.model.ServiceModel(loader().load_service_model("ec2", "service-2"), "ec2")
        found = model.shape_for("InstanceType").enum
    return tuple(sorted(found))


def _instance_type_enum() -> list[str] | None:
    """The ``InstanceType`` enum from the text of the EC2 model botocore would load (the
    same search paths and file), or None when that is not certain: no such file, extras
    that may change the model, or not exactly one such shape in the text."""
    data = loader()
    version = data.determine_latest_version("ec2", "service-2")
    folders = [os.path.join(base, "ec2", version) for base in data.search_paths]
    folders = [folder for folder in folders if os.path.isdir(folder)]
    for folder in folders:  # botocore applies extras found in any of them
        if any(name.startswith("service-2.") and "-extras" in name for name in os.listdir(folder)):
            return None
    for folder in folders:
        for extension, opener in ((".json", open), (".json.gz", gzip.open)):
            path = os.path.join(folder, "service-2" + extension)
            if os.path.isfile(path):
                with opener(path, "rb") as handle:
                    found = _ENUM_RE.findall(handle.read())
                return json.loads(found[0]) if len(found) == 1 else None
    return None


@functools.cache
def _vcpu_data() -> dict:
    text = resources.files(DATA_PACKAGE).joinpath(VCPU_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def vcpus() -> dict[str, int]:
    """Default vCPU count per instance type, from the shipped data file."""
    return _vcpu_data()["vcpus"]


def vcpu_source() -> str:
    """Where and when the shipped vCPU data was read."""
    data = _vcpu_data()
    return f"{data['source']} ({data['generated']})"


def family(instance_type: str) -> str:
    """``c5a`` for ``c5a.24xlarge``."""
    return instance_type.split(".", 1)[0]


def size(instance_type: str) -> str:
    """``24xlarge`` for ``c5a.24xlarge``."""
    return instance_type.split(".", 1)[1]


def is_valid_pattern(pattern: str) -> bool:
    """True when ``pattern`` uses only instance-type characters and the wildcards ``*``/``?``."""
    return bool(_PATTERN_RE.match(pattern))


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def matches(pattern: str, instance_type: str) -> bool:
    """IAM ``StringLike`` semantics: ``*`` any run, ``?`` one character, case-sensitive."""
    return bool(_compiled(pattern).match(instance_type))


def expand(patterns: Iterable[str], universe: Iterable[str] | None = None) -> frozenset[str]:
    """The instance types of ``universe`` (default: the catalog) matched by any pattern."""
    pats = tuple(patterns)
    pool = instance_types() if universe is None else tuple(universe)
    return frozenset(t for t in pool if any(matches(p, t) for p in pats))


def _distance(a: str, b: str) -> int:
    """Optimal-string-alignment edit distance (insert, delete, substitute, swap)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def suggest(value: str, choices: Iterable[str]) -> str | None:
    """The closest valid value to a typo, or None when nothing is close.

    Fewest edits wins; among equals, the longer shared prefix (people rarely
    mistype the start of a name), then the closer overall shape.
    """
    best = None
    best_rank = None
    limit = max(2, len(value) // 3)
    for choice in choices:
        distance = _distance(value, choice)
        if distance > limit:
            continue
        rank = (
            distance,
            -_common_prefix(value, choice),
            -difflib.SequenceMatcher(None, value, choice).ratio(),
            choice,
        )
        if best_rank is None or rank < best_rank:
            best, best_rank = choice, rank
    return best


def compress(
    selected: Iterable[str], universe: Iterable[str] | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Short pattern lists ``(patterns, exceptions)`` describing ``selected``.

    Within ``universe``, the types matched by ``patterns`` and not listed in
    ``exceptions`` are exactly ``selected``. Candidates are whole families
    (``c5.*``) and whole sizes (``*.large``); a greedy cover takes the candidate
    that saves the most entries (types covered minus new exceptions), and lists
    the remaining types one by one.
    """
    chosen = frozenset(selected)
    pool = frozenset(instance_types() if universe is None else universe) | chosen
    groups: dict[str, set[str]] = {}
    for t in pool:
        groups.setdefault(f"{family(t)}.*", set()).add(t)
        groups.setdefault(f"*.{size(t)}", set()).add(t)
    candidates = {p: frozenset(m) for p, m in groups.items() if len(m) > 1}
    uncovered = set(chosen)
    excepted: set[str] = set()
    patterns: list[str] = []

    def saving(members: frozenset[str]) -> int:
        return len(members & uncovered) - len(members - chosen - excepted) - 1

    while uncovered and candidates:
        pattern, members = max(candidates.items(), key=lambda kv: (saving(kv[1]), kv[0]))
        if saving(members) <= 0:
            break
        patterns.append(pattern)
        uncovered -= members
        excepted |= members - chosen
        del candidates[pattern]
    patterns.extend(uncovered)
    return tuple(sorted(patterns)), tuple(sorted(excepted))
