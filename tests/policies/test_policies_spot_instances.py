"""spot-instances: through the real analyzer protocol (programs written with the SDK's args
objects) and, for the pure logic, the policy SDK's own ``ResourceValidationArgs``.
"""

from __future__ import annotations

import pulumi_aws as aws
import pytest
from conftest import details, reasons, sdk_run
from rules import spot_instances

FIX_SPOT = (
    "Use On-Demand capacity (drop the Spot settings), or set spot: true under corral:instances "
    "(or the target's instances) and regenerate the pack config with `corral policy-config`."
)
LT = {"launch_template_specification": {"launch_template_id": "lt-1"}}


def test_spot_instance_gets_exact_message(analyze):
    def program():
        aws.ec2.Instance(
            "bargain",
            ami="ami-1",
            instance_type="t3.micro",
            instance_market_options=aws.ec2.InstanceInstanceMarketOptionsArgs(market_type="spot"),
        )

    report = analyze(program)
    assert details(report, "spot-instances") == [
        "aws:ec2/instance:Instance 'bargain' requests Spot capacity "
        "(instanceMarketOptions.marketType is spot); the spot-instances rule forbids this. "
        f"{FIX_SPOT}"
    ]
    [diag] = [d for d in report.diagnostics if d.policy == "spot-instances"]
    assert (diag.enforcement, diag.severity) == ("mandatory", "high")


def test_every_spot_path_is_checked(analyze):
    def program():
        aws.ec2.SpotInstanceRequest("request", ami="ami-1", instance_type="t3.micro")
        aws.ec2.LaunchTemplate("lt", instance_market_options={"market_type": "spot"})
        aws.ec2.LaunchConfiguration(
            "lc", image_id="ami-1", instance_type="t3.micro", spot_price="0.01"
        )
        aws.ec2.Fleet(
            "fleet",
            launch_template_configs=[
                {"launch_template_specification": {"launch_template_id": "x", "version": "1"}}
            ],
            target_capacity_specification=aws.ec2.FleetTargetCapacitySpecificationArgs(
                default_target_capacity_type="on-demand",
                total_target_capacity=4,
                spot_target_capacity=2,
            ),
        )
        aws.autoscaling.Group(
            "asg",
            max_size=1,
            min_size=0,
            mixed_instances_policy=aws.autoscaling.GroupMixedInstancesPolicyArgs(
                launch_template=LT,
                instances_distribution=aws.autoscaling.GroupMixedInstancesPolicyInstancesDistributionArgs(
                    on_demand_percentage_above_base_capacity=25,
                    spot_allocation_strategy="price-capacity-optimized",
                ),
            ),
        )
        aws.eks.NodeGroup(
            "nodes",
            cluster_name="c",
            node_role_arn="arn",
            subnet_ids=["s"],
            scaling_config={"desired_size": 1, "max_size": 1, "min_size": 1},
            capacity_type="SPOT",
        )
        aws.batch.ComputeEnvironment(
            "batch",
            type="MANAGED",
            compute_resources={"type": "SPOT", "max_vcpus": 4, "subnets": ["s"]},
        )
        aws.emr.Cluster(
            "emr",
            release_label="emr-7.0.0",
            service_role="r",
            core_instance_fleet={"target_spot_capacity": 3},
        )
        aws.elasticbeanstalk.Environment(
            "eb",
            application="a",
            settings=[{"namespace": "aws:ec2:instances", "name": "EnableSpot", "value": "true"}],
        )

    found = details(analyze(program), "spot-instances")
    clauses = [
        "aws:ec2/spotInstanceRequest:SpotInstanceRequest 'request' requests Spot capacity "
        "(every resource of this type is Spot)",
        "aws:ec2/launchTemplate:LaunchTemplate 'lt' requests Spot capacity "
        "(instanceMarketOptions.marketType is spot)",
        "aws:ec2/launchConfiguration:LaunchConfiguration 'lc' requests Spot capacity "
        "(spotPrice is 0.01)",
        "aws:ec2/fleet:Fleet 'fleet' requests Spot capacity "
        "(targetCapacitySpecification.spotTargetCapacity is 2)",
        "aws:autoscaling/group:Group 'asg' requests Spot capacity (mixedInstancesPolicy."
        "instancesDistribution.onDemandPercentageAboveBaseCapacity is 25, so 75% of the capacity "
        "above the base is Spot)",
        "aws:autoscaling/group:Group 'asg' requests Spot capacity (mixedInstancesPolicy."
        "instancesDistribution.spotAllocationStrategy is price-capacity-optimized)",
        "aws:eks/nodeGroup:NodeGroup 'nodes' requests Spot capacity (capacityType is SPOT)",
        "aws:batch/computeEnvironment:ComputeEnvironment 'batch' requests Spot capacity "
        "(computeResources.type is SPOT)",
        "aws:emr/cluster:Cluster 'emr' requests Spot capacity "
        "(coreInstanceFleet.targetSpotCapacity is 3)",
        "aws:elasticbeanstalk/environment:Environment 'eb' requests Spot capacity "
        "(settings[0] sets aws:ec2:instances:EnableSpot to true)",
    ]
    suffix = f"; the spot-instances rule forbids this. {FIX_SPOT}"
    assert sorted(found) == sorted(c + suffix for c in clauses)


def test_on_demand_capacity_passes(analyze):
    def program():
        aws.ec2.Instance("web", ami="ami-1", instance_type="t3.micro")
        aws.ec2.LaunchTemplate("lt", instance_market_options={"market_type": "capacity-block"})
        aws.ec2.Fleet(
            "fleet",
            launch_template_configs=[
                {"launch_template_specification": {"launch_template_id": "x", "version": "1"}}
            ],
            target_capacity_specification={
                "default_target_capacity_type": "on-demand",
                "total_target_capacity": 1,
                "spot_target_capacity": 0,
            },
        )
        aws.autoscaling.Group(
            "asg",
            max_size=1,
            min_size=0,
            mixed_instances_policy={
                "launch_template": LT,
                "instances_distribution": {"on_demand_percentage_above_base_capacity": 100},
            },
        )
        aws.eks.NodeGroup(
            "nodes",
            cluster_name="c",
            node_role_arn="arn",
            subnet_ids=["s"],
            scaling_config={"desired_size": 1, "max_size": 1, "min_size": 1},
            capacity_type="ON_DEMAND",
        )

    report = analyze(program)
    assert details(report, "spot-instances") == []
    assert "the resource requests no EC2 capacity" in reasons(report, "spot-instances")


def test_spot_allowed_by_the_spec_passes(analyze):
    report = analyze(
        lambda: aws.ec2.SpotInstanceRequest("request", ami="ami-1", instance_type="t3.micro"),
        spot_instances={"allowed": True},
    )
    assert details(report, "spot-instances") == []
    assert "the pack config allows Spot capacity" in reasons(report, "spot-instances")


def test_unknown_market_type_is_a_precise_advisory(analyze):
    def program():
        lt = aws.ec2.LaunchTemplate("lt", instance_type="t3.micro")
        aws.ec2.Instance(
            "web",
            ami="ami-1",
            instance_type="t3.micro",
            instance_market_options={"market_type": lt.arn},
        )

    [diag] = [d for d in analyze(program).diagnostics if d.policy == "spot-instances"]
    assert diag.enforcement == "advisory"
    assert diag.message == (
        "can't run policy 'spot-instances' from policy pack 'corral@v0.0.1' during preview: "
        "string value at .instanceMarketOptions.marketType can't be known during preview"
    )


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        ("aws:ec2/instance:Instance", {"instanceMarketOptions": {"marketType": "SPOT"}}, 1),
        (
            "aws:ec2/fleet:Fleet",
            {"targetCapacitySpecification": {"defaultTargetCapacityType": "spot"}},
            1,
        ),
        ("aws:ec2/fleet:Fleet", {"spotOptions": {"allocationStrategy": "diversified"}}, 1),
        ("aws:ec2/spotFleetRequest:SpotFleetRequest", {"targetCapacity": 1}, 1),
        ("aws:emr/instanceGroup:InstanceGroup", {"bidPrice": "0.3"}, 1),
        ("aws:emr/instanceFleet:InstanceFleet", {"targetSpotCapacity": 0}, 0),
        (
            "aws:batch/computeEnvironment:ComputeEnvironment",
            {"computeResources": {"type": "FARGATE_SPOT"}},
            0,
        ),
        ("aws:autoscaling/group:Group", {"mixedInstancesPolicy": {"launchTemplate": {}}}, 0),
    ],
)
def test_spot_rule_on_sdk_args(resource_type, props, expected):
    found = sdk_run(spot_instances, resource_type, props, {"allowed": False})
    assert len(found) == expected, found
