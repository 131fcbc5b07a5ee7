"""FastBreaker: a capacity alarm in ALARM trips the circuit breaker within minutes.

A thin component (``corral:circuitBreaker.trigger: alarm``): every parameter comes from
:mod:`corral.build.breaker_trip`. In the site's home region it creates the Standard state
machine that attaches the deny-launch policy with AWS SDK integrations, its role, the
EventBridge rule that starts it on corral's capacity alarms (forwarded home from every
region by the spend forwarding) and the role the rule starts it with. The budget action
of :class:`components.spend.SpendGuardrails` stays beside it as the slow backstop.

Organization mode: the machine lives in the management account, whose home default bus gets one
statement, ``<prefix>-spend-relay`` (PutPermission: added beside the bus policy's other
statements, which stay), letting the organization's accounts put events on it;
:class:`SpendRelay` gives each member site the ``<prefix>-spend-relay`` rule and role that send
its capacity alarms' events there (corral's StackSet template carries the same for members
below an OU).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import FAST_BREAKER, SPEND_RELAY, managed_tags
from corral.build import breaker_trip, spend_plan
from corral.spec import keys as K
from corral.spec import spend as spend_spec


@dataclass(frozen=True)
class FastBreakerArgs:
    """The arguments of :class:`FastBreaker`."""

    spend: spend_spec.SpendSpec
    """The validated spend section; its ``trigger`` is ``alarm``."""
    provider: aws.Provider
    """The provider of the site's home region (where the topic and the policy are)."""
    account: pulumi.Output[str]
    """The site's account id."""
    topic_arn: pulumi.Output[str]
    """The alert topic the state machine notifies."""
    policy_ref: pulumi.Output[str]
    """The deny-launch policy the budget action applies: IAM policy ARN or SCP id."""
    policy_arn: pulumi.Output[str]
    """Its ARN (both kinds), for the state machine role's grant."""


class FastBreaker(pulumi.ComponentResource):
    """The rule, the state machine and their two roles of the fast circuit breaker."""

    machine_arn: pulumi.Output[str]
    """The state machine's ARN."""

    def __init__(
        self, name: str, args: FastBreakerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(FAST_BREAKER, name, None, opts)
        spend, names = args.spend, spend_plan.names(args.spend)
        options = pulumi.ResourceOptions(parent=self, provider=args.provider)
        grants = pulumi.Output.all(args.account, args.policy_ref, args.topic_arn, args.policy_arn)
        # name -> (trust policy, inline policy) of both roles, as the builder makes them
        roles = grants.apply(lambda v: breaker_trip.expected_roles(spend, v[0], v[3], v[2]))
        trip_role = _role(name, "trip", names["trip_role"], roles, options)
        start_role = _role(name, "start", names["trip_start_role"], roles, options)
        request = grants.apply(lambda v: breaker_trip.machine_request(spend, v[0], v[1], v[2]))
        machine = aws.sfn.StateMachine(
            f"{name}-machine",
            name=names["trip_machine"],
            definition=request.apply(lambda r: r["definition"]),
            role_arn=trip_role.arn,
            type=breaker_trip.MACHINE_TYPE,
            tags=managed_tags(),
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.provider, depends_on=[trip_role]
            ),
        )
        _rule(f"{name}-rule", breaker_trip.rule_request(spend), "corral", machine.arn,
              start_role.arn, options)  # fmt: skip
        if spend.mode == K.ORGANIZATION:  # member relays put their alarm events on this bus
            invoke = pulumi.InvokeOutputOptions(parent=self, provider=args.provider)
            org = aws.organizations.get_organization_output(opts=invoke)
            # one statement added to the bus's policy (PutPermission), never the whole policy:
            # other statements on the bus stay, and destroy removes only this one
            grant = breaker_trip.bus_permission(spend, org.id)  # an Output in the condition
            aws.cloudwatch.EventPermission(
                f"{name}-bus-permission",
                event_bus_name=grant["EventBusName"],
                statement_id=grant["StatementId"],
                principal=grant["Principal"],
                action=grant["Action"],
                condition=aws.cloudwatch.EventPermissionConditionArgs(
                    key=grant["Condition"]["Key"],
                    type=grant["Condition"]["Type"],
                    value=grant["Condition"]["Value"],
                ),
                opts=options,
            )
        self.machine_arn = machine.arn
        self.register_outputs({"machineArn": machine.arn})


def _role(name, key, role_name, roles, options) -> aws.iam.Role:
    """A ``/corral/`` service role and its one inline policy (``roles``: name -> (trust,
    policy), an Output)."""
    role = aws.iam.Role(
        f"{name}-{key}-role",
        name=role_name,
        path=K.IAM_PATH,
        assume_role_policy=roles.apply(lambda r: r[role_name][0]),
        tags=managed_tags(),
        opts=options,
    )
    aws.iam.RolePolicy(
        f"{name}-{key}-role-policy",
        role=role.id,
        policy=roles.apply(lambda r: r[role_name][1]),
        opts=options,
    )
    return role


@dataclass(frozen=True)
class SpendRelayArgs:
    """The arguments of :class:`SpendRelay`."""

    spend: spend_spec.SpendSpec
    """The validated spend section (organization mode, ``trigger: alarm``)."""
    providers: dict[str, aws.Provider]
    """The member site's provider per region (through ``memberRole``)."""
    home: str
    """The home region (the role is created there; IAM is global)."""
    account: pulumi.Output[str]
    """The member account's id."""
    management: pulumi.Output[str]
    """The management account's id: its home default bus receives the events."""


class SpendRelay(pulumi.ComponentResource):
    """A member's ``<prefix>-spend-relay`` rule in every region, its target (the management
    account's home default bus: one hop, as EventBridge allows) and the role it puts with."""

    def __init__(
        self, name: str, args: SpendRelayArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(SPEND_RELAY, name, None, opts)
        spend, role_name = args.spend, spend_plan.names(args.spend)["relay_role"]
        home = pulumi.ResourceOptions(parent=self, provider=args.providers[args.home])
        ids = pulumi.Output.all(args.account, args.management)
        roles = ids.apply(lambda v: breaker_trip.relay_roles(spend, v[0], v[1]))
        role = _role(name, "relay", role_name, roles, home)
        request = breaker_trip.relay_rule_request(spend)
        target = ids.apply(lambda v: breaker_trip.relay_target_request(spend, v[0], v[1]))
        target_id, arn = target.apply(lambda t: t["Id"]), target.apply(lambda t: t["Arn"])
        for region, provider in args.providers.items():
            options = pulumi.ResourceOptions(parent=self, provider=provider)
            _rule(f"{name}-rule-{region}", request, target_id, arn, role.arn, options)
        self.register_outputs({})


def _rule(
    resource: str, request: dict, target_id, arn, role_arn, options: pulumi.ResourceOptions
) -> None:
    """An EventBridge rule as ``request`` builds it, and its one target, started as
    ``role_arn``; the target's resource is ``<resource>-target``."""
    rule = aws.cloudwatch.EventRule(
        resource,
        name=request["Name"],
        description=request["Description"],
        event_pattern=request["EventPattern"],
        state=request["State"],
        tags=managed_tags(),
        opts=options,
    )
    aws.cloudwatch.EventTarget(
        f"{resource}-target",
        rule=rule.name,
        target_id=target_id,
        arn=arn,
        role_arn=role_arn,
        opts=options,
    )
