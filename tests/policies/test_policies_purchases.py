"""purchases: through the real analyzer protocol (programs written with the SDK's args
objects) and, for the pure logic, the policy SDK's own ``ResourceValidationArgs``.
"""

from __future__ import annotations

import pulumi_aws as aws
from conftest import details, reasons, sdk_run
from rules import purchases

from corral.spec.capacity import purchase_categories

FIX_PURCHASES = (
    "Remove the purchase (pay as you go instead), or add its category to "
    "corral:purchases.allow and regenerate the pack config with `corral policy-config`."
)


def test_purchase_gets_exact_message(analyze):
    def program():
        aws.ec2.CapacityReservation(
            "reserved",
            instance_type="t3.micro",
            instance_platform="Linux/UNIX",
            availability_zone="us-east-1a",
            instance_count=1,
        )

    report = analyze(program)
    assert details(report, "purchases") == [
        "aws:ec2/capacityReservation:CapacityReservation 'reserved' commits money in the purchase "
        "category capacityReservations, which corral:purchases.allow does not list; the "
        f"purchases rule forbids this. {FIX_PURCHASES}"
    ]
    [diag] = [d for d in report.diagnostics if d.policy == "purchases"]
    assert (diag.enforcement, diag.severity) == ("mandatory", "critical")


CONTACT = {"first_name": "A", "last_name": "B", "email": "a@example.com"}


def purchases_program():
    aws.savingsplans.SavingsPlan("plan", commitment="1.0", savings_plan_offering_id="o")
    aws.shield.Subscription("shield")
    aws.ec2.DedicatedHost("host", availability_zone="us-east-1a", instance_type="t3.micro")
    aws.rds.ReservedInstance("db", offering_id="o")
    aws.elasticache.ReservedCacheNode("cache", reserved_cache_nodes_offering_id="o")
    aws.bedrock.ProvisionedModelThroughput(
        "pt", model_arn="arn", model_units=1, provisioned_model_name="p"
    )
    aws.ec2.CapacityBlockReservation(
        "block", capacity_block_offering_id="o", instance_platform="Linux/UNIX"
    )
    aws.route53domains.Domain(
        "new",
        domain_name="example.com",
        admin_contact=CONTACT,
        registrant_contact=CONTACT,
        tech_contact=CONTACT,
    )
    aws.route53domains.RegisteredDomain("renewing", domain_name="example.org")
    aws.route53domains.RegisteredDomain("kept", domain_name="example.net", auto_renew=False)


def test_every_purchase_category_is_refused(analyze):
    found = details(analyze(purchases_program), "purchases")
    categories = sorted(
        f.split(" commits money in the purchase category ")[1].split(",")[0] for f in found
    )
    names = sorted(f.split("'")[1] for f in found)
    assert categories == [
        "capacityBlocks",
        "dedicatedHosts",
        "domains",
        "domains",
        "provisionedThroughput",
        "reservedInstances",
        "reservedInstances",
        "savingsPlans",
        "shieldAdvanced",
    ]
    assert "kept" not in names


def test_allowed_categories_and_free_domains_pass(analyze):
    report = analyze(purchases_program, purchases={"allow": ["capacityBlocks"]})
    assert not any("'block'" in f for f in details(report, "purchases"))
    assert {
        "the pack config allows the purchase category capacityBlocks",
        "the resource commits nothing with autoRenew false",
    } <= reasons(report, "purchases")
    everything = {"allow": sorted(purchase_categories())}
    assert details(analyze(purchases_program, purchases=everything), "purchases") == []


def test_purchase_rule_on_sdk_args():
    domain = "aws:route53domains/registeredDomain:RegisteredDomain"
    assert sdk_run(purchases, domain, {"autoRenew": True}, {}) == [
        f"{domain} 'r' commits money in the purchase category domains, which "
        f"corral:purchases.allow does not list; the purchases rule forbids this. {FIX_PURCHASES}"
    ]
    assert sdk_run(purchases, domain, {"autoRenew": False}, {"allow": []}) == (
        "the resource commits nothing with autoRenew false"
    )
    assert sdk_run(purchases, "aws:s3/bucket:Bucket", {}, {}) == (
        "the resource buys no reservation, commitment or subscription"
    )
