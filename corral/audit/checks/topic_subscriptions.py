"""The alert topic exists with its topic policy and encryption, and a confirmed subscription
per configured address with the attributes corral sets."""

from __future__ import annotations

from collections.abc import Iterator

from corral.audit.checks import _spend, _topic
from corral.audit.checks._base import VERIFY, CheckMetadata, VerifyContext, failed, passed
from corral.audit.checks._policy import describe_changes, equivalent
from corral.audit.findings import Finding
from corral.build import spend_requests
from corral.spec import keys as K

METADATA = CheckMetadata(
    id="topic-subscriptions",
    title="The alert topic exists with its policy, encryption and subscriptions",
    severity="high",
    risk="Alarms and budgets publish to the topic; without it, its policy or its subscribers "
    "every alert is dropped silently.",
    remediation="Run `pulumi up --refresh` to recreate the topic, its policy and subscriptions, "
    "and confirm each email subscription from the message AWS sends.",
    actions=(
        "sns:ListTopics",
        "sns:GetTopicAttributes",
        "sns:ListSubscriptionsByTopic",
        "sns:GetSubscriptionAttributes",
    ),
    modes=(K.ORGANIZATION, K.ACCOUNT),
    scope=VERIFY,
    spec_keys=(K.NOTIFICATIONS,),
)
PENDING = "PendingConfirmation"


def run(ctx: VerifyContext) -> Iterator[Finding]:
    """Per site whose home region is judged (``--regions``): a finding per problem, or one
    PASS for the topic."""
    yield from _spend.per_site(ctx, METADATA, _judge)


def _judge(ctx: VerifyContext, site: _spend.Site) -> list[Finding]:
    home, arn, name = site.plan.home, site.topic_arn, site.plan.topic
    if not ctx.judges(home):
        return []
    where, resource = f"account {site.account} {home}", f"topic {name}"
    topics = site.read(ctx, "sns", "ListTopics", region=home).get("Topics", [])
    if arn not in {t["TopicArn"] for t in topics}:
        message = (f"SNS topic {name} is missing in {where}, so no spend alert reaches anyone; "
                   f"{_spend.REDEPLOY}.")  # fmt: skip
        return [failed(METADATA, site.account, home, resource, message)]
    problems = []
    attributes = site.read(ctx, "sns", "GetTopicAttributes", region=home, TopicArn=arn)
    policy = attributes.get("Attributes", {}).get("Policy", "{}")
    want = spend_requests.topic_policy(site.spend, site.plan, arn, site.account)
    if not equivalent(want, policy):
        changes = "; ".join(describe_changes(want, policy))
        problems.append(f"SNS topic {name} in {where} has a topic policy that differs from the "
                        f"spec: {changes}; {_spend.RESTORE}.")  # fmt: skip
    problems += _topic.topic_problems(site, attributes.get("Attributes", {}))
    out = site.read(ctx, "sns", "ListSubscriptionsByTopic", region=home, TopicArn=arn)
    subscribed = {(s["Protocol"], s["Endpoint"]): s["SubscriptionArn"]
                  for s in out.get("Subscriptions", [])}  # fmt: skip
    for request in spend_requests.subscription_requests(site.spend, arn):
        protocol, endpoint = request["Protocol"], request["Endpoint"]
        state = subscribed.get((protocol, endpoint))
        if state is None:
            problems.append(f"SNS topic {name} in {where} has no {protocol} subscription for "
                            f"{endpoint}; run `pulumi up --refresh` to subscribe it "
                            "again.")  # fmt: skip
        elif state == PENDING:
            problems.append(f"The {protocol} subscription of {endpoint} to SNS topic {name} in "
                            f"{where} is pending confirmation, so it receives nothing; confirm "
                            f"it from the message AWS sent to {endpoint}.")  # fmt: skip
    problems += _topic.subscription_problems(ctx, site, subscribed)
    if problems:
        return [failed(METADATA, site.account, home, resource, p) for p in problems]
    count = len(spend_requests.subscription_requests(site.spend, arn))
    message = (f"SNS topic {name} in {where} has its topic policy and encryption and all "
               f"{count} confirmed subscriptions, each with the attributes corral "
               "sets.")  # fmt: skip
    return [passed(METADATA, site.account, home, resource, message)]
