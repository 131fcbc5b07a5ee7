"""Benchmark: ``corral sweep`` of an organization over every region, behind ~80 ms latency.

Starts ``moto_server`` on 127.0.0.1 (``MOTO_EC2_LOAD_DEFAULT_AMIS=false``) and, in its
own process, a loopback proxy that adds a fixed delay to each request
(``bench/latency_proxy.py``, a stand-in for AWS latency); builds an organization of N
member accounts with a few instances; then measures in the same run, each sweep in a
fresh child process so its CPU and peak memory are its own:

- a plain sequential boto3 sweep of the same accounts and regions (through the proxy);
- corral's sweep (through the proxy, bounded thread pool), ``--repeat`` times;
- the emulator's own service time: after each corral run, the proxy replays the exact
  requests corral sent straight to the emulator, without delay, 4, 16 and 48 at a time;
  the fastest replay, per request, is how long the emulator needs per request when
  nothing else limits it (its CPU per request is reported beside it);
- the lower bound those allow, the larger of:
  - serial: requests x service time;
  - chain: a member account's DescribeInstances can only be sent after ListAccounts,
    AssumeRole and DescribeRegions (three round trips, each at least the latency plus
    the emulator's response time to a lone request, measured by replaying 40 requests
    one at a time) and reaches the emulator one latency later; from then on the emulator
    still has every member account-region to serve: 3 x (latency + lone response) +
    latency + member account-regions x service time;
- who used the machine's CPU while each child lived (corral, the emulator, the proxy, every
  other process), and the run against max(lower bound, CPU floor), the floor being corral's
  CPU plus the emulator's and the proxy's over the cores: on a shared 2-core machine the
  ratio moves with what else runs.

``BENCH_PYSPY=DIR`` profiles each child with py-spy (``bench/support.py``: ``profiled``).

Usage: .venv/bin/python bench/bench_sweep.py [--quick] [--accounts 10] [--latency-ms 80]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from support import moto_server, profiled, wait_ready  # noqa: E402

from corral.audit.aws import Connection  # noqa: E402
from corral.audit.sweep import DEFAULT_WORKERS, Progress, sweep  # noqa: E402
from corral.spec.load import load_stack_file  # noqa: E402

ROLE = "OrganizationAccountAccessRole"
CHAIN = 3  # ListAccounts -> AssumeRole -> DescribeRegions, before a member is swept
REPLAY_CONCURRENCY = (4, 16, 48)
LONE_REQUESTS = 40  # replayed one at a time: the emulator's response time to a lone request
QUICK_REGIONS = (
    "eu-north-1",
    "eu-west-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ap-south-1",
    "sa-east-1",
)
STACK = """\
config:
  aws:region: us-east-1
  corral:mode: organization
  corral:allowedRegions: [us-east-1, eu-west-1]
  corral:allowLockout: true
  corral:instances: {allow: [t3.*]}
  corral:targets: [{id: r-abcd, name: root}]
"""
PROXY_CONTROL = "/__latency_proxy__/"


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds all processes on the machine have used so far (/proc/stat, not idle)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """User + system CPU seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Shares:
    """Who used the machine's CPU while one child ran: the child (start-up included), the
    emulator, the proxy, and every other process (other work sharing the cores)."""

    def __init__(self, emulator: subprocess.Popen, proxy_url: str) -> None:
        self.pids = {"emulator": emulator.pid, "proxy": PROXIES.get(proxy_url)}
        self.start = self.now()

    def now(self) -> dict[str, float]:
        got = {name: process_cpu(pid) for name, pid in self.pids.items() if pid}
        return {**got, "child": children_cpu(), "machine": machine_busy(),
                "wall": time.perf_counter()}  # fmt: skip

    def end(self) -> dict[str, float]:
        after = self.now()
        used = {k: after[k] - self.start[k] for k in after}
        used["others"] = used["machine"] - sum(used.get(k, 0.0) for k in [*self.pids, "child"])
        return {f"share_{k}": v for k, v in used.items()}


PROXIES: dict[str, int] = {}  # proxy URL -> its process id


@contextlib.contextmanager
def proxied_emulator(latency_ms: float) -> Iterator[tuple[subprocess.Popen, str, str, Path]]:
    """``moto_server`` behind the latency proxy: (emulator process, its URL, the proxy's URL,
    a temporary folder); both stopped at the end, whatever happens."""
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with moto_server() as (emulator, url), tempfile.TemporaryDirectory() as tmp:
        proxy, slow = start_proxy(url, latency_ms / 1000)
        try:
            yield emulator, url, slow, Path(tmp)
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)


def bench_credentials() -> None:
    """Fake credentials for the emulator (children inherit them)."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )


def start_proxy(upstream: str, latency: float) -> tuple[subprocess.Popen, str]:
    """bench/latency_proxy.py in its own process; stops by itself after 15 minutes."""
    script = Path(__file__).with_name("latency_proxy.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), upstream, "--delay", str(latency), "--lifetime", "900"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        raise SystemExit("latency proxy did not start")
    url = f"http://127.0.0.1:{int(line.split()[-1])}"
    wait_ready(f"{url}{PROXY_CONTROL}count", proc, "latency proxy")
    PROXIES[url] = proc.pid
    return proc, url


def proxy_count(url: str, reset: bool = False) -> int:
    with urllib.request.urlopen(f"{url}{PROXY_CONTROL}{'reset' if reset else 'count'}") as r:
        return int(r.read())


def build_org(url: str, accounts: int) -> list[str]:
    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=url)
    org.create_organization(FeatureSet="ALL")
    ids = []
    for i in range(accounts):
        status = org.create_account(Email=f"a{i}@example.com", AccountName=f"a{i}")
        ids.append(status["CreateAccountStatus"]["AccountId"])
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=url)
    for i, account in enumerate(ids[:3]):
        c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="bench")[
            "Credentials"
        ]
        ec2 = boto3.client(
            "ec2",
            region_name=["us-east-2", "us-west-1", "eu-north-1"][i],
            endpoint_url=url,
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )
        ec2.run_instances(
            ImageId="ami-12345678", MinCount=2, MaxCount=2, InstanceType="c5a.24xlarge"
        )
    return ids


def baseline(url: str, regions_filter: set[str]) -> dict:
    """A plain sequential boto3 sweep (what one writes without corral)."""
    found = 0
    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=url)
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=url)
    me = sts.get_caller_identity()["Account"]
    for page in org.get_paginator("list_accounts").paginate():
        for account in page["Accounts"]:
            creds = {}
            if account["Id"] != me:
                c = sts.assume_role(
                    RoleArn=f"arn:aws:iam::{account['Id']}:role/{ROLE}", RoleSessionName="bench"
                )["Credentials"]
                creds = {
                    "aws_access_key_id": c["AccessKeyId"],
                    "aws_secret_access_key": c["SecretAccessKey"],
                    "aws_session_token": c["SessionToken"],
                }
            session = boto3.Session(region_name="us-east-1", **creds)
            iam = session.client("iam", endpoint_url=url)
            for user in iam.list_users()["Users"]:
                iam.list_access_keys(UserName=user["UserName"])
            iam.get_account_summary()
            ec2 = session.client("ec2", endpoint_url=url)
            for region in ec2.describe_regions()["Regions"]:
                name = region["RegionName"]
                if regions_filter and name not in regions_filter:
                    continue
                regional = session.client("ec2", region_name=name, endpoint_url=url)
                for page2 in regional.get_paginator("describe_instances").paginate():
                    found += sum(len(r["Instances"]) for r in page2["Reservations"])
    return {"instances": found}


def corral(url: str, stack: Path, workers: int, regions: list[str] | None) -> dict:
    spec = load_stack_file(stack)
    conn = Connection(region=spec.region, endpoint_url=url)
    found = sweep(spec, conn, regions=regions, workers=workers, progress=Progress())
    return {
        "units": sum(1 for f in found if f.check == "vcpu-totals"),
        "outside": sum(1 for f in found if f.check == "instances-outside-regions"),
        "errors": sum(1 for f in found if f.status == "ERROR"),
    }


def child(args: argparse.Namespace) -> int:
    """One measured sweep in this (fresh) process; prints its figures as JSON."""
    os.environ.pop("AWS_ENDPOINT_URL", None)
    regions = list(QUICK_REGIONS) if args.quick else None
    start, cpu = time.perf_counter(), time.process_time()
    if args.child == "baseline":
        out = baseline(args.url, set(regions or ()))
    else:
        out = corral(args.url, Path(args.stack), args.workers, regions)
    out.update(
        wall=time.perf_counter() - start,
        cpu=time.process_time() - cpu,
        rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    print(json.dumps(out))
    return 0


def measure(kind: str, url: str, stack: Path, args, emulator: subprocess.Popen, proxy: str):
    """Run one sweep in a child process; add requests and emulator CPU to its figures."""
    proxy_count(proxy, reset=True)
    emu_cpu, shares = process_cpu(emulator.pid), Shares(emulator, proxy)
    command = [sys.executable, __file__, "--child", kind, "--url", url, "--stack", str(stack)]
    command += ["--workers", str(args.workers)] + (["--quick"] if args.quick else [])
    done = subprocess.run(profiled(command, f"sweep-{kind}"), capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"{kind} sweep failed: {done.stderr.strip().splitlines()[-1:]}")
    out = json.loads([x for x in done.stdout.splitlines() if x.startswith("{")][-1])
    out.update(shares.end())
    out["emulator_cpu"] = process_cpu(emulator.pid) - emu_cpu
    out["requests"] = proxy_count(proxy)
    if kind == "corral":
        out["replay"] = min(replay(proxy, n) for n in REPLAY_CONCURRENCY)
        out["alone"] = replay(proxy, 1, LONE_REQUESTS) / LONE_REQUESTS
    return out


def replay(proxy: str, concurrency: int, limit: int | None = None) -> float:
    """Seconds the emulator takes to serve the recorded requests again, without delay."""
    url = f"{proxy}{PROXY_CONTROL}replay?concurrency={concurrency}"
    url += f"&limit={limit}" if limit else ""
    with urllib.request.urlopen(url, timeout=300) as answer:
        return float(answer.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 regions instead of all")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--repeat", type=int, default=3, help="corral runs; the median is kept")
    parser.add_argument("--child", choices=("baseline", "corral"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--stack", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bench_credentials()
    if args.child:
        return child(args)
    with proxied_emulator(args.latency_ms) as (emulator, url, slow, tmp):
        build_org(url, args.accounts)
        stack = tmp / "Pulumi.bench.yaml"
        stack.write_text(textwrap.dedent(STACK))
        measure("corral", slow, stack, args, emulator, slow)  # warm the emulator's backends
        base = measure("baseline", slow, stack, args, emulator, slow)
        runs = [measure("corral", slow, stack, args, emulator, slow) for _ in range(args.repeat)]
    report(args, base, runs)
    return 0


def report(args: argparse.Namespace, base: dict, runs: list[dict]) -> None:
    """Print the figures of the median corral run against the baseline and the bound."""
    run = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    requests, units = run["requests"], max(run["units"], 1)
    service = run["replay"] / max(requests, 1)
    latency = args.latency_ms / 1000
    members = units - units // (args.accounts + 1)  # account-regions outside the caller's
    serial = requests * service
    alone = run["alone"]
    chain = CHAIN * (latency + alone) + latency + members * service
    bound = max(serial, chain)
    walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
    print(f"accounts: {args.accounts + 1} (incl. management), account-regions swept: {units}")
    print(
        f"requests: corral {requests} ({requests / units:.2f} per account-region), "
        f"baseline {base['requests']}"
    )
    print(
        f"instances found: corral {run['outside']} outside regions (of 6), baseline "
        f"{base['instances']}; errors {run['errors']}"
    )
    print(
        f"emulator service time: {service * 1000:.2f} ms/request (fastest replay of corral's "
        f"requests: {run['replay']:.2f} s); its CPU during corral's sweep "
        f"{run['emulator_cpu'] / max(requests, 1) * 1000:.2f} ms/request; a lone request "
        f"takes {run['alone'] * 1000:.2f} ms"
    )
    print(
        f"sequential boto3 sweep: {base['wall']:.2f} s wall, {base['cpu']:.2f} s CPU, "
        f"peak RSS {base['rss']:.0f} MiB"
    )
    print(
        f"corral sweep ({args.workers} workers): {run['wall']:.2f} s wall (median of {walls}), "
        f"{run['cpu']:.2f} s CPU, peak RSS {run['rss']:.0f} MiB"
    )
    print(
        f"lower bound: {bound:.2f} s = max(serial {serial:.2f} s = {requests} x "
        f"{service * 1000:.2f} ms, chain {chain:.2f} s = {CHAIN} x ({args.latency_ms:.0f} + "
        f"{alone * 1000:.2f}) ms + {args.latency_ms:.0f} ms + {members} x "
        f"{service * 1000:.2f} ms)"
    )
    cpu_floor = (run["cpu"] + run["emulator_cpu"]) / 2
    print(
        f"for reference, CPU on 2 cores: (corral {run['cpu']:.2f} + emulator "
        f"{run['emulator_cpu']:.2f}) / 2 = {cpu_floor:.2f} s; proxy not counted"
    )
    print_shares(run, bound)
    spread = statistics.pstdev(r["wall"] for r in runs)
    print(
        f"speed-up vs sequential: {base['wall'] / run['wall']:.1f}x; vs lower bound: "
        f"{run['wall'] / bound:.2f}x; stdev of corral runs {spread:.2f} s"
    )


def print_shares(run: dict, bound: float) -> None:
    """The machine's CPU while the median run's process lived, and the run against the floor
    that corral, the emulator and the proxy set together on the machine's cores."""
    cores = os.cpu_count() or 1
    ours = run["share_child"] + run["share_emulator"] + run.get("share_proxy", 0.0)
    print(
        f"machine CPU while that process lived ({run['share_wall']:.2f} s, start-up included): "
        f"{run['share_machine']:.2f} s on {cores} cores = corral's process "
        f"{run['share_child']:.2f} + emulator {run['share_emulator']:.2f} + proxy "
        f"{run.get('share_proxy', 0.0):.2f} + other processes {run['share_others']:.2f}"
    )
    floor = (ours - (run["share_child"] - run["cpu"])) / cores
    print(
        f"CPU floor of the run (corral {run['cpu']:.2f} + emulator + proxy, on {cores} cores): "
        f"{floor:.2f} s; vs max(lower bound, CPU floor): {run['wall'] / max(bound, floor):.2f}x"
    )


if __name__ == "__main__":
    sys.exit(main())
