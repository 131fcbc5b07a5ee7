"""The organization's accounts, in as few round trips as the organization allows.

``ListAccounts`` answers at most 20 accounts a page, each page asked after the one before:
501 pages in a row for 10,000 accounts (some 50 s at a 100 ms round trip), and every
shard of a run asks for all of them. Its first page is asked as before: it is a small
organization's whole list, and the read whose failure says that the caller is not in an
organization. When more pages follow, the list is read from the tree instead, a level of
OUs at a time (``ListOrganizationalUnitsForParent``), the accounts directly below every
root and OU (``ListAccountsForParent``) side by side on :data:`WORKERS` threads: the tree's
depth plus the most pages a single parent has, in round trips, while there are no more
parents than threads (10,000 accounts in OUs of 100: 608 requests in some 55 round trips,
against 501 in a row). ``verify`` reads that tree anyway (``guardrail-reaches-accounts``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from corral.audit.aws import Connection

ORG = "organizations"
PAGE = 20  # the most accounts a ListAccounts page holds
WORKERS = 16
ACTIONS = (
    "organizations:ListAccounts",
    "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListAccountsForParent",
)


def listed(conn: Connection) -> list[dict]:
    """Every account of the organization, as Organizations describes each (``Id``,
    ``Name``, ``Status``, ...), read once per connection. Raises ReadError."""
    return _read_once(conn)[0]


def parents(conn: Connection) -> dict[str, str] | None:
    """Each account's and OU's parent, when the list was read from the tree (every path is
    then known without a ``ListParents``); None when one page held the list."""
    return _read_once(conn)[1]


def _read_once(conn: Connection) -> tuple[list[dict], dict[str, str] | None]:
    return conn.once((ORG, "accounts"), lambda: _read(conn))


def _read(conn: Connection) -> tuple[list[dict], dict[str, str] | None]:
    first = conn.read(ORG, "ListAccounts", first_page=True, MaxResults=PAGE)
    if not first.get("NextToken"):
        return first.get("Accounts", []), None
    parent_of: dict[str, str] = {}
    below = []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        level = [root["Id"] for root in conn.read(ORG, "ListRoots")["Roots"]]
        while level:
            below += [(p, pool.submit(conn.read, ORG, "ListAccountsForParent", ParentId=p))
                      for p in level]  # fmt: skip
            children = pool.map(
                lambda p: conn.read(ORG, "ListOrganizationalUnitsForParent", ParentId=p), level
            )
            listed_ous = [(p, ou["Id"]) for p, out in zip(level, children, strict=True)
                          for ou in out.get("OrganizationalUnits", [])]  # fmt: skip
            parent_of.update((ou, p) for p, ou in listed_ous)
            level = [ou for _, ou in listed_ous]
    accounts = []
    for parent, future in below:
        for account in future.result().get("Accounts", []):
            parent_of[account["Id"]] = parent
            accounts.append(account)
    return accounts, parent_of
