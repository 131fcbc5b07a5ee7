"""The evaluator's memoised pieces give exactly what computing them afresh gives: the
endpoint data read once per process, the instance types picked once per instance rules."""

from __future__ import annotations

import botocore.loaders
import pytest

from corral.evaluate import probe_kit, scope
from corral.evaluate.judge import run_probes
from corral.evaluate.probes import GLOBAL_CALLS
from corral.spec.load import load_stack_file
from tests.conftest import EXAMPLE_STACK
from tests.test_probes import account_spec


def _fresh_global_region(partition: str, service: str) -> str | None:
    """What ``global_region`` computed before it shared the catalog's loader."""
    data = botocore.loaders.create_loader().load_data("endpoints")
    for raw in data["partitions"]:
        if raw["partition"] != partition:
            continue
        service_data = raw["services"].get(service, {})
        endpoint = service_data.get("endpoints", {}).get(service_data.get("partitionEndpoint"))
        return (endpoint or {}).get("credentialScope", {}).get("region")
    return None


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov", "nope"])
def test_global_region_equals_a_fresh_read_of_the_endpoint_data(partition):
    services = {action.split(":", 1)[0] for action, *_ in GLOBAL_CALLS}
    services |= {"iam", "organizations", "sts", "ec2", "cloudfront", "route53", "nosuchservice"}
    for service in sorted(services):
        assert probe_kit.global_region(partition, service) == _fresh_global_region(
            partition, service
        )


def _clear() -> None:
    probe_kit.global_region.cache_clear()
    scope._representative_types.cache_clear()
    scope._forbidden_types.cache_clear()


def _as_data(results) -> list[dict]:
    return [r.to_dict() for r in results]


@pytest.mark.parametrize("make", [lambda: load_stack_file(EXAMPLE_STACK), account_spec])
def test_probe_results_are_identical_with_warm_and_cold_memos(make):
    spec = make()
    _clear()
    cold = {a: _as_data(run_probes(spec, account=a)) for a in ("111122223333", "444455556666")}
    warm = {a: _as_data(run_probes(spec, account=a)) for a in ("444455556666", "111122223333")}
    assert cold == warm
    _clear()
    again = _as_data(run_probes(spec, account="444455556666"))
    assert again == cold["444455556666"]
    assert scope._representative_types.cache_info().hits > 0


def test_type_pickers_equal_their_uncached_computation():
    spec = load_stack_file(EXAMPLE_STACK)
    for target in spec.targets:
        s = scope.scope_for(spec, scope.spec_chain_ids(spec, target))
        assert scope.representative_types(s) == scope._representative_types.__wrapped__(s.rules)
        assert scope.forbidden_types(s) == scope._forbidden_types.__wrapped__(s.rules)
