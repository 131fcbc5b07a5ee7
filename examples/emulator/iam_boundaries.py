"""Stand-in for the user permissions-boundary calls moto 5.2.5 lacks.

moto implements Put/DeleteRolePermissionsBoundary but not the user calls
(``PutUserPermissionsBoundary`` raises NotImplementedError) and keeps no boundary on a
user. :func:`install` adds exactly those two calls to moto's IAM responses, storing the
boundary on moto's own user record, which ``GetUser`` and ``ListUsers`` then return the
way AWS does (``PermissionsBoundary.PermissionsBoundaryArn``). The ARN is checked with
moto's own policy-ARN pattern, as moto checks the role call. Nothing else changes.
"""

from __future__ import annotations

from moto.core.responses import EmptyResult
from moto.iam.exceptions import ValidationError
from moto.iam.responses import IamResponse

BOUNDARY_TYPE = "PermissionsBoundaryPolicy"


def _user(response: IamResponse):
    return response.backend.get_user(response._get_param("UserName"))  # NoSuchEntity if absent


def put_user_permissions_boundary(self: IamResponse):
    """PutUserPermissionsBoundary on moto's user record."""
    arn = self._get_param("PermissionsBoundary")
    if not arn or not self.backend.policy_arn_regex.match(arn):
        raise ValidationError(f"Value ({arn}) for parameter PermissionsBoundary is invalid.")
    _user(self).permissions_boundary = {
        "PermissionsBoundaryType": BOUNDARY_TYPE,
        "PermissionsBoundaryArn": arn,
    }
    return EmptyResult()


def delete_user_permissions_boundary(self: IamResponse):
    """DeleteUserPermissionsBoundary on moto's user record."""
    user = _user(self)
    if getattr(user, "permissions_boundary", None):
        user.permissions_boundary = None
    return EmptyResult()


def install() -> None:
    """Add the two calls to moto's IAM responses (idempotent; in-process and server)."""
    IamResponse.put_user_permissions_boundary = put_user_permissions_boundary
    IamResponse.delete_user_permissions_boundary = delete_user_permissions_boundary
