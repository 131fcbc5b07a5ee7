"""The main job on the local emulator: replay the incident, deploy corral, verify.

    python -m examples.emulator.demo        (what `make demo` runs)

For a standalone account and for a small organization, in a moto_server on
127.0.0.1 that is always stopped at the end:

1. replay the incident: 26 c5a.24xlarge in us-east-1, us-east-2, us-west-1 and
   us-west-2, and a long-lived IAM user access key;
2. `corral sweep` and `corral verify`: red, the incident found;
3. apply the stack's guardrails by running the real Pulumi program under
   ``pulumi.runtime.set_mocks``, each resource created in the emulator through
   boto3 (the emulator path: NOT a substitute for `pulumi up`);
4. `corral verify` again: the guardrails pass and the incident's requests are
   denied by a named statement; `corral sweep` still lists the 26 instances, since
   deny rules do not stop what already runs;
5. standalone account: the alerts replay, then the incident's vCPU alarm trips the fast
   circuit breaker (``trigger: alarm``) and a launch the spec allows is denied after;
6. organization: the incident member's vCPU alarm in us-east-2 (the member lies below an OU
   and got its detection and relay from corral's StackSet) trips the fast breaker in the
   management account, which attaches the deny-launch SCP to that member; a launch the spec
   allows there is denied after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

from corral.spec.load import load_stack_file
from examples.emulator import alert_replay, breaker_replay, incident, server, stackset_replay
from examples.emulator.apply import apply_program

ROOT = Path(__file__).resolve().parents[2]
INCIDENT_REGIONS = tuple(incident.INCIDENT)


@dataclass
class Report:
    """One `corral` run: its exit code and findings."""

    command: str
    code: int
    findings: list[dict[str, Any]]

    def count(self, status: str) -> int:
        """Findings with ``status``."""
        return sum(1 for f in self.findings if f["status"] == status)

    def of(self, check: str, status: str | None = None) -> list[dict[str, Any]]:
        """Findings of one check (and status)."""
        return [
            f
            for f in self.findings
            if f["check"] == check and (status is None or f["status"] == status)
        ]


def corral(command: str, stack: Path, url: str, workdir: Path, *extra: str) -> Report:
    """Run the real `corral` CLI against the emulator and read its JSON report."""
    out = workdir / f"{command}-{time.monotonic_ns()}.json"
    argv = [sys.executable, "-m", "corral", command, "--config", str(stack)]
    argv += ["--endpoint-url", url, "--format", "json", "--output", str(out), *extra]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    if not out.exists():
        raise RuntimeError(f"corral {command} could not complete: {result.stderr.strip()}")
    return Report(command, result.returncode, json.loads(out.read_text())["findings"])


def write_stack(workdir: Path, name: str, config: dict[str, Any]) -> Path:
    """Write a stack file the program and every `corral` command read."""
    path = workdir / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


# --------------------------------------------------------------------------- worlds


def account_stack() -> dict[str, Any]:
    """The standalone account's stack: the spend example, guarding the leaked user too."""
    config = yaml.safe_load((ROOT / "Pulumi.spend-example.yaml").read_text())["config"]
    config["corral:principals"] = {"groups": ["developers"], "users": ["ci-deployer", "script"]}
    # The fast circuit breaker: a capacity alarm trips it in minutes (docs/spend.md).
    config["corral:circuitBreaker"] = {**config["corral:circuitBreaker"], "trigger": "alarm"}
    return config


def organization_stack(org: incident.Organization) -> dict[str, Any]:
    """The example stack, its target ids replaced by the emulator organization's."""
    config = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())["config"]
    ids = {"root": org.root, "workloads": org.ous["workloads"], "ml": org.ous["ml"]}
    for target in config["corral:targets"]:
        target["id"] = ids[target["name"]]
    return config


def with_member_detection(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with spend detection on: every member below the root and OUs gets it through
    corral's StackSet, created as StackSets' stacksets-exec-* role, which must be exempt
    (docs/spend.md)."""
    exec_role = "arn:aws:iam::*:role/stacksets-exec-*"
    return {
        **config,
        "corral:notifications": {"emails": ["ops@example.com"]},
        "corral:exemptPrincipals": [*config["corral:exemptPrincipals"], exec_role],
        # The fast circuit breaker in organization mode (docs/spend.md): the SCP is attached
        # from the management account, so the budgets are deployed there.
        "corral:budgets": {"deployment": "management"},
        "corral:circuitBreaker": {"enabled": True, "trigger": "alarm"},
    }


def setup_account(session: boto3.Session, url: str) -> None:
    """The owner's account: a group and a deploy user, then the incident."""
    iam = session.client("iam", endpoint_url=url)
    iam.create_group(GroupName="developers")
    iam.create_user(UserName="ci-deployer")
    incident.leak_access_key(session, url)
    incident.launch_incident(session, url)
    alert_replay.start_trail(session, url)  # the alerts need a trail (docs/alerts.md)


def setup_organization(session: boto3.Session, url: str) -> incident.Organization:
    """Management account, two OUs, three members; the incident in one member account."""
    org = incident.create_organization(
        session, url, {"dev": "workloads", "test": "workloads", "research": "ml"}
    )
    # The one-time prerequisite the README names: SCPs must be enabled on the root.
    session.client("organizations", endpoint_url=url).enable_policy_type(
        RootId=org.root, PolicyType="SERVICE_CONTROL_POLICY"
    )
    member = incident.member_session(session, url, org.accounts["dev"])
    incident.leak_access_key(member, url)
    incident.launch_incident(member, url)
    alert_replay.start_trail(session, url, organization=True)
    return org


# --------------------------------------------------------------------------- story


def _say(text: str = "") -> None:
    print(text, flush=True)


def describe_sweep(report: Report) -> list[str]:
    """The sweep's exposure, in a few lines."""
    running = [f for f in report.findings if f["status"] == "FAIL"]
    by_check = Counter(f["check"] for f in running)
    lines = [f"{by_check[c]} x {c}" for c in sorted(by_check)]
    regions = Counter(f["region"] for f in report.of("instances-outside-regions", "FAIL"))
    if regions:
        lines.append(
            "instances outside allowed regions: "
            + ", ".join(f"{r} {regions[r]}" for r in sorted(regions))
        )
    return lines


def running_instances(report: Report) -> int:
    """Distinct running instances the sweep flags (outside the regions or the types)."""
    checks = ("instances-outside-regions", "instance-types-not-allowed")
    return len({f["resource"] for c in checks for f in report.of(c, "FAIL")})


def describe_denials(report: Report, limit: int = 4) -> list[str]:
    """How the incident's requests are now decided, from the effect checks."""
    probes = [
        f
        for f in report.of("guardrail-effects")
        if "c5a.24xlarge" in f["message"] and f["region"] in INCIDENT_REGIONS
    ]
    seen, lines = set(), []
    for p in probes:
        if p["region"] not in seen:
            seen.add(p["region"])
            lines.append(f"{p['status']}: {p['message']}")
    return lines[:limit]


def play(name: str, stack: Path, url: str, workdir: Path, apply: Any) -> dict[str, Any]:
    """Before, apply, after, for one world; return the figures for the summary."""
    _say(f"== {name}: before corral ==")
    sweep_before = corral("sweep", stack, url, workdir)
    verify_before = corral("verify", stack, url, workdir)
    for line in describe_sweep(sweep_before):
        _say(f"  sweep  {line}")
    _say(f"  verify {verify_before.count('FAIL')} FAIL, {verify_before.count('ERROR')} ERROR")
    started = time.monotonic()
    _, created = apply()
    _say(
        f"== {name}: applied the program through the emulator path ({len(created)} resources,"
        f" {time.monotonic() - started:.1f}s) =="
    )
    verify_after = corral("verify", stack, url, workdir)
    sweep_after = corral("sweep", stack, url, workdir)
    _say(
        f"  verify {verify_after.count('PASS')} PASS, {verify_after.count('FAIL')} FAIL, "
        f"{verify_after.count('ERROR')} ERROR"
    )
    for line in describe_denials(verify_after):
        _say(f"  effect {line}")
    for f in verify_after.findings:
        if f["status"] != "PASS":
            _say(f"  {f['status']}  {f['check']}: {f['message']}")
    running = running_instances(sweep_after)
    _say(f"  sweep  still {running} running instances of the incident: deny rules")
    _say("         stop new launches, not what runs. Next: terminate them and delete the key.")
    return {
        "world": name,
        "before": {
            "verify_fail": verify_before.count("FAIL"),
            "sweep_fail": sweep_before.count("FAIL"),
        },
        "after": {
            "verify_pass": verify_after.count("PASS"),
            "verify_fail": verify_after.count("FAIL"),
            "verify_error": verify_after.count("ERROR"),
            "still_running": running,
        },
        "ok": verify_after.code == 0,
    }


def main(argv: list[str] | None = None) -> int:
    """Run both worlds; exit 0 when the guardrails verify green in both."""
    parser = argparse.ArgumentParser(prog="corral-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("account", "organization"))
    args = parser.parse_args(argv)
    os.environ.update(server.FAKE_CREDENTIALS)
    os.environ.update(server.SERVER_ENV)
    started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="corral-demo-") as tmp, server.moto_server() as url:
        workdir = Path(tmp)
        _say(f"emulator: moto_server at {url} (fake credentials, nothing leaves this machine)")
        alert_replay.prepare(url)
        session = boto3.Session(region_name="us-east-1")
        if args.only in (None, "account"):
            setup_account(session, url)
            config = account_stack()
            stack = write_stack(workdir, "demo-account", config)
            results.append(
                play(
                    "standalone account",
                    stack,
                    url,
                    workdir,
                    lambda: apply_program(config, session, url),
                )
            )
            _say("== standalone account: the incident's 26 denied launches and a tamper event ==")
            for message in alert_replay.replay(session, url, config["aws:region"]):
                _say(f"  alert  {alert_replay.summary(message)}")
            _say("== standalone account: the incident's vCPUs trip the circuit breaker ==")
            spend = load_stack_file(stack).spend
            trip = breaker_replay.replay(session, url, spend, "us-east-1", "script", "t3.micro")
            for line in trip:
                _say(f"  breaker {line}")
        if args.only in (None, "organization"):
            server.reset(url)
            org = setup_organization(session, url)
            config = with_member_detection(organization_stack(org))
            stack = write_stack(workdir, "demo-organization", config)
            results.append(
                play(
                    "organization", stack, url, workdir, lambda: apply_program(config, session, url)
                )
            )
            _say("== organization: member detection through corral's StackSet ==")
            for line in stackset_replay.replay(session, url, org, "corral-spend-detection", "ml"):
                _say(f"  stackset {line}")
            _say("== organization: the incident member's vCPUs trip the circuit breaker ==")
            spend, dev = load_stack_file(stack).spend, org.accounts["dev"]
            member = incident.member_session(session, url, dev)
            trip = breaker_replay.replay_organization(
                session, member, url, spend, dev, "us-east-2", "script", "t3.micro"
            )
            for line in trip:
                _say(f"  breaker {line}")
    _say("== summary ==")
    for r in results:
        verdict = "guardrails verified" if r["ok"] else "NOT verified"
        _say(
            f"  {r['world']}: before {r['before']['verify_fail']} FAIL; after "
            f"{r['after']['verify_pass']} PASS / {r['after']['verify_fail']} FAIL; "
            f"{verdict}; {r['after']['still_running']} instances still running"
        )
    _say(f"  finished in {time.monotonic() - started:.0f}s")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
