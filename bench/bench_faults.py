"""Benchmark: ``corral verify`` and ``corral sweep`` under injected AWS faults.

Starts moto_server on 127.0.0.1, builds an organization (root, two OUs, two member
accounts), deploys the guardrails with one tampering (an SCP detached from one OU, so
the fault-free run has FAILs to lose), launches the incident's instances in a member
account and gives a user an access key. Then, through :mod:`fault_proxy`:

1. one fault-free run of each command (the reference findings and wall time);
2. per injected rate, ``--runs`` runs of each command with throttling, 5xx,
   connection resets, slow responses and AccessDenied spread over every account and
   region, compared with the reference.

Definitions (per run, summed):

- false PASS: a PASS where the fault-free run has FAIL or ERROR (or no such finding),
  or a PASS of a check in an account and region where an API the check declares
  failed on its last attempt while the check reported no ERROR there;
- lost finding: a (check, account, region, resource) of the fault-free run that is
  absent under faults and not covered by an ERROR of that check naming the account
  (the verify checks read from the caller's account: an ERROR there covers them), or
  by an ``account-reachable`` ERROR for the account;
- changed: any other difference than "equal" or "replaced by ERROR" (reported, not
  counted as either of the above).

Usage: .venv/bin/python bench/bench_faults.py [--rates 0.05 0.2 0.5] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "bench", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from fault_proxy import FaultPlan, FaultProxy  # noqa: E402
from support import moto_server  # noqa: E402

from corral.audit import aws  # noqa: E402
from corral.audit import sweep as sweep_module  # noqa: E402
from corral.audit import verify as verify_module  # noqa: E402
from corral.audit.findings import ERROR, PASS  # noqa: E402
from corral.cli.main import main as corral_main  # noqa: E402

REACHABLE = "account-reachable"
CALLER_MARKERS = ("(caller)",)
GLOBAL_RESOURCES = ("accounts", "caller")  # errors that stop a whole run
SWEEP_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1")
COMMANDS = ("verify", "sweep")


@dataclass
class Scenario:
    """A deployed organization, its stack file and the accounts in it."""

    stack: Path
    management: str
    members: tuple[str, ...]


@dataclass
class Run:
    """One command's findings, exit code and wall time."""

    command: str
    code: int
    findings: list[dict]
    seconds: float
    crash: str | None = None
    stopped: str | None = None  # the one line of a run that could not start (exit 2)


@dataclass
class Outcome:
    """The comparison of one faulted run with the fault-free one."""

    false_pass: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    errors: int = 0
    bad_exit: bool = False


# --------------------------------------------------------------------------- scenario


def build_scenario(endpoint: str, workdir: Path) -> Scenario:
    """The organization of the verifier tests, deployed, tampered with and exposed."""
    from test_verify_support import (
        client,
        deploy_org,
        launch_incident,
        load,
        make_org,
        org_stack,
    )

    org = make_org(endpoint)
    stack = org_stack(workdir, org)
    ids = deploy_org(load(stack), endpoint)
    client("organizations", endpoint).detach_policy(
        PolicyId=ids["corral-workloads"], TargetId=org.sandbox
    )
    role = f"arn:aws:iam::{org.dev}:role/OrganizationAccountAccessRole"
    creds = client("sts", endpoint).assume_role(RoleArn=role, RoleSessionName="setup")
    c = creds["Credentials"]
    member = {
        "aws_access_key_id": c["AccessKeyId"],
        "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"],
    }
    launch_incident(endpoint, **member)
    iam = client("iam", endpoint, **member)
    iam.create_user(UserName="script")
    iam.create_access_key(UserName="script")
    return Scenario(stack, org.management, (org.dev, org.test))


# --------------------------------------------------------------------------- running


def run_command(command: str, scenario: Scenario, endpoint: str, out: Path) -> Run:
    """``corral verify|sweep --config ... --endpoint-url ... --format json`` in-process."""
    argv = [command, "--config", str(scenario.stack), "--endpoint-url", endpoint]
    argv += ["--format", "json", "--output", str(out)]
    if command == "sweep":
        argv += ["--regions", *SWEEP_REGIONS]
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    crash = None
    try:
        with contextlib.redirect_stderr(io.StringIO()) as err:
            code = corral_main(argv)
    except Exception as exc:  # noqa: BLE001 - a traceback is itself a finding of this bench
        code, crash = -1, f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    findings = json.loads(out.read_text())["findings"] if out.exists() else []
    said = err.getvalue().strip()
    stopped = None
    if code == 2 and not out.exists() and crash is None:
        # A run that cannot start (its first calls fail) stops with one line naming the
        # cause and writes no report: not silence, as long as it is exactly that.
        if said.startswith("corral: error: ") and "\n" not in said:
            stopped = said
        else:
            crash = f"no report: {said}"
    return Run(command, code, findings, seconds, crash, stopped)


# --------------------------------------------------------------------------- comparing


def key(f: dict) -> tuple:
    """The identity of a finding: (check, account, region, resource)."""
    return (f["check"], f["account"], f["region"], f["resource"])


def covered(f: dict, errors: Sequence[dict], command: str, caller: str) -> bool:
    """True when an ERROR of the faulted run stands for the missing finding ``f``.

    ``verify`` runs each check once for the organization: an ERROR of the check naming
    the caller or the finding's account stands for all its findings there. ``sweep``
    runs per account and region: the ERROR must name the finding's account, and its
    region unless one of the two is account-wide (None). An ``account-reachable`` ERROR
    stands for the whole account, and one for the run's caller (``accounts``,
    ``caller``) for everything."""
    for e in errors:
        if e["check"] == REACHABLE and e["resource"] in GLOBAL_RESOURCES:
            return True
        if e["check"] == REACHABLE and e["account"] == f["account"]:
            return True
        if e["check"] != f["check"]:
            continue
        if command == "verify" and e["account"] in (caller, f["account"], *CALLER_MARKERS):
            return True
        if e["account"] == f["account"] and None in (f["region"], e["region"]):
            return True
        if e["account"] == f["account"] and f["region"] == e["region"]:
            return True
    return False


def compare(clean: Run, faulty: Run, caller: str) -> Outcome:
    """Classify every difference between the fault-free and the faulted run."""
    outcome = Outcome()
    if faulty.stopped is not None:
        return outcome  # exit 2 and one line: the whole run is accounted for
    reference = {key(f): f for f in clean.findings}
    seen = {key(f): f for f in faulty.findings}
    errors = [f for f in faulty.findings if f["status"] == "ERROR"]
    outcome.errors = len(errors)
    statuses = {f["status"] for f in faulty.findings}
    expected = 2 if "ERROR" in statuses else (1 if "FAIL" in statuses else 0)
    outcome.bad_exit = faulty.code != expected or faulty.crash is not None
    for k, f in seen.items():
        if f["status"] == "ERROR":
            continue
        ref = reference.get(k)
        if f["status"] == "PASS" and (ref is None or ref["status"] != "PASS"):
            outcome.false_pass.append(f"{k}: PASS under faults, {ref and ref['status']} without")
        elif ref is None or ref != f:
            outcome.changed.append(f"{k}: {f['status']} differs from the fault-free run")
    for k, ref in reference.items():
        if k not in seen and not covered(ref, errors, clean.command, caller):
            outcome.lost.append(f"{k}: {ref['status']} missing, no ERROR stands for it")
    return outcome


class ReadObserver:
    """Watches (never alters) the verifier: which check runs had a read fail, and what
    they reported. A check run whose read failed must report an ERROR; any PASS it
    reported instead is a false PASS, and reporting nothing is silence."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.lock = threading.Lock()
        self.false_pass: list[str] = []
        self.silent: list[str] = []

    def take(self) -> tuple[list[str], list[str]]:
        """The false PASS and silent check runs seen since the last call."""
        with self.lock:
            out = (self.false_pass, self.silent)
            self.false_pass, self.silent = [], []
        return out

    @contextlib.contextmanager
    def installed(self) -> Iterator[ReadObserver]:
        """Wrap ``Connection.read`` and ``run_check`` for the duration (restored after)."""
        original_read, original_run = aws.Connection.read, verify_module.run_check

        def read(conn: aws.Connection, *args: Any, **kwargs: Any) -> dict:
            try:
                return original_read(conn, *args, **kwargs)
            except aws.ReadError:
                self.local.failed = getattr(self.local, "failed", 0) + 1
                raise

        def run_check(check: Any, ctx: Any, account: str, region: str | None, role: str):
            self.local.failed = 0
            found = original_run(check, ctx, account, region, role)
            if self.local.failed and not any(f.status == ERROR for f in found):
                where = f"{check.id} in {account} {region}"
                with self.lock:
                    self.false_pass += [
                        f"{where}: PASS {f.resource} though a read failed"
                        for f in found
                        if f.status == PASS
                    ]
                    if not found:
                        self.silent.append(f"{where}: a read failed and nothing was reported")
            return found

        patches = [
            (aws.Connection, "read", read),
            (verify_module, "run_check", run_check),
            (sweep_module, "run_check", run_check),
        ]
        saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
        try:
            for obj, name, value in patches:
                setattr(obj, name, value)
            yield self
        finally:
            for obj, name, value in saved:
                setattr(obj, name, value)


# --------------------------------------------------------------------------- the bench


@dataclass
class RateFigures:
    """What one injected rate produced, summed over its runs."""

    rate: float
    runs: int = 0
    requests: int = 0
    faults: int = 0
    failed_calls: int = 0
    errors: int = 0
    false_pass: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    bad_exits: int = 0
    seconds: float = 0.0
    clean_seconds: float = 0.0

    @property
    def extra(self) -> float:
        """Extra wall time over the fault-free runs, as a ratio."""
        return self.seconds / self.clean_seconds - 1 if self.clean_seconds else 0.0


def faulted_runs(
    proxy: FaultProxy,
    scenario: Scenario,
    clean: dict[str, Run],
    rate: float,
    runs: int,
    workdir: Path,
    plan: Callable[[float, int], FaultPlan],
    observer: ReadObserver,
) -> RateFigures:
    """``runs`` runs of every command at ``rate``, compared with ``clean``."""
    figures = RateFigures(rate)
    for i in range(runs):
        for command in COMMANDS:
            proxy.replan(plan(rate, i * len(COMMANDS) + COMMANDS.index(command) + 1))
            run = run_command(command, scenario, proxy.url, workdir / f"{command}.json")
            outcome = compare(clean[command], run, scenario.management)
            false_pass, silent = observer.take()
            outcome.false_pass += false_pass
            outcome.lost += silent
            stats = proxy.stats()
            figures.runs += 1
            figures.requests += stats["requests"]
            figures.faults += stats["faults"]
            figures.failed_calls += stats["failed_calls"]
            figures.errors += outcome.errors
            figures.false_pass += outcome.false_pass
            figures.lost += outcome.lost
            figures.changed += outcome.changed
            figures.bad_exits += outcome.bad_exit
            figures.seconds += run.seconds
            figures.clean_seconds += clean[command].seconds
    return figures


def default_plan(window: float, max_faults: int) -> Callable[[float, int], FaultPlan]:
    """Every fault kind, every account and region, bounded in count and time."""
    return lambda rate, seed: FaultPlan(
        rate=rate, max_faults=max_faults, window=window, slow_seconds=0.2, seed=seed
    )


@contextlib.contextmanager
def environment(
    workdir: Path,
) -> Iterator[tuple[Scenario, FaultProxy, dict[str, Run], ReadObserver]]:
    """Emulator, scenario, proxy (no faults yet), the fault-free reference runs, and the
    read observer installed for the duration."""
    with moto_server() as (_, url):
        proxy = FaultProxy(url, FaultPlan(rate=0.0), lifetime=3600).start()
        observer = ReadObserver()
        try:
            with observer.installed():
                scenario = build_scenario(url, workdir)
                clean = {
                    c: run_command(c, scenario, proxy.url, workdir / f"{c}.json") for c in COMMANDS
                }
                for run in clean.values():
                    if run.crash or any(f["status"] == "ERROR" for f in run.findings):
                        raise SystemExit(f"the fault-free {run.command} run failed: {run.crash}")
                yield scenario, proxy, clean, observer
        finally:
            proxy.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.05, 0.2, 0.5])
    parser.add_argument("--runs", type=int, default=3, help="runs of each command per rate")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of injection")
    parser.add_argument("--max-faults", type=int, default=400)
    parser.add_argument("--verbose", action="store_true", help="list every difference")
    parser.add_argument("--quick", action="store_true", help="one run at rate 0.2 only")
    args = parser.parse_args()
    if args.quick:
        args.rates, args.runs = [0.2], 1
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    plan = default_plan(args.window, args.max_faults)
    with tempfile.TemporaryDirectory() as tmp, environment(Path(tmp)) as env:
        scenario, proxy, clean, observer = env
        counts = {c: len(r.findings) for c, r in clean.items()}
        times = ", ".join(f"{c} {r.seconds:.2f} s" for c, r in clean.items())
        print(f"fault-free: {counts} findings; {times}")
        header = (
            f"{'rate':>5} {'runs':>4} {'requests':>8} {'faults':>6} {'failed':>6} "
            f"{'ERROR':>5} {'falsePASS':>9} {'lost':>4} {'changed':>7} {'badexit':>7} "
            f"{'extra wall':>10}"
        )
        print(header)
        worst = 0
        for rate in args.rates:
            f = faulted_runs(proxy, scenario, clean, rate, args.runs, Path(tmp), plan, observer)
            worst += len(f.false_pass) + len(f.lost) + f.bad_exits
            print(
                f"{f.rate:>5.2f} {f.runs:>4} {f.requests:>8} {f.faults:>6} {f.failed_calls:>6} "
                f"{f.errors:>5} {len(f.false_pass):>9} {len(f.lost):>4} {len(f.changed):>7} "
                f"{f.bad_exits:>7} {f.extra * 100:>9.0f}%"
            )
            if args.verbose:
                for line in f.false_pass + f.lost + f.changed:
                    print(f"    {line}")
    print("failed = API calls whose last attempt failed; extra wall = vs the fault-free runs")
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
