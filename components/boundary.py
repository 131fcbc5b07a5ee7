"""PermissionsBoundary: sets corral's permissions boundary on a named IAM user or role.

pulumi-aws has no resource that sets the boundary of a principal it does not own
(``permissionsBoundary`` is an input of ``aws.iam.User``/``Role``, which would adopt the
principal), so this is a small Pulumi dynamic resource: ``Put{User,Role}PermissionsBoundary``
on create and update, and on delete ``Delete...PermissionsBoundary`` only while the
boundary is still corral's. It calls IAM with boto3, with the stack's ``aws:profile`` if set
(and ``AWS_ENDPOINT_URL`` as boto3 reads it), the way the aws provider reaches the account.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

BOUNDARY_KIND = "corralPermissionsBoundary"  # marks the dynamic resource's inputs
CALLS = {
    "user": ("put_user_permissions_boundary", "delete_user_permissions_boundary", "UserName"),
    "role": ("put_role_permissions_boundary", "delete_role_permissions_boundary", "RoleName"),
}


def _iam(props: dict[str, Any]):
    import boto3  # noqa: PLC0415 - imported where the provider runs, not at program load

    session = boto3.Session(profile_name=props.get("profile") or None)
    return session.client("iam", region_name=props.get("region") or None)


class _Provider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        put, _, key = CALLS[props["principalKind"]]
        getattr(_iam(props), put)(
            **{key: props["principalName"], "PermissionsBoundary": props["policyArn"]}
        )
        return CreateResult(f"{props['principalKind']}/{props['principalName']}", props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("principalKind", "principalName", "policyArn", "profile", "region")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        replaces = [k for k in changed if k in ("principalKind", "principalName")]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self.create(news)
        return UpdateResult(news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _, remove, key = CALLS[props["principalKind"]]
        iam = _iam(props)
        name = props["principalName"]
        read = iam.get_user(UserName=name)["User"] if key == "UserName" else None
        if read is None:
            read = iam.get_role(RoleName=name)["Role"]
        current = read.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        if current == props["policyArn"]:  # leave a boundary someone else set alone
            getattr(iam, remove)(**{key: name})


class PermissionsBoundary(Resource):
    """corral's boundary on one existing IAM user or role (account mode)."""

    def __init__(
        self,
        name: str,
        principal_kind: str,
        principal_name: str,
        policy_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if principal_kind not in CALLS:
            raise ValueError(
                f"{principal_kind} {principal_name} cannot carry a permissions boundary; only a "
                "user or a role can."
            )
        aws = pulumi.Config("aws")
        props = {
            "kind": BOUNDARY_KIND,
            "principalKind": principal_kind,
            "principalName": principal_name,
            "policyArn": policy_arn,
            "profile": aws.get("profile") or "",
            "region": aws.get("region") or "",
        }
        super().__init__(_Provider(), name, props, opts)
