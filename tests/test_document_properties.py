"""Document properties (hypothesis): for random valid specs, every built document is
valid JSON within AWS's limits, every probe passes, and the evaluator's decisions match
the spec's intent, checked directly here: each disallowed region and instance type is
denied, each allowed one is not, global services and exempt principals never are."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from corral.build.plan import BuildError, Plan, build_plan
from corral.evaluate.engine import ALLOW, evaluate
from corral.evaluate.judge import allow_all, run_probes, spec_identity_policies, spec_scp_chain
from corral.evaluate.policy import PolicyRef, Request
from corral.evaluate.probe_kit import (
    BOUNDARY_KEY,
    INCIDENT_TYPE,
    concrete_principal,
    global_region,
    launch,
)
from corral.evaluate.probes import GLOBAL_CALLS
from corral.evaluate.scope import Scope, scope_for, spec_chain_ids
from corral.spec import capacity, catalog
from corral.spec import keys as K
from corral.spec.load import from_config
from corral.spec.model import Spec
from corral.spec.readers import SpecError

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
REGIONS = catalog.regions("aws")
HOMES = ("us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1")
TYPES = catalog.instance_types()
FAMILIES = sorted({catalog.family(t) for t in TYPES})
PATTERNS = st.one_of(
    st.sampled_from(FAMILIES).map(lambda f: f"{f}.*"),
    st.sampled_from(TYPES),
    st.sampled_from(["t3.*", "t3a.*", "m7i.*", "c5a.*", "*.metal", "g*.*", "p?.*", "*.24xlarge"]),
)
EXEMPT = st.lists(
    st.sampled_from(
        [
            "arn:aws:iam::*:role/corral-break-glass",
            "arn:aws:iam::123456789012:role/Admin",
            "arn:aws:iam::*:role/ops/BreakGlass",
            "arn:aws:iam::210987654321:user/oncall",
        ]
    ),
    min_size=1,
    max_size=3,
    unique=True,
)
COMPUTE = st.sampled_from(capacity.compute_names())
PURCHASES = st.sampled_from(sorted(capacity.purchase_categories()))
SAMPLE_TYPES = 12  # instance types evaluated directly per scope, besides the probes


@st.composite
def instance_rules(draw: st.DrawFn) -> dict:
    """A ``corral:instances`` value: allow/deny patterns from real families, a ceiling."""
    rule: dict = {}
    allow = draw(st.lists(PATTERNS, max_size=3, unique=True))
    deny = draw(st.lists(PATTERNS, max_size=2, unique=True))
    if allow:
        rule["allow"] = allow
    if deny:
        rule["deny"] = deny
    ceiling = draw(st.one_of(st.none(), st.sampled_from([2, 4, 8, 16, 48, 96, 192])))
    if ceiling is not None:
        rule["maxVcpus"] = ceiling
    if draw(st.booleans()):
        rule["spot"] = draw(st.booleans())
    return rule


@st.composite
def allowed_regions(draw: st.DrawFn, home: str) -> list[str]:
    """The home region plus a random subset of the partition's regions."""
    others = draw(st.lists(st.sampled_from(REGIONS), max_size=5, unique=True))
    return sorted({home, *others})


@st.composite
def org_targets(draw: st.DrawFn, home: str) -> list[dict]:
    """A root and up to two OUs and an account; overrides only where the root does not
    carry that guardrail (a root deny cannot be relaxed below it)."""
    root_rails = draw(st.lists(st.sampled_from(K.GUARDRAILS), unique=True))
    targets: list[dict] = [{"id": "r-ab12", "name": "root", "guardrails": root_rails}]
    children = [("ou-ab12-11111111", "workloads"), ("ou-ab12-22222222", "sandbox")]
    children.append(("123456789012", "prod"))
    for target_id, name in draw(st.lists(st.sampled_from(children), max_size=3, unique=True)):
        rails = draw(st.lists(st.sampled_from(K.GUARDRAILS), min_size=1, unique=True))
        target = {"id": target_id, "name": name, "guardrails": rails}
        if K.REGIONS in rails and K.REGIONS not in root_rails and draw(st.booleans()):
            target[K.ALLOWED_REGIONS] = draw(allowed_regions(home))
        if K.INSTANCE_TYPES in rails and K.INSTANCE_TYPES not in root_rails and draw(st.booleans()):
            target[K.INSTANCES] = draw(instance_rules())
        targets.append(target)
    return targets


@st.composite
def specs(draw: st.DrawFn, mode: str) -> Spec:
    """A random valid spec of ``mode`` (invalid combinations are rejected, not kept)."""
    home = draw(st.sampled_from(HOMES))
    config: dict = {
        "aws:region": home,
        "corral:mode": mode,
        "corral:allowedRegions": draw(allowed_regions(home)),
        "corral:exemptPrincipals": draw(EXEMPT),
        "corral:instances": draw(instance_rules()),
        "corral:protections": draw(
            st.fixed_dictionaries({k: st.booleans() for k in K.PROTECTION_KEYS})
        ),
        "corral:compute": {"allow": draw(st.lists(COMPUTE, max_size=3, unique=True))},
        "corral:purchases": {"allow": draw(st.lists(PURCHASES, max_size=3, unique=True))},
    }
    if mode == K.ORGANIZATION:
        config["corral:targets"] = draw(org_targets(home))
    else:
        config["corral:principals"] = {"groups": ["developers"], "users": ["ci"], "roles": ["Ops"]}
    try:
        return from_config(config)
    except SpecError:
        assume(False)
        raise


# --------------------------------------------------------------------------- helpers


def _plan(spec: Spec) -> Plan:
    try:
        return build_plan(spec)
    except BuildError:  # a documented refusal (too many documents), not a bad document
        assume(False)
        raise


def _scopes(spec: Spec, plan: Plan) -> list[tuple[Scope, list, list]]:
    """(scope, SCP chain, identity policies) for every target (org) or the account."""
    if spec.mode == K.ACCOUNT:
        return [(scope_for(spec), [], spec_identity_policies(plan, "principal"))]
    out = []
    for target in spec.targets:
        ids = spec_chain_ids(spec, target)
        out.append((scope_for(spec, ids), spec_scp_chain(plan, ids), []))
    return out


def _denied(requests: Sequence[Request], chain: list, identity: list[PolicyRef]) -> bool:
    """True when any authorization of the call is not allowed."""
    for request in requests:
        if identity:
            policies = [*identity, allow_all(request.principal_arn or "principal")]
            decision = evaluate(request, scp_chain=chain, identity_policies=policies)
        else:
            decision = evaluate(request, scp_chain=chain, identity_allows_all=True)
        if decision.decision != ALLOW:
            return True
    return False


def _assert_documents(spec: Spec, plan: Plan) -> None:
    limit = K.SCP_MAX_CHARS if spec.mode == K.ORGANIZATION else K.IAM_POLICY_MAX_CHARS
    for doc in plan.documents:
        policy = json.loads(doc.content)
        assert len(doc.content) <= limit, (doc.name, len(doc.content))
        assert doc.content == json.dumps(policy, sort_keys=True, separators=(",", ":"))
        assert policy["Version"] == "2012-10-17"
        sids = [s["Sid"] for s in policy["Statement"]]
        assert len(sids) == len(set(sids)), doc.name
        if doc.name == plan.boundary:  # Allow * plus the denies, so it only ever narrows
            allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
            assert allows == [{"Action": "*", "Effect": "Allow", "Resource": "*", **allows[0]}]
            continue
        assert all(s["Effect"] == "Deny" for s in policy["Statement"]), doc.name
    per_target: dict[str, int] = {}
    for attachment in plan.attachments:
        per_target[attachment.target_id] = per_target.get(attachment.target_id, 0) + 1
    cap = (
        K.SCP_MAX_PER_TARGET - 1  # FullAWSAccess stays attached
        if spec.mode == K.ORGANIZATION
        else K.IAM_MAX_MANAGED_POLICIES_PER_PRINCIPAL
    )
    assert all(count <= cap for count in per_target.values()), per_target


def _assert_intent(
    spec: Spec, scope: Scope, chain: list, identity: list, rng: random.Random
) -> None:
    user = scope.principal
    permitted = [t for t in TYPES if scope.permits(t)]
    assert permitted, "lockout checks guarantee a permitted type"
    small = permitted[0]
    for region in REGIONS:  # every region: denied exactly when the spec disallows it
        outside = scope.regions is not None and region not in scope.regions
        assert _denied(launch(scope, region, small, user), chain, identity) == outside, region
    home = scope.regional()
    for t in [*rng.sample(TYPES, SAMPLE_TYPES), INCIDENT_TYPE]:
        assert _denied(launch(scope, home, t, user), chain, identity) != scope.permits(t), t
    for action, service, arn in GLOBAL_CALLS:  # signed for the service's home region
        region = global_region(spec.partition, service) or spec.region
        resource = arn.format(p=spec.partition, a=scope.account)
        context = {"aws:RequestedRegion": region}
        if spec.mode == K.ACCOUNT:  # new roles carry corral's boundary, as the spec requires
            context[BOUNDARY_KEY] = scope.boundary_arn
        request = Request(action, resource, context, user, scope.account)
        assert not _denied([request], chain, identity), action
    far = next((r for r in REGIONS if scope.regions and r not in scope.regions), home)
    for pattern in spec.exempt_principals:
        exempt = concrete_principal(pattern, spec.partition, scope.account)
        assert not _denied(launch(scope, far, INCIDENT_TYPE, exempt), chain, identity), pattern


def _check(spec: Spec, seed: int) -> None:
    plan = _plan(spec)
    _assert_documents(spec, plan)
    failed = [r.message for r in run_probes(spec) if not r.passed]
    assert failed == []
    rng = random.Random(seed)
    for scope, chain, identity in _scopes(spec, plan):
        _assert_intent(spec, scope, chain, identity, rng)


# --------------------------------------------------------------------------- tests


@SETTINGS
@given(specs(K.ORGANIZATION), st.integers(0, 2**16))
def test_organization_documents_are_valid_and_deny_exactly_the_intent(spec: Spec, seed: int):
    _check(spec, seed)


@SETTINGS
@given(specs(K.ACCOUNT), st.integers(0, 2**16))
def test_account_documents_are_valid_and_deny_exactly_the_intent(spec: Spec, seed: int):
    _check(spec, seed)


def test_the_incident_spec_denies_every_incident_launch() -> None:
    spec = from_config(
        {
            "aws:region": "eu-west-1",
            "corral:mode": "account",
            "corral:allowedRegions": ["eu-west-1"],
            "corral:instances": {"allow": ["t3.*"], "maxVcpus": 8},
            "corral:exemptPrincipals": ["arn:aws:iam::*:role/corral-break-glass"],
            "corral:principals": {"users": ["dev"]},
        }
    )
    _check(spec, 0)
    [(scope, chain, identity)] = _scopes(spec, build_plan(spec))
    for region in ("us-east-1", "us-east-2", "us-west-1", "us-west-2"):
        assert _denied(launch(scope, region, INCIDENT_TYPE, scope.principal), chain, identity)
