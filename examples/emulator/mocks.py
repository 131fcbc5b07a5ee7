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

from components.boundary import BOUNDARY_KIND, CALLS

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


@dataclass(frozen=True)
class Site:
    """Where a resource goes: region, and the role its provider assumes (member accounts)."""

    region: str
    role_arn: str | None = None


Handler = Callable[["EmulatorMocks", pulumi.runtime.MockResourceArgs, Site], tuple[str, dict]]
DYNAMIC_RESOURCE = "pulumi-python:dynamic:Resource"
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
    _providers: dict[str, Site] = field(default_factory=dict)
    _clients: dict[tuple[str, Site], Any] = field(default_factory=dict)
    _sessions: dict[str, boto3.Session] = field(default_factory=dict)

    def client(self, service: str, site: Site | str) -> Any:
        """A boto3 client for the emulator, shared per (service, site)."""
        if isinstance(site, str):
            site = Site(site)
        key = (service, site)
        if key not in self._clients:
            session = self._session_for(site.role_arn)
            self._clients[key] = session.client(
                service, region_name=site.region, endpoint_url=self.endpoint_url
            )
        return self._clients[key]

    def _session_for(self, role_arn: str | None) -> boto3.Session:
        if role_arn is None:
            return self.session
        if role_arn not in self._sessions:
            sts = self.session.client("sts", endpoint_url=self.endpoint_url)
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="corral-emulator")
            c = creds["Credentials"]
            self._sessions[role_arn] = boto3.Session(
                aws_access_key_id=c["AccessKeyId"],
                aws_secret_access_key=c["SecretAccessKey"],
                aws_session_token=c["SessionToken"],
            )
        return self._sessions[role_arn]

    def _site_of(self, args: pulumi.runtime.MockResourceArgs) -> Site:
        site = self._provider_site(args.provider)
        explicit = args.inputs.get("region")
        return Site(explicit, site.role_arn) if explicit else site

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        """Create the resource in the emulator; return its id and state."""
        if args.typ.startswith("corral:"):  # component resources own no cloud state
            return f"{args.name}-component", {}
        if args.typ.startswith(PROVIDER_PREFIX):
            roles = args.inputs.get("assumeRoles") or []
            if isinstance(roles, str):  # the engine hands nested provider inputs as JSON text
                roles = json.loads(roles)
            role = roles[0].get("roleArn") if roles else None
            self._providers[args.name] = Site(args.inputs.get("region", self.default_region), role)
            return f"{args.name}-provider", dict(args.inputs)
        handler = HANDLERS.get(args.typ)
        if handler is None:
            raise UnsupportedResource(
                f"the emulator cannot create {args.typ} ({args.name}); add a handler in "
                "examples/emulator/mocks.py or deploy with `pulumi up`."
            )
        site = self._site_of(args)
        resource_id, state = handler(self, args, site)
        self.created.append(Created(args.typ, args.name, resource_id, site.region))
        return resource_id, {**args.inputs, **state}

    def _provider_site(self, reference: str | None) -> Site:
        """The site of the provider a ``urn::id`` reference names; the default one if none."""
        name = reference.rsplit("::", 1)[0].rsplit("::", 1)[-1] if reference else ""
        return self._providers.get(name, Site(self.default_region))

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        """getCallerIdentity asks the emulator's STS, getOrganization its Organizations; other
        functions are refused."""
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            who = self.client("sts", self._provider_site(args.provider)).get_caller_identity()
            return {"accountId": who["Account"], "arn": who["Arn"], "userId": who["UserId"]}
        if args.token == "aws:organizations/getOrganization:getOrganization":
            client = self.client("organizations", self._provider_site(args.provider))
            org = client.describe_organization()["Organization"]
            return {"id": org["Id"], "arn": org["Arn"], "masterAccountId": org["MasterAccountId"]}
        raise UnsupportedResource(f"the emulator does not implement the function {args.token}.")


def _tags(inputs: dict) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted((inputs.get("tags") or {}).items())]


# --------------------------------------------------------------------------- organizations


@handles("aws:organizations/policy:Policy")
def _scp(mocks: EmulatorMocks, args: pulumi.runtime.MockResourceArgs, site: Site):
    policy = mocks.client("organizations", site).create_policy(
        Content=args.inputs["content"],
        Description=args.inputs.get("description", ""),
        Name=args.inputs["name"],
        Type=args.inputs["type"],
        Tags=_tags(args.inputs),
    )["Policy"]["PolicySummary"]
    return policy["Id"], {"arn": policy["Arn"]}


@handles("aws:organizations/policyAttachment:PolicyAttachment")
def _scp_attachment(mocks: EmulatorMocks, args: pulumi.runtime.MockResourceArgs, site: Site):
    policy_id, target_id = args.inputs["policyId"], args.inputs["targetId"]
    mocks.client("organizations", site).attach_policy(PolicyId=policy_id, TargetId=target_id)
    return f"{target_id}:{policy_id}", {}


# --------------------------------------------------------------------------- iam


@handles("aws:iam/policy:Policy")
def _iam_policy(mocks: EmulatorMocks, args: pulumi.runtime.MockResourceArgs, site: Site):
    document = args.inputs["policy"]
    if not isinstance(document, str):
        document = json.dumps(document)
    policy = mocks.client("iam", site).create_policy(
        PolicyName=args.inputs.get("name", args.name),
        Path=args.inputs.get("path", "/"),
        PolicyDocument=document,
        Description=args.inputs.get("description", ""),
        Tags=_tags(args.inputs),
    )["Policy"]
    return policy["Arn"], {"arn": policy["Arn"], "policyId": policy["PolicyId"]}


def _attach(kind: str, key: str) -> Handler:
    def handler(mocks: EmulatorMocks, args: pulumi.runtime.MockResourceArgs, site: Site):
        iam = mocks.client("iam", site)
        name, arn = args.inputs[key], args.inputs["policyArn"]
        getattr(iam, f"attach_{kind}_policy")(**{f"{kind.capitalize()}Name": name}, PolicyArn=arn)
        return f"{name}-{arn}", {}

    return handler


for _kind, _key in (("group", "group"), ("user", "user"), ("role", "role")):
    handles(f"aws:iam/{_kind}PolicyAttachment:{_kind.capitalize()}PolicyAttachment")(
        _attach(_kind, _key)
    )


@handles(DYNAMIC_RESOURCE)
def _dynamic(mocks: EmulatorMocks, args: pulumi.runtime.MockResourceArgs, site: Site):
    """Dynamic resources run their provider in the engine; the one corral registers (the
    permissions boundary on a named user or role) makes the same IAM call here."""
    if args.inputs.get("kind") != BOUNDARY_KIND:
        raise UnsupportedResource(
            f"the emulator cannot create the dynamic resource {args.name}; only corral's "
            "PermissionsBoundary is known here."
        )
    kind, name = args.inputs["principalKind"], args.inputs["principalName"]
    put, _, key = CALLS[kind]
    getattr(mocks.client("iam", site), put)(
        **{key: name, "PermissionsBoundary": args.inputs["policyArn"]}
    )
    return f"{kind}/{name}", {}
