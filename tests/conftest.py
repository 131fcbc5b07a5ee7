"""Shared fixtures: fake AWS credentials, the example stack, a mocked Pulumi runtime."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from moto import mock_aws

from examples.emulator import iam_boundaries

ROOT = Path(__file__).resolve().parent.parent

EXAMPLE_STACK = ROOT / "Pulumi.example.yaml"
ACCOUNT_ID = "111111111111"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so nothing can reach a real AWS account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process moto for every AWS call; EC2 without its ~1,300 default images per region."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    iam_boundaries.install()  # the user boundary calls moto lacks (see the module)
    with mock_aws():
        yield


@pytest.fixture
def example_stack() -> Path:
    """Path of the example stack config."""
    return EXAMPLE_STACK


@dataclass
class Created:
    """One resource the mocked engine created."""

    type: str
    name: str
    inputs: dict[str, Any]
    id: str
    state: dict[str, Any]


@dataclass
class GuardrailMocks(pulumi.runtime.Mocks):
    """Mocks giving policies AWS-shaped ids and ARNs, recording every resource."""

    created: list[Created] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        """Create a resource: SCPs get ``p-...`` ids, IAM policies ARN ids."""
        token = hashlib.sha256(args.name.encode()).hexdigest()[:8]
        state = dict(args.inputs)
        if args.typ == "aws:organizations/policy:Policy":
            resource_id = f"p-{token}"
            state["arn"] = (
                f"arn:aws:organizations::{ACCOUNT_ID}:policy/o-exampleorg/"
                f"service_control_policy/{resource_id}"
            )
        elif args.typ == "aws:iam/policy:Policy":
            resource_id = f"arn:aws:iam::{ACCOUNT_ID}:policy{args.inputs['path']}{args.name}"
            state["arn"] = resource_id
            state["policyId"] = f"ANPA{token.upper()}"
        else:
            resource_id = f"{args.name}-{token}"
        self.created.append(Created(args.typ, args.name, dict(args.inputs), resource_id, state))
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        """Only getCallerIdentity (the deploying account) is expected; fail loudly otherwise."""
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{ACCOUNT_ID}:role/deployer"
            return {"accountId": ACCOUNT_ID, "arn": arn, "userId": "AROAEXAMPLE"}
        raise AssertionError(f"unexpected provider call {args.token}")

    def of_type(self, type_token: str) -> list[Created]:
        """The created resources of one type, in creation order."""
        return [c for c in self.created if c.type == type_token]

    def by_id(self) -> dict[str, Created]:
        """The created resources by id."""
        return {c.id: c for c in self.created}


@pytest.fixture
def pulumi_mocks() -> Iterator[GuardrailMocks]:
    """A fresh mocked Pulumi runtime (new root stack, empty config) for one test."""
    pulumi.runtime.reset_options(project="corral", stack="test", preview=False)
    pulumi.runtime.set_all_config({}, [])
    mocks = GuardrailMocks()
    pulumi.runtime.set_mocks(mocks, project="corral", stack="test", preview=False)
    yield mocks
    pulumi.runtime.set_all_config({}, [])


def resolve(build: Callable[[], Any]) -> Any:
    """Run ``build`` in the mocked runtime and return its result, Outputs resolved."""
    box: dict[str, Any] = {}

    @pulumi.runtime.test
    def _program() -> pulumi.Output:
        return pulumi.Output.from_input(build()).apply(lambda value: box.update(value=value))

    _program()
    return box["value"]


@pytest.fixture
def deploy() -> Callable[[Callable[[], Any]], Any]:
    """``deploy(build)``: run ``build`` under the mocks and resolve what it returns."""
    return resolve
