"""The spend keys of the detectors beyond EC2 On-Demand, and the readers the alarm keys share.

- ``corral:alarms.spot``: running EC2 Spot vCPUs, per Spot quota class
  (:func:`corral.spec.quotas.spot_classes`);
- ``corral:alarms.fargate``: running Fargate vCPUs, On-Demand and Spot;
- ``corral:alarms.lambda``: Lambda's concurrent executions in the account;
- ``corral:anomalyDetection``: a Cost Explorer anomaly monitor, off by default.

Their defaults follow what the rest of the spec allows: capacity the spec does not allow
alarms at its first unit (threshold 0); capacity it allows alarms above a ceiling. The Spot
thresholds are resolved per account by ``SpendSpec.spot_thresholds_for``, because an
account target may override ``instances.spot``; the others are resolved here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from corral.spec import keys as K
from corral.spec.quotas import FARGATE_KINDS, NO_SPOT_CLASSES, ON_DEMAND, SPOT, spot_classes
from corral.spec.readers import (
    SpecError,
    as_bool,
    as_mapping,
    decode,
    key_path,
    positive,
    reject_unknown,
)

DEFAULT_PERIOD = 300
MAX_COUNT = 1_000_000
# ``compute.allow`` names that run Fargate capacity: ECS tasks, EKS pods (Fargate profiles),
# AWS Batch Fargate jobs; Fargate Spot exists only for ECS capacity providers and Batch.
FARGATE_SERVICES = ("batch", "ecs", "eks")
FARGATE_SPOT_SERVICES = ("batch", "ecs")
LAMBDA_SERVICE = "lambda"
# Ceilings where the spec allows the capacity (where it does not, the default is 0).
DEFAULT_FARGATE_VCPUS = 64
DEFAULT_LAMBDA_CONCURRENCY = 100
DEFAULT_ANOMALY_THRESHOLD = 100.0  # USD of an anomaly's total impact
MAX_ANOMALY_THRESHOLD = 1_000_000_000.0


# --------------------------------------------------------------------------- shared readers


def section(raw: Mapping[str, Any], name: str, base: str, keys: Iterable[str]) -> dict:
    """The map ``raw[name]`` (empty when absent), its unknown keys refused."""
    key = f"{base}.{name}"
    value = as_mapping(raw.get(name, {}), key)
    reject_unknown(value, tuple(keys), key)
    return value


def enabled(raw: Mapping[str, Any], key: str, default: bool = True) -> bool:
    """``raw.enabled`` as a boolean."""
    return as_bool(raw.get(K.ENABLED, default), f"{key}.{K.ENABLED}")


def period(raw: Mapping[str, Any], key: str) -> int:
    """``raw.period``: seconds, a multiple of 60 up to a day (CloudWatch's standard periods)."""
    where = f"{key}.{K.PERIOD}"
    seconds = decode(raw.get(K.PERIOD, DEFAULT_PERIOD), where, int, "seconds")
    if seconds < 60 or seconds > 86400 or seconds % 60:
        raise SpecError(where, f"{seconds} is not valid; use a multiple of 60 up to 86400.")
    return seconds


def count(value: Any, key: str, what: str) -> int:
    """A whole number of ``what`` from 0 to :data:`MAX_COUNT`."""
    number = decode(value, key, int, f"a whole number of {what}")
    if not 0 <= number <= MAX_COUNT:
        raise SpecError(key, f"{number} is out of range; use 0 to {MAX_COUNT}.")
    return number


def counts(value: Any, key: str, names: Sequence[str], what: str) -> dict[str, int]:
    """A map of ``names`` (unknown ones refused, with a suggestion) to counts of ``what``."""
    raw = as_mapping(value, key) if value is not None else {}
    reject_unknown(raw, names, key)
    return {name: count(number, f"{key}.{name}", what) for name, number in raw.items()}


# --------------------------------------------------------------------------- the detectors


def capacity_alarms(raw: Mapping[str, Any], compute_allowed: Sequence[str]) -> dict[str, Any]:
    """Validate ``alarms.spot``, ``alarms.fargate`` and ``alarms.lambda`` of the ``alarms``
    map ``raw``; ``compute_allowed`` is ``corral:compute.allow`` (with ``ec2``)."""
    base = key_path(K.ALARMS)
    allowed = set(compute_allowed)
    spot_key, fargate_key, lambda_key = (
        f"{base}.{n}" for n in (K.SPOT_ALARMS, K.FARGATE, K.LAMBDA)
    )
    spot = section(raw, K.SPOT_ALARMS, base, K.VCPU_KEYS)
    _no_spot_quota(spot.get(K.THRESHOLDS), f"{spot_key}.{K.THRESHOLDS}")
    explicit = counts(spot.get(K.THRESHOLDS), f"{spot_key}.{K.THRESHOLDS}", spot_classes(), "vCPUs")
    fargate = section(raw, K.FARGATE, base, K.VCPU_KEYS)
    ceiling = {
        ON_DEMAND: DEFAULT_FARGATE_VCPUS if allowed & set(FARGATE_SERVICES) else 0,
        SPOT: DEFAULT_FARGATE_VCPUS if allowed & set(FARGATE_SPOT_SERVICES) else 0,
    }
    where = f"{fargate_key}.{K.THRESHOLDS}"
    ceiling.update(counts(fargate.get(K.THRESHOLDS), where, FARGATE_KINDS, "vCPUs"))
    lam = section(raw, K.LAMBDA, base, K.LAMBDA_KEYS)
    concurrency = DEFAULT_LAMBDA_CONCURRENCY if LAMBDA_SERVICE in allowed else 0
    if K.THRESHOLD in lam:
        where = f"{lambda_key}.{K.THRESHOLD}"
        concurrency = count(lam[K.THRESHOLD], where, "concurrent executions")
    return {
        "spot": enabled(spot, spot_key),
        "spot_thresholds": tuple(sorted(explicit.items())),
        "spot_period": period(spot, spot_key),
        "fargate": enabled(fargate, fargate_key),
        "fargate_thresholds": tuple((kind, ceiling[kind]) for kind in FARGATE_KINDS),
        "fargate_period": period(fargate, fargate_key),
        "lambda_alarms": enabled(lam, lambda_key),
        "lambda_threshold": concurrency,
        "lambda_period": period(lam, lambda_key),
    }


def _no_spot_quota(value: Any, key: str) -> None:
    """Refuse, by name, the On-Demand classes AWS sells no Spot capacity of."""
    raw = as_mapping(value, key) if value is not None else {}
    for name in raw:
        if name in NO_SPOT_CLASSES:
            raise SpecError(
                f"{key}.{name}",
                f"{name} instances have no Spot quota (AWS sells them On-Demand only); remove it.",
            )


def anomaly_detection(value: Any) -> dict[str, Any]:
    """Validate ``corral:anomalyDetection`` (absent: off)."""
    key = key_path(K.ANOMALY_DETECTION)
    if value is None:
        return {}
    raw = as_mapping(value, key)
    reject_unknown(raw, K.ANOMALY_KEYS, key)
    threshold = positive(
        raw.get(K.THRESHOLD, DEFAULT_ANOMALY_THRESHOLD),
        f"{key}.{K.THRESHOLD}",
        MAX_ANOMALY_THRESHOLD,
        "USD",
    )
    return {"anomaly": enabled(raw, key, default=False), "anomaly_threshold": threshold}
