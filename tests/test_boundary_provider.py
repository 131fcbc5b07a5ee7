"""The PermissionsBoundary dynamic provider against moto: it sets, moves and removes only
corral's boundary on an existing user or role, with the calls ``pulumi up`` would make."""

from __future__ import annotations

import os
import subprocess
import sys

import boto3
import pytest

from components.boundary import _Provider

BOUNDARY = "arn:aws:iam::123456789012:policy/corral/corral-boundary"
OTHER = "arn:aws:iam::123456789012:policy/someone-elses"


def boundary_of(iam, kind: str, name: str) -> str | None:
    found = iam.get_user(UserName=name)["User"] if kind == "user" else None
    found = found or iam.get_role(RoleName=name)["Role"]
    return found.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")


@pytest.fixture
def iam(aws):
    client = boto3.client("iam", region_name="us-east-1")
    client.create_user(UserName="ci")
    client.create_role(RoleName="Admin", AssumeRolePolicyDocument="{}")
    return client


@pytest.mark.parametrize(("kind", "name"), [("user", "ci"), ("role", "Admin")])
def test_create_sets_corral_boundary_and_delete_removes_it(iam, kind, name):
    props = {"principalKind": kind, "principalName": name, "policyArn": BOUNDARY, "region": ""}
    provider = _Provider()
    result = provider.create(props)
    assert result.id == f"{kind}/{name}"
    assert boundary_of(iam, kind, name) == BOUNDARY
    provider.delete(result.id, props)
    assert boundary_of(iam, kind, name) is None


def test_delete_leaves_a_boundary_someone_else_set(iam):
    props = {"principalKind": "user", "principalName": "ci", "policyArn": BOUNDARY}
    provider = _Provider()
    provider.create(props)
    iam.put_user_permissions_boundary(UserName="ci", PermissionsBoundary=OTHER)
    provider.delete("user/ci", props)
    assert boundary_of(iam, "user", "ci") == OTHER


def test_a_new_principal_replaces_and_a_new_policy_updates_in_place():
    provider = _Provider()
    old = {"principalKind": "user", "principalName": "ci", "policyArn": BOUNDARY}
    moved = provider.diff("user/ci", old, {**old, "principalName": "ops"})
    assert moved.changes and moved.replaces == ["principalName"]
    renamed = provider.diff("user/ci", old, {**old, "policyArn": OTHER})
    assert renamed.changes and not renamed.replaces
    assert not provider.diff("user/ci", old, dict(old)).changes


def test_moto_still_lacks_the_user_boundary_calls_the_stand_in_adds():
    """examples/emulator/iam_boundaries.py stands in for exactly this; drop it once moto
    implements the call (this test then fails)."""
    code = (
        "import boto3, os\n"
        "from moto import mock_aws\n"
        "with mock_aws():\n"
        "    iam = boto3.client('iam', region_name='us-east-1')\n"
        "    iam.create_user(UserName='u')\n"
        "    try:\n"
        "        iam.put_user_permissions_boundary(UserName='u',\n"
        "            PermissionsBoundary='arn:aws:iam::123456789012:policy/corral/b')\n"
        "    except NotImplementedError:\n"
        "        print('lacks')\n"
    )
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "lacks", done.stderr
