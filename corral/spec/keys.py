"""Names used everywhere: config keys, guardrail ids, modes, target kinds, limits.

Every config key, guardrail id and AWS limit lives here once; the spec, the
builders, the program, the pack and the verifier import them from this module.
"""

from __future__ import annotations

NAMESPACE = "corral"
AWS_REGION_KEY = "aws:region"

# Top-level config keys under the ``corral`` namespace.
MODE = "mode"
ALLOWED_REGIONS = "allowedRegions"
EXEMPT_PRINCIPALS = "exemptPrincipals"
INSTANCES = "instances"
PROTECTIONS = "protections"
TARGETS = "targets"
PRINCIPALS = "principals"
ALLOW_LOCKOUT = "allowLockout"
NAME_PREFIX = "namePrefix"
PURCHASES = "purchases"
COMPUTE = "compute"
# Spend detection (budgets, alarms, notifications, circuit breaker, Cost Anomaly Detection):
# see corral.spec.spend and corral.spec.spend_detectors.
NOTIFICATIONS = "notifications"
BUDGETS = "budgets"
ALARMS = "alarms"
CIRCUIT_BREAKER = "circuitBreaker"
ANOMALY_DETECTION = "anomalyDetection"
SPEND_KEYS = (BUDGETS, ALARMS, NOTIFICATIONS, CIRCUIT_BREAKER, ANOMALY_DETECTION)
# Attempt and tamper alerts, and GuardDuty, sent to spend detection's topic: see
# corral.spec.alerts.
ALERTS = "alerts"
GUARD_DUTY = "guardDuty"
ALERT_KEYS = (ALERTS, GUARD_DUTY)

TOP_LEVEL_KEYS = (
    MODE,
    ALLOWED_REGIONS,
    EXEMPT_PRINCIPALS,
    INSTANCES,
    PROTECTIONS,
    TARGETS,
    PRINCIPALS,
    ALLOW_LOCKOUT,
    NAME_PREFIX,
    PURCHASES,
    COMPUTE,
)

# Keys of ``instances``.
ALLOW = "allow"
DENY = "deny"
MAX_VCPUS = "maxVcpus"
SPOT = "spot"
INSTANCE_KEYS = (ALLOW, DENY, MAX_VCPUS, SPOT)
# Keys of ``purchases`` and ``compute``: the categories / services that stay allowed.
CAPACITY_KEYS = (ALLOW,)

# Keys of one entry of ``targets``.
TARGET_ID = "id"
TARGET_NAME = "name"
TARGET_GUARDRAILS = "guardrails"
TARGET_KEYS = (TARGET_ID, TARGET_NAME, TARGET_GUARDRAILS, ALLOWED_REGIONS, INSTANCES)

# Keys of ``principals`` (account mode).
GROUPS = "groups"
USERS = "users"
ROLES = "roles"
PRINCIPAL_KEYS = (GROUPS, USERS, ROLES)

# Keys of ``protections``; each toggles one group of protection statements.
PROTECT_GUARDRAILS = "guardrails"
PROTECT_ORGANIZATION = "leaveOrganization"
PROTECT_CLOUDTRAIL = "cloudTrail"
PROTECT_GUARDDUTY = "guardDuty"
PROTECT_CONFIG = "config"
PROTECT_ACCESS_KEYS = "accessKeys"
PROTECT_PRINCIPALS = "principals"
PROTECTION_KEYS = (
    PROTECT_GUARDRAILS,
    PROTECT_ORGANIZATION,
    PROTECT_CLOUDTRAIL,
    PROTECT_GUARDDUTY,
    PROTECT_CONFIG,
    PROTECT_ACCESS_KEYS,
    PROTECT_PRINCIPALS,
)

# Keys of the spend sections: ``notifications``, ``budgets`` (and each of its
# ``notifications``), ``alarms`` (``billing``, ``vcpu``, ``spot``, ``fargate``, ``lambda``),
# ``circuitBreaker`` and ``anomalyDetection``.
EMAILS = "emails"
HTTPS = "https"
NOTIFICATION_KEYS = (EMAILS, HTTPS)

ENABLED = "enabled"
LIMIT = "limit"
ORGANIZATION_LIMIT = "organizationLimit"
BUDGET_NOTIFICATIONS = "notifications"
DEPLOYMENT = "deployment"
MEMBER_ROLE = "memberRole"
BUDGET_KEYS = (ENABLED, LIMIT, ORGANIZATION_LIMIT, BUDGET_NOTIFICATIONS, DEPLOYMENT, MEMBER_ROLE)
NOTIFICATION_TYPE = "type"
THRESHOLD = "threshold"
BUDGET_NOTIFICATION_KEYS = (NOTIFICATION_TYPE, THRESHOLD)

BILLING = "billing"
VCPU = "vcpu"  # On-Demand EC2 vCPUs
SPOT_ALARMS = "spot"  # Spot EC2 vCPUs (the same word as the instances key SPOT)
FARGATE = "fargate"
LAMBDA = "lambda"
ALARM_KEYS = (BILLING, VCPU, SPOT_ALARMS, FARGATE, LAMBDA)
BILLING_KEYS = (ENABLED, THRESHOLD)
THRESHOLDS = "thresholds"
PERIOD = "period"
VCPU_KEYS = (ENABLED, THRESHOLDS, PERIOD)  # also of ``spot`` and ``fargate``
LAMBDA_KEYS = (ENABLED, THRESHOLD, PERIOD)
ANOMALY_KEYS = (ENABLED, THRESHOLD)

APPROVAL = "approval"
TRIGGER = "trigger"  # budget (Budgets action, the default) or alarm (a capacity alarm, in minutes)
BREAKER_KEYS = (ENABLED, THRESHOLD, APPROVAL, TRIGGER)

# Keys of ``alerts`` and ``guardDuty``.
TRAIL_LOG_GROUP = "trailLogGroup"
ALERTS_KEYS = (ENABLED, TRAIL_LOG_GROUP)
ENABLE = "enable"
SEVERITY = "severity"
ADMIN_ACCOUNT = "adminAccount"
GUARD_DUTY_KEYS = (ENABLE, SEVERITY, ADMIN_ACCOUNT)

# Modes.
ORGANIZATION = "organization"
ACCOUNT = "account"
MODES = (ORGANIZATION, ACCOUNT)

# Guardrail ids, as written in ``targets[].guardrails`` and used in document names.
REGIONS = "regions"
INSTANCE_TYPES = "instances"
PROTECTION = "protection"
CAPACITY = "capacity"
GUARDRAILS = (REGIONS, INSTANCE_TYPES, PROTECTION, CAPACITY)
# The compute service that is always allowed: EC2 launches, held to the instance rule.
EC2_COMPUTE = "ec2"

# Target kinds.
ROOT = "root"
OU = "ou"
ACCOUNT_TARGET = "account"

# Document kinds and account-mode principal kinds.
SCP_KIND = "scp"
IAM_KIND = "iam"
GROUP = "group"
USER = "user"
ROLE = "role"

# AWS limits (Organizations and IAM quotas).
SCP_MAX_CHARS = 5120
IAM_POLICY_MAX_CHARS = 6144
SCP_MAX_PER_TARGET = 5
IAM_MAX_MANAGED_POLICIES_PER_PRINCIPAL = 10
FULL_AWS_ACCESS = "FullAWSAccess"
FULL_AWS_ACCESS_ID = "p-FullAWSAccess"

# Tag and path that mark what corral deploys.
MANAGED_TAG = "corral:managed"
IAM_PATH = "/corral/"
BOUNDARY_SUFFIX = "boundary"  # account mode: the permissions boundary <prefix>-boundary
DEFAULT_NAME_PREFIX = "corral"
