"""compute-services: through the real analyzer protocol (programs written with the SDK's args
objects) and, for the pure logic, the policy SDK's own ``ResourceValidationArgs``.
"""

from __future__ import annotations

import pulumi_aws as aws
from conftest import details, reasons, sdk_run
from rules import compute_services

FIX_COMPUTE = (
    "Run the workload on a compute service the corral spec allows, with instance types its "
    "instance rule permits, or change corral:compute.allow (or corral:instances) and "
    "regenerate the pack config with `corral policy-config`."
)
SAGEMAKER = {"allow": ["ec2", "sagemaker"], "instances": {"allow": ["t3.*"], "maxVcpus": 16}}


def test_denied_service_gets_exact_message(analyze):
    def program():
        aws.lightsail.Instance(
            "vps",
            availability_zone="us-east-1a",
            blueprint_id="amazon_linux_2",
            bundle_id="nano_3_0",
        )

    report = analyze(program)
    assert details(report, "compute-services") == [
        "aws:lightsail/instance:Instance 'vps' runs on lightsail, a compute service the spec does "
        "not allow (corral:compute.allow lists ec2); the compute-services rule forbids this. "
        f"{FIX_COMPUTE}"
    ]
    [diag] = [d for d in report.diagnostics if d.policy == "compute-services"]
    assert (diag.enforcement, diag.severity) == ("mandatory", "critical")


def test_every_mapped_service_is_denied_by_default(analyze):
    def program():
        aws.lambda_.Function("fn", role="arn:aws:iam::111122223333:role/r")
        aws.ecs.Service("svc", task_definition="td")
        aws.sagemaker.NotebookInstance("nb", instance_type="ml.t3.medium", role_arn="arn")
        aws.ec2.SpotFleetRequest("sfr", iam_fleet_role="arn", target_capacity=1)

    found = details(analyze(program), "compute-services")
    assert [f.split(",")[0] for f in sorted(found)] == [
        "aws:ec2/spotFleetRequest:SpotFleetRequest 'sfr' runs on ec2-fleet",
        "aws:ecs/service:Service 'svc' runs on ecs",
        "aws:lambda/function:Function 'fn' runs on lambda",
        "aws:sagemaker/notebookInstance:NotebookInstance 'nb' runs on sagemaker",
    ]


def test_allowed_services_and_plain_ec2_pass(analyze):
    def program():
        aws.lambda_.Function("fn", role="arn:aws:iam::111122223333:role/r")
        aws.ecs.TaskDefinition("td", family="f", container_definitions="[]")
        aws.ec2.Instance("web", ami="ami-1", instance_type="t3.micro")

    report = analyze(program, compute_services={"allow": ["ec2", "lambda"]})
    assert details(report, "compute-services") == []
    assert "the resource runs no compute service besides EC2" in reasons(report, "compute-services")


def test_allowed_sagemaker_is_held_to_the_instance_rule(analyze):
    def program():
        aws.sagemaker.NotebookInstance("nb", instance_type="ml.p5.48xlarge", role_arn="arn")
        aws.sagemaker.EndpointConfiguration(
            "ep",
            production_variants=[
                aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                    variant_name="a", model_name="m", instance_type="ml.t3.medium"
                ),
                aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                    variant_name="b", model_name="m", instance_type="ml.m5.large"
                ),
            ],
        )
        aws.sagemaker.NotebookInstance("small", instance_type="ml.t3.2xlarge", role_arn="arn")
        aws.sagemaker.Endpoint("live", endpoint_config_name="ep")

    found = details(analyze(program, compute_services=SAGEMAKER), "compute-services")
    suffix = f"; the compute-services rule forbids this. {FIX_COMPUTE}"
    assert sorted(found) == [
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration 'ep' launches ml.m5.large "
        "(productionVariants[1].instanceType), held to the instance rule as m5.large, but it "
        f"matches none of the allowed patterns t3.*{suffix}",
        "aws:sagemaker/notebookInstance:NotebookInstance 'nb' launches ml.p5.48xlarge "
        "(instanceType), held to the instance rule as p5.48xlarge, but it matches none of the "
        f"allowed patterns t3.*{suffix}",
    ]


def test_sagemaker_types_follow_the_ceiling_and_an_open_rule(analyze):
    program = lambda: aws.sagemaker.NotebookInstance(  # noqa: E731
        "nb", instance_type="ml.t3.2xlarge", role_arn="arn"
    )
    tight = {"allow": ["ec2", "sagemaker"], "instances": {"maxVcpus": 4}}
    assert details(analyze(program, compute_services=tight), "compute-services") == [
        "aws:sagemaker/notebookInstance:NotebookInstance 'nb' launches ml.t3.2xlarge "
        "(instanceType), held to the instance rule as t3.2xlarge, but its 8 vCPUs exceed the "
        f"ceiling of 4; the compute-services rule forbids this. {FIX_COMPUTE}"
    ]
    open_rule = {"allow": ["ec2", "sagemaker"], "instances": {}}
    assert details(analyze(program, compute_services=open_rule), "compute-services") == []


def test_unknown_sagemaker_type_is_a_precise_advisory(analyze):
    def program():
        role = aws.iam.Role("r", assume_role_policy="{}")
        aws.sagemaker.NotebookInstance("nb", instance_type=role.arn, role_arn="arn")

    report = analyze(program, compute_services=SAGEMAKER)
    [diag] = [d for d in report.diagnostics if d.policy == "compute-services"]
    assert diag.enforcement == "advisory"
    assert diag.message.endswith("string value at .instanceType can't be known during preview")


def test_compute_rule_on_sdk_args():
    props = {"resourceSpec": {"instanceType": "ml.g5.xlarge"}, "appType": "JupyterLab"}
    assert sdk_run(compute_services, "aws:sagemaker/app:App", props, SAGEMAKER) == [
        "aws:sagemaker/app:App 'r' launches ml.g5.xlarge (resourceSpec.instanceType), held to the "
        "instance rule as g5.xlarge, but it matches none of the allowed patterns t3.*; the "
        f"compute-services rule forbids this. {FIX_COMPUTE}"
    ]
    system = {"resourceSpec": {"instanceType": "system"}}
    assert sdk_run(compute_services, "aws:sagemaker/app:App", system, SAGEMAKER) == []
    # A config without the setting denies every service but EC2 (fail closed).
    assert sdk_run(compute_services, "aws:glue/job:Job", {}, {}) == [
        "aws:glue/job:Job 'r' runs on glue, a compute service the spec does not allow "
        "(corral:compute.allow lists ec2); the compute-services rule forbids this. "
        f"{FIX_COMPUTE}"
    ]
