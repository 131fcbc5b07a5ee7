"""Benchmark: ``corral sweep --shard I/N`` of a simulated 10,000-account organization.

No emulator: moto would spend minutes creating 10,000 accounts and serving ~70,000 requests
per pass. Instead a synthetic read layer, :class:`Synthetic`, a
:class:`~corral.audit.aws.Connection` whose one method that sends a request (``_call``)
answers Organizations, STS, EC2 and IAM reads from memory after sleeping a fixed cost per
request (``--cost-ms``, the interpreter lock released as on a network wait). Everything
above it is corral's own: the sweep, its thread pool, the single-flight memo, the checks,
the findings. The organization: ``--accounts`` member accounts in OUs of 100 under the root,
``--regions`` enabled regions each, every 50th account with one instance (so its path is
looked up), no IAM users.

For each N in ``--shards`` it runs shards 1/N .. N/N one after another (or, with
``--sample K``, K of them spread over 1..N: then the totals are extrapolated from the
sample, and it says so) and prints per shard its wall time and requests; per N the median
shard's time, its peak traced memory (tracemalloc, in a second pass over the first shard
only, since tracing slows Python several times; the account list a shard holds is counted)
and the total requests, each as a ratio to N=1. Per-shard figures should fall as 1/N and
the total stay flat.

Every shard reads the whole account list to know which accounts are its own, and keeps it
in memory: that part is the same in every shard and does not fall with N; it is measured
apart, once, before the shards (its requests and the time they take at the given cost).
Past one ``ListAccounts`` page it is read from the tree (``corral.audit.checks._accounts``):
``ListOrganizationalUnitsForParent`` a level at a time, ``ListAccountsForParent`` of every
parent side by side; ``--list-pages`` reads it the way it was read before, every
``ListAccounts`` page one after another, for comparison.

Usage: .venv/bin/python bench/bench_shards.py [--accounts 10000] [--shards 1 4 16 64]
       [--sample 4] [--cost-ms 2] [--regions 2] [--list-pages]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corral.audit.aws import Connection  # noqa: E402
from corral.audit.checks import _accounts  # noqa: E402
from corral.audit.sweep import Progress, sweep  # noqa: E402
from corral.spec.load import load_stack_file  # noqa: E402

MANAGEMENT = "100000000000"
ROOT_ID = "r-sim0"
PER_OU = 100
PAGE = 20  # the page size of ListAccounts, ListAccountsForParent and the OU listing
LISTING = {action.split(":")[1] for action in _accounts.ACTIONS}
REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-south-1", "sa-east-1")
STACK = """\
config:
  aws:region: us-east-1
  corral:mode: organization
  corral:allowedRegions: [us-east-1, eu-west-1]
  corral:allowLockout: true
  corral:instances: {allow: [t3.*]}
  corral:targets: [{id: r-sim0, name: root}]
"""


class Organization:
    """The simulated organization's answers."""

    def __init__(self, accounts: int, regions: int) -> None:
        self.accounts = [MANAGEMENT] + [f"{200000000000 + i:012d}" for i in range(accounts)]
        self.regions = REGIONS[:regions]
        self.parent = {MANAGEMENT: ROOT_ID}
        for i, account in enumerate(self.accounts[1:]):
            self.parent[account] = f"ou-sim0-{i // PER_OU:08d}"
        for ou in set(self.parent.values()) - {ROOT_ID}:
            self.parent[ou] = ROOT_ID
        self.listed = [{"Id": a, "Name": f"a{a}", "Status": "ACTIVE"} for a in self.accounts]
        self.below: dict[str, list[dict]] = {}  # parent -> its accounts, then its OUs
        for entry in self.listed:
            self.below.setdefault(self.parent[entry["Id"]], []).append(entry)
        self.ous: dict[str, list[str]] = {ROOT_ID: sorted(set(self.parent.values()) - {ROOT_ID})}
        self.expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)

    def pages(self, operation: str, params: dict, all_pages: bool) -> int:
        """Requests one read takes: the lists come 20 to a page, one page after another."""
        items = {
            "ListAccounts": len(self.accounts) if all_pages else 1,
            "ListAccountsForParent": len(self.below.get(params.get("ParentId"), [])),
            "ListOrganizationalUnitsForParent": len(self.ous.get(params.get("ParentId"), [])),
        }.get(operation, 1)
        return max(1, math.ceil(items / PAGE))

    def answer(self, operation: str, account: str | None, region: str, params: dict) -> dict:
        if operation == "GetCallerIdentity":
            return {"Account": MANAGEMENT}
        if operation == "AssumeRole":
            creds = {"AccessKeyId": "ASIA", "SecretAccessKey": "s", "SessionToken": "t"}
            return {"Credentials": {**creds, "Expiration": self.expiry}}
        if operation == "ListAccounts":  # new objects, as parsing the pages makes them
            if params.get("MaxResults"):  # the first page alone
                return {"Accounts": [dict(a) for a in self.listed[:PAGE]], "NextToken": "2"}
            return {"Accounts": [dict(a) for a in self.listed]}
        if operation == "ListRoots":
            return {"Roots": [{"Id": ROOT_ID, "Name": "Root"}]}
        if operation == "ListAccountsForParent":
            return {"Accounts": [dict(a) for a in self.below.get(params["ParentId"], [])]}
        if operation == "ListOrganizationalUnitsForParent":
            ous = self.ous.get(params["ParentId"], [])
            return {"OrganizationalUnits": [{"Id": ou, "Name": ou} for ou in ous]}
        if operation == "ListParents":
            parent = self.parent[params["ChildId"]]
            return {"Parents": [{"Id": parent, "Type": "ROOT" if parent == ROOT_ID else "OU"}]}
        if operation == "DescribeRegions":
            return {"Regions": [{"RegionName": r} for r in self.regions]}
        if operation == "DescribeInstances":
            index = self.accounts.index(account or MANAGEMENT) if account else 0
            if index % 50 or region != self.regions[-1]:
                return {"Reservations": []}
            instance = {"InstanceId": f"i-{index:017x}", "InstanceType": "t3.micro",
                        "LaunchTime": self.expiry, "State": {"Name": "running"},
                        "CpuOptions": {"CoreCount": 1, "ThreadsPerCore": 2}}  # fmt: skip
            return {"Reservations": [{"Instances": [instance]}]}
        if operation == "ListUsers":
            return {"Users": []}
        if operation == "GetAccountSummary":
            return {"SummaryMap": {"AccountAccessKeysPresent": 0}}
        raise AssertionError(f"the simulation does not answer {operation}")


class Synthetic(Connection):
    """A connection whose requests are answered from memory after a fixed cost each."""

    def __init__(self, org: Organization, cost: float, whole_list: bool = False) -> None:
        super().__init__(region="us-east-1")
        self.org, self.cost, self.whole_list = org, cost, whole_list
        self.requests: Counter[str] = Counter()
        self._counting = threading.Lock()

    def client(self, service: str, *, first_call: bool = False) -> None:
        return None  # nothing is sent through botocore

    def caller_account(self) -> str:
        if self._caller is None:
            self._caller = self._call("sts", "GetCallerIdentity", None, self.region, {})["Account"]
        return self._caller

    def _call(self, service, operation, account, region, params, client=None, pages=True):
        all_pages, pages = pages, self.org.pages(operation, params, pages)
        if operation == "ListAccounts" and self.whole_list and not all_pages:
            all_pages, pages, params = True, self.org.pages(operation, {}, True), {}
        with self._counting:
            self.requests[operation] += pages
        with self._called:  # as botocore's before-call does: prepare() waits for the first calls
            self.calls[f"{service}:{operation}"] += 1
            self._called.notify_all()
        time.sleep(self.cost * pages)  # a list's pages come one after another
        return self.org.answer(operation, account, region, params)


def list_accounts(org: Organization, cost: float, whole_list: bool) -> tuple[float, int]:
    """Seconds and requests reading the account list takes, as every shard reads it."""
    conn = Synthetic(org, cost, whole_list)
    start = time.perf_counter()
    listed = _accounts.listed(conn)
    assert len(listed) == len(org.accounts)
    return time.perf_counter() - start, sum(conn.requests.values())


def run_shard(org: Organization, stack: Path, shard: tuple[int, int], cost: float,
              whole_list: bool = False) -> dict:  # fmt: skip
    spec = load_stack_file(stack)
    conn = Synthetic(org, cost, whole_list)
    start = time.perf_counter()
    found = sweep(spec, conn, shard=shard, progress=Progress())
    wall = time.perf_counter() - start
    reached = sum(1 for f in found if f.check == "account-reachable")
    errors = [f for f in found if f.status == "ERROR"]
    if errors:
        raise SystemExit(f"shard {shard}: {errors[0].message}")
    listing = sum(n for operation, n in conn.requests.items() if operation in LISTING)
    return {"wall": wall, "requests": sum(conn.requests.values()), "accounts": reached,
            "list_pages": listing}  # fmt: skip


def peak_memory(org: Organization, stack: Path, shard: tuple[int, int], cost: float,
                whole_list: bool = False) -> float:  # fmt: skip
    """Peak traced memory of one shard's sweep, MiB (the organization's own answers, built
    before, are not counted)."""
    tracemalloc.start()
    try:
        run_shard(org, stack, shard, cost, whole_list)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def sample(count: int, k: int | None) -> list[int]:
    if not k or k >= count:
        return list(range(1, count + 1))
    return sorted({round(1 + i * (count - 1) / (k - 1)) for i in range(k)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000, help="member accounts")
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--sample", type=int, default=4, help="shards run per N (0: all)")
    parser.add_argument("--cost-ms", type=float, default=2.0, help="per request")
    parser.add_argument("--regions", type=int, default=2, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--list-pages", action="store_true",
                        help="read the account list page after page of ListAccounts")  # fmt: skip
    parser.add_argument("--tmp", default="/tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    os.environ.pop("AWS_PROFILE", None)
    org = Organization(args.accounts, args.regions)
    stack = Path(args.tmp) / "Pulumi.bench-shards.yaml"
    stack.write_text(STACK)
    cost, whole = args.cost_ms / 1000, args.list_pages
    list_time, pages = list_accounts(org, cost, whole)
    how_listed = "every ListAccounts page in a row" if whole else "the tree, side by side"
    print(f"organization: {len(org.accounts)} accounts ({args.accounts} members in OUs of "
          f"{PER_OU}), {args.regions} regions each; {args.cost_ms:g} ms per request; every "
          f"shard first reads the account list ({how_listed}): {pages} requests, "
          f"{list_time:.2f} s")  # fmt: skip
    base: dict | None = None
    for count in args.shards:
        chosen = sample(count, args.sample)
        shards = {i: run_shard(org, stack, (i, count), cost, whole) for i in chosen}
        memory = peak_memory(org, stack, (chosen[0], count), cost, whole)
        for i, out in shards.items():
            print(f"  shard {i}/{count}: {out['accounts']} accounts, {out['wall']:.2f} s, "
                  f"{out['requests']} requests ({out['list_pages']} of them listing "
                  "accounts)")  # fmt: skip
        per_wall = statistics.median(o["wall"] for o in shards.values())
        per_requests = statistics.median(o["requests"] for o in shards.values())
        covered = sum(o["accounts"] for o in shards.values())
        extrapolated = len(chosen) < count
        total = sum(o["requests"] for o in shards.values()) * count / len(chosen)
        beyond = total - count * pages  # requests other than the shared account list
        rest = per_wall - list_time  # the shard's own accounts, after the account list
        figures = {"wall": per_wall, "memory": memory, "total": total, "beyond": beyond,
                   "rest": rest}  # fmt: skip
        base = base or figures
        how = f"extrapolated from {len(chosen)} of {count} shards" if extrapolated else "measured"
        print(f"N={count}: per shard {per_wall:.2f} s ({base['wall'] / per_wall:.1f}x less than "
              f"N=1, ideal {count}x; after the {list_time:.2f} s account list {rest:.2f} s, "
              f"{base['rest'] / rest:.1f}x less), peak memory {memory:.1f} MiB "
              f"({base['memory'] / memory:.1f}x less), {per_requests:.0f} requests; total work "
              f"{total:.0f} requests "
              f"({total / base['total']:.2f}x N=1; without the {count} x {pages} account-list "
              f"requests {beyond / base['beyond']:.2f}x), {how}; accounts covered by the shards "
              f"run {covered}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
