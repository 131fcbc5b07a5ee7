"""Benchmark: ``corral sweep`` of an organization over every region, behind ~80 ms latency.

Starts moto_server on 127.0.0.1 and a loopback proxy that adds a fixed delay to each
request (a stand-in for real AWS latency), builds an organization of N member
accounts with a few instances, then measures in the same run:

- the emulator's own service time per request (corral, one worker, no proxy);
- a plain sequential boto3 sweep of the same accounts and regions (through the proxy);
- corral's sweep (through the proxy, bounded thread pool);
- the lower bound: max(total emulator service time, dependency depth x (latency + service)).

Usage: .venv/bin/python bench/bench_sweep.py [--quick] [--accounts 10] [--latency-ms 80]
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import resource
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import tracemalloc
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corral.aws import Connection  # noqa: E402
from corral.spec import load_stack_file  # noqa: E402
from corral.sweep import Progress, sweep  # noqa: E402

ROLE = "OrganizationAccountAccessRole"
DEPTH = 5  # ListAccounts -> AssumeRole -> DescribeRegions -> ListParents -> DescribeInstances


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy(ThreadingHTTPServer):
    """Forwards every request to the emulator after ``delay`` seconds; counts requests."""

    daemon_threads = True

    def __init__(self, port: int, upstream: int, delay: float) -> None:
        self.upstream, self.delay, self.count = upstream, delay, 0
        self.lock = threading.Lock()
        self.local = threading.local()
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _forward(self) -> None:
        server: Proxy = self.server  # type: ignore[assignment]
        with server.lock:
            server.count += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        time.sleep(server.delay)
        conn = getattr(server.local, "conn", None)
        if conn is None:
            conn = server.local.conn = http.client.HTTPConnection("127.0.0.1", server.upstream)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        self.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward


def start_emulator() -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    server = ROOT / ".venv" / "bin" / "moto_server"
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("moto_server did not start")


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


def baseline(url: str, regions_filter: set[str] | None) -> int:
    """A plain sequential boto3 sweep (what one writes without corral): returns instances."""
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
    return found


def corral_sweep(url: str, stack: Path, workers: int, regions: list[str] | None):
    spec = load_stack_file(stack)
    conn = Connection(region=spec.region, endpoint_url=url)
    return sweep(spec, conn, regions=regions, workers=workers, progress=Progress(io.StringIO()))


def timed(fn, *args):
    start, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - start, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 regions instead of all")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    emulator, url = start_emulator()
    proxy = Proxy(free_port(), int(url.rsplit(":", 1)[1]), args.latency_ms / 1000)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    slow = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        build_org(url, args.accounts)
        regions = None
        if args.quick:
            regions = [
                "eu-north-1",
                "eu-west-1",
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
                "ap-south-1",
                "sa-east-1",
            ]
        with tempfile.TemporaryDirectory() as tmp:
            stack = Path(tmp) / "Pulumi.bench.yaml"
            stack.write_text(
                textwrap.dedent("""\
                config:
                  aws:region: us-east-1
                  corral:mode: organization
                  corral:allowedRegions: [us-east-1, eu-west-1]
                  corral:allowLockout: true
                  corral:instances: {allow: [t3.*]}
                  corral:targets: [{id: r-abcd, name: root}]
                """)
            )
            # 1. emulator service time: one worker, no proxy
            direct, t_direct, _ = timed(corral_sweep, url, stack, 1, regions)
            proxy.count = 0
            # 2. sequential boto3 baseline through the proxy
            base_found, t_base, cpu_base = timed(baseline, slow, set(regions or ()))
            base_requests, proxy.count = proxy.count, 0
            # 3. corral through the proxy
            tracemalloc.start()
            found, t_corral, cpu_corral = timed(corral_sweep, slow, stack, args.workers, regions)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            requests = proxy.count
    finally:
        proxy.shutdown()
        emulator.terminate()
        emulator.wait(timeout=10)
    units = sum(1 for f in found if f.check == "vcpu-totals")
    outside = sum(1 for f in found if f.check == "instances-outside-regions")
    errors = sum(1 for f in found if f.status == "ERROR")
    service = t_direct / max(requests, 1)
    latency = args.latency_ms / 1000
    bound = max(requests * service, DEPTH * (latency + service))
    print(f"accounts: {args.accounts + 1} (incl. management), account-regions swept: {units}")
    print(
        f"requests: corral {requests} ({requests / max(units, 1):.2f} per account-region), "
        f"baseline {base_requests}"
    )
    print(
        f"instances found: corral {outside} outside regions (of 6), baseline {base_found}; "
        f"errors {errors}; direct run {len(direct)} findings"
    )
    print(
        f"emulator service time: {service * 1000:.1f} ms/request (1 worker, no proxy, "
        f"{t_direct:.2f} s)"
    )
    print(f"sequential boto3 sweep: {t_base:.2f} s wall, {cpu_base:.2f} s CPU")
    print(
        f"corral sweep ({args.workers} workers): {t_corral:.2f} s wall, {cpu_corral:.2f} s CPU, "
        f"peak traced memory {peak:.1f} MiB, max RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (process)"
    )
    print(
        f"lower bound: {bound:.2f} s = max({requests} x {service * 1000:.1f} ms, "
        f"{DEPTH} x ({args.latency_ms:.0f} + {service * 1000:.1f}) ms)"
    )
    print(
        f"speed-up vs sequential: {t_base / t_corral:.1f}x; vs lower bound: {t_corral / bound:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
