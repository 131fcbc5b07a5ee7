"""Benchmark: reading a stack file with PyYAML's pure-Python ``SafeLoader`` against the C
``CSafeLoader`` corral uses (both with corral's duplicate-key check), and the size cap.

- realistic large-but-allowed stack files just under the 1 MiB cap: the corral keys of
  the example stack plus thousands of other namespaces' keys, nested maps and comments, as
  a big Pulumi project's stack file has ("maps"), or plus a long list of ARNs ("lists");
- the example stack file itself;
- a 10 MB file: what parsing it would cost with each loader (measured on the text, outside
  corral), and how fast corral refuses it (the cap is checked before the file is read).

Prints the best of ``--repeat`` runs per case and the ratio pure-Python / C.

Usage: .venv/bin/python bench/bench_yaml_parse.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corral.spec import stackfile  # noqa: E402
from corral.spec.readers import SpecError  # noqa: E402

EXAMPLE = ROOT / "Pulumi.example.yaml"


def big_stack(target_bytes: int) -> str:
    """The example stack followed by other namespaces' settings, up to ``target_bytes``."""
    lines = [EXAMPLE.read_text().rstrip()]
    size = len(lines[0])
    i = 0
    while size < target_bytes:
        block = (
            f"  # service {i}: settings of another package in the same stack\n"
            f"  app{i}:replicas: {i % 7 + 1}\n"
            f"  app{i}:image: registry.example.com/team/app{i}:1.{i % 50}.{i % 9}\n"
            f"  app{i}:env:\n"
            f"    LOG_LEVEL: info\n"
            f"    FEATURES: [alpha, beta, gamma-{i}]\n"
            f"    LIMITS: {{cpu: '{i % 4 + 1}', memory: {256 * (i % 8 + 1)}Mi}}\n"
        )
        if size + len(block) > target_bytes:
            break
        lines.append(block.rstrip("\n"))
        size += len(block)
        i += 1
    return "\n".join(lines) + "\n"


def long_lists(target_bytes: int) -> str:
    """The example stack followed by long lists of scalars (ARNs), up to ``target_bytes``."""
    head = EXAMPLE.read_text().rstrip() + "\n  other:principals:\n"
    item = "    - arn:aws:iam::111122223333:role/team-{:06d}-deployer\n"
    count = (target_bytes - len(head)) // len(item.format(0))
    return head + "".join(item.format(i) for i in range(count))


def best(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no 10 MB parse")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeat
    fast, slow = stackfile.StrictLoader, stackfile.PurePythonStrictLoader
    print(f"C loader available: {fast is not slow} ({fast.__name__} vs {slow.__name__})")
    with tempfile.TemporaryDirectory() as tmp:
        allowed = big_stack(stackfile.MAX_BYTES - 1024)
        path = Path(tmp) / "Pulumi.big.yaml"
        path.write_text(allowed)
        cases = [
            ("example stack", EXAMPLE.read_text()),
            ("1 MiB of maps", allowed),
            ("1 MiB of lists", long_lists(stackfile.MAX_BYTES - 1024)),
        ]
        for label, text in cases:
            c = best(repeats, lambda text=text: stackfile.parse(text, fast))
            py = best(repeats, lambda text=text: stackfile.parse(text, slow))
            print(
                f"{label:<20} {len(text):>10,} bytes  C {c * 1000:8.1f} ms  "
                f"pure Python {py * 1000:8.1f} ms  ratio {py / c:5.1f}x"
            )
        read = best(repeats, lambda: stackfile.read(path))
        print(f"{'read() under the cap':<20} {len(allowed):>10,} bytes  {read * 1000:8.1f} ms")
        huge = big_stack(10 * 1000 * 1000)
        huge_path = Path(tmp) / "Pulumi.huge.yaml"
        huge_path.write_text(huge)

        def refuse() -> None:
            try:
                stackfile.read(huge_path)
            except SpecError:
                return
            raise SystemExit("the 10 MB file was not refused")

        refused = best(repeats, refuse)
        print(f"{'10 MB refused':<20} {len(huge):>10,} bytes  {refused * 1000:8.3f} ms")
        if not args.quick:
            c = best(1, lambda: stackfile.parse(huge, fast))
            py = best(1, lambda: stackfile.parse(huge, slow))
            print(
                f"{'10 MB if parsed':<20} {len(huge):>10,} bytes  C {c:8.2f} s   "
                f"pure Python {py:8.2f} s   ratio {py / c:5.1f}x"
            )


if __name__ == "__main__":
    main()
