"""corral.spec.catalog: regions and instance types come from botocore, vCPUs from the data file."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from corral.audit import catalog_refresh
from corral.spec import catalog


def test_regions_come_from_botocore():
    regions = catalog.regions("aws")
    assert {"us-east-1", "us-east-2", "us-west-1", "us-west-2"} <= set(regions)
    assert "aws-global" not in regions  # a pseudo-region, not a real one
    assert list(regions) == sorted(regions)
    assert catalog.partition_of("cn-north-1") == "aws-cn"
    assert catalog.partition_of("us-gov-west-1") == "aws-us-gov"
    assert catalog.partition_of("mars-north-1") is None


def test_instance_types_are_the_ec2_model_enum():
    model = botocore.session.get_session().get_service_model("ec2")
    assert set(catalog.instance_types()) == set(model.shape_for("InstanceType").enum)
    assert "c5a.24xlarge" in catalog.instance_types()


def test_instance_types_are_read_from_the_model_text_without_parsing_it():
    # The fast path is the one in use, and it gives the parsed model's enum exactly.
    model = botocore.session.get_session().get_service_model("ec2")
    assert catalog._instance_type_enum() == list(model.shape_for("InstanceType").enum)


def _user_model(tmp_path, monkeypatch, text: str, *extra_files: str) -> botocore.loaders.Loader:
    """A loader searching ``tmp_path`` first, holding an EC2 model of the latest version."""
    version = botocore.loaders.Loader().determine_latest_version("ec2", "service-2")
    folder = tmp_path / "ec2" / version
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(text, encoding="utf-8")
    for name in extra_files:
        (folder / name).write_text("{}", encoding="utf-8")
    loader = botocore.loaders.Loader(extra_search_paths=[str(tmp_path)])
    monkeypatch.setattr(catalog, "loader", lambda: loader)
    return loader


USER_MODEL = {
    "version": "2.0",
    "metadata": {"apiVersion": "2016-11-15", "endpointPrefix": "ec2", "protocol": "ec2",
                 "serviceId": "EC2", "signatureVersion": "v4", "uid": "ec2-2016-11-15"},
    "operations": {},
    "shapes": {"InstanceType": {"type": "string", "enum": ["zz1.large", "zz1.xlarge"]}},
}  # fmt: skip


def test_a_model_in_an_earlier_search_path_wins_as_botocore_would(tmp_path, monkeypatch):
    loader = _user_model(tmp_path, monkeypatch, json.dumps(USER_MODEL, indent=1))
    assert loader.load_service_model("ec2", "service-2")["shapes"] == USER_MODEL["shapes"]
    assert catalog._instance_type_enum() == ["zz1.large", "zz1.xlarge"]
    assert catalog.instance_types.__wrapped__() == ("zz1.large", "zz1.xlarge")


def test_extras_in_any_search_path_leave_it_to_the_parsed_model(tmp_path, monkeypatch):
    first, later = tmp_path / "first", tmp_path / "later"
    version = botocore.loaders.Loader().determine_latest_version("ec2", "service-2")
    (first / "ec2" / version).mkdir(parents=True)
    (first / "ec2" / version / "service-2.json").write_text(json.dumps(USER_MODEL))
    (later / "ec2" / version).mkdir(parents=True)
    (later / "ec2" / version / "service-2.sdk-extras.json").write_text("{}")
    loader = botocore.loaders.Loader(extra_search_paths=[str(first), str(later)])
    monkeypatch.setattr(catalog, "loader", lambda: loader)
    assert catalog._instance_type_enum() is None
    assert catalog.instance_types.__wrapped__() == ("zz1.large", "zz1.xlarge")


@pytest.mark.parametrize("case", ["extras", "twice", "absent"])
def test_the_parsed_model_decides_when_the_text_is_not_certain(tmp_path, monkeypatch, case):
    model = json.loads(json.dumps(USER_MODEL))
    extras = ("service-2.sdk-extras.json",) if case == "extras" else ()
    if case == "twice":  # the same spelling elsewhere in the model: which one is the shape?
        model["metadata"]["example"] = {"InstanceType": {"type": "string", "enum": ["x"]}}
    if case == "absent":
        model["shapes"]["InstanceType"] = {"type": "string", "pattern": ".*", "enum": ["zz1.large"]}
    _user_model(tmp_path, monkeypatch, json.dumps(model), *extras)
    assert catalog._instance_type_enum() is None
    expected = tuple(sorted(model["shapes"]["InstanceType"]["enum"]))
    assert catalog.instance_types.__wrapped__() == expected


def test_vcpu_data_covers_the_incident_type():
    assert catalog.vcpus()["c5a.24xlarge"] == 96
    assert catalog.vcpus()["t3.micro"] == 2
    assert "DescribeInstanceTypes" in catalog.vcpu_source()


def test_matches_is_iam_stringlike():
    assert catalog.matches("t3.*", "t3.micro")
    assert not catalog.matches("t3.*", "t3a.micro")
    assert catalog.matches("*.metal*", "m9g.metal-24xl")
    assert catalog.matches("c5?.large", "c5a.large")
    assert not catalog.matches("T3.*", "t3.micro")  # StringLike is case-sensitive


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("us-est-1", "us-east-1"), ("eu-wset-1", "eu-west-1"), ("ap-southest-2", "ap-southeast-2")],
)
def test_suggest_prefers_fewest_edits_then_shared_prefix(typo, expected):
    assert catalog.suggest(typo, catalog.regions()) == expected


def test_suggest_gives_up_when_nothing_is_close():
    assert catalog.suggest("zzzzzzzz", catalog.regions()) is None


@pytest.mark.parametrize("ceiling", [2, 4, 16, 96])
def test_compress_is_exact(ceiling):
    universe = catalog.instance_types()
    counts = catalog.vcpus()
    chosen = {t for t in universe if counts.get(t, 10**6) <= ceiling}
    patterns, exceptions = catalog.compress(chosen)
    assert catalog.expand(patterns) - catalog.expand(exceptions) == chosen
    assert len(patterns) + len(exceptions) < len(chosen) / 5


def test_compress_small_universe():
    universe = ["a.x", "a.y", "b.x", "b.y", "c.z"]
    patterns, exceptions = catalog.compress({"a.x", "a.y", "c.z"}, universe)
    assert patterns == ("a.*", "c.z")
    assert exceptions == ()


def test_refresh_script_reads_describe_instance_types_from_moto(tmp_path, aws_credentials):
    target = tmp_path / "instance_types.json"
    with mock_aws():
        client = boto3.client("ec2", region_name="us-east-1")
        count = catalog_refresh.refresh(client, target, today=dt.date(2026, 1, 2))
    data = json.loads(target.read_text())
    assert count == len(data["vcpus"]) > 1000
    assert data["vcpus"]["c5a.24xlarge"] == 96
    assert data["generated"] == "2026-01-02"
    assert data["source"].startswith("ec2:DescribeInstanceTypes in us-east-1 via ")
    assert list(data["vcpus"]) == sorted(data["vcpus"])


def test_refresh_refuses_an_empty_answer(tmp_path):
    class Empty:
        def get_paginator(self, name):
            assert name == "describe_instance_types"

            class Pages:
                def paginate(self):
                    return iter([{"InstanceTypes": []}])

            return Pages()

    target = tmp_path / "instance_types.json"
    with pytest.raises(RuntimeError, match="returned no instance types"):
        catalog_refresh.refresh(Empty(), target)
    assert not target.exists()
