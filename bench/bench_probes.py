"""Probe decisions per second beside the cost of reading the SCPs from an emulator.

A ``moto_server`` on 127.0.0.1 (a free port, MOTO_EC2_LOAD_DEFAULT_AMIS=false) holds a
5-level organization (root, three nested OUs, the account) with 5 SCPs per level:
FullAWSAccess and four corral documents (the example spec's region/protection and
instance documents, and looser variants of both). The figures:

- read: ``corral.cli.explain.read_scp_chain`` over boto3 with ``endpoint_url`` (list_parents
  up to the root, list_policies_for_target and describe_policy per level);
- decide: ``corral.evaluate.engine.evaluate`` of every authorization of every probe the example
  spec implies for its ``workloads`` target, against that chain;
- judge: ``corral.evaluate.judge.judge`` of every probe with one shared decision cache (what
  ``run_probes`` does per account: it stops at the first denied authorization and reuses
  decisions of identical authorizations, such as the image or subnet of launches in the
  same region).

The ratio is the time to read the policies over the time to decide the whole probe set.
Figures are printed, never asserted. The server is always stopped.
Run: ``.venv/bin/python bench/bench_probes.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from support import best_of, moto_server  # noqa: E402

from corral.build.plan import build_plan  # noqa: E402
from corral.cli.explain import read_scp_chain  # noqa: E402
from corral.evaluate.engine import evaluate  # noqa: E402
from corral.evaluate.judge import judge  # noqa: E402
from corral.evaluate.probes import probes_for  # noqa: E402
from corral.evaluate.scope import scope_for, spec_chain_ids  # noqa: E402
from corral.spec.load import from_config  # noqa: E402

EXAMPLE = ROOT / "Pulumi.example.yaml"
LOOSE = {
    "corral:allowedRegions": ["eu-central-1", "eu-west-1", "us-east-1"],
    "corral:instances": {"allow": ["t3.*", "t4g.*", "m7i.*", "c7i.*"], "maxVcpus": 32},
    "corral:namePrefix": "loose",
}


def specs() -> tuple:
    """The example spec and its looser variant."""
    config = yaml.safe_load(EXAMPLE.read_text())["config"]
    return from_config(config), from_config({**config, **LOOSE})


def build_organization(client, documents: list[tuple[str, str]]) -> str:
    """Root, three nested OUs and an account, four documents per level; the account id."""
    client.create_organization(FeatureSet="ALL")
    parent = client.list_roots()["Roots"][0]["Id"]
    levels = [parent]
    for name in ("workloads", "prod", "team"):
        ou = client.create_organizational_unit(ParentId=parent, Name=name)
        parent = ou["OrganizationalUnit"]["Id"]
        levels.append(parent)
    status = client.create_account(AccountName="dev", Email="dev@example.com")
    account = status["CreateAccountStatus"]["AccountId"]
    root = levels[0]
    client.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
    levels.append(account)
    for depth, target in enumerate(levels):
        for name, content in documents:
            policy = client.create_policy(
                Name=f"{name}-{depth}", Description="bench", Type="SERVICE_CONTROL_POLICY",
                Content=content,
            )  # fmt: skip
            client.attach_policy(PolicyId=policy["Policy"]["PolicySummary"]["Id"], TargetId=target)
    return account


def judge_all(probes: list, chain: list) -> list:
    """Every probe judged against ``chain``, sharing one decision cache, as run_probes does."""
    cache: dict = {}
    return [judge(p, chain, None, cache) for p in probes]


def main(argv: list[str] | None = None) -> None:
    """Start the emulator, build the organization, time reading and deciding."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else 7
    spec, loose = specs()
    plan, loose_plan = build_plan(spec), build_plan(loose)
    # Four documents per level (FullAWSAccess is the fifth): the example's root, its
    # capacity SCP (Spot, compute services, purchases) and workloads, and a looser root.
    names = ("corral-root", "corral-root-capacity", "corral-workloads", "loose-root")
    documents = [(n, (plan if n.startswith("corral") else loose_plan).document(n).content)
                 for n in names]  # fmt: skip
    workloads = next(t for t in spec.targets if t.name == "workloads")
    probes = probes_for(spec, scope_for(spec, spec_chain_ids(spec, workloads)))
    requests = [r for p in probes for r in p.requests]
    with moto_server() as (_, url):
        client = boto3.client(
            "organizations", region_name="us-east-1", endpoint_url=url,
            aws_access_key_id="testing", aws_secret_access_key="testing",  # emulator only
        )  # fmt: skip
        account = build_organization(client, documents)
        read_s = best_of(repeats, lambda: read_scp_chain(client, account))
        chain, _ = read_scp_chain(client, account)
    decide_s = best_of(
        repeats, lambda: [evaluate(r, scp_chain=chain, identity_allows_all=True) for r in requests]
    )
    run_s = best_of(repeats, lambda: judge_all(probes, chain))
    passed = sum(r.passed for r in judge_all(probes, chain))
    print(f"organization: {len(chain)} levels x {len(chain[0])} SCPs, read from moto_server")
    print(f"probes: {len(probes)} ({passed} pass), authorizations: {len(requests)}")
    print(f"read the chain over HTTP: {read_s * 1e3:.1f} ms")
    print(
        f"decide every authorization: {decide_s * 1e3:.1f} ms = "
        f"{len(requests) / decide_s:,.0f} decisions/s"
    )
    print(f"judge every probe: {run_s * 1e3:.1f} ms = {len(probes) / run_s:,.0f} probes/s")
    print(f"ratio read / decide-all: {read_s / decide_s:.1f}; read / judge: {read_s / run_s:.1f} "
          "(reading one account's SCPs costs this many probe sets)")  # fmt: skip


if __name__ == "__main__":
    main()
