"""Reading the organization ahead of the verify checks, concurrently.

The organization-mode checks each walk the organization one read after another: the tree
from the root (``guardrail-reaches-accounts``), each account's path (``guardrail-full-access``,
``guardrail-effects``: the account's parent from ``ListParents``, the OUs above it from the
tree, :func:`_deployed.chain_ids`), the SCPs at every level of those paths and their
content, corral's own documents and their targets. Made in that order, a run waits for
some twenty reads in a row, more with every account and OU.

:func:`prefetch` starts the same reads on the run's thread pool, each one as soon as the
answer it depends on has arrived: the tree level by level, every account's path at the
same time (the levels they share are read once: :meth:`Connection.read` is single-flight),
each level's SCPs as soon as the level is known, every SCP's content as soon as the
organization's SCPs are listed. The checks then run unchanged and find every answer in the
connection's memo, or wait for the one in flight, so their findings and their order are
those of a run without prefetch.

The caller's own IAM roles and users (``identities-trusted``) are listed from the start as
well; they depend on nothing.

It reads what the checks read for the accounts the run covers (``--accounts``,
``--shard``) and nothing else, with two exceptions: the first shard (or a whole run) reads
the content of every SCP of the organization, also of one attached nowhere a check looks
(usually a few dozen, at most 1,000 by AWS's quota; read when they are listed, the ones on
the paths arrive together with the paths, so every account's probes run while the last
level of the tree is still being read); and when a level of a path has no SCP at all (a FAIL),
the checks stop reading that path there, while the prefetch may already have read the
content of the SCPs below it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from corral.audit.aws import ReadError
from corral.audit.checks import _accounts, _deployed
from corral.audit.checks._base import VerifyContext
from corral.spec import keys as K

ORG = "organizations"
# Which SCPs attached to a level the checks read the content of (Prefetch.scps).
ALL, ALLOWING, NONE = "all", "allowing", "none"


class Fanout:
    """Tasks on a pool that start more tasks; :meth:`wait` returns once none is left.

    A task never waits for another, so the pool cannot deadlock however small it is. A
    :class:`ReadError` or :class:`~corral.audit.checks._deployed.ChainProblem` ends only
    its task: the read is memoised and the check that needs it reports it. Anything else
    is a bug, raised again by :meth:`wait`.
    """

    def __init__(self, pool: Executor) -> None:
        self.pool = pool
        self.pending = 0
        self.stopped = False
        self.failure: BaseException | None = None
        self._done = threading.Condition()

    def spawn(self, task: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``task(*args, **kwargs)`` on the pool (nothing once stopped)."""
        with self._done:
            if self.stopped:
                return
            self.pending += 1
        self.pool.submit(self._run, task, args, kwargs)

    def _run(self, task: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            task(*args, **kwargs)
        except (ReadError, _deployed.ChainProblem):
            pass  # memoised; the check that needs the read reports it
        except Exception as exc:  # noqa: BLE001 - a bug: raised again by wait()
            self.failure = self.failure or exc
        finally:
            with self._done:
                self.pending -= 1
                self._done.notify_all()

    def stop(self) -> None:
        """Start no more tasks; those running finish on their own."""
        with self._done:
            self.stopped = True

    def wait(self) -> None:
        """Return when every task (and every task they started) has finished."""
        with self._done:
            self._done.wait_for(lambda: self.pending == 0)
        if self.failure is not None:
            raise self.failure


def prefetch(ctx: VerifyContext, fan: Fanout) -> None:
    """Start reading, on ``fan``, what the organization-mode verify checks will read."""
    if ctx.spec.mode != K.ORGANIZATION:
        return
    Prefetch(ctx, fan).start()


class Prefetch:
    """One run's prefetch; each method is a task that starts the tasks depending on it."""

    def __init__(self, ctx: VerifyContext, fan: Fanout) -> None:
        self.ctx, self.fan = ctx, fan
        self.read = ctx.conn.read

    def start(self) -> None:
        for task in (self.tree, self.documents, self.paths):
            self.fan.spawn(task)
        self.fan.spawn(self.read, ORG, "DescribeOrganization")  # beside ListAccounts
        if self.ctx.org_level:  # guardrail-full-access judges every planned target
            for target in dict.fromkeys(a.target_id for a in self.ctx.plan.attachments):
                self.fan.spawn(self.scps, target, ALLOWING)
            # identities-trusted lists the caller's roles, then its users: the last two
            # reads of a run when made one after the other once the checks start.
            for operation in ("ListRoles", "ListUsers"):
                self.fan.spawn(self.read, "iam", operation)

    def tree(self) -> None:
        """The tree from each root down (guardrail-reaches-accounts walks all of it), and
        the root's SCPs: every covered account's path starts there."""
        roots = [root["Id"] for root in self.read(ORG, "ListRoots")["Roots"]]
        for root in roots:
            self.fan.spawn(self.children, root)
        listed = _accounts.listed(self.ctx.conn)
        if any(self.ctx.selected(a["Id"]) for a in listed):
            for root in roots:
                self.fan.spawn(self.scps, root, NONE)

    def children(self, parent: str) -> None:
        self.fan.spawn(self.accounts_below, parent)
        out = self.read(ORG, "ListOrganizationalUnitsForParent", ParentId=parent)
        for ou in out.get("OrganizationalUnits", []):
            self.fan.spawn(self.children, ou["Id"])

    def accounts_below(self, parent: str) -> None:
        self.read(ORG, "ListAccountsForParent", ParentId=parent)

    def documents(self) -> None:
        """corral's deployed documents: content and targets (the document checks)."""
        if not self.ctx.org_level:
            return
        listed = _deployed.listed(self.ctx)
        for doc in self.ctx.plan.documents:
            policy_id = self.ctx.policy_ids.get(doc.name) or listed.get(doc.name)
            if policy_id in listed.values():
                self.fan.spawn(self.read, ORG, "ListTargetsForPolicy", PolicyId=policy_id)
        # The content of every SCP, corral's and the others: those on the members' paths are
        # evaluated (guardrail-effects), and read now they arrive with the paths, not a
        # round trip after them.
        for policy_id in dict.fromkeys(listed.values()):
            self.fan.spawn(self.read, ORG, "DescribePolicy", PolicyId=policy_id)

    def paths(self) -> None:
        """Each covered account's path to the root, every level's SCPs and their content
        (guardrail-reaches-accounts, guardrail-full-access, guardrail-effects)."""
        listed = _accounts.listed(self.ctx.conn)
        management = self.read(ORG, "DescribeOrganization")["Organization"]["MasterAccountId"]
        for account in sorted(a["Id"] for a in listed):
            if not self.ctx.selected(account):
                continue
            # The management account's own SCPs are listed (guardrail-reaches-accounts) but
            # not read: SCPs do not apply to it.
            self.fan.spawn(self.scps, account, NONE if account == management else ALL)
            if account != management:
                self.fan.spawn(self.path, account)

    def path(self, account: str) -> None:
        """The levels above ``account`` (read as the checks read them,
        :func:`_deployed.chain_ids`) and their SCPs."""
        for level in _deployed.chain_ids(self.ctx.conn, account, tree=True)[:-1]:
            self.fan.spawn(self.scps, level, ALL)

    def scps(self, target: str, content: str) -> None:
        """The SCPs attached to ``target``, and the ``content`` of which of them the checks
        read: every one on a covered member's path (guardrail-effects evaluates them), the
        allowing ones at a judged level (guardrail-full-access), none elsewhere."""
        out = self.read(ORG, "ListPoliciesForTarget", TargetId=target, Filter=_deployed.SCP)
        for policy in out.get("Policies", []):
            if content == ALL or (content == ALLOWING and policy["Name"] != K.FULL_AWS_ACCESS):
                self.fan.spawn(self.read, ORG, "DescribePolicy", PolicyId=policy["Id"])
