"""Benchmark: the corral policy pack against a no-op pack, through the analyzer protocol.

Both packs run as the CLI runs them (see policies/harness.py) and analyze the same
synthetic stacks: ``Analyze`` for every resource, then ``AnalyzeStack``. The no-op
pack declares the same policies (names, kinds, schemas) with validations that do
nothing, so the ratio isolates what the rules themselves cost over the protocol
and the SDK's per-policy deserialization. Target: ratio <= 1.5.

    .venv/bin/python bench/bench_pack.py           # 1,000 and 10,000 resources
    .venv/bin/python bench/bench_pack.py --quick   # 200 and 1,000 resources
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "policies"))

import harness  # noqa: E402
import harness_pack  # noqa: E402
import harness_program  # noqa: E402
import harness_requests  # noqa: E402
from google.protobuf import struct_pb2  # noqa: E402

from corral.build import packconfig  # noqa: E402
from corral.build.plan import build_plan  # noqa: E402
from corral.spec.load import from_config  # noqa: E402

EXAMPLE = ROOT / "Pulumi.example.yaml"
NOOP_MAIN = """
import sys
sys.path.insert(0, {pack!r})
from pulumi_policy import PolicyPack, ResourceValidationPolicy, StackValidationPolicy
from rules import MODULES

def nothing(args, report_violation):
    return None

policies = []
for m in MODULES:
    kind = ResourceValidationPolicy if isinstance(m.POLICY, ResourceValidationPolicy) \\
        else StackValidationPolicy
    policies.append(kind(name=m.ID, description=m.DESCRIPTION, validate=nothing,
                         enforcement_level=m.POLICY.enforcement_level,
                         config_schema=m.POLICY.config_schema))
PolicyPack(name="noop", policies=policies)
"""
PROVIDER_URN = "urn:pulumi:bench::corral::pulumi:providers:aws::default_7_51_1"


def _struct(values: dict) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def _resource(i: int) -> tuple[str, dict]:
    kind = i % 8
    if kind == 0:
        return "aws:ec2/instance:Instance", {"ami": "ami-1", "instanceType": "t3.large"}
    if kind == 1:
        return "aws:s3/bucket:Bucket", {"bucket": f"data-{i}", "tags": {"team": "a"}}
    if kind == 2:
        doc = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:Get*", "Resource": f"arn:aws:s3:::data-{i}/*"}
            ],
        }
        return "aws:iam/policy:Policy", {"policy": json.dumps(doc)}
    if kind == 3:
        return "aws:ec2/launchTemplate:LaunchTemplate", {"instanceType": "m7i.large"}
    if kind == 4:
        overrides = [{"instanceType": t} for t in ("t3.small", "t3.medium", "c7i.large")]
        return "aws:autoscaling/group:Group", {
            "maxSize": 3, "minSize": 0,
            "mixedInstancesPolicy": {"launchTemplate": {"overrides": overrides}},
        }  # fmt: skip
    if kind == 5:
        return "aws:sqs/queue:Queue", {"name": f"q-{i}"}
    if kind == 6:
        return "aws:iam/role:Role", {"assumeRolePolicy": "{}", "name": f"role-{i}"}
    return "aws:lambda/function:Function", {"role": "arn", "runtime": "python3.12"}


def stack(count: int, stack_config: dict) -> list[harness_program.Registration]:
    """A stack of ``count`` resources: corral's documents plus a mix of workload resources."""
    plan = build_plan(from_config(stack_config))
    provider = harness_requests.default_provider(
        "aws", harness_program.config_strings(stack_config), "bench", "corral"
    )
    regs = [provider]
    ref = f"{provider.urn}::{provider.id}"
    for doc in plan.documents:
        urn = f"urn:pulumi:bench::corral::aws:organizations/policy:Policy::{doc.name}"
        props = {"name": doc.name, "content": doc.content, "type": "SERVICE_CONTROL_POLICY"}
        regs.append(
            harness_program.Registration(
                urn, "aws:organizations/policy:Policy", doc.name, True, _struct(props), provider=ref
            )
        )
    for i in range(count - len(regs)):
        token, props = _resource(i)
        name = f"r{i}"
        urn = f"urn:pulumi:bench::corral::{token}::{name}"
        regs.append(
            harness_program.Registration(urn, token, name, True, _struct(props), provider=ref)
        )
    return regs


def measure(pack_dir: Path, config: dict, stack_config: dict, stacks: dict) -> dict[int, float]:
    """Seconds to analyze each stack with the pack in ``pack_dir`` (best of ``repeats``)."""
    times = {}
    with harness_pack.PackProcess(pack_dir, stack_config=stack_config) as pack:
        pack.configure(config)
        pack.analyze(stacks[min(stacks)][:50])  # warm up imports and caches
        for count, regs in stacks.items():
            start = time.perf_counter()
            report = pack.analyze(regs)
            times[count] = time.perf_counter() - start
            if report.mandatory:
                raise SystemExit(f"unexpected violation: {report.mandatory[0].detail}")
    return times


def main(argv: list[str] | None = None) -> int:
    """Print per-resource times and the ratio to the no-op pack."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 resources")
    args = parser.parse_args(argv)
    sizes = (200, 1000) if args.quick else (1000, 10000)
    # The example stack, with Lambda allowed: the workload mix runs Lambda functions.
    stack_config = {**harness.load_stack_config(EXAMPLE), "corral:compute": {"allow": ["lambda"]}}
    config = packconfig.pack_config(from_config(stack_config))
    stacks = {n: stack(n, stack_config) for n in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        noop = Path(tmp)
        (noop / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
        (noop / "__main__.py").write_text(NOOP_MAIN.format(pack=str(ROOT / "policies")))
        baseline = measure(noop, config, stack_config, stacks)
        corral = measure(ROOT / "policies", config, stack_config, stacks)
    print(f"{'resources':>10} {'no-op ms/res':>13} {'corral ms/res':>14} {'ratio':>6}")
    worst = 0.0
    for n in sizes:
        ratio = corral[n] / baseline[n]
        worst = max(worst, ratio)
        print(
            f"{n:>10} {baseline[n] / n * 1000:>13.3f} {corral[n] / n * 1000:>14.3f} {ratio:>6.2f}"
        )
    print(f"worst ratio {worst:.2f} (target <= 1.50): {'ok' if worst <= 1.5 else 'OVER'}")
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
