"""Benchmark: the whole Pulumi program under mocks, for growing organizations.

Builds the organization-mode program (config -> spec -> plan -> components ->
manifest) for 10, 100 and 1,000 targets, one per member account plus the
root, and prints wall time, peak traced memory, resources per account and the
cost ratio per 10x growth. The spec caps a list at 1,000 entries, so the
largest size is 999 accounts plus the root. The baseline is the 10-account
build of the same run; a linear program shows a ratio near 10 per step.

    .venv/bin/python bench/bench_program.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402

from components import program  # noqa: E402
from corral.build.plan import build_plan  # noqa: E402
from corral.spec.load import from_config  # noqa: E402

SIZES = (10, 100, 999)
QUICK_SIZES = (10, 100)
FIRST_ACCOUNT = 100_000_000_000


@dataclass
class CountingMocks(pulumi.runtime.Mocks):
    """Mocks that give every resource an id and count what was created."""

    created: int = 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        """Create a resource with a name-derived id."""
        self.created += 1
        state = dict(args.inputs)
        state["arn"] = f"arn:aws:mock:::{args.name}"
        return f"id-{args.name}", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, None]:
        """The program calls no provider function."""
        raise AssertionError(f"unexpected provider call {args.token}")


def stack_config(accounts: int) -> dict[str, str]:
    """An organization stack: root guarded by regions and protection, accounts by instances.

    Values are text, structured ones JSON, as the engine hands them to a program.
    """
    targets = [{"id": "r-a1b2", "name": "root", "guardrails": ["regions", "protection"]}]
    targets += [
        {"id": f"{FIRST_ACCOUNT + i:012d}", "name": f"acct-{i:04d}", "guardrails": ["instances"]}
        for i in range(accounts)
    ]
    config = {
        "aws:region": "us-east-1",
        "corral:mode": "organization",
        "corral:allowedRegions": ["us-east-1", "eu-west-1"],
        "corral:exemptPrincipals": ["arn:aws:iam::*:role/corral-break-glass"],
        "corral:instances": {"allow": ["t3.*", "m7i.*"], "deny": ["*.metal*"], "maxVcpus": 16},
        "corral:targets": targets,
    }
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def build(config: dict[str, str]) -> tuple[int, dict]:
    """Run the program under fresh mocks; return (resources created, manifest)."""
    pulumi.runtime.reset_options(project="corral", stack="bench", preview=False)
    pulumi.runtime.set_all_config(config, [])
    mocks = CountingMocks()
    pulumi.runtime.set_mocks(mocks, project="corral", stack="bench", preview=False)
    box: dict = {}

    @pulumi.runtime.test
    def _program() -> pulumi.Output:
        return program.deploy(program.stack_config()).apply(lambda m: box.update(manifest=m))

    _program()
    return mocks.created, box["manifest"]


@dataclass
class Figures:
    """What one size costs."""

    accounts: int
    resources: int
    attachments: int
    builder_s: float
    wall_s: float
    peak_mib: float


def measure(accounts: int) -> Figures:
    """Time the builders alone and the whole program, then trace its peak memory."""
    config = stack_config(accounts)
    gc.collect()
    start = time.perf_counter()
    build_plan(from_config(config))
    builder_s = time.perf_counter() - start
    gc.collect()
    start = time.perf_counter()
    resources, manifest = build(config)
    wall_s = time.perf_counter() - start
    gc.collect()
    tracemalloc.start()
    build(config)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Figures(
        accounts,
        resources,
        len(manifest["attachments"]),
        builder_s,
        wall_s,
        peak / 2**20,
    )


def report(rows: list[Figures]) -> None:
    """Print one line per size, then the ratio per 10x step against the previous size."""
    print(
        f"{'accounts':>8} {'targets':>7} {'resources':>9} {'res/acct':>8} {'attach':>6} "
        f"{'builders s':>10} {'program s':>9} {'pulumi s':>8} {'peak MiB':>8}"
    )
    for r in rows:
        print(
            f"{r.accounts:>8} {r.accounts + 1:>7} {r.resources:>9} "
            f"{r.resources / r.accounts:>8.2f} {r.attachments:>6} {r.builder_s:>10.3f} "
            f"{r.wall_s:>9.3f} {r.wall_s - r.builder_s:>8.3f} {r.peak_mib:>8.1f}"
        )
    base = rows[0]
    print(
        "builders s: spec and plan alone; program s: the whole program (builders included); "
        "pulumi s: the difference (component and resource registration, manifest)"
    )
    print(f"baseline: the {base.accounts}-account build of this run")
    for prev, cur in itertools.pairwise(rows):
        growth = (cur.accounts + 1) / (prev.accounts + 1)
        wall = cur.wall_s / prev.wall_s
        mem = cur.peak_mib / prev.peak_mib
        res = cur.resources / prev.resources
        print(
            f"{prev.accounts:>4} -> {cur.accounts:<4} targets x{growth:.1f}: program time "
            f"x{wall:.1f}, resources x{res:.1f}, peak memory x{mem:.1f} (linear ~ x{growth:.1f})"
        )
    last = rows[-1]
    print(
        f"{last.accounts} vs baseline {base.accounts}: program time "
        f"x{last.wall_s / base.wall_s:.1f} for x{(last.accounts + 1) / (base.accounts + 1):.1f} "
        "targets"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run 10 and 100 accounts only")
    args = parser.parse_args(argv)
    build(stack_config(2))  # warm caches (catalog, imports) outside the measurements
    rows = [measure(n) for n in (QUICK_SIZES if args.quick else SIZES)]
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
