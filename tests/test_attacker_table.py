"""SECURITY.md's attacker-path table is the one the probes generate for the two example
stacks; regenerate it with CORRAL_UPDATE_DOCS=1 after a reviewed change."""

from __future__ import annotations

import doctest
import os

import pytest

import corral.evaluate.attacker
from corral.evaluate.attacker import (
    END,
    NOT_PROBED,
    START,
    Column,
    _merged,
    attacker_table,
    replace_marked,
)
from corral.spec.load import from_config, load_stack_file
from tests.conftest import EXAMPLE_STACK, ROOT

SECURITY = ROOT / "SECURITY.md"
README = ROOT / "README.md"
SPEND_STACK = ROOT / "Pulumi.spend-example.yaml"
UPDATE = os.environ.get("CORRAL_UPDATE_DOCS") == "1"


def columns() -> list[Column]:
    """The two example stacks: an account under the organization's workloads OU, and the
    standalone account of the spend example."""
    return [
        Column(
            "organization (`Pulumi.example.yaml`, an account under `workloads`)",
            load_stack_file(EXAMPLE_STACK),
            "workloads",
        ),
        Column("account (`Pulumi.spend-example.yaml`)", load_stack_file(SPEND_STACK)),
    ]


@pytest.fixture(scope="module")
def table() -> str:
    return attacker_table(columns())


def rows(table: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for every row of every table (not the headers)."""
    found = {}
    lines = table.splitlines()
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("| ") and not line.startswith("| ---") and not after.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            found.setdefault(cells[0], cells[1:])
    return found


def test_module_docstring_example_runs():
    assert doctest.testmod(corral.evaluate.attacker).failed == 0


def test_security_md_holds_the_generated_table(table):
    text = SECURITY.read_text("utf-8")
    wanted = replace_marked(text, table)
    if UPDATE and wanted != text:
        SECURITY.write_text(wanted, "utf-8")
        text = wanted
    assert text == wanted, (
        "SECURITY.md's attacker table differs from the probes; review the change and run "
        "CORRAL_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_attacker_table.py"
    )


def test_no_probe_fails_and_every_path_has_an_outcome(table):
    assert "FAILS" not in table
    for path, cells in rows(table).items():
        assert all(c.startswith(("denied by `", "open: ", "not denied", NOT_PROBED)) for c in cells)
        assert path


def test_the_must_deny_paths_name_their_statements(table):
    found = rows(table)
    both = {
        "Create `role/corral-break-glass`, named like an exempt principal (`iam:CreateRole`)":
            "CorralProtectIdentities",
        "Edit or delete corral's role `role/corral/x` (`iam:AttachRolePolicy`)":
            "CorralProtectIdentities",
        "Edit or delete corral's policy `policy/corral/x` (`iam:DeletePolicy`)":
            "CorralProtectIdentities",
        "A Spot request (`ec2:RequestSpotInstances`)": "CorralDenySpotRequests",
        "Another compute service, lightsail (`lightsail:CreateInstances`)":
            "CorralDenyComputeServices",
        "Buy savingsPlans (`savingsplans:CreateSavingsPlan`)": "CorralDenyPurchases",
    }  # fmt: skip
    for path, sid in both.items():
        assert found[path][:2] == [f"denied by `{sid}`"] * 2, path
    groups = "Leave or delete the guarded group `developers` (`iam:RemoveUserFromGroup`)"
    assert found[groups] == [NOT_PROBED, "denied by `CorralProtectGuardedGroups`"]
    assert found["The exempt (break-glass) principal doing each denied path above"] == [
        "not denied",
        "not denied",
    ]
    asg = next(cells for path, cells in found.items() if path.startswith("An Auto Scaling"))
    assert asg[0].startswith("open: ") and "alarmed" not in asg[0]  # no spend detection
    assert "**alarmed**: the On-Demand instances it starts" in asg[1]


def test_the_boundary_table_lists_what_the_boundary_omits(table):
    bounded = table.split("| Path of a principal created under corral's boundary |", 1)[1]
    found = rows(bounded)
    opened = {p for p, cells in found.items() if cells[0].startswith("open: Corral")}
    assert opened == {p for p in found if p.startswith(("Another compute service", "Buy "))}
    spot = (
        "A Spot launch of a permitted type (`ec2:RunInstances` with `ec2:InstanceMarketType` spot)"
    )
    assert found[spot] == ["denied by `CorralDenySpotLaunches`"]


def test_readme_points_to_the_table():
    assert "SECURITY.md" in README.read_text("utf-8")
    assert "attacker" in README.read_text("utf-8").lower()


def test_rows_merge_in_each_columns_order_and_missing_cells_say_so():
    assert _merged([["a", "c"], ["a", "b", "c", "d"], ["x"]]) == ["x", "a", "b", "c", "d"]
    spec = from_config(
        {
            "aws:region": "us-east-1",
            "corral:mode": "account",
            "corral:allowedRegions": ["us-east-1"],
            "corral:principals": {"users": ["dev"]},
            "corral:protections": {"principals": False, "accessKeys": False, "guardrails": False,
                                   "cloudTrail": False, "guardDuty": False, "config": False,
                                   "leaveOrganization": False},
        }
    )  # fmt: skip
    found = rows(attacker_table([Column("a", spec)]))
    assert "Under corral's boundary" not in "".join(found)
    assert found["A Spot request (`ec2:RequestSpotInstances`)"] == [
        "denied by `CorralDenySpotRequests`"
    ]


def test_replace_marked_needs_both_markers_in_order():
    text = f"intro\n{START}\nold\n{END}\noutro\n"
    assert replace_marked(text, "| t |\n") == f"intro\n{START}\n\n| t |\n\n{END}\noutro\n"
    for bad in ("no markers", f"{END}\n{START}", f"{START}{START}{END}"):
        with pytest.raises(ValueError, match=r"^SECURITY\.md needs one"):
            replace_marked(bad, "")
