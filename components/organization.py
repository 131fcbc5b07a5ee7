"""OrganizationGuardrails: Service Control Policies and their attachments."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import (
    NAME_SEPARATOR,
    ORGANIZATION_GUARDRAILS,
    POLICY_ARNS,
    POLICY_IDS,
    SCP_KIND,
    SERVICE_CONTROL_POLICY,
    collect,
    managed_tags,
)
from corral.build.plan import Attachment, Plan


@dataclass(frozen=True)
class OrganizationGuardrailsArgs:
    """The arguments of :class:`OrganizationGuardrails`."""

    plan: Plan
    """An organization-mode plan from ``corral.build.plan.build_plan``: each of its
    documents becomes a Service Control Policy, each attachment a policy attachment
    on the root, OU or account it names."""


def attachment_name(attachment: Attachment) -> str:
    """The resource name of an SCP attachment: ``<document>.<target name>``."""
    return f"{attachment.document}{NAME_SEPARATOR}{attachment.target_name}"


class OrganizationGuardrails(pulumi.ComponentResource):
    """Service Control Policies built by corral, attached where the spec says."""

    policies: dict[str, aws.organizations.Policy]
    """The policies, by document name."""
    attachments: dict[str, aws.organizations.PolicyAttachment]
    """The attachments, by resource name (see :func:`attachment_name`)."""
    policy_ids: pulumi.Output[dict[str, str]]
    """Document name to SCP id (``p-...``)."""
    policy_arns: pulumi.Output[dict[str, str]]
    """Document name to SCP ARN."""

    def __init__(
        self,
        name: str,
        args: OrganizationGuardrailsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(ORGANIZATION_GUARDRAILS, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        for doc in args.plan.documents:
            if doc.kind != SCP_KIND:
                raise ValueError(
                    f"Document {doc.name} is an {doc.kind} policy, but OrganizationGuardrails "
                    "deploys Service Control Policies only; build the plan in organization mode."
                )
        self.policies = {
            doc.name: aws.organizations.Policy(
                doc.name,
                name=doc.name,
                type=SERVICE_CONTROL_POLICY,
                content=doc.content,
                description=doc.description,
                tags=managed_tags(),
                opts=child,
            )
            for doc in args.plan.documents
        }
        self.attachments = {
            attachment_name(a): aws.organizations.PolicyAttachment(
                attachment_name(a),
                policy_id=self.policies[a.document].id,
                target_id=a.target_id,
                opts=child,
            )
            for a in args.plan.attachments
        }
        self.policy_ids = collect({n: p.id for n, p in self.policies.items()})
        self.policy_arns = collect({n: p.arn for n, p in self.policies.items()})
        self.register_outputs({POLICY_IDS: self.policy_ids, POLICY_ARNS: self.policy_arns})
