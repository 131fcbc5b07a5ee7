"""The policies actually attached deny the incident's requests and allow the owner's work."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from corral.audit.aws import ReadError
from corral.audit.checks import _effects
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, errored, failed, passed
from corral.audit.findings import Finding
from corral.evaluate.judge import run_probes
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="guardrail-effects",
    title="Deployed guardrails deny the incident's requests and allow permitted work",
    severity="critical",
    risk="A guardrail can exist and be attached yet not deny: a loosened condition lets the "
    "incident's launches through, and a widened Resource blocks the owner's own work.",
    remediation="Deploy the documents the spec builds with `pulumi up --refresh`; `corral explain` "
    "shows which statement decides a request.",
    actions=tuple(sorted({*_effects.ORG_ACTIONS, *_effects.IAM_ACTIONS})),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.TARGETS, K.PRINCIPALS),
)


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One finding per probe, per account (organization) or guarded principal (account)."""
    if ctx.spec.mode == K.ACCOUNT:
        principals = dict.fromkeys((a.target_kind, a.target_id) for a in ctx.plan.attachments)
        for kind, name in principals:
            read = functools.partial(_effects.identity_policies, ctx, kind, name)
            yield from _judged(ctx, ctx.account, f"{kind} {name}", "identity_policies", read)
        return
    management = _effects.management_account(ctx)
    for account in _effects.accounts(ctx):
        if not ctx.selected(account):
            continue
        if account == management:
            yield passed(
                METADATA,
                account,
                None,
                f"account {account}",
                f"Account {account} is the management account: SCPs do not apply to it, so no "
                "deny probe holds there and none was evaluated; run no workloads in it and rely "
                "on its spend alarms.",
                probes="not applicable: SCPs do not apply to the management account",
            )
            continue
        read = functools.partial(_effects.scp_chain, ctx, account)
        yield from _judged(ctx, account, f"account {account}", "scp_chain", read)


def _judged(
    ctx: VerifyContext, account: str, subject: str, given: str, read: Callable[[], list]
) -> list[Finding]:
    """Read what applies to ``subject``, then run the probes against it."""
    try:
        policies = read()
    except ReadError as exc:
        return [errored(METADATA.id, account, exc.region, subject, str(exc), ctx.conn.role_name)]
    except _effects.ChainProblem as exc:
        message = (
            f"The guardrails reaching {subject} cannot be evaluated because {exc}; deploy the "
            "documents the spec builds with `pulumi up --refresh` and keep FullAWSAccess "
            "attached at every level."
        )
        return [failed(METADATA, account, None, subject, message)]
    results = run_probes(ctx.spec, account=account, **{given: policies})
    results = [r for r in results if _effects.judged(ctx, r)]
    prefix = subject if ctx.spec.mode == K.ACCOUNT else ""
    return list(_effects.probe_findings(METADATA, account, results, prefix))
