"""corral's CrossGuard policy pack.

Run by ``pulumi preview --policy-pack policies --policy-pack-config FILE``, where
``corral policy-config --config Pulumi.<stack>.yaml > FILE`` derives ``FILE``
from the stack's corral spec. See docs/policy-pack.md.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(
    name="corral",
    description=(
        "corral guardrails: instance types, Spot, compute services, purchases, regions, "
        "credentials and guardrail integrity."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
