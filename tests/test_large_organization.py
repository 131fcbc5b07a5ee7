"""An organization with more accounts than one ``ListAccounts`` page: the list is read from
the tree, a level at a time with each parent's accounts side by side, and every run sees
the same accounts it would see by paging through ``ListAccounts``."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from test_single_flight import Wire
from test_verify_support import client, deploy_org, load, make_org, org_stack

from corral.audit.aws import Connection, iam_action
from corral.audit.checks import _accounts
from corral.audit.sweep import Progress, sweep
from corral.audit.verify import verify
from corral.cli.verify import required_actions

# Below the test organization's root and OUs, so that one page cannot hold them all:
# (OU to create under parent, accounts directly in it).
EXTRA = {"workloads": 22, "sandbox": 9, "nested": 7, "root": 4}


def grow(org) -> dict[str, str]:
    """Add an OU nested in workloads and ``EXTRA`` accounts; return OU name -> id."""
    api = client("organizations")
    nested = api.create_organizational_unit(ParentId=org.workloads, Name="nested")
    ous = {"workloads": org.workloads, "sandbox": org.sandbox, "root": org.root,
           "nested": nested["OrganizationalUnit"]["Id"]}  # fmt: skip
    for name, count in EXTRA.items():
        for i in range(count):
            made = api.create_account(Email=f"{name}{i}@example.com", AccountName=f"{name}{i}")
            account = made["CreateAccountStatus"]["AccountId"]
            if name != "root":
                api.move_account(AccountId=account, SourceParentId=org.root,
                                 DestinationParentId=ous[name])  # fmt: skip
    return ous


def paged(api) -> dict[str, str]:
    """Every account id -> status, through every ListAccounts page."""
    pages = api.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 20})
    return {a["Id"]: a["Status"] for page in pages for a in page["Accounts"]}


def test_more_than_a_page_is_read_from_the_tree_side_by_side(aws: None, tmp_path: Path) -> None:
    org = make_org()
    ous = grow(org)
    expected = paged(client("organizations"))
    assert len(expected) == 3 + sum(EXTRA.values()) > _accounts.PAGE
    conn = Connection(region="us-east-1", max_attempts=1)
    wire = Wire(conn)
    together = threading.Barrier(2, timeout=10)  # two parents' accounts on the wire at once
    met: list[bool] = []

    def meet(**_: object) -> None:
        if len(met) < 2:
            met.append(True)
            together.wait()

    conn.events.register("before-send.organizations.ListAccountsForParent", meet)
    listed = _accounts.listed(conn)
    assert {a["Id"]: a["Status"] for a in listed} == expected
    assert len(listed) == len(expected)
    assert met == [True, True] and not together.broken
    sent = wire.operations()
    assert sent["ListAccounts"] == 1  # the first page only
    assert sent["ListRoots"] == 1
    assert sent["ListOrganizationalUnitsForParent"] == 4  # the root and its 3 OUs
    assert sent["ListAccountsForParent"] == 4 + 1  # a page each; workloads' 23 take two
    assert _accounts.listed(conn) is listed  # read once per connection
    parents = _accounts.parents(conn)
    assert parents[ous["nested"]] == org.workloads and parents[org.workloads] == org.root
    assert parents[org.dev] == org.workloads and parents[org.management] == org.root
    assert len(parents) == len(expected) + 3  # every account and the 3 OUs


def test_a_small_organization_is_one_page(aws: None) -> None:
    make_org()
    conn = Connection(region="us-east-1", max_attempts=1)
    wire = Wire(conn)
    assert len(_accounts.listed(conn)) == 3
    assert _accounts.parents(conn) is None
    assert wire.operations() == Counter({"ListAccounts": 1})


@pytest.mark.parametrize("command", ["verify", "sweep"])
def test_runs_of_a_large_organization_cover_every_account_with_declared_reads(
    aws: None, tmp_path: Path, command: str
) -> None:
    org = make_org()
    grow(org)
    spec = load(org_stack(tmp_path, org))
    deploy_org(spec)
    conn = Connection(region=spec.region, max_attempts=1)
    wire = Wire(conn)
    if command == "verify":
        found = verify(spec, conn)
        judged = {f.account for f in found if f.check == "guardrail-reaches-accounts"}
    else:
        found = sweep(spec, conn, regions=["us-east-1"], workers=8, progress=Progress())
        judged = {f.account for f in found if f.check == "account-reachable"}
    assert judged == set(paged(client("organizations")))
    assert wire.operations()["ListAccounts"] == 1
    # The tree that listed the accounts holds every account's path: no ListParents at all
    # (a smaller organization asks one per account and, in a sweep, per OU).
    assert wire.operations()["ListParents"] == 0
    assert {iam_action(*call.split(":")) for call in conn.calls} <= set(required_actions())
