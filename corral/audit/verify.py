"""``corral verify``: prove the deployed guardrails exist, match the spec and are attached.

Runs every registered verify check for the spec's mode. A check that cannot read
what it needs reports ERROR naming the account, region and API (never PASS,
never silence); the findings it produced before the failure are kept. A run that
cannot start (the caller's identity or, in organization mode, the account list
cannot be read) raises :class:`~corral.audit.failures.ReadError` instead, and
``--accounts`` ids outside the run raise :class:`SelectionError`: nothing passes
silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from corral.audit import checks
from corral.audit.aws import DEFAULT_WORKERS, Connection, ReadError
from corral.audit.checks import _accounts, _organization
from corral.audit.checks._base import VERIFY, VerifyContext, errored
from corral.audit.failures import NO_ORGANIZATION, NO_ORGANIZATION_FIX
from corral.audit.findings import Finding
from corral.audit.progress import Progress
from corral.build.manifest import digest
from corral.build.plan import Plan, build_plan
from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.model import Spec

REACHABLE = "account-reachable"
# The services every verify of a mode reads (clients built while the first call is made).
READ_FIRST = {K.ORGANIZATION: ("organizations", "iam"), K.ACCOUNT: ("iam",)}


class ManifestError(ValueError):
    """The manifest does not belong to this spec; the message names the document and fix."""


class InputError(ValueError):
    """A bad ``--shard`` or ``--regions`` value; the message names it and the fix."""


class SelectionError(ValueError):
    """``--accounts`` names an account the run cannot cover; the message names it and the fix."""


def spec_hash(spec: Spec) -> str:
    """``sha256:...`` of the validated spec: equal for stack files that say the same thing."""
    text = json.dumps(dataclasses.asdict(spec), sort_keys=True, default=_plain)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    """Sets in a stable order (their iteration order changes between processes)."""
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def known_accounts(spec: Spec, conn: Connection) -> list[str]:
    """The accounts a run may cover: the organization's active accounts, or the caller's own
    in account mode. Memoised reads (the checks make the same); raises ReadError."""
    caller = conn.caller_account()
    if spec.mode == K.ACCOUNT:
        return [caller]
    listed = _accounts.listed(conn)
    active = sorted(a["Id"] for a in listed if a.get("Status") == "ACTIVE")
    check_member(caller, active)
    return active


def check_member(caller: str, active: Sequence[str]) -> None:
    """Raise ReadError when the organization's account list lacks the caller's own account:
    the caller is not in an organization (an emulator may answer an empty list)."""
    if caller not in active:
        raise ReadError(
            "organizations:ListAccounts",
            caller,
            None,
            f"it lists {len(active)} active accounts and not the caller's own, so the caller's "
            "account is not in an organization",
            NO_ORGANIZATION_FIX,
            NO_ORGANIZATION,
        )


def check_selection(spec: Spec, known: Sequence[str], accounts: Sequence[str] | None) -> None:
    """Raise SelectionError for ``--accounts`` ids that are not in ``known``."""
    unknown = sorted(set(accounts or ()) - set(known))
    if not unknown:
        return
    named = ", ".join(unknown)
    if spec.mode == K.ACCOUNT:
        raise SelectionError(
            f"--accounts {named}: in account mode corral checks the caller's own account "
            f"{known[0]} only; pass {known[0]} or drop --accounts."
        )
    verb = "is not an active account" if len(unknown) == 1 else "are not active accounts"
    raise SelectionError(
        f"--accounts {named} {verb} of the organization ({len(known)} are; `aws organizations "
        "list-accounts` lists them); correct the ids or drop them."
    )


def covered(
    spec: Spec, conn: Connection, accounts: Sequence[str] | None, shard: tuple[int, int] | None
) -> list[str]:
    """The accounts this run judged (``--accounts`` and ``--shard`` applied), for reports."""
    chosen = selector(accounts, shard)
    return [a for a in known_accounts(spec, conn) if chosen(a)]


# Where an engine that runs N copies of one job puts each copy's 0-based index.
ENGINE_INDEX = (
    ("JOB_COMPLETION_INDEX", "Kubernetes Indexed Jobs"),
    ("AWS_BATCH_JOB_ARRAY_INDEX", "AWS Batch array jobs"),
)
SHARD_FORMS = "I/N (1-based, e.g. 1/4), or N or auto/N to take I from the engine"


def parse_shard(
    text: str | None, environ: Mapping[str, str] | None = None
) -> tuple[int, int] | None:
    """``--shard`` as ``(I, N)``, I from 1 to N; None for a whole run. InputError otherwise.

    - ``I/N``: as given (a GitHub Actions matrix: ``--shard ${{ matrix.shard }}/N``).
    - ``N`` or ``auto/N``: I is 1 + the 0-based index the engine running the copies sets,
      ``JOB_COMPLETION_INDEX`` (Kubernetes Indexed Job) or ``AWS_BATCH_JOB_ARRAY_INDEX``
      (AWS Batch array job); neither set, both set and different, not a whole number, or
      not below N is an error naming the variable.
    - no ``--shard`` while one of those is set: an error, since N cannot be known and every
      copy would judge the whole organization.
    """
    env = os.environ if environ is None else environ
    set_by = [(name, env[name].strip()) for name, _ in ENGINE_INDEX if env.get(name, "").strip()]
    if text is None:
        if set_by:
            name, value = set_by[0]
            raise InputError(
                f"{name}={value} is set, so this is one of several copies, but --shard gives "
                f"no shard count; pass --shard auto/N (N: the number of copies) or unset {name}."
            )
        return None
    head, slash, tail = text.strip().rpartition("/")
    if not (tail.isdigit() and int(tail) >= 1) or (slash and head != "auto" and not head.isdigit()):
        raise InputError(f"--shard {text!r} is not {SHARD_FORMS}.")
    count = int(tail)
    if head.isdigit():
        index = int(head)
        if not 1 <= index <= count:
            raise InputError(f"--shard {text}: I must be between 1 and N, e.g. 1/{count}.")
        return index, count
    return _engine_index(set_by, count) + 1, count


def _engine_index(set_by: Sequence[tuple[str, str]], count: int) -> int:
    """The 0-based index the engine set, checked against the shard count."""
    names = " or ".join(f"{name} ({engine})" for name, engine in ENGINE_INDEX)
    if not set_by:
        raise InputError(
            f"--shard auto/{count} takes the shard index from {names}, and neither is set; "
            "pass --shard I/N (1-based) instead."
        )
    if len({value for _, value in set_by}) > 1:
        both = " and ".join(f"{name}={value}" for name, value in set_by)
        raise InputError(f"{both} disagree; unset the one this engine did not set.")
    name, value = set_by[0]
    if not value.isdigit():
        raise InputError(f"{name}={value!r} is not a 0-based index; it must be a whole number.")
    if int(value) >= count:
        raise InputError(
            f"{name}={value} is out of range for --shard auto/{count} (0-based: 0 to "
            f"{count - 1}); make the number of copies (completions, array size) equal N."
        )
    return int(value)


def in_shard(account: str, shard: tuple[int, int] | None) -> bool:
    """Deterministic partition of account ids: stable across runs and org changes."""
    if shard is None:
        return True
    index, count = shard
    return int(hashlib.sha256(account.encode()).hexdigest(), 16) % count == index - 1


def selector(
    accounts: Sequence[str] | None, shard: tuple[int, int] | None
) -> Callable[[str], bool]:
    """True for the accounts this run covers (``--accounts`` and ``--shard``)."""
    wanted = set(accounts or ())
    return lambda account: (not wanted or account in wanted) and in_shard(account, shard)


def parse_regions(names: Sequence[str] | None, partition: str) -> tuple[str, ...] | None:
    """``--regions`` as a sorted tuple (None: every region); raises ValueError naming the
    first unknown region and the closest known one."""
    if not names:
        return None
    known = catalog.regions(partition)
    for name in names:
        if name not in known:
            hint = catalog.suggest(name, known)
            fix = f"did you mean '{hint}'?" if hint else "`corral regions` lists them."
            raise InputError(f"--regions {name!r} is not a region of partition {partition}; {fix}")
    return tuple(sorted(set(names)))


def policy_ids(manifest: Mapping[str, Any], plan: Plan) -> dict[str, str]:
    """Deployed ids from the manifest, after proving it was exported for this spec."""
    built = {d.name: digest(d.content) for d in plan.documents}
    ids = {}
    for entry in manifest.get("documents", []):
        name = entry.get("name")
        if name not in built:
            raise ManifestError(
                f"manifest document {name!r} is not built by this stack file; pass the "
                "manifest exported by the same stack (pulumi stack output manifest)."
            )
        if entry.get("sha256") != built[name]:
            raise ManifestError(
                f"manifest document {name} has a different content hash than the stack file "
                "builds; export the manifest again after `pulumi up`, or use the matching "
                "stack file."
            )
        if entry.get("id"):
            ids[name] = entry["id"]
    return ids


def run_check(
    check: checks.Check, ctx: Any, account: str, region: str | None, role_name: str
) -> list[Finding]:
    """Run one check; a failed read becomes an ERROR finding after what was found so far."""
    found: list[Finding] = []
    try:
        found.extend(check.run(ctx))
    except ReadError as exc:
        found.append(
            errored(
                check.id,
                # The account and region the check was judging: a failed read elsewhere
                # (e.g. Organizations in the management account) leaves them unchecked.
                account,
                region if region is not None else exc.region,
                check.id,
                str(exc),
                role_name,
            )
        )
    return found


def verify(
    spec: Spec,
    conn: Connection,
    *,
    accounts: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
    manifest: Mapping[str, Any] | None = None,
    regions: Sequence[str] | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> list[Finding]:
    """Every verify finding for ``spec``; regional checks judge only ``regions`` when given.
    Reads run on ``workers`` threads sharing ``conn``; the findings do not depend on it.
    ``progress`` counts the checks as they finish.

    Raises ManifestError on a foreign manifest, ValueError on an unknown region,
    SelectionError on ``accounts`` outside the run, ReadError when the run cannot start.
    """
    chosen = parse_regions(regions, spec.partition)
    progress = progress if progress is not None else Progress()
    plan = build_plan(spec)
    ids = policy_ids(manifest, plan) if manifest is not None else {}
    # While the first call is made, alone (a dead endpoint stops the run there), one task
    # builds the clients every run needs: tens of milliseconds of CPU each.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pool.submit(conn.prepare, READ_FIRST[spec.mode])
        ctx = VerifyContext(
            spec=spec,
            plan=plan,
            conn=conn,
            account=conn.caller_account(),
            selected=selector(accounts, shard),
            org_level=shard is None or shard[0] == 1,
            policy_ids=ids,
            regions=chosen,
        )
        try:
            return _run(ctx, pool, accounts, progress)
        finally:
            progress.close()


def _run(
    ctx: VerifyContext, pool: Executor, accounts: Sequence[str] | None, progress: Progress
) -> list[Finding]:
    """The organization is read ahead of the checks (:mod:`._organization`) from the start,
    while the account list is checked; then the checks run side by side on the same pool,
    each check's findings keeping their place and order."""
    conn = ctx.conn
    fan = _organization.Fanout(pool)
    try:
        _organization.prefetch(ctx, fan)
        check_selection(ctx.spec, known_accounts(ctx.spec, conn), accounts)
    except BaseException:
        fan.stop()  # the run does not start: no more reads
        raise
    chosen = checks.checks(VERIFY, ctx.spec.mode)
    progress.add(len(chosen))
    running = [pool.submit(run_check, c, ctx, ctx.account, None, conn.role_name) for c in chosen]
    for future in running:
        future.add_done_callback(lambda _: progress.tick())
    found = collect(future.result() for future in running)
    fan.wait()
    return found


def collect(groups: Iterable[list[Finding]]) -> list[Finding]:
    """Flatten lists of findings."""
    return [f for group in groups for f in group]
