"""Pulumi type tokens and property names the rules look at, in one place."""

from __future__ import annotations

AWS_PACKAGE = "aws"
AWS_PROVIDER = "pulumi:providers:aws"
AWS_NATIVE_PROVIDER = "pulumi:providers:aws-native"
REGION = "region"

# Resources that launch or reserve EC2 capacity (see docs/policy-pack.md#instance-types).
EC2_INSTANCE = "aws:ec2/instance:Instance"
SPOT_INSTANCE_REQUEST = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
EC2_FLEET = "aws:ec2/fleet:Fleet"
SPOT_FLEET_REQUEST = "aws:ec2/spotFleetRequest:SpotFleetRequest"
CAPACITY_RESERVATION = "aws:ec2/capacityReservation:CapacityReservation"
CAPACITY_BLOCK_RESERVATION = "aws:ec2/capacityBlockReservation:CapacityBlockReservation"
DEDICATED_HOST = "aws:ec2/dedicatedHost:DedicatedHost"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
BATCH_COMPUTE_ENVIRONMENT = "aws:batch/computeEnvironment:ComputeEnvironment"
EMR_CLUSTER = "aws:emr/cluster:Cluster"
EMR_INSTANCE_GROUP = "aws:emr/instanceGroup:InstanceGroup"
EMR_INSTANCE_FLEET = "aws:emr/instanceFleet:InstanceFleet"
ECS_CAPACITY_PROVIDER = "aws:ecs/capacityProvider:CapacityProvider"
LAMBDA_CAPACITY_PROVIDER = "aws:lambda/capacityProvider:CapacityProvider"
CLOUD9_ENVIRONMENT = "aws:cloud9/environmentEC2:EnvironmentEC2"
IMAGEBUILDER_INFRASTRUCTURE = (
    "aws:imagebuilder/infrastructureConfiguration:InfrastructureConfiguration"
)
GAMELIFT_FLEET = "aws:gamelift/fleet:Fleet"
GAMELIFT_SERVER_GROUP = "aws:gamelift/gameServerGroup:GameServerGroup"
DRS_REPLICATION_TEMPLATE = (
    "aws:drs/replicationConfigurationTemplate:ReplicationConfigurationTemplate"
)
BEANSTALK_ENVIRONMENT = "aws:elasticbeanstalk/environment:Environment"
BEANSTALK_TEMPLATE = "aws:elasticbeanstalk/configurationTemplate:ConfigurationTemplate"

# IAM.
ACCESS_KEY = "aws:iam/accessKey:AccessKey"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
IAM_ROLE_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_USER_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
IAM_GROUP_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
SSO_INLINE_POLICY = "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy"
SSO_MANAGED_ATTACHMENT = "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment"

# Organizations.
ORGANIZATION = "aws:organizations/organization:Organization"
ORG_POLICY = "aws:organizations/policy:Policy"
ORG_POLICY_ATTACHMENT = "aws:organizations/policyAttachment:PolicyAttachment"
SCP_TYPE = "SERVICE_CONTROL_POLICY"

# Spend detection.
BUDGET = "aws:budgets/budget:Budget"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
USAGE_NAMESPACE = "AWS/Usage"
USAGE_METRIC = "ResourceCount"
VCPU_DIMENSIONS = {"Service": "EC2", "Type": "Resource", "Resource": "vCPU"}
LINKED_ACCOUNT_FILTER = "LinkedAccount"

# pulumi-aws module names whose service prefix differs (for the global-service list).
MODULE_SERVICE = {"cfg": "config", "costexplorer": "ce", "ssoadmin": "sso"}

# Detection and notification only (no capacity): placed in every region on purpose, so
# the region rule exempts them (see docs/policy-pack.md#allowed-regions).
SNS_TOPIC = "aws:sns/topic:Topic"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
DETECTION_TYPES = (
    METRIC_ALARM,
    EVENT_RULE,
    EVENT_TARGET,
    SNS_TOPIC,
    "aws:sns/topicSubscription:TopicSubscription",
    "aws:sns/topicPolicy:TopicPolicy",
)
