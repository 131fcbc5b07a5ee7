"""Replay the incident in the emulator: 26 c5a.24xlarge in four US regions, plus a leaked key.

Everything here writes to the emulator on purpose (it plays the attacker and the
account owner); the verifier and sweep only ever read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3

INCIDENT_TYPE = "c5a.24xlarge"
INCIDENT = {"us-east-1": 8, "us-east-2": 6, "us-west-1": 6, "us-west-2": 6}
ACCESS_ROLE = "OrganizationAccountAccessRole"


@dataclass
class Organization:
    """The emulator organization: ids of its root, OUs and accounts."""

    management: str
    root: str
    ous: dict[str, str]
    accounts: dict[str, str]
    parents: dict[str, str] = field(default_factory=dict)


def launch_incident(session: boto3.Session, endpoint_url: str | None) -> dict[str, list[str]]:
    """Launch the incident's instances in the session's account; return ids per region."""
    launched: dict[str, list[str]] = {}
    for region, count in INCIDENT.items():
        ec2 = session.client("ec2", region_name=region, endpoint_url=endpoint_url)
        image = ec2.register_image(
            Name="miner",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"]
        ec2.create_key_pair(KeyName="leaked")
        reservation = ec2.run_instances(
            ImageId=image,
            InstanceType=INCIDENT_TYPE,
            MinCount=count,
            MaxCount=count,
            KeyName="leaked",
        )
        launched[region] = [i["InstanceId"] for i in reservation["Instances"]]
    return launched


def leak_access_key(session: boto3.Session, endpoint_url: str | None, user: str = "script") -> str:
    """Create the IAM user whose long-lived access key leaked; return the key id."""
    iam = session.client("iam", endpoint_url=endpoint_url)
    iam.create_user(UserName=user)
    return iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]


def create_organization(
    session: boto3.Session, endpoint_url: str | None, members: dict[str, str]
) -> Organization:
    """Create an organization with one OU per distinct value of ``members`` (account -> OU)."""
    org = session.client("organizations", endpoint_url=endpoint_url)
    org.create_organization(FeatureSet="ALL")
    management = org.describe_organization()["Organization"]["MasterAccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    ous = {}
    for name in sorted(set(members.values())):
        ou = org.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]
        ous[name] = ou["Id"]
    accounts, parents = {}, {}
    for account_name, ou_name in members.items():
        status = org.create_account(Email=f"{account_name}@example.com", AccountName=account_name)
        account = status["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ous[ou_name])
        accounts[account_name], parents[account] = account, ous[ou_name]
    return Organization(management, root, ous, accounts, parents)


def member_session(
    session: boto3.Session, endpoint_url: str | None, account: str, role: str = ACCESS_ROLE
) -> boto3.Session:
    """A session inside a member account, through the organization's access role."""
    sts = session.client("sts", endpoint_url=endpoint_url)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="demo")
    c: dict[str, Any] = creds["Credentials"]
    return boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=session.region_name,
    )
