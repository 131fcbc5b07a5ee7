"""The folders are the architecture (DESIGN.md, STYLE.md 8): a test reads every import.

``corral.spec`` imports nothing else of corral; ``corral.build`` only ``spec``;
``corral.evaluate`` only ``spec`` and ``build``; ``corral.audit`` never ``cli``; nothing
under ``corral/`` imports Pulumi, ``components``, ``policies`` or ``examples``; no import
circles (function-level imports count); no file over 400 lines in ``corral/``,
``components/`` or ``policies/``. Each rule is also shown to fire on a graph that breaks it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
LAYERS = ("spec", "build", "evaluate", "audit", "cli")
MAY_IMPORT = {
    "spec": {"spec"},
    "build": {"spec", "build"},
    "evaluate": {"spec", "build", "evaluate"},
    "audit": {"spec", "build", "evaluate", "audit"},
    "cli": set(LAYERS),
}
FORBIDDEN_ROOTS = ("pulumi", "pulumi_aws", "pulumi_policy", "components", "policies", "examples")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file, as absolute dotted names."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    return imports_in(path.read_text("utf-8"), package)


def imports_in(source: str, package: str) -> set[str]:
    """The imports of ``source``, a module of ``package`` (for relative imports)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from corral.spec import keys` imports the module corral.spec.keys.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """corral module -> the corral modules (that exist) and foreign roots it imports."""
    paths = sorted((ROOT / "corral").rglob("*.py"))
    modules = {module_name(p) for p in paths}
    graph = {}
    for path in paths:
        edges = set()
        for name in imports_of(path):
            if name in modules or not name.startswith("corral"):
                edges.add(name)
        graph[module_name(path)] = edges - {module_name(path)}
    return graph


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def layer_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """One sentence per import that crosses the layer table."""
    problems = []
    for module, edges in sorted(graph.items()):
        layer = layer_of(module)
        for target in sorted(edges):
            root = target.split(".")[0]
            if root in FORBIDDEN_ROOTS:
                problems.append(f"{module} imports {target}; nothing under corral/ may.")
            elif root == "corral" and layer is not None:
                other = layer_of(target)
                if other is not None and other not in MAY_IMPORT[layer]:
                    problems.append(f"{module} ({layer}) imports {target} ({other}).")
    return problems


def circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every strongly connected group of corral modules larger than one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def long_files() -> list[str]:
    found = []
    for folder in ("corral", "components", "policies"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "venv" in path.parts:
                continue
            count = len(path.read_text("utf-8").splitlines())
            if count > MAX_LINES:
                found.append(f"{path.relative_to(ROOT)} has {count} lines")
    return found


# --------------------------------------------------------------------------- the real tree


def test_every_corral_module_sits_in_a_layer() -> None:
    loose = [m for m in import_graph() if m not in {"corral", "corral.__main__"}]
    assert [m for m in loose if layer_of(m) is None] == []


def test_no_import_crosses_the_layer_table() -> None:
    assert layer_violations(import_graph()) == []


def test_no_import_circles() -> None:
    assert circles(import_graph()) == []


def test_no_file_over_the_line_limit() -> None:
    assert long_files() == []


def test_the_graph_sees_function_level_and_aliased_imports() -> None:
    graph = import_graph()
    # corral/cli/main.py imports corral.audit.catalog_refresh inside a function.
    assert "corral.audit.catalog_refresh" in graph["corral.cli.main"]
    assert "corral.spec.keys" in graph["corral.build.documents"]


# --------------------------------------------------------------------------- the rules fire


@pytest.mark.parametrize(
    ("module", "target", "expected"),
    [
        ("corral.spec.model", "corral.build.documents", "(spec) imports corral.build.documents"),
        ("corral.build.documents", "corral.evaluate.engine", "(build) imports"),
        ("corral.evaluate.engine", "corral.audit.aws", "(evaluate) imports corral.audit.aws"),
        ("corral.audit.verify", "corral.cli.errors", "(audit) imports corral.cli.errors"),
        ("corral.build.documents", "pulumi", "imports pulumi; nothing under corral/ may."),
        ("corral.cli.main", "policies.harness", "imports policies.harness; nothing"),
        ("corral.audit.sweep", "examples.emulator.mocks", "imports examples.emulator.mocks"),
    ],
)
def test_a_broken_layer_rule_is_reported(module: str, target: str, expected: str) -> None:
    graph = {module: {target}, target: set()}
    [problem] = layer_violations(graph)
    assert expected in problem


def test_allowed_imports_are_not_reported() -> None:
    graph = {
        "corral.cli.main": {"corral.audit.verify", "corral.spec.keys", "argparse"},
        "corral.audit.verify": {"corral.evaluate.engine", "corral.build.documents", "boto3"},
        "corral.evaluate.engine": {"corral.build.documents", "corral.spec.model"},
        "corral.build.documents": {"corral.spec.model"},
        "corral.spec.model": {"corral.spec.keys", "yaml"},
    }
    assert layer_violations(graph) == []
    assert circles(graph) == []


def test_a_circle_is_reported() -> None:
    graph = {
        "corral.spec.load": {"corral.spec.spend"},
        "corral.spec.spend": {"corral.spec.readers", "corral.spec.load"},
        "corral.spec.readers": set(),
    }
    assert circles(graph) == [["corral.spec.load", "corral.spec.spend"]]


def test_imports_in_resolves_relative_and_nested_imports() -> None:
    source = "from . import keys\nfrom ..build.plan import Plan\n\ndef f():\n    import yaml\n"
    found = imports_in(source, "corral.spec")
    assert {"corral.spec.keys", "corral.build.plan", "yaml"} <= found
