"""Reading the policies that actually apply, and turning probe results into findings.

Organization mode: the SCPs attached along an account's chain, root -> OUs -> account
(the same reads as :func:`corral.cli.explain.read_scp_chain`, made through the guarded,
memoised :meth:`corral.audit.aws.Connection.read`, so OU levels are read once per run).
Account mode: corral's IAM policies attached to a guarded principal, directly or,
for a user, through its groups.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from corral.audit.checks import _accounts, _deployed
from corral.audit.checks._base import CheckMetadata, VerifyContext
from corral.audit.findings import FAIL, PASS, Finding
from corral.evaluate.judge import ProbeResult
from corral.evaluate.policy import PolicyRef
from corral.evaluate.probe_kit import REGION_KEY
from corral.spec import keys as K

SCP = "SERVICE_CONTROL_POLICY"
ORG_ACTIONS = (
    "organizations:DescribeOrganization",
    *_accounts.ACTIONS,  # with ListRoots and ListOrganizationalUnitsForParent (paths)
    "organizations:ListParents",
    "organizations:ListPoliciesForTarget",
    "organizations:DescribePolicy",
)
IAM_ACTIONS = (
    "iam:ListAttachedGroupPolicies",
    "iam:ListAttachedUserPolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListGroupsForUser",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
)
_ATTACHED = {
    K.GROUP: ("ListAttachedGroupPolicies", "GroupName"),
    K.USER: ("ListAttachedUserPolicies", "UserName"),
    K.ROLE: ("ListAttachedRolePolicies", "RoleName"),
}
# The chain helpers live in _deployed; the name stays here for the checks that catch it.
ChainProblem = _deployed.ChainProblem
LAUNCH_ACTION = "ec2:RunInstances"  # what corral.evaluate.probes.launch authorizes


def management_account(ctx: VerifyContext) -> str:
    """The organization's management account id."""
    return ctx.conn.read("organizations", "DescribeOrganization")["Organization"]["MasterAccountId"]


def accounts(ctx: VerifyContext) -> list[str]:
    """Every account id of the organization, sorted."""
    listed = _accounts.listed(ctx.conn)
    return sorted(a["Id"] for a in listed)


def scp_chain(ctx: VerifyContext, account_id: str) -> list[list[PolicyRef]]:
    """The SCPs attached at each level of ``account_id``'s chain, root first."""
    chain = []
    for target in _deployed.chain_ids(ctx.conn, account_id, tree=True):
        listed = ctx.conn.read("organizations", "ListPoliciesForTarget", TargetId=target,
                               Filter=SCP).get("Policies", [])  # fmt: skip
        if not listed:
            raise ChainProblem(f"no SCP is attached to {target}, so AWS denies everything below")
        chain.append([_policy(ctx, p["Name"], p["Id"], target) for p in listed])
    return chain


def identity_policies(ctx: VerifyContext, kind: str, name: str) -> list[PolicyRef]:
    """corral's IAM policies that apply to the principal ``kind`` ``name``."""
    holders = [(kind, name)]
    if kind == K.USER:
        groups = ctx.conn.read("iam", "ListGroupsForUser", UserName=name).get("Groups", [])
        holders += [(K.GROUP, g["GroupName"]) for g in groups]
    found: dict[str, str] = {}
    for holder_kind, holder in holders:
        operation, key = _ATTACHED[holder_kind]
        out = ctx.conn.read("iam", operation, PathPrefix=K.IAM_PATH, **{key: holder})
        found.update({p["PolicyName"]: p["PolicyArn"] for p in out.get("AttachedPolicies", [])})
    principal = f"{kind} {name}"
    return [
        _ref(n, principal, _deployed.content(ctx, n, arn).content)
        for n, arn in sorted(found.items())
    ]


def _policy(ctx: VerifyContext, name: str, policy_id: str, target: str) -> PolicyRef:
    content = ctx.conn.read("organizations", "DescribePolicy", PolicyId=policy_id)
    return _ref(name, target, content["Policy"]["Content"])


def _ref(name: str, target: str, document: str) -> PolicyRef:
    try:
        return PolicyRef(name, target, document)
    except ValueError as exc:
        raise ChainProblem(str(exc).rstrip(".")) from None


def judged(ctx: VerifyContext, result: ProbeResult) -> bool:
    """False for a launch probe into a region this run does not judge (``--regions``);
    global-service and protection probes are judged in every run."""
    request = result.probe.request
    region = request.context.get(REGION_KEY)
    return request.action != LAUNCH_ACTION or not isinstance(region, str) or ctx.judges(region)


def probe_findings(
    meta: CheckMetadata, account: str, results: Sequence[ProbeResult], subject: str = ""
) -> Iterator[Finding]:
    """One finding per probe result; ``subject`` prefixes the resource (a principal)."""
    for result in results:
        reason = result.decision.reasons[0] if result.decision.reasons else None
        details = {
            "probe": result.probe.id,
            "guardrail": result.probe.guardrail,
            "expected": result.probe.expected,
            "decision": result.decision.decision,
            "request": result.resource,
            "policy": reason.policy if reason else None,
            "statement": reason.sid if reason else None,
        }
        resource = f"{subject}: probe {result.probe.id}" if subject else f"probe {result.probe.id}"
        status = PASS if result.passed else FAIL
        region = result.probe.request.context.get(REGION_KEY)
        region = region if isinstance(region, str) else None
        yield Finding(meta.id, status, account, region, resource, result.message, details)
