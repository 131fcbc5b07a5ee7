"""Effect and explain messages name real things: the deploy command (`pulumi up`, never
`corral render`, which only prints documents) and the principals the spec guards, never the
probes' own made-up principal (``user/corral-probe``) or resource names.

Every probe of every example stack is made to fail each way it can (no guardrail at all:
every deny slips through; a deny-all policy: every permitted or open call is over-blocked;
no allow at a level: implicit denies), which is what ``corral verify`` reports as
guardrail-effects FAIL findings; ``corral explain`` runs on each stack too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corral.cli.main import main
from corral.evaluate.judge import full_aws_access, run_probes
from corral.evaluate.policy import PolicyRef
from corral.evaluate.scope import spec_chain_ids
from corral.spec import keys as K
from corral.spec.load import load_stack_file
from tests.conftest import ROOT

STACKS = sorted(ROOT.glob("Pulumi.*.yaml"))
FORBIDDEN = ("corral render", "corral-probe")
DENY_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
)
ALLOW_NOTHING = json.dumps(  # allows one action no probe calls: every call implicitly denied
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "none:None", "Resource": "*"}],
    }
)


def failed_messages(stack: Path) -> list[str]:
    """The message of every probe of ``stack`` failed every way it can fail."""
    spec = load_stack_file(stack)
    results = []
    if spec.mode == K.ACCOUNT:
        for policies in ([], [PolicyRef("deny-all", "user dev", DENY_ALL)]):
            boundary = [PolicyRef("b", "role x", DENY_ALL if policies else ALLOW_NOTHING)]
            results += run_probes(spec, identity_policies=policies, permissions_boundary=boundary)
    else:
        for target in spec.targets:
            ids = spec_chain_ids(spec, target)
            bare = [[full_aws_access(t)] for t in ids]
            denied = [
                [*level, PolicyRef("deny-all", t, DENY_ALL)]
                for level, t in zip(bare, ids, strict=True)
            ]
            nothing = [[PolicyRef("nothing", t, ALLOW_NOTHING)] for t in ids]
            for chain in (bare, denied, nothing):
                results += run_probes(spec, scp_chain=chain, target=target)
    return [r.message for r in results if not r.passed]


@pytest.mark.parametrize("stack", STACKS, ids=lambda p: p.name)
def test_no_effect_message_names_a_made_up_principal_or_the_wrong_command(stack: Path) -> None:
    messages = failed_messages(stack)
    assert len(messages) > 20  # the probes really failed, each way
    bad = [m for m in messages if any(word in m for word in FORBIDDEN)]
    assert bad == []
    slipped = [m for m in messages if "slipped through" in m]
    assert slipped and all("with `pulumi up --refresh`" in m for m in slipped)
    if load_stack_file(stack).mode == K.ACCOUNT:  # the principals the example names
        assert any("on the guarded principals (" in m for m in slipped)


@pytest.mark.parametrize("stack", STACKS, ids=lambda p: p.name)
def test_explain_names_no_made_up_principal(stack: Path, capsys) -> None:
    spec = load_stack_file(stack)
    where = ["--target", spec.targets[-1].id] if spec.mode == K.ORGANIZATION else []
    extras = [[], ["--instance-type", "c5a.24xlarge"], ["--region", "us-east-1"]]
    if spec.mode == K.ACCOUNT:
        extras.append(["--under-boundary"])
    for extra in extras:
        argv = ["explain", "--config", str(stack), "--action", "ec2:RunInstances", *where]
        assert main([*argv, "--region", "ap-south-1", *extra]) == 0
        out = capsys.readouterr().out
        assert out.startswith(("DENY: ", "ALLOW: ")) and not any(w in out for w in FORBIDDEN)
