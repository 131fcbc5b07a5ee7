"""AccountGuardrails: customer-managed IAM policies attached to named principals."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import (
    ACCOUNT_GUARDRAILS,
    IAM_KIND,
    NAME_SEPARATOR,
    POLICY_ARNS,
    POLICY_IDS,
    collect,
    managed_tags,
)
from components.boundary import PermissionsBoundary
from corral.build.plan import Attachment, Plan
from corral.spec import keys as K

# Principal kind (as in Attachment.target_kind) to its attachment resource and
# the argument naming the principal.
_ATTACHERS: dict[str, tuple[type[pulumi.CustomResource], str]] = {
    "group": (aws.iam.GroupPolicyAttachment, "group"),
    "user": (aws.iam.UserPolicyAttachment, "user"),
    "role": (aws.iam.RolePolicyAttachment, "role"),
}


@dataclass(frozen=True)
class AccountGuardrailsArgs:
    """The arguments of :class:`AccountGuardrails`."""

    plan: Plan
    """An account-mode plan from ``corral.build.plan.build_plan``: each of its
    documents becomes an IAM policy under the corral path, each attachment a
    group, user or role policy attachment."""


def attachment_name(attachment: Attachment) -> str:
    """The resource name of an IAM attachment: ``<document>.<kind>.<principal>``."""
    return NAME_SEPARATOR.join(
        (attachment.document, attachment.target_kind, attachment.target_name)
    )


class AccountGuardrails(pulumi.ComponentResource):
    """corral's deny statements as IAM policies on every named group, user and role."""

    policies: dict[str, aws.iam.Policy]
    """The policies, by document name."""
    attachments: dict[str, pulumi.CustomResource]
    """The attachments, by resource name (see :func:`attachment_name`)."""
    boundaries: dict[str, PermissionsBoundary]
    """corral's permissions boundary on each named user and role, by resource name."""
    policy_ids: pulumi.Output[dict[str, str]]
    """Document name to IAM policy id (``ANPA...``)."""
    policy_arns: pulumi.Output[dict[str, str]]
    """Document name to IAM policy ARN."""

    def __init__(
        self,
        name: str,
        args: AccountGuardrailsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(ACCOUNT_GUARDRAILS, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        for doc in args.plan.documents:
            if doc.kind != IAM_KIND:
                raise ValueError(
                    f"Document {doc.name} is an {doc.kind} policy, but AccountGuardrails "
                    "deploys IAM policies only; build the plan in account mode."
                )
        for a in args.plan.attachments:
            if a.target_kind not in _ATTACHERS:
                raise ValueError(
                    f"Attachment of {a.document} targets a {a.target_kind}, but IAM policies "
                    f"attach only to a {', '.join(_ATTACHERS)}; build the plan in account mode."
                )
        self.policies = {
            doc.name: aws.iam.Policy(
                doc.name,
                name=doc.name,
                path=K.IAM_PATH,
                policy=doc.content,
                description=doc.description,
                tags=managed_tags(),
                opts=child,
            )
            for doc in args.plan.documents
        }
        self.attachments = {
            attachment_name(a): _attach(a, self.policies[a.document].arn, child)
            for a in args.plan.attachments
        }
        # The permissions boundary on every named user and role (groups cannot carry one).
        boundary = self.policies[args.plan.boundary].arn if args.plan.boundary else None
        principals = {(a.target_kind, a.target_name) for a in args.plan.attachments}
        self.boundaries = {
            f"{args.plan.boundary}{NAME_SEPARATOR}{kind}{NAME_SEPARATOR}{name}": (
                PermissionsBoundary(
                    f"{args.plan.boundary}{NAME_SEPARATOR}{kind}{NAME_SEPARATOR}{name}",
                    kind,
                    name,
                    boundary,
                    child,
                )
            )
            for kind, name in sorted(principals)
            if boundary is not None and kind in ("user", "role")
        }
        self.policy_ids = collect({n: p.policy_id for n, p in self.policies.items()})
        self.policy_arns = collect({n: p.arn for n, p in self.policies.items()})
        self.register_outputs({POLICY_IDS: self.policy_ids, POLICY_ARNS: self.policy_arns})


def _attach(
    attachment: Attachment, policy_arn: pulumi.Output[str], opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    resource, principal_arg = _ATTACHERS[attachment.target_kind]
    return resource(
        attachment_name(attachment),
        policy_arn=policy_arn,
        opts=opts,
        **{principal_arg: attachment.target_name},
    )
