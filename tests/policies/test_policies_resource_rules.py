"""Happy and unhappy cases of the resource rules, through the real analyzer protocol."""

from __future__ import annotations

import json

import harness_program
import pulumi
import pulumi_aws as aws
from google.protobuf import struct_pb2

ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}],
}
FIX_TYPES = (
    "Use only instance types the corral spec permits (`corral instance-types` lists them), "
    "or change corral:instances and regenerate the pack config with `corral policy-config`."
)
FIX_REGIONS = "Deploy to an allowed region, or add the region to corral:allowedRegions."


def details(report, policy):
    return [d.detail for d in report.diagnostics if d.policy == policy]


# ----------------------------------------------------------------- instance-types


def test_permitted_types_pass_everywhere(analyze):
    def program():
        aws.ec2.Instance("web", ami="ami-1", instance_type="t3.large")
        aws.ec2.LaunchTemplate("lt", instance_type="m7i.xlarge")
        aws.eks.NodeGroup(
            "nodes",
            cluster_name="c",
            node_role_arn="arn",
            subnet_ids=["s"],
            scaling_config={"desired_size": 1, "max_size": 1, "min_size": 1},
            instance_types=["t3.medium", "c7i.large"],
        )
        aws.autoscaling.Group(
            "asg",
            max_size=1,
            min_size=0,
            mixed_instances_policy={
                "launch_template": {
                    "launch_template_specification": {"launch_template_id": "lt-1"},
                    "overrides": [{"instance_type": "t4g.small"}],
                },
            },
        )

    report = analyze(program)
    assert details(report, "instance-types") == []
    assert {
        n.urn.rsplit("::", 1)[1] for n in report.not_applicable if n.policy == "instance-types"
    } >= {"default_7_51_1"}


def test_forbidden_instance_gets_exact_message(analyze):
    report = analyze(lambda: aws.ec2.Instance("miner", ami="ami-1", instance_type="c5a.24xlarge"))
    assert details(report, "instance-types") == [
        "aws:ec2/instance:Instance 'miner' launches c5a.24xlarge (instanceType), but it matches "
        "none of the allowed patterns c7i.*, m7i.*, t3.*, t4g.*; the instance-types rule forbids "
        f"this. {FIX_TYPES}"
    ]
    [diag] = [d for d in report.diagnostics if d.policy == "instance-types"]
    assert diag.enforcement == "mandatory"
    assert diag.severity == "critical"
    assert diag.urn == "urn:pulumi:dev::corral::aws:ec2/instance:Instance::miner"


def test_deny_and_ceiling_reasons(analyze):
    def program():
        aws.ec2.SpotInstanceRequest("metal", ami="ami-1", instance_type="m7i.metal-24xl")
        aws.ec2.Instance("big", ami="ami-1", instance_type="m7i.8xlarge")

    found = details(analyze(program), "instance-types")
    assert any(
        "launches m7i.metal-24xl (instanceType), but it matches the denied pattern *.metal*" in f
        for f in found
    )
    assert any(
        "launches m7i.8xlarge (instanceType), but its 32 vCPUs exceed the ceiling of 16" in f
        for f in found
    )


def test_every_capacity_path_is_checked(analyze):
    def program():
        aws.autoscaling.Group(
            "asg",
            max_size=1,
            min_size=0,
            mixed_instances_policy={
                "launch_template": {
                    "launch_template_specification": {"launch_template_id": "lt-1"},
                    "overrides": [{"instance_type": "t3.small"}, {"instance_type": "p5.48xlarge"}],
                },
            },
        )
        aws.ec2.Fleet(
            "fleet",
            launch_template_configs=[
                {
                    "launch_template_specification": {"launch_template_id": "x", "version": "1"},
                    "overrides": [{"instance_type": "c5.large"}],
                }
            ],
            target_capacity_specification={
                "default_target_capacity_type": "spot",
                "total_target_capacity": 1,
            },
        )
        aws.emr.Cluster(
            "emr",
            release_label="emr-7.0.0",
            service_role="r",
            master_instance_group={"instance_type": "r5.xlarge"},
        )
        aws.batch.ComputeEnvironment(
            "batch",
            type="MANAGED",
            compute_resources={
                "type": "EC2",
                "max_vcpus": 16,
                "instance_types": ["optimal", "c5"],
                "subnets": ["s"],
                "security_group_ids": ["g"],
                "instance_role": "r",
            },
        )
        aws.elasticbeanstalk.Environment(
            "eb",
            application="a",
            settings=[
                {
                    "namespace": "aws:ec2:instances",
                    "name": "InstanceTypes",
                    "value": "t3.micro, g5.xlarge",
                }
            ],
        )
        aws.ec2.LaunchTemplate(
            "abs",
            instance_requirements={
                "vcpu_count": {"min": 1, "max": 64},
                "memory_mib": {"min": 1},
                "allowed_instance_types": ["c7i.*"],
            },
        )

    found = details(analyze(program), "instance-types")
    expected_fragments = [
        "aws:autoscaling/group:Group 'asg' launches p5.48xlarge "
        "(mixedInstancesPolicy.launchTemplate.overrides[1].instanceType)",
        "aws:ec2/fleet:Fleet 'fleet' launches c5.large "
        "(launchTemplateConfigs[0].overrides[0].instanceType)",
        "aws:emr/cluster:Cluster 'emr' launches r5.xlarge (masterInstanceGroup.instanceType)",
        "aws:batch/computeEnvironment:ComputeEnvironment 'batch' lets AWS Batch pick instance "
        "types itself ('optimal' at computeResources.instanceTypes[0])",
        "aws:batch/computeEnvironment:ComputeEnvironment 'batch' lets AWS launch any size of "
        "family c5 (computeResources.instanceTypes[1])",
        "aws:elasticbeanstalk/environment:Environment 'eb' launches g5.xlarge (settings[0].value)",
        "aws:ec2/launchTemplate:LaunchTemplate 'abs' selects instance types by attributes "
        "(instanceRequirements) and can launch",
    ]
    for fragment in expected_fragments:
        assert any(f.startswith(fragment) for f in found), fragment
    assert len(found) == len(expected_fragments)


def test_attribute_selection_within_the_rule_passes(analyze):
    def program():
        aws.ec2.LaunchTemplate(
            "abs",
            instance_requirements={
                "vcpu_count": {"min": 1, "max": 16},
                "memory_mib": {"min": 1},
                "allowed_instance_types": ["c7i.*", "t3.*"],
                "excluded_instance_types": ["*.metal*"],
            },
        )

    assert details(analyze(program), "instance-types") == []


def test_unknown_instance_type_is_a_precise_advisory(analyze):
    def program():
        lt = aws.ec2.LaunchTemplate("lt", instance_type="t3.micro")
        aws.ec2.Instance("web", ami="ami-1", instance_type=lt.arn)

    report = analyze(program)
    [diag] = [d for d in report.diagnostics if d.policy == "instance-types"]
    assert diag.enforcement == "advisory"
    assert diag.urn.endswith("::web")
    assert diag.message == (
        "can't run policy 'instance-types' from policy pack 'corral@v0.0.1' during preview: "
        "string value at .instanceType can't be known during preview"
    )


def test_no_instance_rule_is_not_applicable(analyze, pack_config):
    report = analyze(
        lambda: aws.ec2.Instance("any", ami="a", instance_type="c5a.24xlarge"), instance_types={}
    )
    assert details(report, "instance-types") == []
    assert any(n.reason == "the pack config sets no instance rule" for n in report.not_applicable)


# ----------------------------------------------------------------- allowed-regions


def test_allowed_regions_pass(analyze):
    def program():
        ireland = aws.Provider("ireland", region="eu-west-1")
        aws.s3.Bucket("data", opts=pulumi.ResourceOptions(provider=ireland))
        aws.s3.Bucket("home")
        tokyo = aws.Provider("tokyo", region="ap-northeast-1")
        # Global services and detection resources may use a provider anywhere.
        aws.iam.Role("global", assume_role_policy="{}", opts=pulumi.ResourceOptions(provider=tokyo))
        aws.sns.Topic("alerts", opts=pulumi.ResourceOptions(provider=tokyo))

    assert details(analyze(program), "allowed-regions") == []


def test_resources_of_an_out_of_region_provider_are_refused(analyze):
    def program():
        tokyo = aws.Provider("tokyo", region="ap-northeast-1")
        aws.sqs.Queue("jobs", opts=pulumi.ResourceOptions(provider=tokyo))

    assert details(analyze(program), "allowed-regions") == [
        "aws:sqs/queue:Queue 'jobs' deploys to ap-northeast-1 (from provider 'tokyo'), outside "
        f"the allowed regions eu-west-1, us-east-1; the allowed-regions rule forbids this. "
        f"{FIX_REGIONS}"
    ]


def test_per_resource_region_input_is_checked(analyze):
    report = analyze(
        lambda: aws.ec2.Instance("far", ami="a", instance_type="t3.micro", region="ap-south-1")
    )
    assert details(report, "allowed-regions") == [
        "aws:ec2/instance:Instance 'far' deploys to ap-south-1 (from its region input), outside "
        f"the allowed regions eu-west-1, us-east-1; the allowed-regions rule forbids this. "
        f"{FIX_REGIONS}"
    ]


def test_default_provider_region_comes_from_stack_config(analyze, stack_config):
    stack = {**stack_config, "aws:region": "us-west-1"}
    report = analyze(lambda: aws.s3.Bucket("b"), stack=stack)
    assert details(report, "allowed-regions") == [
        "aws:s3/bucket:Bucket 'b' deploys to us-west-1 (from provider 'default_7_51_1'), outside "
        f"the allowed regions eu-west-1, us-east-1; the allowed-regions rule forbids this. "
        f"{FIX_REGIONS}",
    ]


def test_provider_without_region(analyze, stack_config):
    stack = {k: v for k, v in stack_config.items() if k != "aws:region"}
    report = analyze(lambda: aws.s3.Bucket("b"), stack=stack)
    assert details(report, "allowed-regions") == [
        "pulumi:providers:aws 'default_7_51_1' sets no region, so the environment (AWS_REGION "
        "or the profile) decides where it deploys; the allowed-regions rule needs it explicit. "
        "Set region (aws:region for the default provider) to one of eu-west-1, us-east-1."
    ]


# ----------------------------------------------------------------- no-iam-access-keys


def test_access_key_is_refused(analyze):
    report = analyze(lambda: aws.iam.AccessKey("ci", user="deployer"))
    assert details(report, "no-iam-access-keys") == [
        "aws:iam/accessKey:AccessKey 'ci' creates a long-lived access key for IAM user "
        "'deployer'; the no-iam-access-keys rule forbids this. Remove the access key; give "
        "workloads an IAM role and people SSO or other short-lived credentials."
    ]


def test_users_without_keys_pass(analyze):
    report = analyze(lambda: aws.iam.User("person", name="person"))
    assert details(report, "no-iam-access-keys") == []


# ----------------------------------------------------------------- no-admin-policies


def test_admin_policy_as_text_and_as_map(analyze):
    def program():
        aws.iam.Policy("text", policy=json.dumps(ADMIN))
        aws.iam.Role(
            "role",
            assume_role_policy="{}",
            inline_policies=[{"name": "all", "policy": json.dumps(ADMIN)}],
            managed_policy_arns=["arn:aws:iam::aws:policy/AdministratorAccess"],
        )
        aws.iam.RolePolicyAttachment(
            "attach", role="r", policy_arn="arn:aws:iam::aws:policy/AdministratorAccess"
        )

    found = sorted(details(analyze(program), "no-admin-policies"))
    fix = (
        "the no-admin-policies rule forbids this. Grant only the actions and resources the "
        "principal needs."
    )
    assert found == [
        f"aws:iam/policy:Policy 'text' grants Action '*' on Resource '*' (statement #1 of "
        f"policy); {fix}",
        "aws:iam/role:Role 'role' attaches arn:aws:iam::aws:policy/AdministratorAccess "
        f"(managedPolicyArns[0]), which grants '*' on '*'; {fix}",
        f"aws:iam/role:Role 'role' grants Action '*' on Resource '*' (statement #1 of "
        f"inlinePolicies[0].policy); {fix}",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment 'attach' attaches "
        "arn:aws:iam::aws:policy/AdministratorAccess (policyArn), which grants '*' on '*'; "
        f"{fix}",
    ]


def test_admin_policy_given_as_a_map(pack, pack_config):
    # Programs in other languages (or other providers) may send the document as a map.
    inputs = struct_pb2.Struct()
    inputs.update({"user": "u", "policy": ADMIN})
    urn = "urn:pulumi:dev::corral::aws:iam/userPolicy:UserPolicy::map"
    pack.configure(pack_config)
    report = pack.analyze(
        [harness_program.Registration(urn, "aws:iam/userPolicy:UserPolicy", "map", True, inputs)]
    )
    assert details(report, "no-admin-policies") == [
        "aws:iam/userPolicy:UserPolicy 'map' grants Action '*' on Resource '*' (statement #1 of "
        "policy); the no-admin-policies rule forbids this. Grant only the actions and resources "
        "the principal needs."
    ]


def test_corral_boundary_shape_passes_but_not_its_name_alone(analyze):
    deny = {"Sid": "D", "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"}
    boundary = {"Version": "2012-10-17", "Statement": [*ADMIN["Statement"], deny]}
    extra_allow = {**deny, "Effect": "Allow", "Action": "iam:PassRole"}
    loose = {"Version": "2012-10-17", "Statement": [*ADMIN["Statement"], extra_allow]}

    def program():
        aws.iam.Policy(
            "boundary", name="corral-boundary", path="/corral/", policy=json.dumps(boundary)
        )
        aws.iam.Policy("elsewhere", name="corral-boundary", path="/", policy=json.dumps(boundary))
        aws.iam.Policy("loose", name="x-boundary", path="/corral/", policy=json.dumps(loose))

    found = sorted(details(analyze(program), "no-admin-policies"))
    assert [f.split(" grants ")[0] for f in found] == [
        "aws:iam/policy:Policy 'elsewhere'",
        "aws:iam/policy:Policy 'loose'",
    ]


def test_scoped_policies_pass(analyze):
    def program():
        aws.iam.Policy("read", policy=json.dumps(READ))
        aws.iam.GroupPolicy(
            "deny",
            group="g",
            policy=json.dumps({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}),
        )

    assert details(analyze(program), "no-admin-policies") == []
