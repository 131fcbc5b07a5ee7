"""``corral explain``: decide one request against the guardrails and say which statement
decided it.

The policies are the documents the spec builds (the chain root -> ``--target`` in
organization mode; the IAM documents plus the principal's own permissions in account
mode) or, with ``--endpoint-url``/``--profile`` and ``--account``, the SCPs actually
attached along the account's chain, read from AWS Organizations with read-only calls.

``--under-boundary`` (account mode) decides for a principal created under corral's
permissions boundary: the boundary and the principal's own allow-all permissions, with no
guardrail policy attached, as the probes of such a principal do.

``--cross-check`` asks IAM ``SimulatePrincipalPolicy`` for the same request and reports
whether it agrees. The emulator used in tests does not implement that operation, so the
cross-check is validated only up to its request parameters; see docs/evaluator.md.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

from corral.build.plan import build_plan
from corral.cli.errors import EXIT_FAIL, EXIT_OK, CommandError
from corral.evaluate.engine import ALLOW, Decision, evaluate
from corral.evaluate.judge import allow_all, spec_boundary, spec_identity_policies, spec_scp_chain
from corral.evaluate.policy import PolicyRef, Request
from corral.evaluate.probe_kit import INSTANCE_TYPE_KEY, REGION_KEY
from corral.evaluate.scope import PROBE_ACCOUNT, find_target, spec_chain_ids
from corral.spec import catalog
from corral.spec import keys as K
from corral.spec.load import load_stack_file
from corral.spec.model import Spec

FORMATS = ("text", "json")
SCP_FILTER = "SERVICE_CONTROL_POLICY"
SIMULATE_OPERATION = "SimulatePrincipalPolicy"
READ_ACTIONS = (
    "organizations:DescribeOrganization",
    "organizations:DescribePolicy",
    "organizations:ListParents",
    "organizations:ListPoliciesForTarget",
)
CROSS_CHECK_ACTIONS = ("iam:SimulatePrincipalPolicy",)


# --------------------------------------------------------------------------- request


def parse_context(pairs: Sequence[str]) -> dict[str, str | list[str]]:
    """``key=value`` pairs as a context map; a repeated key becomes a list."""
    context: dict[str, str | list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CommandError(
                f"--context {pair!r} is not KEY=VALUE; write e.g. aws:SourceIp=1.2.3.4."
            )
        key = key.strip()
        if key in context:
            previous = context[key]
            context[key] = [*(previous if isinstance(previous, list) else [previous]), value]
        else:
            context[key] = value
    return context


def build_request(spec: Spec, args: argparse.Namespace, account: str) -> Request:
    """The request the flags describe; the region defaults to the stack's region."""
    if ":" not in args.action:
        raise CommandError(
            f"--action {args.action!r} is not service:Action; e.g. ec2:RunInstances."
        )
    region = args.region or spec.region
    _check_known(region, catalog.regions(spec.partition), "--region", f"partition {spec.partition}")
    if args.instance_type:
        _check_known(args.instance_type, catalog.instance_types(), "--instance-type", "EC2")
    context: dict[str, Any] = {REGION_KEY: region}
    if args.instance_type:
        context[INSTANCE_TYPE_KEY] = args.instance_type
    context.update(parse_context(args.context))
    resource = args.resource
    if resource is None:
        resource = "*"
        if args.instance_type:
            resource = f"arn:{spec.partition}:ec2:{region}:{account}:instance/*"
    return Request(args.action, resource, context, args.principal, account)


def _check_known(value: str, valid: Sequence[str], flag: str, where: str) -> None:
    if value in valid:
        return
    hint = catalog.suggest(value, valid)
    fix = f"did you mean '{hint}'?" if hint else "check the spelling."
    raise CommandError(f"{flag} {value!r} is not known to {where}; {fix}")


# --------------------------------------------------------------------------- policies


def spec_policies(
    spec: Spec, target: str | None
) -> tuple[list[list[PolicyRef]], list[PolicyRef] | None]:
    """``(scp_chain, identity_policies)`` the spec builds; identity is None in org mode."""
    plan = build_plan(spec)
    if spec.mode == K.ACCOUNT:
        if target is not None:
            raise CommandError("--target applies to organization mode only; drop it.")
        principal = "principal"
        return [], [*spec_identity_policies(plan, principal), allow_all(principal)]
    if target is None:
        if len(spec.targets) != 1:
            ids = ", ".join(t.id for t in spec.targets)
            raise CommandError(f"--target is required in organization mode; use one of {ids}.")
        target = spec.targets[0].id
    try:
        found = find_target(spec, target)
    except ValueError as error:
        raise CommandError(f"--target: {error}") from None
    return spec_scp_chain(plan, spec_chain_ids(spec, found)), None


def bounded_policies(spec: Spec) -> tuple[list[PolicyRef], list[PolicyRef]]:
    """``(identity_policies, permissions_boundary)`` of a principal created under corral's
    boundary: its own allow-all permissions and the boundary, no guardrail policy."""
    plan = build_plan(spec)
    boundary = spec_boundary(plan, "principal") if spec.mode == K.ACCOUNT else None
    if boundary is None:
        raise CommandError(
            "--under-boundary needs account mode with corral:protections.principals on, "
            "where corral deploys its permissions boundary; drop --under-boundary."
        )
    return [allow_all("principal")], boundary


def read_scp_chain(client: Any, account_id: str) -> tuple[list[list[PolicyRef]], bool]:
    """The SCPs attached along ``account_id``'s chain, root first, and whether it is the
    management account. ``client`` is a boto3 Organizations client; only reads."""
    chain_ids = [account_id]
    while not chain_ids[-1].startswith("r-"):
        parents = client.list_parents(ChildId=chain_ids[-1])["Parents"]
        if len(parents) != 1:
            raise CommandError(f"{chain_ids[-1]} has {len(parents)} parents; expected exactly one.")
        chain_ids.append(parents[0]["Id"])
    chain = [_policies_at(client, target) for target in reversed(chain_ids)]
    management = client.describe_organization()["Organization"]["MasterAccountId"]
    return chain, management == account_id


def _policies_at(client: Any, target: str) -> list[PolicyRef]:
    paginator = client.get_paginator("list_policies_for_target")
    summaries = [
        summary
        for page in paginator.paginate(TargetId=target, Filter=SCP_FILTER)
        for summary in page["Policies"]
    ]
    if not summaries:
        raise CommandError(
            f"{target} has no SCP attached, which AWS does not allow; attach FullAWSAccess there."
        )
    level = []
    for summary in summaries:
        policy = client.describe_policy(PolicyId=summary["Id"])["Policy"]
        level.append(PolicyRef(summary["Name"], target, policy["Content"]))
    return level


# --------------------------------------------------------------------------- cross-check


def simulation_params(request: Request) -> dict[str, Any]:
    """The ``SimulatePrincipalPolicy`` parameters for ``request``."""
    if not request.principal_arn:
        raise CommandError("--cross-check needs --principal, the IAM user or role to simulate.")
    entries = []
    for key, value in sorted(request.context.items()):
        values = [value] if isinstance(value, str) else [str(v) for v in value]
        entries.append(
            {"ContextKeyName": key, "ContextKeyValues": values, "ContextKeyType": "stringList"}
        )
    params: dict[str, Any] = {
        "PolicySourceArn": request.principal_arn,
        "ActionNames": [request.action],
        "ContextEntries": entries,
    }
    if request.resource != "*":
        params["ResourceArns"] = [request.resource]
    return params


def validate_simulation_params(params: Mapping[str, Any]) -> None:
    """Check ``params`` against botocore's IAM model; ``CommandError`` names the problem."""
    import botocore.session  # noqa: PLC0415
    from botocore.validate import ParamValidator  # noqa: PLC0415

    model = botocore.session.get_session().get_service_model("iam")
    shape = model.operation_model(SIMULATE_OPERATION).input_shape
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        problem = report.generate_report().replace("\n", " ")
        raise CommandError(f"cannot build the {SIMULATE_OPERATION} request: {problem}")


def compare_simulation(decision: Decision, response: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether IAM's simulation agrees with ``decision``, and a sentence saying so."""
    results = response.get("EvaluationResults") or []
    if not results:
        return False, f"{SIMULATE_OPERATION} returned no evaluation result; cannot compare."
    first = results[0]
    theirs = first.get("EvalDecision", "?")
    org = first.get("OrganizationsDecisionDetail", {}).get("AllowedByOrganizations")
    ours_allowed = decision.decision == ALLOW
    agree = (theirs == "allowed") == ours_allowed
    org_text = "" if org is None else f" (AllowedByOrganizations={str(org).lower()})"
    verdict = "agrees" if agree else "disagrees"
    return agree, (
        f"IAM {SIMULATE_OPERATION} says {theirs}{org_text}; it {verdict} with corral's "
        f"{decision.decision}."
    )


# --------------------------------------------------------------------------- command


def render_text(request: Request, decision: Decision, source: str) -> str:
    """The decision, the request and one line per deciding statement."""
    lines = [f"{decision.decision}: {request.action} on {request.resource} ({source})"]
    for reason in decision.reasons:
        where = f"{reason.policy or '-'} on {reason.target} [{reason.sid or '-'}]"
        lines.append(f"  {reason.effect}: {where}: {reason.note}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Handle ``corral explain``."""
    spec = load_stack_file(args.config)
    connected = args.endpoint_url is not None or args.profile is not None
    account = args.account or _default_account(args.target)
    if args.account is not None and not (args.account.isdigit() and len(args.account) == 12):
        raise CommandError(f"--account {args.account!r} is not a 12-digit account id.")
    request = build_request(spec, args, account)
    management = False
    if connected and spec.mode == K.ORGANIZATION:
        if args.account is None:
            raise CommandError(
                "--account is required with --endpoint-url or --profile; pass the 12-digit "
                "account whose chain of SCPs to read."
            )
        chain, management = _read_deployed(args)
        identity, source = None, f"SCPs deployed along {args.account}'s chain"
    elif connected and not args.cross_check:
        raise CommandError(
            "reading deployed policies needs organization mode; drop --endpoint-url/--profile."
        )
    else:
        chain, identity = spec_policies(spec, args.target)
        source = "documents the spec builds"
    boundary = None
    if args.under_boundary:
        identity, boundary = bounded_policies(spec)
        source = "corral's permissions boundary, on a principal created under it"
    decision = evaluate(
        request,
        scp_chain=chain,
        identity_policies=identity,
        identity_allows_all=identity is None,
        is_management_account=management,
        permissions_boundary=boundary,
    )
    check = _cross_check(args, request, decision) if args.cross_check else None
    _print(args.format, request, decision, source, check)
    return EXIT_FAIL if check is not None and not check[0] else EXIT_OK


def _default_account(target: str | None) -> str:
    if target is not None and target.isdigit() and len(target) == 12:
        return target
    return PROBE_ACCOUNT


def _client(args: argparse.Namespace, service: str) -> Any:
    from corral.audit import sessions  # noqa: PLC0415 - only the connected paths talk to AWS

    return sessions.plain_client(
        service,
        region="us-east-1",
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        timeout=args.timeout,
    )


def _read_deployed(args: argparse.Namespace) -> tuple[list[list[PolicyRef]], bool]:
    from corral.audit import sessions  # noqa: PLC0415

    client = _client(args, "organizations")
    try:
        return read_scp_chain(client, args.account)
    except sessions.CALL_ERRORS as error:
        failure = sessions.failed(error, "organizations", args.endpoint_url, "ListParents")
        raise CommandError(f"cannot read the SCPs of account {args.account}: {failure}.") from None
    except ValueError as error:
        raise CommandError(f"a deployed SCP cannot be evaluated: {error}") from None


def _cross_check(
    args: argparse.Namespace, request: Request, decision: Decision
) -> tuple[bool, str]:
    from corral.audit import sessions  # noqa: PLC0415

    params = simulation_params(request)
    validate_simulation_params(params)
    if args.endpoint_url is None and args.profile is None:
        raise CommandError("--cross-check needs a connection; pass --profile or --endpoint-url.")
    client = _client(args, "iam")
    try:
        response = client.simulate_principal_policy(**params)
    except sessions.CALL_ERRORS as error:
        failure = sessions.failed(error, "iam", args.endpoint_url, SIMULATE_OPERATION)
        raise CommandError(f"the cross-check failed: {failure}.") from None
    except NotImplementedError:
        raise CommandError(
            f"the endpoint does not implement {SIMULATE_OPERATION}; run --cross-check "
            "against AWS itself."
        ) from None
    return compare_simulation(decision, response)


def _print(
    fmt: str, request: Request, decision: Decision, source: str, check: tuple[bool, str] | None
) -> None:
    if fmt == "json":
        payload = {
            **decision.to_dict(),
            "request": {
                "action": request.action,
                "resource": request.resource,
                "principal": request.principal_arn,
                "account": request.account,
                "context": {k: list(v) for k, v in sorted(request.facts.items())},
            },
            "source": source,
        }
        if check is not None:
            payload["crossCheck"] = {"agrees": check[0], "message": check[1]}
        print(json.dumps(payload, indent=2, sort_keys=True))
        return
    print(render_text(request, decision, source))
    if check is not None:
        print(f"cross-check: {check[1]}")
