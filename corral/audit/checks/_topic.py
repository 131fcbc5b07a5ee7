"""What delivery through the alert topic depends on beyond names: the topic's encryption
and each subscription's attributes, compared with what :mod:`corral.build.spend_requests`
builds (``topic_request``, ``subscription_requests``). An attribute those requests do not
set must be at SNS's default: a filter policy that matches nothing, raw delivery an
endpoint does not expect, or a KMS key the publishing services cannot use silences the
alerts while every name stays in place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from corral.audit.checks import _spend
from corral.audit.checks._base import VerifyContext
from corral.build import spend_requests
from corral.spec import spend as spend_spec

REFRESH = "run `pulumi up --refresh` to restore it"
PUBLISHERS = (spend_spec.SERVICE_CLOUDWATCH, spend_spec.SERVICE_EVENTS, spend_spec.SERVICE_BUDGETS)
# Subscription attributes SNS lets an owner set, at SNS's defaults ("" for unset).
SUBSCRIPTION_DEFAULTS = {"FilterPolicy": "", "RawMessageDelivery": "false", "DeliveryPolicy": ""}


def topic_problems(site: _spend.Site, attributes: Mapping[str, Any]) -> list[str]:
    """Sentences for the topic's attributes that differ from ``topic_request``'s: today
    its KMS key (corral sets none)."""
    want = spend_requests.topic_request(site.plan).get("Attributes", {}).get("KmsMasterKeyId", "")
    have = attributes.get("KmsMasterKeyId", "")
    if have == want:
        return []
    name, where = site.plan.topic, f"account {site.account} {site.plan.home}"
    services = ", ".join(PUBLISHERS)
    if not have:
        return [f"SNS topic {name} in {where} is not encrypted with KMS key {want}; {REFRESH}."]
    return [
        f"SNS topic {name} in {where} is encrypted with KMS key {have} instead of "
        f"{want or 'none'}: unless that key's policy lets {services} use it "
        "(kms:GenerateDataKey*, kms:Decrypt), no alarm or budget alert reaches the topic, and "
        f"corral does not judge key policies; {REFRESH}."
    ]


def subscription_problems(
    ctx: VerifyContext, site: _spend.Site, subscribed: Mapping[tuple[str, str], str]
) -> list[str]:
    """A sentence per confirmed subscription whose attributes differ from its request's
    (``subscribed`` maps ``(protocol, endpoint)`` to the subscription ARN)."""
    home, name = site.plan.home, site.plan.topic
    problems = []
    for request in spend_requests.subscription_requests(site.spend, site.topic_arn):
        protocol, endpoint = request["Protocol"], request["Endpoint"]
        arn = subscribed.get((protocol, endpoint))
        if arn is None or not arn.startswith("arn:"):  # missing or pending: said elsewhere
            continue
        have = site.read(ctx, "sns", "GetSubscriptionAttributes", region=home,
                         SubscriptionArn=arn).get("Attributes", {})  # fmt: skip
        changes = attribute_changes(request, have)
        if changes:
            problems.append(f"The {protocol} subscription of {endpoint} to SNS topic {name} in "
                            f"account {site.account} {home} differs from the spec: "
                            f"{'; '.join(changes)}; {REFRESH}.")  # fmt: skip
    return problems


def attribute_changes(request: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    """How subscription attributes ``have`` differ from ``request``'s (its ``Attributes``
    over SNS's defaults) and from its endpoint and protocol."""
    want = {**SUBSCRIPTION_DEFAULTS, **request.get("Attributes", {})}
    changes = [
        f"its {key} is {have.get(key)!r} instead of {request[key]!r}"
        for key in ("Protocol", "Endpoint", "TopicArn")
        if key in have and have[key] != request[key]
    ]
    for key, expected in want.items():
        found = _normal(have.get(key, SUBSCRIPTION_DEFAULTS[key]))
        if found == _normal(expected):
            continue
        if key == "FilterPolicy" and not expected:
            changes.append(f"it has the filter policy {found}, which corral does not set, so it "
                           "receives only the alerts that policy matches")  # fmt: skip
        else:
            changes.append(f"its {key} is {found or 'unset'} instead of {expected or 'unset'}")
    return changes


def _normal(value: Any) -> str:
    """An attribute value as compared: booleans lower case, JSON minified and sorted."""
    text = str(value).lower() if isinstance(value, bool) else str(value or "")
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return text
