"""``corral sweep``: exposure in every account and every enabled region.

Accounts come from Organizations (organization mode, reached through
``--role-name``) or are the caller's own (account mode). Work runs on a bounded
thread pool sharing one connection; progress is counted for the caller to show.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from corral.audit import checks
from corral.audit.aws import DEFAULT_WORKERS, Connection
from corral.audit.checks import _accounts, _scope
from corral.audit.checks._base import SWEEP_ACCOUNT, SWEEP_REGION, SweepContext
from corral.audit.findings import ERROR, Finding
from corral.audit.progress import Progress
from corral.audit.verify import REACHABLE, check_member, check_selection, run_check, selector
from corral.spec import keys as K
from corral.spec.model import Spec

_UNIT = ""  # marks futures of account-level and region units
_AHEAD = "ahead"  # marks futures of reads made ahead (nothing to count or to start)
ORCHESTRATION_ACTIONS = ("sts:GetCallerIdentity", *_accounts.ACTIONS)


def list_accounts(spec: Spec, conn: Connection) -> list[str] | None:
    """Active accounts of the organization; None in account mode (the caller's own)."""
    if spec.mode == K.ACCOUNT:
        return None
    listed = _accounts.listed(conn)
    return sorted(a["Id"] for a in listed if a.get("Status") == "ACTIVE")


def sweep(
    spec: Spec,
    conn: Connection,
    *,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> list[Finding]:
    """Every sweep finding for the selected accounts and regions.

    Raises ReadError when the run cannot start (the caller or the account list cannot
    be read), SelectionError for ``accounts`` outside the organization (or, in account
    mode, other than the caller's)."""
    chosen = selector(accounts, shard)
    progress = progress if progress is not None else Progress()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            run = _Run(spec, conn, pool, set(regions or ()), progress)
            # One task builds every client the sweep needs, in the order they are needed:
            # one after another, botocore reads its data directory once, not once per thread.
            first = ["organizations"] if spec.mode != K.ACCOUNT else []  # ListAccounts
            pool.submit(conn.prepare, services(spec.mode), first)
            # Who the caller is and which accounts exist are asked at the same time, and the
            # caller's own account is reached before the list of the others arrives.
            listed = pool.submit(list_accounts, spec, conn)
            run.caller = conn.caller_account()
            if accounts and spec.mode == K.ACCOUNT:
                check_selection(spec, [run.caller], accounts)
            if chosen(run.caller):
                run.reach(run.caller)
            everyone = listed.result() or [run.caller]
            if spec.mode != K.ACCOUNT:
                check_member(run.caller, everyone)
            check_selection(spec, everyone, accounts)
            for account in everyone:
                if account != run.caller and chosen(account):
                    run.reach(account)
            found = run.drain()
    finally:  # the caller's bar is cleared whatever happens
        progress.close()
    return found


def services(mode: str) -> list[str]:
    """The AWS services a sweep in ``mode`` calls, in the order it first calls them."""
    swept = [c for scope in (SWEEP_ACCOUNT, SWEEP_REGION) for c in checks.checks(scope, mode)]
    actions = [*ORCHESTRATION_ACTIONS, *(a for c in swept for a in c.metadata.actions)]
    return list(dict.fromkeys(action.split(":")[0] for action in actions))


class _Run:
    """One sweep's work: reach each account, then one unit per account and per region."""

    def __init__(self, spec, conn, pool, wanted: set[str], progress: Progress) -> None:
        self.spec, self.conn, self.pool, self.wanted = spec, conn, pool, wanted
        self.progress = progress
        self.caller = ""
        # Finished tasks arrive here, each once: taking one costs the same however many are
        # running (waiting on the running futures themselves cost time in their number, per
        # task that finished, on the thread that also submits the work).
        self.finished: queue.SimpleQueue[tuple[str, Future]] = queue.SimpleQueue()
        self.running = 0

    def reach(self, account: str) -> None:
        """Start reaching ``account`` (role, enabled regions) and, beside it, reading which
        targets' rules apply to it."""
        self._submit(account, _reach, self.spec, self.conn, account, self.caller)
        self._submit(_AHEAD, _ahead, SweepContext(self.spec, self.conn, account, None, self.caller))

    def _submit(self, marker: str, task: Any, *args: Any) -> None:
        """Run ``task(*args)`` on the pool; it arrives in :attr:`finished` with ``marker``."""
        self.running += 1
        future = self.pool.submit(task, *args)
        future.add_done_callback(lambda done: self.finished.put((marker, done)))

    def drain(self) -> list[Finding]:
        """Run until no work is left. Reaching an account comes first; then its
        account-level checks and each region run as separate units, so no worker idles
        on a chain of calls."""
        found: list[Finding] = []
        while self.running:
            account, future = self.finished.get()
            self.running -= 1
            findings, enabled = future.result()
            found.extend(findings)
            if account == _UNIT:
                self.progress.tick()
            elif enabled:
                chosen = [r for r in enabled if not self.wanted or r in self.wanted]
                self.progress.add(len(chosen) + 1)
                for region in [None, *chosen]:
                    self._submit(_UNIT, self._unit, account, region)
        return found

    def _unit(self, account: str, region: str | None) -> tuple[list[Finding], list[str]]:
        ctx = SweepContext(self.spec, self.conn, account, region, self.caller)
        return _run_all(SWEEP_ACCOUNT if region is None else SWEEP_REGION, ctx), []


def _reach(spec: Spec, conn: Connection, account: str, caller: str):
    """Run ``account-reachable``; return its findings and the enabled regions (none on ERROR)."""
    ctx = SweepContext(spec, conn, account, None, caller)
    [check] = [c for c in checks.REGISTRY if c.id == REACHABLE]
    results = run_check(check, ctx, account, None, conn.role_name)
    if any(f.status == ERROR for f in results):
        return results, []
    return results, list(results[0].details["regions"])


def _ahead(ctx: SweepContext) -> tuple[list[Finding], list[str]]:
    _scope.read_ahead(ctx)
    return [], []


def _run_all(scope: str, ctx: SweepContext) -> list[Finding]:
    """Every check of ``scope`` but ``account-reachable``, for one unit."""
    return [
        f
        for c in checks.checks(scope, ctx.spec.mode)
        if c.id != REACHABLE
        for f in run_check(c, ctx, ctx.account, ctx.region, ctx.conn.role_name)
    ]
