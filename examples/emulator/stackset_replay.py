"""The demo's member-detection scene: what corral's StackSet deployed, then an account created
later in a targeted OU getting its detection from automatic deployment.

Automatic deployment is the emulator's stand-in (:mod:`examples.emulator.stacksets`); on AWS,
CloudFormation StackSets does it.
"""

from __future__ import annotations

import boto3

from examples.emulator import incident


def replay(
    session: boto3.Session, url: str, org: incident.Organization, stack_set: str, ou: str
) -> list[str]:
    """Lines telling what the StackSet deployed and what a later account in ``ou`` got."""
    cf = session.client("cloudformation", endpoint_url=url)
    described = cf.describe_stack_set(StackSetName=stack_set)["StackSet"]
    auto = described.get("AutoDeployment", {})
    instances = cf.list_stack_instances(StackSetName=stack_set)["Summaries"]
    accounts = sorted({i["Account"] for i in instances})
    lines = [
        f"StackSet {stack_set} ({described['PermissionModel']}, automatic deployment "
        f"{'on' if auto.get('Enabled') else 'OFF'}): {len(instances)} stack instances in "
        f"{len(accounts)} member accounts"
        + ("" if org.management in accounts else ", none in the management account")
    ]
    orgs = session.client("organizations", endpoint_url=url)
    created = orgs.create_account(Email="late@example.com", AccountName="late")
    late = created["CreateAccountStatus"]["AccountId"]
    orgs.move_account(AccountId=late, SourceParentId=org.root, DestinationParentId=org.ous[ou])
    member = incident.member_session(session, url, late)
    got = [i for i in cf.list_stack_instances(StackSetName=stack_set)["Summaries"]
           if i["Account"] == late]  # fmt: skip
    alarms = member.client("cloudwatch", region_name="eu-west-1", endpoint_url=url)
    count = len(alarms.describe_alarms(AlarmNamePrefix="corral-spend-")["MetricAlarms"])
    lines.append(
        f"account {late} created later and moved into OU {ou}: automatic deployment gave it "
        f"{len(got)} stack instances; {count} spend alarms in eu-west-1"
    )
    return lines
