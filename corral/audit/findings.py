"""Findings and the reports made from them: table, org tree, JSON, SARIF 2.1.0, JUnit XML.

Every report is a pure function of the (sorted) findings, so shards merged from
JSON give byte-identical reports to a single run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

if TYPE_CHECKING:  # the SARIF writer and the stack-file reader load only when SARIF is made
    from corral.spec.locate import KeyLines

PASS = "PASS"
FAIL = "FAIL"
ERROR = "ERROR"
STATUSES = (PASS, FAIL, ERROR)
FORMATS = ("table", "json", "sarif", "junit")
# SARIF result level per status; PASS is left out (code scanning shows every result).
SARIF_LEVELS = {FAIL: "error", ERROR: "warning"}
MAX_REPORT_BYTES = 1 << 30


class ReportError(ValueError):
    """A findings file cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class Finding:
    """One result of one check for one resource."""

    check: str
    status: str
    account: str
    region: str | None
    resource: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The JSON form (``details`` only when present)."""
        data = asdict(self)
        if not self.details:
            del data["details"]
        else:
            data["details"] = dict(self.details)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Parse the JSON form; raises ``ReportError`` on a malformed entry."""
        try:
            finding = cls(
                check=data["check"],
                status=data["status"],
                account=data["account"],
                region=data.get("region"),
                resource=data["resource"],
                message=data["message"],
                details=data.get("details") or {},
            )
        except (KeyError, TypeError) as exc:
            raise ReportError(f"finding {data!r:.80} lacks {exc}") from None
        texts = (finding.check, finding.status, finding.account, finding.resource, finding.message)
        if (
            not all(isinstance(t, str) for t in texts)
            or not isinstance(finding.region, str | None)
            or not isinstance(finding.details, Mapping)
        ):
            raise ReportError(f"finding {data!r:.80} has a field of the wrong type")
        if finding.status not in STATUSES:
            raise ReportError(f"finding status {finding.status!r} is not one of {STATUSES}")
        return finding

    @property
    def sort_key(self) -> tuple:
        """Order: account, check, region, resource, status, message."""
        return (
            self.account,
            self.check,
            self.region or "",
            self.resource,
            self.status,
            self.message,
        )


def normalise(findings: Iterable[Finding]) -> list[Finding]:
    """Sorted, without duplicates: the one order every report uses."""
    unique = {json.dumps(f.to_dict(), sort_keys=True): f for f in findings}
    return sorted(unique.values(), key=lambda f: f.sort_key)


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Number of findings per status."""
    result = dict.fromkeys(STATUSES, 0)
    for f in findings:
        result[f.status] += 1
    return result


# --------------------------------------------------------------------------- JSON


def to_json(findings: Sequence[Finding], run: Mapping[str, Any] | None = None) -> str:
    """``{"findings": [...], "summary": {...}}`` (and ``"run"``: the run record, when
    given), sorted and indented."""
    ordered = normalise(findings)
    payload: dict[str, Any] = {"findings": [f.to_dict() for f in ordered]}
    payload["summary"] = counts(ordered)
    if run is not None:
        payload["run"] = dict(run)
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def load_json(path: str | Path) -> list[Finding]:
    """Read the findings of a JSON report written by :func:`to_json`."""
    return load_report(path)[0]


def load_report(path: str | Path) -> tuple[list[Finding], dict[str, Any] | None]:
    """The findings and the run record (None when absent) of a JSON report."""
    try:
        if Path(path).stat().st_size > MAX_REPORT_BYTES:
            raise ReportError(f"{path}: is larger than {MAX_REPORT_BYTES:,} bytes; is it a report?")
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: file not found; pass the JSON reports of each shard.") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, ReportError):
            raise
        problem = " ".join(str(exc).split())[:120]
        raise ReportError(f"{path}: not a JSON report ({problem}); use --format json.") from None
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise ReportError(f"{path}: has no 'findings' list; use a report from --format json.")
    run = data.get("run")
    if run is not None and not isinstance(run, dict):
        raise ReportError(f"{path}: its 'run' record is not a map; make the report again.")
    try:
        return [Finding.from_dict(item) for item in data["findings"]], run
    except ReportError as exc:
        raise ReportError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- table


def to_table(findings: Sequence[Finding], show_pass: bool = False) -> str:
    """FAIL and ERROR findings (every finding with ``show_pass``) grouped by account, then
    the org tree, the counts per check and a one-line summary."""
    ordered = normalise(findings)
    lines: list[str] = []
    by_account: dict[str, list[Finding]] = {}
    for f in ordered:
        if show_pass or f.status != PASS:
            by_account.setdefault(f.account, []).append(f)
    for account, group in by_account.items():
        lines.append(f"Account {account}")
        for f in group:
            where = f.region or "-"
            lines.append(f"  {f.status:<5}  {f.check:<28} {where:<15} {f.resource}")
            if f.status != PASS:
                lines.append(f"         {f.message}")
        lines.append("")
    tree = org_tree(ordered)
    if tree:
        lines += ["Organization: guardrails reaching each account", *tree, ""]
    lines += per_check(ordered)
    c = counts(ordered)
    if c[PASS] and not show_pass:
        lines.append(f"The {c[PASS]} passing findings are not listed; --show-pass lists them.")
    lines.append(f"{c[PASS]} passed, {c[FAIL]} failed, {c[ERROR]} could not be checked.")
    return "\n".join(lines) + "\n"


def per_check(findings: Sequence[Finding]) -> list[str]:
    """One line per check: how many findings passed, failed and could not be checked."""
    by_check: dict[str, list[Finding]] = {}
    for f in findings:
        by_check.setdefault(f.check, []).append(f)
    if not by_check:
        return []
    lines = [f"{'check':<30} {'passed':>7} {'failed':>7} {'error':>7}"]
    for check, group in sorted(by_check.items()):
        c = counts(group)
        lines.append(f"{check:<30} {c[PASS]:>7} {c[FAIL]:>7} {c[ERROR]:>7}")
    return [*lines, ""]


def org_tree(findings: Sequence[Finding]) -> list[str]:
    """An indented root -> OU -> account view from findings carrying a ``path`` detail."""
    tree: dict[str, Any] = {}
    for f in findings:
        path = f.details.get("path")
        if not path:
            continue
        node = tree
        for label in path[:-1]:
            node = node.setdefault(label, {})
        reached = ", ".join(f.details.get("reached", [])) or "none"
        mark = "" if f.status == PASS else f"  [{f.status}]"
        node[f"{path[-1]}: {reached}{mark}"] = {}
    lines: list[str] = []

    def walk(node: Mapping[str, Any], depth: int) -> None:
        for label in sorted(node):
            lines.append(f"{'  ' * depth}- {label}")
            walk(node[label], depth + 1)

    walk(tree, 1)
    return lines


# --------------------------------------------------------------------------- SARIF


def to_sarif(
    findings: Sequence[Finding],
    rules: Mapping[str, Mapping[str, Any]],
    stack: KeyLines | None = None,
    command: str | None = None,
) -> str:
    """SARIF 2.1.0 for code-scanning upload (:mod:`corral.audit.sarif`): FAIL findings at
    level error, ERROR at warning, PASS left out; ``rules`` maps check id to its metadata,
    ``stack`` (the stack file's key lines) gives every result its physical location."""
    from corral.audit import sarif  # noqa: PLC0415

    return sarif.document(normalise(findings), rules, SARIF_LEVELS, stack, command)


# --------------------------------------------------------------------------- JUnit


def to_junit(findings: Sequence[Finding]) -> str:
    """JUnit XML: one test suite per check, one test case per finding."""
    ordered = normalise(findings)
    by_check: dict[str, list[Finding]] = {}
    for f in ordered:
        by_check.setdefault(f.check, []).append(f)
    c = counts(ordered)
    root = ET.Element(
        "testsuites",
        name="corral",
        tests=str(len(ordered)),
        failures=str(c[FAIL]),
        errors=str(c[ERROR]),
    )
    for check, group in by_check.items():
        gc = counts(group)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=check,
            tests=str(len(group)),
            failures=str(gc[FAIL]),
            errors=str(gc[ERROR]),
        )
        for f in group:
            name = " ".join(part for part in (f.account, f.region, f.resource) if part)
            case = ET.SubElement(suite, "testcase", classname=check, name=name)
            if f.status == FAIL:
                ET.SubElement(case, "failure", message=f.message).text = f.message
            elif f.status == ERROR:
                ET.SubElement(case, "error", message=f.message).text = f.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


# --------------------------------------------------------------------------- output


def render(
    findings: Sequence[Finding],
    fmt: str,
    rules: Mapping[str, Mapping[str, Any]],
    run: Mapping[str, Any] | None = None,
    show_pass: bool = False,
    stack: KeyLines | None = None,
) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`); JSON carries ``run`` when given, the
    table lists passing findings only with ``show_pass``, SARIF points into ``stack``."""
    if fmt == "json":
        return to_json(findings, run)
    if fmt == "sarif":
        return to_sarif(findings, rules, stack, (run or {}).get("command"))
    if fmt == "junit":
        return to_junit(findings)
    return to_table(findings, show_pass)


def write_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename: never a partial file."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
