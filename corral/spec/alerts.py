"""The alert keys of the spec: attempt and tamper alerts (``corral:alerts``) and GuardDuty
(``corral:guardDuty``), validated into :class:`AlertsSpec` by :func:`parse`.

Both ride on spend detection: they send to its alert topic, so they are on by default as
soon as spend detection is (``corral:notifications``), and setting either without it is an
error that names the key and the fix. The key names are in :mod:`corral.spec.keys`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.spec import keys as K
from corral.spec.readers import SpecError, as_bool, as_mapping, key_path, number, reject_unknown

# GuardDuty's severity bands (GuardDuty User Guide, "Severity levels of GuardDuty findings"):
# a finding's severity is a number; each name stands for the lowest value of its band.
SEVERITIES = {"low": 1.0, "medium": 4.0, "high": 7.0, "critical": 9.0}
DEFAULT_SEVERITY = "medium"
MAX_SEVERITY = 10.0
# CloudWatch Logs log group names (CreateLogGroup): 1-512 of these characters.
_LOG_GROUP = re.compile(r"^[\w\-/.#]{1,512}$")
_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class AlertsSpec:
    """The validated ``corral:alerts`` and ``corral:guardDuty`` sections."""

    enabled: bool = False
    """Attempt and tamper alerts (EventBridge rules in every region, the gate, the topic)."""
    trail_log_group: str | None = None
    """The CloudWatch Logs group, in the home region, that a trail delivers to: adds the CIS
    benchmark's metric filter and alarm on denied calls."""
    guardduty: bool = False
    """A GuardDuty detector in every allowed region and its findings routed to the topic."""
    severity: float = SEVERITIES[DEFAULT_SEVERITY]
    """The lowest finding severity routed to the topic."""
    guardduty_admin: str | None = None
    """Organization mode: the delegated administrator account (None: the deploying one)."""

    @property
    def any(self) -> bool:
        """True when anything of this section is deployed."""
        return self.enabled or self.guardduty


def parse(
    values: Mapping[str, Any], *, spend_enabled: bool, mode: str, account_ids: Sequence[str]
) -> AlertsSpec:
    """Validate ``corral:alerts`` and ``corral:guardDuty`` (``values`` maps key to raw value).

    ``spend_enabled`` says whether spend detection is on (its topic is where alerts go);
    ``account_ids`` are the account targets (organization mode), among which a GuardDuty
    administrator must be. Raises :class:`~corral.spec.readers.SpecError` naming the key.
    """
    reject_unknown(values, K.ALERT_KEYS, f"{K.NAMESPACE}:", sep="")
    for name in K.ALERT_KEYS:
        if name in values and not spend_enabled:
            raise SpecError(
                key_path(name),
                "sends to spend detection's alert topic, which is off; set "
                f"{key_path(K.NOTIFICATIONS)}.emails to turn it on.",
            )
    if not spend_enabled:
        return AlertsSpec()
    alerts = _alerts(values.get(K.ALERTS))
    guardduty = _guardduty(values.get(K.GUARD_DUTY), mode, account_ids)
    return AlertsSpec(**alerts, **guardduty)


def _alerts(value: Any) -> dict[str, Any]:
    key = key_path(K.ALERTS)
    raw = as_mapping(value, key) if value is not None else {}
    reject_unknown(raw, K.ALERTS_KEYS, key)
    result: dict[str, Any] = {"enabled": as_bool(raw.get(K.ENABLED, True), f"{key}.{K.ENABLED}")}
    group = raw.get(K.TRAIL_LOG_GROUP)
    if group is not None:
        where = f"{key}.{K.TRAIL_LOG_GROUP}"
        if not isinstance(group, str) or not _LOG_GROUP.match(group):
            raise SpecError(
                where,
                f"{group!r:.60} is not a CloudWatch Logs group name; give the name of the log "
                "group your trail delivers to, e.g. aws-cloudtrail-logs-management.",
            )
        if not result["enabled"]:
            raise SpecError(where, f"needs alerts on; remove it or set {key}.{K.ENABLED}: true.")
        result["trail_log_group"] = group
    return result


def _guardduty(value: Any, mode: str, account_ids: Sequence[str]) -> dict[str, Any]:
    key = key_path(K.GUARD_DUTY)
    raw = as_mapping(value, key) if value is not None else {}
    reject_unknown(raw, K.GUARD_DUTY_KEYS, key)
    result: dict[str, Any] = {"guardduty": as_bool(raw.get(K.ENABLE, True), f"{key}.{K.ENABLE}")}
    result["severity"] = _severity(raw.get(K.SEVERITY, DEFAULT_SEVERITY), f"{key}.{K.SEVERITY}")
    admin = raw.get(K.ADMIN_ACCOUNT)
    if admin is not None:
        where = f"{key}.{K.ADMIN_ACCOUNT}"
        if mode != K.ORGANIZATION:
            raise SpecError(where, "applies to organization mode only; remove it.")
        if not isinstance(admin, str) or not _ACCOUNT.match(admin):
            raise SpecError(where, f"{admin!r:.60} is not a 12-digit account id.")
        if admin not in account_ids:
            raise SpecError(
                where,
                f"{admin} is not an account target; list it under {key_path(K.TARGETS)} so "
                "corral can reach it through the member role, or remove the key to delegate "
                "to the deploying account.",
            )
        result["guardduty_admin"] = admin
    return result


def _severity(value: Any, key: str) -> float:
    if isinstance(value, str) and value in SEVERITIES:
        return SEVERITIES[value]
    if isinstance(value, str) and not value.replace(".", "", 1).isdigit():
        raise SpecError(
            key, f"{value!r:.60} is not valid; use {', '.join(SEVERITIES)} or a number 1 to 10."
        )
    found = number(value, key, "a severity name or number")
    if not 1.0 <= found <= MAX_SEVERITY:
        raise SpecError(key, f"{found:g} is out of range; use a number 1 to 10.")
    return found
