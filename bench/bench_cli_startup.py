"""Benchmark: ``corral --help`` against ``python -c pass``, each a fresh process.

The parser imports no botocore, spec or builders (commands import what they need when
they run), so ``corral --help`` costs little more than starting Python. Prints the best
and median of ``--repeat`` runs of each, the ratio, and whether ``corral --help`` stays
under the 0.2 s goal; ``corral --version`` and a usage error are timed too.

Usage: .venv/bin/python bench/bench_cli_startup.py [--quick] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 0.2


def timed(argv: list[str], repeat: int) -> list[float]:
    """Wall times of ``repeat`` runs of ``argv`` (exit code ignored: usage errors exit 2)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)  # fmt: skip
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 runs each")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    repeat = 5 if args.quick else args.repeat
    python = [sys.executable]
    cases = {
        "python -c pass": [*python, "-c", "pass"],
        "corral --help": [*python, "-m", "corral", "--help"],
        "corral --version": [*python, "-m", "corral", "--version"],
        "corral verify (usage error)": [*python, "-m", "corral", "verify"],
    }
    results = {label: timed(argv, repeat) for label, argv in cases.items()}
    base = min(results["python -c pass"])
    for label, times in results.items():
        best, median = min(times) * 1000, statistics.median(times) * 1000
        ratio = min(times) / base
        print(f"{label:<28} best {best:7.1f} ms  median {median:7.1f} ms  ratio {ratio:5.2f}x")
    help_best = min(results["corral --help"])
    verdict = "under" if help_best < GOAL_SECONDS else "OVER"
    print(
        f"corral --help: {help_best * 1000:.1f} ms, {verdict} the {GOAL_SECONDS * 1000:.0f} ms goal"
    )
    if help_best >= GOAL_SECONDS:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
