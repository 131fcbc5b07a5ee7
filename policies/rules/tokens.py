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

# Compute services besides EC2 (corral/spec/data/compute_services.json): the resources
# that run each one (see docs/policy-pack.md#compute-services).
COMPUTE_SERVICE = {
    "aws:apprunner/service:Service": "apprunner",
    "aws:appstream/fleet:Fleet": "appstream",
    "aws:appstream/imageBuilder:ImageBuilder": "appstream",
    BATCH_COMPUTE_ENVIRONMENT: "batch",
    "aws:bedrock/customModel:CustomModel": "bedrock",
    "aws:codebuild/fleet:Fleet": "codebuild",
    "aws:codebuild/project:Project": "codebuild",
    EC2_FLEET: "ec2-fleet",
    SPOT_FLEET_REQUEST: "ec2-fleet",
    "aws:ecs/service:Service": "ecs",
    "aws:ecs/taskSet:TaskSet": "ecs",
    "aws:ecs/expressGatewayService:ExpressGatewayService": "ecs",
    "aws:eks/cluster:Cluster": "eks",
    "aws:eks/fargateProfile:FargateProfile": "eks",
    EKS_NODE_GROUP: "eks",
    BEANSTALK_ENVIRONMENT: "elasticbeanstalk",
    EMR_CLUSTER: "emr",
    EMR_INSTANCE_FLEET: "emr",
    EMR_INSTANCE_GROUP: "emr",
    "aws:emrserverless/application:Application": "emr-serverless",
    GAMELIFT_FLEET: "gamelift",
    GAMELIFT_SERVER_GROUP: "gamelift",
    "aws:glue/devEndpoint:DevEndpoint": "glue",
    "aws:glue/job:Job": "glue",
    "aws:lambda/function:Function": "lambda",
    "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig": "lambda",
    "aws:lightsail/containerService:ContainerService": "lightsail",
    "aws:lightsail/database:Database": "lightsail",
    "aws:lightsail/instance:Instance": "lightsail",
    "aws:sagemaker/app:App": "sagemaker",
    "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": "sagemaker",
    "aws:sagemaker/endpoint:Endpoint": "sagemaker",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "sagemaker",
    "aws:sagemaker/hyperParameterTuningJob:HyperParameterTuningJob": "sagemaker",
    "aws:sagemaker/monitoringSchedule:MonitoringSchedule": "sagemaker",
    "aws:sagemaker/notebookInstance:NotebookInstance": "sagemaker",
    "aws:sagemaker/trainingJob:TrainingJob": "sagemaker",
    "aws:workspaces/pool:Pool": "workspaces",
    "aws:workspaces/workspace:Workspace": "workspaces",
}
# The property an allowed service with instance types (SageMaker's ml.*) names them in,
# at any depth of the resource's inputs.
SERVICE_INSTANCE_TYPE = "instanceType"

# Purchases (corral/spec/data/purchases.json): the resources that commit money in each
# category; categories with no resource here are denied by the SCP alone.
REGISTERED_DOMAIN = "aws:route53domains/registeredDomain:RegisteredDomain"
PURCHASE_CATEGORY = {
    CAPACITY_BLOCK_RESERVATION: "capacityBlocks",
    CAPACITY_RESERVATION: "capacityReservations",
    DEDICATED_HOST: "dedicatedHosts",
    "aws:route53domains/domain:Domain": "domains",
    REGISTERED_DOMAIN: "domains",
    "aws:bedrock/provisionedModelThroughput:ProvisionedModelThroughput": "provisionedThroughput",
    "aws:elasticache/reservedCacheNode:ReservedCacheNode": "reservedInstances",
    "aws:rds/reservedInstance:ReservedInstance": "reservedInstances",
    "aws:savingsplans/savingsPlan:SavingsPlan": "savingsPlans",
    "aws:shield/subscription:Subscription": "shieldAdvanced",
}
# A resource of these types commits nothing when the property has this value: a
# registered domain managed with auto-renew off renews at no one's expense.
PURCHASE_EXCEPTIONS = {REGISTERED_DOMAIN: ("autoRenew", False)}

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
