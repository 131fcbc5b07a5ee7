"""The run record a JSON report carries, and what ``corral merge`` proves before merging.

A record says which corral made the report, from which spec (:func:`spec_hash` of the
validated spec), for which command, shard and ``--accounts`` selection, and which
accounts the run judged. Merging refuses a set of reports that is not exactly the
shards ``1/N`` .. ``N/N`` of one run (or unsharded reports of disjoint accounts), naming
the missing, duplicate or mismatched report: a lost shard never merges into a pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from corral import __version__
from corral.audit.findings import ReportError

# Fields every shard of one run shares, and how a message names them.
SHARED = (("command", "command"), ("corral", "corral version"), ("spec", "spec"),
          ("selected", "--accounts selection"))  # fmt: skip


def record(
    command: str,
    spec: str,
    shard: tuple[int, int] | None,
    accounts: Sequence[str],
    selected: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The run record of one report."""
    return {
        "command": command,
        "corral": __version__,
        "spec": spec,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        "selected": sorted(set(selected)) if selected else None,
        "accounts": sorted(set(accounts)),
    }


def merge(reports: Sequence[tuple[str, Mapping[str, Any] | None]]) -> dict[str, Any]:
    """The record of the merged report of ``(path, record)`` pairs; ReportError otherwise."""
    for path, run in reports:
        if not isinstance(run, Mapping):
            raise ReportError(
                f"{path}: has no run record (corral version, spec, shard, accounts); make it "
                f"again with corral {__version__} and --format json."
            )
    first_path, first = reports[0]
    for key, what in SHARED:
        for path, run in reports[1:]:
            if run.get(key) != first.get(key):
                raise ReportError(
                    f"{path} ({what} {run.get(key)}) does not match {first_path} ({what} "
                    f"{first.get(key)}); merge the reports of one run only."
                )
    shards = [(path, run.get("shard")) for path, run in reports]
    if all(shard is None for _, shard in shards):
        _disjoint(reports)
    else:
        _complete(shards)
    accounts = {a for _, run in reports for a in run.get("accounts") or ()}
    return {**first, "shard": None, "accounts": sorted(accounts)}


def _disjoint(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    seen: dict[str, str] = {}
    for path, run in reports:
        for account in run.get("accounts") or ():
            if account in seen:
                raise ReportError(
                    f"{path} and {seen[account]} both cover account {account}; pass each "
                    "account's report once (or the --shard reports of one run)."
                )
            seen[account] = path


def _complete(shards: Sequence[tuple[str, Any]]) -> None:
    parsed: list[tuple[str, int, int]] = []
    for path, shard in shards:
        index, count = _shard(path, shard)
        parsed.append((path, index, count))
    first_path, _, total = parsed[0]
    by_index: dict[int, str] = {}
    for path, index, count in parsed:
        if count != total:
            raise ReportError(
                f"{path} is shard {index}/{count} but {first_path} is one of {total} shards; "
                "merge the shards of one run."
            )
        if index in by_index:
            raise ReportError(
                f"{path} and {by_index[index]} are both shard {index}/{total}; pass each "
                "shard once."
            )
        by_index[index] = path
    missing = [f"{i}/{total}" for i in range(1, total + 1) if i not in by_index]
    if missing:
        raise ReportError(
            f"shard {', '.join(missing)} is missing ({len(by_index)} of {total} given); pass "
            "the report of every shard."
        )


def _shard(path: str, shard: Any) -> tuple[int, int]:
    if shard is None:
        raise ReportError(
            f"{path} is a whole run, not a shard; merge the --shard reports of one run only."
        )
    try:
        index, count = (int(part) for part in str(shard).split("/"))
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        raise ReportError(f"{path}: its shard {shard!r} is not I/N; make the report again.")
    return index, count
