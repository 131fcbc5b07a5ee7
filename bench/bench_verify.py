"""Benchmark: ``corral verify`` of a guarded organization, behind ~80 ms latency.

Starts ``moto_server`` on 127.0.0.1 and the latency proxy (``bench/latency_proxy.py``, in
its own process), builds an organization of N member accounts spread over two OUs under
the root, and deploys the stack's SCPs (created and attached as ``pulumi up`` would). Then,
in the same run, each verify in a fresh child process:

- corral's verify with one worker: every read one after another (what it did before it
  read the organization concurrently);
- corral's verify (48 workers), ``--repeat`` times, each twice in its process: first cold
  (what a command pays: botocore loads its models, clients are built), then warm; after
  each, the proxy replays the cold run's requests straight to the emulator, without
  delay (4, 16 and 48 at a time; the fastest is the emulator's service time), and 40 of
  them one at a time (a lone request's response time);
- the lower bound those allow, the larger of:
  - serial: requests x service time;
  - chain: the reads that depend on each other: GetCallerIdentity (the first call, alone
    by design), then ListRoots -> ListOrganizationalUnitsForParent(root) ->
    ListAccountsForParent(OU), as deep as the tree: 4 x (latency + lone response).

Both runs must produce the same findings (checked). The evaluator's CPU (probes per
account) is printed beside the wall time: it is work no schedule of requests removes.

Usage: .venv/bin/python bench/bench_verify.py [--accounts 10] [--latency-ms 80]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_sweep import (  # noqa: E402
    LONE_REQUESTS,
    REPLAY_CONCURRENCY,
    Shares,
    bench_credentials,
    process_cpu,
    proxied_emulator,
    proxy_count,
    replay,
)
from support import profiled  # noqa: E402

from corral.audit.aws import Connection  # noqa: E402
from corral.audit.verify import verify  # noqa: E402
from corral.build.plan import build_plan  # noqa: E402
from corral.spec.load import load_stack_file  # noqa: E402

CHAIN = (
    4  # GetCallerIdentity; ListRoots -> ListOrganizationalUnitsForParent -> ListAccountsForParent
)
SCP = "SERVICE_CONTROL_POLICY"
STACK = """\
config:
  aws:region: us-east-1
  corral:mode: organization
  corral:allowedRegions: [us-east-1, eu-west-1]
  corral:exemptPrincipals: ["arn:aws:iam::*:role/OrganizationAccountAccessRole"]
  corral:instances: {{allow: [t3.*, m7i.*]}}
  corral:targets:
    - {{id: {root}, name: root, guardrails: [regions, protection]}}
    - {{id: {workloads}, name: workloads, guardrails: [instances]}}
    - {{id: {sandbox}, name: sandbox, guardrails: [instances]}}
"""


def build_org(url: str, accounts: int, stack: Path) -> None:
    """The organization, two OUs with the member accounts alternating, the stack file and
    its SCPs deployed and attached."""
    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=url)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ous = [
        org.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
        for name in ("workloads", "sandbox")
    ]
    for i in range(accounts):
        status = org.create_account(Email=f"a{i}@example.com", AccountName=f"a{i}")
        account = status["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ous[i % 2])
    stack.write_text(textwrap.dedent(STACK).format(root=root, workloads=ous[0], sandbox=ous[1]))
    org.enable_policy_type(RootId=root, PolicyType=SCP)
    plan = build_plan(load_stack_file(stack))
    ids = {}
    for doc in plan.documents:
        made = org.create_policy(Name=doc.name, Description=doc.description, Type=SCP,
                                 Content=doc.content)  # fmt: skip
        ids[doc.name] = made["Policy"]["PolicySummary"]["Id"]
    for attachment in plan.attachments:
        org.attach_policy(PolicyId=ids[attachment.document], TargetId=attachment.target_id)


def child(args: argparse.Namespace) -> int:
    """One measured verify in this (fresh) process; prints its figures as JSON."""
    os.environ.pop("AWS_ENDPOINT_URL", None)
    spec = load_stack_file(args.stack)
    start, cpu = time.perf_counter(), time.process_time()
    conn = Connection(region=spec.region, endpoint_url=args.url)
    found = verify(spec, conn, workers=args.workers)
    wall, cold_cpu = time.perf_counter() - start, time.process_time() - cpu
    # Again in this process: botocore's models are loaded, the code is warm; requests again.
    warm = time.perf_counter()
    verify(spec, Connection(region=spec.region, endpoint_url=args.url), workers=args.workers)
    warm = time.perf_counter() - warm
    text = json.dumps([f.__dict__ for f in found], sort_keys=True, default=str)
    print(json.dumps({
        "wall": wall,
        "warm": warm,
        "cpu": cold_cpu,  # the cold run's own, as its wall time
        "warm_cpu": time.process_time() - cpu - cold_cpu,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "findings": len(found),
        "failing": sum(1 for f in found if f.status != "PASS"),
        "digest": hashlib.sha256(text.encode()).hexdigest()[:16],
    }))  # fmt: skip
    return 0


def measure(workers: int, stack: Path, emulator: subprocess.Popen, proxy: str) -> dict:
    """One verify in a child process, with its requests and the emulator's CPU."""
    proxy_count(proxy, reset=True)
    emu_cpu, shares = process_cpu(emulator.pid), Shares(emulator, proxy)
    command = [sys.executable, __file__, "--child", "--url", proxy, "--stack", str(stack),
               "--workers", str(workers)]  # fmt: skip
    label = f"verify-{workers}"
    done = subprocess.run(profiled(command, label), capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"verify failed: {done.stderr.strip().splitlines()[-1:]}")
    out = json.loads([x for x in done.stdout.splitlines() if x.startswith("{")][-1])
    out.update(shares.end())
    out["emulator_cpu"] = process_cpu(emulator.pid) - emu_cpu
    out["requests"] = proxy_count(proxy) // 2  # the cold run and the warm one
    if workers > 1:
        out["replay"] = min(replay(proxy, n, out["requests"]) for n in REPLAY_CONCURRENCY)
        out["alone"] = replay(proxy, 1, LONE_REQUESTS) / LONE_REQUESTS
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10, help="member accounts")
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--workers", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3, help="corral runs; the median is kept")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--stack", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bench_credentials()
    if args.child:
        return child(args)
    with proxied_emulator(args.latency_ms) as (emulator, url, slow, tmp):
        stack = tmp / "Pulumi.bench.yaml"
        build_org(url, args.accounts, stack)
        measure(args.workers, stack, emulator, slow)  # warm the emulator's backends
        sequential = measure(1, stack, emulator, slow)
        runs = [measure(args.workers, stack, emulator, slow) for _ in range(args.repeat)]
    if {r["digest"] for r in [sequential, *runs]} != {sequential["digest"]}:
        raise SystemExit("concurrent verify found other findings than the sequential one")
    report(args, sequential, runs)
    return 0


def report(args: argparse.Namespace, sequential: dict, runs: list[dict]) -> None:
    """Print the median concurrent run against the sequential one and the lower bound."""
    run = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    requests, latency = run["requests"], args.latency_ms / 1000
    service = run["replay"] / max(requests, 1)
    serial, chain = requests * service, CHAIN * (latency + run["alone"])
    bound = max(serial, chain)
    walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
    print(f"accounts: {args.accounts + 1} (incl. management) in 2 OUs; findings "
          f"{run['findings']} ({run['failing']} not PASS), identical in every run")  # fmt: skip
    print(f"requests: {requests} (sequential run {sequential['requests']})")
    print(f"emulator service time: {service * 1000:.2f} ms/request (fastest replay "
          f"{run['replay']:.2f} s); a lone request takes {run['alone'] * 1000:.2f} ms")  # fmt: skip
    print(f"sequential verify (1 worker): {sequential['wall']:.2f} s wall, "
          f"{sequential['cpu']:.2f} s CPU")  # fmt: skip
    print(f"corral verify ({args.workers} workers): {run['wall']:.2f} s wall (median of "
          f"{walls}), {run['cpu']:.2f} s CPU, peak RSS {run['rss']:.0f} MiB")  # fmt: skip
    print(f"lower bound: {bound:.2f} s = max(serial {serial:.2f} s = {requests} x "
          f"{service * 1000:.2f} ms, chain {chain:.2f} s = {CHAIN} x ({args.latency_ms:.0f} + "
          f"{run['alone'] * 1000:.2f}) ms)")  # fmt: skip
    spread = statistics.pstdev(r["wall"] for r in runs)
    warm = statistics.median(r["warm"] for r in runs)
    print(f"the same verify again in each process (botocore models loaded): {warm:.2f} s "
          f"(sequential {sequential['warm']:.2f} s)")  # fmt: skip
    print(f"corral's own CPU ({run['cpu']:.2f} s, mostly the evaluator's probes, one core "
          f"under the interpreter lock) is a floor too: vs max(bound, CPU) "
          f"{run['wall'] / max(bound, run['cpu']):.2f}x")  # fmt: skip
    print(f"machine CPU while that process lived (cold and warm runs, start-up: "
          f"{run['share_wall']:.2f} s): {run['share_machine']:.2f} s on {os.cpu_count()} cores = "
          f"corral's process {run['share_child']:.2f} + emulator {run['share_emulator']:.2f} + "
          f"proxy {run.get('share_proxy', 0.0):.2f} + other processes "
          f"{run['share_others']:.2f}")  # fmt: skip
    print(f"speed-up vs sequential: {sequential['wall'] / run['wall']:.1f}x; vs lower bound: "
          f"{run['wall'] / bound:.2f}x (warm {warm / bound:.2f}x); stdev of corral runs "
          f"{spread:.2f} s")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
