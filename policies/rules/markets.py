"""Where each pulumi-aws resource asks for Spot capacity, and how to read it.

``FIELDS`` maps a type token to the inputs that request Spot and how to read each:
``always`` (the type is Spot), ``spot`` (a market or capacity type equal to spot, any
case), ``set`` (any value), ``below100`` (an On-Demand percentage under 100),
``positive`` (a Spot capacity above 0), ``beanstalk`` (Elastic Beanstalk's EnableSpot
option). :func:`reasons` returns one clause per input that asks for Spot.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import support as S
from . import tokens as T

ALWAYS, SPOT, SET, BELOW_100, POSITIVE, BEANSTALK = (
    "always", "spot", "set", "below100", "positive", "beanstalk",
)  # fmt: skip
_MARKET = "instanceMarketOptions.marketType"
_SHARE = "mixedInstancesPolicy.instancesDistribution"
_FLEET = "targetCapacitySpecification"
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    T.EC2_INSTANCE: ((_MARKET, SPOT),),
    T.LAUNCH_TEMPLATE: ((_MARKET, SPOT),),
    T.SPOT_INSTANCE_REQUEST: (("", ALWAYS),),
    T.SPOT_FLEET_REQUEST: (("", ALWAYS),),
    T.EC2_FLEET: (
        (f"{_FLEET}.defaultTargetCapacityType", SPOT),
        (f"{_FLEET}.spotTargetCapacity", POSITIVE),
        ("spotOptions", SET),
    ),
    T.LAUNCH_CONFIGURATION: (("spotPrice", SET),),
    T.AUTOSCALING_GROUP: (
        (f"{_SHARE}.onDemandPercentageAboveBaseCapacity", BELOW_100),
        (f"{_SHARE}.spotAllocationStrategy", SET),
    ),
    T.EKS_NODE_GROUP: (("capacityType", SPOT),),
    T.BATCH_COMPUTE_ENVIRONMENT: (("computeResources.type", SPOT),),
    T.EMR_CLUSTER: (
        ("masterInstanceGroup.bidPrice", SET),
        ("coreInstanceGroup.bidPrice", SET),
        ("masterInstanceFleet.targetSpotCapacity", POSITIVE),
        ("coreInstanceFleet.targetSpotCapacity", POSITIVE),
    ),
    T.EMR_INSTANCE_GROUP: (("bidPrice", SET),),
    T.EMR_INSTANCE_FLEET: (("targetSpotCapacity", POSITIVE),),
    T.BEANSTALK_ENVIRONMENT: (("settings[]", BEANSTALK),),
    T.BEANSTALK_TEMPLATE: (("settings[]", BEANSTALK),),
}
BEANSTALK_OPTION = ("aws:ec2:instances", "EnableSpot")


def _reason(path: str, value: Any, test: str, unknowns: S.Unknowns) -> str | None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    shown = f"{value:g}" if number else value  # the protocol sends every number as a float
    if test == ALWAYS:
        return "every resource of this type is Spot"
    if test == SPOT and isinstance(value, str) and value.lower() == SPOT:
        return f"{path} is {value}"
    if test == SET and value not in (None, ""):
        return f"{path} is {value}" if isinstance(value, str) else f"{path} is set"
    if test == BELOW_100 and number and value < 100:
        return f"{path} is {shown}, so {100 - value:g}% of the capacity above the base is Spot"
    if test == POSITIVE and number and value > 0:
        return f"{path} is {shown}"
    if test == BEANSTALK:
        option = (S.get(value, "namespace", unknowns), S.get(value, "name", unknowns))
        text = S.get(value, "value", unknowns)
        if option == BEANSTALK_OPTION and str(text).lower() == "true":
            return f"{path} sets {':'.join(option)} to {text}"
    return None


def reasons(resource_type: str, props: Any, unknowns: S.Unknowns) -> Iterator[str]:
    """Why the resource requests Spot capacity, one clause per input that asks for it."""
    for field, test in FIELDS.get(resource_type, ()):
        for path, value in S.walk(props, field, unknowns):
            reason = _reason(path, value, test, unknowns)
            if reason is not None:
                yield reason
