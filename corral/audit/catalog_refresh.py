"""Rebuild ``corral/spec/data/instance_types.json`` from ``ec2:DescribeInstanceTypes``.

Run it as ``corral refresh-catalog [--region R] [--profile P] [--endpoint-url URL]``
with credentials that may call ``ec2:DescribeInstanceTypes`` (a read). The file
is replaced atomically, only after every page was read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

DEFAULT_PATH = Path(__file__).parents[1] / "spec" / "data" / "instance_types.json"


def fetch_vcpus(ec2_client) -> dict[str, int]:
    """Default vCPU count of every instance type the EC2 endpoint describes."""
    result: dict[str, int] = {}
    for page in ec2_client.get_paginator("describe_instance_types").paginate():
        for item in page["InstanceTypes"]:
            result[item["InstanceType"]] = int(item["VCpuInfo"]["DefaultVCpus"])
    if not result:
        raise RuntimeError(
            "ec2:DescribeInstanceTypes returned no instance types; "
            "check the region and endpoint and run the refresh again."
        )
    return dict(sorted(result.items()))


def render(vcpus: dict[str, int], source: str, today: dt.date) -> str:
    """The data file's text: sorted, one type per line, stable across runs."""
    payload = {"source": source, "generated": today.isoformat(), "vcpus": vcpus}
    return json.dumps(payload, indent=1, sort_keys=True) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refresh(ec2_client, path: Path = DEFAULT_PATH, today: dt.date | None = None) -> int:
    """Fetch, render and write the vCPU data file; return the number of types."""
    vcpus = fetch_vcpus(ec2_client)
    region = ec2_client.meta.region_name
    source = f"ec2:DescribeInstanceTypes in {region} via {ec2_client.meta.endpoint_url}"
    write_atomically(path, render(vcpus, source, today or dt.date.today()))
    return len(vcpus)
