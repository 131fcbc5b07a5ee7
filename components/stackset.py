"""StackSetDetection: the CloudFormation StackSet that deploys spend detection to every account
below a targeted root or OU, accounts created or moved there later included.

A thin component: the template and every target come from
:func:`corral.build.stackset.stackset_plan`. The StackSet is SERVICE_MANAGED with automatic
deployment, created in the management account (``call_as`` SELF); it has one
``StackSetInstance`` per region, each deploying to every targeted root and OU except the account
targets, which keep their own site (``components.spend``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import STACKSET_DETECTION, managed_tags
from corral.build import stackset

CALL_AS = "SELF"  # the management account; a delegated administrator would use DELEGATED_ADMIN


@dataclass(frozen=True)
class StackSetDetectionArgs:
    """The arguments of :class:`StackSetDetection`."""

    plan: stackset.StackSetPlan
    """From ``corral.build.stackset.stackset_plan``: the StackSet's name and template, the
    roots and OUs it deploys to, the account targets it leaves out, and its regions."""


class StackSetDetection(pulumi.ComponentResource):
    """corral's StackSet and its instances, one per region."""

    arn: pulumi.Output[str]
    """The StackSet's ARN."""

    def __init__(
        self, name: str, args: StackSetDetectionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(STACKSET_DETECTION, name, None, opts)
        plan = args.plan
        stack_set = aws.cloudformation.StackSet(
            f"{name}-stackset",
            name=plan.name,
            description=plan.description,
            permission_model=stackset.PERMISSION_MODEL,
            auto_deployment=aws.cloudformation.StackSetAutoDeploymentArgs(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            capabilities=list(stackset.CAPABILITIES),
            template_body=plan.template_body,
            # trigger: alarm: the management account (this one), where member relays deliver
            parameters=_parameters(self, plan.parameters),
            call_as=CALL_AS,
            # StackSets queues conflicting operations instead of refusing the next instance.
            managed_execution=aws.cloudformation.StackSetManagedExecutionArgs(active=True),
            operation_preferences=aws.cloudformation.StackSetOperationPreferencesArgs(
                region_concurrency_type="PARALLEL", max_concurrent_percentage=100
            ),
            tags=managed_tags(),
            opts=pulumi.ResourceOptions(parent=self),
        )
        targets = aws.cloudformation.StackSetInstanceDeploymentTargetsArgs(
            organizational_unit_ids=list(plan.organizational_unit_ids),
            account_filter_type=stackset.ACCOUNT_FILTER if plan.excluded_accounts else None,
            accounts=list(plan.excluded_accounts) or None,
        )
        for region in plan.regions:
            aws.cloudformation.StackSetInstance(
                f"{name}-instance-{region}",
                stack_set_name=stack_set.name,
                stack_set_instance_region=region,
                deployment_targets=targets,
                call_as=CALL_AS,
                retain_stack=False,
                operation_preferences=aws.cloudformation.StackSetInstanceOperationPreferencesArgs(
                    max_concurrent_percentage=100
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.arn = stack_set.arn
        self.register_outputs({"arn": self.arn})


def _parameters(parent: pulumi.Resource, names: tuple[str, ...]):
    """The StackSet's parameters: each is the deploying (management) account's id."""
    if not names:
        return None
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    account = aws.get_caller_identity_output(opts=invoke).account_id
    return account.apply(lambda a: dict.fromkeys(names, a))
