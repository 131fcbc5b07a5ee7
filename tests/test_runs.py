"""Run records (``corral.audit.runs``) and what ``corral merge`` proves before merging."""

from __future__ import annotations

import pytest

from corral import __version__
from corral.audit import runs
from corral.audit.findings import ReportError


def _record(shard: tuple[int, int] | None, accounts: list[str], **over: object) -> dict:
    return {**runs.record("verify", "sha256:a", shard, accounts), **over}


def test_a_record_names_version_spec_shard_selection_and_accounts() -> None:
    assert runs.record("sweep", "sha256:a", (2, 4), ["2", "1", "2"], ["1"]) == {
        "command": "sweep",
        "corral": __version__,
        "spec": "sha256:a",
        "shard": "2/4",
        "selected": ["1"],
        "accounts": ["1", "2"],
    }


def test_merging_every_shard_gives_the_whole_runs_record() -> None:
    merged = runs.merge([("a", _record((1, 2), ["1"])), ("b", _record((2, 2), ["2", "3"]))])
    assert merged == _record(None, ["1", "2", "3"])


@pytest.mark.parametrize(
    ("reports", "message"),
    [
        ([("a", _record((1, 3), [])), ("c", _record((3, 3), []))],
         "shard 2/3 is missing (2 of 3 given); pass the report of every shard."),
        ([("a", _record((1, 2), [])), ("b", _record((1, 2), []))],
         "b and a are both shard 1/2; pass each shard once."),
        ([("a", _record((1, 2), [])), ("b", _record((2, 3), []))],
         "b is shard 2/3 but a is one of 2 shards; merge the shards of one run."),
        ([("a", _record((1, 2), [])), ("b", _record((2, 2), [], spec="sha256:b"))],
         "b (spec sha256:b) does not match a (spec sha256:a); merge the reports of one run only."),
        ([("a", _record((1, 2), [])), ("b", _record((2, 2), [], command="sweep"))],
         "b (command sweep) does not match a (command verify)"),
        ([("a", _record((1, 2), [])), ("b", _record((2, 2), [], corral="0.0.1"))],
         "b (corral version 0.0.1) does not match"),
        ([("a", _record((1, 2), [])), ("b", _record(None, []))],
         "b is a whole run, not a shard"),
        ([("a", _record(None, ["1"])), ("b", _record(None, ["1", "2"]))],
         "b and a both cover account 1"),
        ([("a", None)], "a: has no run record (corral version, spec, shard, accounts)"),
    ],
)  # fmt: skip
def test_a_set_that_is_not_one_whole_run_is_refused(reports: list, message: str) -> None:
    with pytest.raises(ReportError) as caught:
        runs.merge(reports)
    assert message in str(caught.value)
