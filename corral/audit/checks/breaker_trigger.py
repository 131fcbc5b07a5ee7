"""With ``circuitBreaker.trigger: alarm``, the rule, the state machine and their roles that trip
the circuit breaker in minutes are as corral builds them; in organization mode also corral's
statement on the management home bus's policy (its other statements are not judged), the
StackSet's management parameter, and every account target's relay rule, target and role
(members below an OU: the StackSet template, stackset-instances)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from corral.audit.aws import ReadError
from corral.audit.checks import _deployed, _identities, _spend
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.checks._policy import describe_changes
from corral.audit.findings import Finding
from corral.build import breaker_trip, spend_plan, stackset
from corral.build.spend_requests import bus_arn
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="breaker-trigger",
    title="The capacity alarms trip the circuit breaker in minutes",
    severity="high",
    risk="With trigger: alarm the breaker is meant to stop new launches minutes after capacity "
    "appears; a disabled or retargeted rule, a rewritten state machine or a gutted role leaves "
    "only the budget action, which acts hours later, on the bill.",
    remediation="Run `pulumi up --refresh` to restore the rule, the state machine, their roles "
    "and (organization mode) the relays and corral's statement on the bus policy, and rotate "
    "the credentials that changed them.",
    actions=(
        "events:ListRules",
        "events:ListTargetsByRule",
        "states:ListStateMachines",
        "states:DescribeStateMachine",
        "iam:GetRole",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "organizations:ListPolicies",
        "organizations:DescribeOrganization",
        "events:DescribeEventBus",
        "cloudformation:DescribeStackSet",
    ),
    modes=(K.ACCOUNT, K.ORGANIZATION),
    scope=VERIFY,
    spec_keys=(K.CIRCUIT_BREAKER,),
)
STEP_FUNCTIONS = "stepfunctions"  # boto3's name; IAM's is ``states``
NO_SUCH_ENTITY = "NoSuchEntity"


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """One FAIL per problem of the site's fast breaker, else one PASS."""
    yield from _spend.per_site(ctx, METADATA, _judge)


def _judge(ctx: VerifyContext, site: _spend.Site) -> list[Finding]:
    spend, home, a = site.spend, site.plan.home, site.account
    if site.plan.relay:
        return _relay(ctx, site)
    if not site.plan.trip:
        return []
    ref, arn = policy_refs(ctx, site)
    machine = breaker_trip.machine_arn(spend, a)
    target = (machine, breaker_trip.role_arn(spend, a, "trip_start_role"))
    problems = _rule(ctx, site, breaker_trip.rule_request(spend), target)
    problems += _machine(ctx, site, ref)
    place = _identities.Place(a, site.read_as, site)
    for name, (trust, policy) in breaker_trip.expected_roles(spend, a, arn, site.topic_arn).items():
        problems += _role(ctx, place, name, _identities.Expected(trust, (policy,)))
    if spend.mode == K.ORGANIZATION:
        problems += _bus_policy(ctx, site) + _stackset_parameter(ctx, site)
    found = [failed(METADATA, a, home, resource, text) for resource, text in problems]
    if not found:
        rule = spend_plan.names(spend)["trip_rule"]
        message = (
            f"EventBridge rule {rule} in account {a} {home} starts state machine "
            f"{machine} on any capacity alarm entering ALARM, and the machine and its "
            "roles are exactly as corral builds them."
        )
        found.append(passed(METADATA, a, home, f"state machine {machine}", message))
    return found


def policy_refs(ctx: VerifyContext, site: _spend.Site) -> tuple[str, str]:
    """(the reference the state machine attaches, the deny policy's ARN): an IAM policy's ARN
    twice, or an SCP's id and ARN (empty when it is not deployed)."""
    name = spend_plan.names(site.spend)["breaker_policy"]
    if ctx.spec.mode != K.ORGANIZATION:
        arn = breaker_trip.iam_policy_arn(site.spend, site.account)
        return arn, arn
    listed = ctx.conn.read("organizations", "ListPolicies", Filter=_deployed.SCP)
    policy = next((p for p in listed.get("Policies", []) if p["Name"] == name), {})
    return policy.get("Id", ""), policy.get("Arn", "")


def _relay(ctx: VerifyContext, site: _spend.Site) -> list[Finding]:
    """A member account target's relay: its rule and target in every region, its role."""
    spend, a, home = site.spend, site.account, site.plan.home
    want = breaker_trip.relay_target_request(spend, a, ctx.account)
    request, target = breaker_trip.relay_rule_request(spend), (want["Arn"], want["RoleArn"])
    problems = [p for region in site.plan.regions if ctx.judges(region)
                for p in _rule(ctx, site, request, target, region)]  # fmt: skip
    place = _identities.Place(a, site.read_as, site)
    for name, (trust, policy) in breaker_trip.relay_roles(spend, a, ctx.account).items():
        problems += _role(ctx, place, name, _identities.Expected(trust, (policy,)))
    found = [failed(METADATA, a, home, resource, text) for resource, text in problems]
    rule = spend_plan.names(spend)["relay_rule"]
    message = (f"EventBridge rule {rule} in account {a}, in every region, relays corral's "
               f"capacity alarms to {want['Arn']} with role {want['RoleArn']}, as corral "
               "builds them.")  # fmt: skip
    return found or [passed(METADATA, a, home, f"rule {rule}", message)]


def _bus_policy(ctx: VerifyContext, site: _spend.Site) -> list:
    """The management home bus's policy must hold corral's statement (by Sid) letting the
    organization's accounts put events, as corral adds it; its other statements are the
    user's and are not judged."""
    spend, a, home = site.spend, site.account, site.plan.home
    org = ctx.conn.read("organizations", "DescribeOrganization")["Organization"]["Id"]
    grant = breaker_trip.bus_permission(spend, org)
    sid, condition = grant["StatementId"], grant["Condition"]
    want = {"Sid": sid, "Effect": "Allow", "Principal": grant["Principal"],
            "Action": grant["Action"], "Resource": bus_arn(spend, home, a),
            "Condition": {condition["Type"]: {condition["Key"]: condition["Value"]}}}  # fmt: skip
    have = site.read(ctx, "events", "DescribeEventBus", region=home, Name="default")
    statements = json.loads(have.get("Policy") or "{}").get("Statement", [])
    mine = [dict(s) for s in ([statements] if isinstance(statements, dict) else statements)
            if s.get("Sid") == sid]  # fmt: skip
    for statement in mine:  # IAM reads {"AWS": "*"} as "*": everyone (the condition narrows)
        if statement.get("Principal") in ({"AWS": "*"}, {"AWS": ["*"]}):
            statement["Principal"] = "*"
    changes = describe_changes({"Statement": [want]}, {"Statement": mine})
    if not changes:
        return []
    what = f"events:PutEvents for the accounts of organization {org} only"
    return [(f"event bus default@{home} statement {sid}",
             f"The default event bus of account {a} {home} does not hold statement {sid} as "
             f"corral adds it ({what}): {'; '.join(changes)}, so member accounts' capacity "
             f"alarms cannot reach the circuit breaker, or others can put events there; "
             f"{_spend.RESTORE}.")]  # fmt: skip


def _stackset_parameter(ctx: VerifyContext, site: _spend.Site) -> list:
    """corral's StackSet must point its members' relays at this (management) account."""
    plan = stackset.stackset_plan(ctx.spec)
    if plan is None or not plan.parameters:
        return []
    try:
        have = site.read(ctx, "cloudformation", "DescribeStackSet", region=plan.home,
                         StackSetName=plan.name)["StackSet"]  # fmt: skip
    except ReadError:  # a missing StackSet is stackset-instances' finding
        return []
    values = {p["ParameterKey"]: p.get("ParameterValue") for p in have.get("Parameters", [])}
    key = stackset.MANAGEMENT_PARAMETER
    if values.get(key) == site.account:
        return []
    return [(f"stack set {plan.name}",
             f"StackSet {plan.name} sets {key} to {values.get(key)!r} instead of "
             f"{site.account!r}, so its members relay capacity alarms elsewhere and the "
             f"circuit breaker never trips for them; {_spend.RESTORE}.")]  # fmt: skip


def _rule(ctx: VerifyContext, site: _spend.Site, request: dict, target: tuple[str, str],
          region: str | None = None) -> list:  # fmt: skip
    region = region or site.plan.home
    name, where = request["Name"], f"account {site.account} {region}"
    changes = _spend._rule_changes(ctx, site, region, request, target)
    effect = "no capacity alarm trips the circuit breaker"
    if changes is None:
        return [
            (
                f"rule {name}",
                f"EventBridge rule {name} is missing in {where}, so {effect}; {_spend.REDEPLOY}.",
            )
        ]
    if changes:
        return [
            (
                f"rule {name}",
                f"EventBridge rule {name} in {where} differs from the spec: "
                f"{'; '.join(changes)}, so {effect}; {_spend.RESTORE}.",
            )
        ]
    return []


def _machine(ctx: VerifyContext, site: _spend.Site, ref: str) -> list:
    spend, a, home = site.spend, site.account, site.plan.home
    want = breaker_trip.machine_request(spend, a, ref, site.topic_arn)
    arn, where = breaker_trip.machine_arn(spend, a), f"account {a} {home}"
    listed = site.read(ctx, STEP_FUNCTIONS, "ListStateMachines", region=home)
    if not any(m["stateMachineArn"] == arn for m in listed.get("stateMachines", [])):
        return [
            (
                f"state machine {arn}",
                f"State machine {want['name']} is missing in {where}, "
                f"so no capacity alarm trips the circuit breaker; {_spend.REDEPLOY}.",
            )
        ]
    have = site.read(ctx, STEP_FUNCTIONS, "DescribeStateMachine", region=home, stateMachineArn=arn)
    changes = []
    if json.loads(have.get("definition") or "{}") != json.loads(want["definition"]):
        changes.append(
            "its definition is not the one corral builds (it must attach the "
            "deny-launch policy and notify the topic)"
        )
    if have.get("roleArn") != want["roleArn"]:
        changes.append(f"it runs as {have.get('roleArn')} instead of {want['roleArn']}")
    if have.get("type") != want["type"]:
        changes.append(f"it is a {have.get('type')} workflow instead of {want['type']}")
    if not changes:
        return []
    return [
        (
            f"state machine {arn}",
            f"State machine {want['name']} in {where} differs from the "
            f"spec: {'; '.join(changes)}; {_spend.RESTORE}.",
        )
    ]


def _role(ctx: VerifyContext, place: _identities.Place, name: str, expected) -> list:
    try:
        role = place.read(ctx, "GetRole", RoleName=name)["Role"]
    except ReadError as exc:
        if not exc.reason.startswith(NO_SUCH_ENTITY):
            raise
        return [
            (
                f"role {name}",
                f"Role {name} is missing in account {place.account}, so "
                f"the circuit breaker cannot trip in minutes; {_spend.REDEPLOY}.",
            )
        ]
    changes = _identities.trust_changes(expected.trust, role.get("AssumeRolePolicyDocument"))
    tails = (
        [f"has a trust policy corral did not deploy: {'; '.join(changes)}; {_spend.RESTORE}."]
        if changes
        else []
    )
    tails += _identities.policy_problems(ctx, place, name, expected)
    return [(f"role {name}", f"Role {name} in account {place.account} {tail}") for tail in tails]
