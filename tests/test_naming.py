"""The naming convention: ``naming.prefix`` + environment name + resource, on every target, within limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mlinfra.stacks.config import StackConfig
from mlinfra.stacks.loader import load
from mlinfra.stacks.program import plan

STACKS = Path(__file__).resolve().parent.parent / "stacks"


def _prefixed(name: str, prefix: str = "acme-") -> StackConfig:
    config = load(STACKS / f"{name}.yaml")
    return config.model_copy(update={"naming": config.naming.model_copy(update={"prefix": prefix})})


@pytest.mark.parametrize(("stack", "type_", "field"), [
    ("gcp-dev", "gcp:storage/bucket:Bucket", "name"),
    ("gcp-dev", "gcp:container/cluster:Cluster", "name"),
    ("aws-dev", "aws:s3/bucket:Bucket", "bucket"),
    ("aws-dev", "aws:sns/topic:Topic", "name"),
    ("aws-dev", "aws:eks/cluster:Cluster", "name"),
])
def test_prefix_reaches_physical_names(stack: str, type_: str, field: str) -> None:
    config = _prefixed(stack)
    resources = [r for r in plan(config).resources if r.type == type_]
    assert resources
    for resource in resources:
        assert "acme-" + config.name in str(resource.inputs[field]), resource.inputs[field]
        assert resource.name.startswith("acme-" + config.name)


def test_default_naming_is_unchanged() -> None:
    config = load(STACKS / "local.yaml")
    assert config.resource_prefix == config.name
    names = {r.name for r in plan(config).resources}
    assert all(n.startswith(config.name) for n in names)


def test_long_prefixes_still_fit_service_limits() -> None:
    config = _prefixed("aws-prod", "acme-platform-x-")
    for resource in plan(config).resources:
        if resource.type == "aws:s3/bucket:Bucket":
            assert len(resource.inputs["bucket"]) <= 63
        if resource.type == "aws:iam/role:Role":
            assert len(resource.inputs["name"]) <= 64


@pytest.mark.parametrize("prefix", ["Acme-", "acme", "-acme-", "acme_", "a" * 20 + "-"])
def test_invalid_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValidationError, match="prefix"):
        StackConfig.model_validate({"name": "ml", "target": {"cloud": "gcp", "region": "europe-west4",
                                                            "project": "p-123456"}, "naming": {"prefix": prefix}})
