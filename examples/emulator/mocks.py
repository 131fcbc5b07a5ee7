"""The emulator path: run the real Pulumi program, creating each resource in moto.

This is NOT a substitute for ``pulumi up``: no Pulumi engine, state or provider
plugin is involved. ``pulumi.runtime.set_mocks`` hands every resource the
program registers to :class:`EmulatorMocks`, which creates it through boto3 in
the emulator (moto) with the inputs the program produced, so botocore validates
each parameter against the real service model and the emulator stores what the
verifier later reads. A resource type without a handler is refused loudly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pulumi

PROVIDER_PREFIX = "pulumi:providers:aws"


class UnsupportedResource(RuntimeError):
    """The program registered a resource type the emulator cannot create."""


@dataclass
class Created:
    """One resource created in the emulator."""

    type: str
    name: str
    id: str
    region: str


Handler = Callable[["EmulatorMocks", pulumi.runtime.MockResourceArgs, str], tuple[str, dict]]
HANDLERS: dict[str, Handler] = {}


def handles(token: str) -> Callable[[Handler], Handler]:
    """Register a handler for a Pulumi resource type token."""

    def wrap(func: Handler) -> Handler:
        HANDLERS[token] = func
        return func

    return wrap


@dataclass
class EmulatorMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that create every registered resource in the emulator."""

    session: boto3.Session
    endpoint_url: str
    default_region: str
    created: list[Created] = field(default_factory=list)
    _provider_regions: dict[str, str] = field(default_factory=dict)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    def client(self, service: str, region: str) -> Any:
        """A boto3 client for the emulator, shared per (service, region)."""
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service, region_name=region, endpoint_url=self.endpoint_url
            )
        return self._clients[key]

    def _region_of(self, args: pulumi.runtime.MockResourceArgs) -> str:
        explicit = args.inputs.get("region")
        if explicit:
            return explicit
        if args.provider:
            urn = args.provider.rsplit("::", 1)[0]
            name = urn.rsplit("::", 1)[-1]
            return self._provider_regions.get(name, self.default_region)
        return self.default_region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        """Create the resource in the emulator; return its id and state."""
        if args.typ.startswith("corral:"):  # component resources own no cloud state
            return f"{args.name}-component", {}
        if args.typ.startswith(PROVIDER_PREFIX):
            self._provider_regions[args.name] = args.inputs.get("region", self.default_region)
            return f"{args.name}-provider", dict(args.inputs)
        handler = HANDLERS.get(args.typ)
        if handler is None:
            raise UnsupportedResource(
                f"the emulator cannot create {args.typ} ({args.name}); add a handler in "
                "examples/emulator/mocks.py or deploy with `pulumi up`."
            )
        region = self._region_of(args)
        resource_id, state = handler(self, args, region)
        self.created.append(Created(args.typ, args.name, resource_id, region))
        return resource_id, {**args.inputs, **state}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        """getCallerIdentity asks the emulator's STS; other functions are refused."""
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            who = self.client("sts", self.default_region).get_caller_identity()
            return {"accountId": who["Account"], "arn": who["Arn"], "userId": who["UserId"]}
        raise UnsupportedResource(f"the emulator does not implement the function {args.token}.")


def _tags(inputs: dict) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted((inputs.get("tags") or {}).items())]


# --------------------------------------------------------------------------- organizations


@handles("aws:organizations/policy:Policy")
def _scp(mocks: EmulatorMocks, args: pulumi.runtime.MockResourceArgs, region: str):
    policy = mocks.client("organizations", region).create_policy(
        Content=args.inputs["content"],
        Description=args.inputs.get("description", ""),
        Name=args.inputs["name"],
        Type=args.inputs["type"],
        Tags=_tags(args.inputs),
    )["Policy"]["PolicySummary"]
    return policy["Id"], {"arn": policy["Arn"]}


@handles("aws:organizations/policyAttachment:PolicyAttachment")
def _scp_attachment(mocks: EmulatorMocks, args: pulumi.runtime.MockResourceArgs, region: str):
    policy_id, target_id = args.inputs["policyId"], args.inputs["targetId"]
    mocks.client("organizations", region).attach_policy(PolicyId=policy_id, TargetId=target_id)
    return f"{target_id}:{policy_id}", {}


# --------------------------------------------------------------------------- iam


@handles("aws:iam/policy:Policy")
def _iam_policy(mocks: EmulatorMocks, args: pulumi.runtime.MockResourceArgs, region: str):
    document = args.inputs["policy"]
    if not isinstance(document, str):
        document = json.dumps(document)
    policy = mocks.client("iam", region).create_policy(
        PolicyName=args.inputs.get("name", args.name),
        Path=args.inputs.get("path", "/"),
        PolicyDocument=document,
        Description=args.inputs.get("description", ""),
        Tags=_tags(args.inputs),
    )["Policy"]
    return policy["Arn"], {"arn": policy["Arn"], "policyId": policy["PolicyId"]}


def _attach(kind: str, key: str) -> Handler:
    def handler(mocks: EmulatorMocks, args: pulumi.runtime.MockResourceArgs, region: str):
        iam = mocks.client("iam", region)
        name, arn = args.inputs[key], args.inputs["policyArn"]
        getattr(iam, f"attach_{kind}_policy")(**{f"{kind.capitalize()}Name": name}, PolicyArn=arn)
        return f"{name}-{arn}", {}

    return handler


for _kind, _key in (("group", "group"), ("user", "user"), ("role", "role")):
    handles(f"aws:iam/{_kind}PolicyAttachment:{_kind.capitalize()}PolicyAttachment")(
        _attach(_kind, _key)
    )
