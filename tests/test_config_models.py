"""Tier 1: the config schema: defaults, field docs, and every cross-field validator both ways."""

from __future__ import annotations

import copy
import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from mlinfra.stacks.config import ConfigIssues, StackConfig, StrictModel

PROD_BACKEND = {"url": "gs://acme-state/prod", "secrets_provider": "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k"}


def _models(root: type[BaseModel]) -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    stack = [root]
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            stack.extend(_nested_models(field.annotation))
    return seen


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _nested_models(arg)]


def test_every_field_is_documented_and_models_are_strict() -> None:
    models = _models(StackConfig)
    assert len(models) > 20
    for model in models:
        assert issubclass(model, StrictModel), model
        assert model.model_config.get("extra") == "forbid" and model.model_config.get("frozen"), model
        assert model.__doc__, model
        for name, field in model.model_fields.items():
            assert field.description and len(field.description) > 10, f"{model.__name__}.{name} undocumented"


def test_defaults_are_secure(minimal: dict[str, Any]) -> None:
    cfg = StackConfig.model_validate(minimal)
    assert cfg.clusters[0].private_endpoint and cfg.clusters[0].role == "shared"
    assert cfg.network.flow_logs and cfg.network.nat and not cfg.network.authorized_networks
    assert cfg.kms.rotation_days == 90
    assert cfg.monitoring.audit_logs
    assert cfg.serving.ingress == "internal"
    assert not cfg.protected
    prod = StackConfig.model_validate({**minimal, "environment": "prod", "residency": {"allowed_regions": ["eu"]},
                                       "backend": PROD_BACKEND})
    assert prod.protected


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        StackConfig.model_validate(data)
    return str(info.value)


def with_(base: dict[str, Any], **sections: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out.update(sections)
    return out


ONPREM_TARGET = {"cloud": "onprem", "region": "site-a"}
AWS_TARGET = {"cloud": "aws", "region": "eu-west-1", "account_id": "123456789012"}
MINIMAL_TARGET = {"cloud": "gcp", "region": "europe-west4", "project": "my-project-1"}
GPU_POOL = {"name": "gpu", "accelerator": {"type": "nvidia-l4", "count": 1}, "max_nodes": 2}


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"node_pools": [{"name": "t", "accelerator": {"type": "tpu-v5e", "topology": "2x4"}}],
          "target": AWS_TARGET}, "nearest equivalent: aws-inferentia2"),
        ({"node_pools": [{"name": "g", "accelerator": {"type": "nvidia-a10g"}}]}, "not offered by target gcp"),
        ({"node_pools": [{"name": "g", "accelerator": {"type": "nvidia-l4", "count": 3}}]}, "use one of 1, 2, 4, 8"),
        ({"node_pools": [{"name": "g", "machine_type": "e2-standard-4", "accelerator": {"type": "nvidia-t4"}}]},
         "attaches to n1 machines"),
        ({"node_pools": [{"name": "g", "machine_type": "g2-standard-24", "accelerator": {"type": "nvidia-l4"}}]},
         "runs on g2-standard-8 on GCP, not g2-standard-24"),
        ({"node_pools": [{"name": "g", "machine_type": "a2-ultragpu-1g",
                          "accelerator": {"type": "nvidia-a100-40gb"}}]}, "runs on a2-highgpu-1g"),
        ({"node_pools": [{"name": "g", "vcpus": 48, "accelerator": {"type": "nvidia-t4"}}]},
         "T4 hosts (n1) come with"),
        ({"node_pools": [{"name": "g", "vcpus": 64, "accelerator": {"type": "nvidia-t4", "count": 2}}]},
         "need 4 T4s"),
        ({"node_pools": [{"name": "c", "machine_class": "compute", "vcpus": 96}]}, "at most 60 vCPUs"),
        ({"node_pools": [{"name": "g", "machine_type": "g5.xlarge", "accelerator": {"type": "nvidia-l4"}}],
          "target": AWS_TARGET}, "runs on g6.* instances on AWS"),
        ({"node_pools": [{"name": "g", "accelerator": {"type": "nvidia-h100-80gb", "count": 4}}],
          "target": AWS_TARGET}, "use one of 8"),
        ({"node_pools": [{"name": "t", "accelerator": {"type": "tpu-v5e"}}]}, "needs a 'topology'"),
        ({"node_pools": [{"name": "t", "accelerator": {"type": "tpu-v5e", "topology": "3x3"}}]},
         "does not offer topology"),
        ({"node_pools": [{"name": "t", "accelerator": {"type": "tpu-v5e", "topology": "2x4", "count": 8}}]},
         "remove 'count'"),
        ({"node_pools": [{"name": "g", "accelerator": {"type": "nvidia-l4", "topology": "2x2"}}]},
         "applies only to TPUs"),
        ({"node_pools": [{"name": "t", "max_nodes": 6, "accelerator": {"type": "tpu-v5e", "topology": "4x4"}}]},
         "multiples of 4"),
        ({"residency": {"allowed_regions": ["us"]}}, "outside residency"),
        ({"residency": {"allowed_regions": ["eu"]}, "storage": {"buckets": [{"name": "b", "location": "US"}]}},
         "location 'US' is outside residency"),
        ({"residency": {"allowed_regions": ["eu"]}, "warehouse": {"datasets": [{"name": "d", "location": "EUR5"}]}},
         "location 'EUR5' is outside residency"),
        ({"storage": {"buckets": [{"name": "b"}, {"name": "b"}]}}, "duplicate name 'b'"),
        ({"events": {"topics": [{"name": "t", "subscriptions": [{"name": "s"}]},
                                {"name": "u", "subscriptions": [{"name": "s"}]}]}}, "duplicate subscription 's'"),
        ({"storage": {"buckets": [{"name": "b", "notifications": [{"topic": "nope"}]}]}}, "unknown topic 'nope'"),
        ({"iam": {"teams": [{"name": "a", "buckets": {"zzz": "read"}}]}}, "unknown bucket 'zzz'"),
        ({"training": {"queues": [{"team": "ghost"}]}}, "unknown team 'ghost'"),
        ({"node_pools": [GPU_POOL], "iam": {"teams": [{"name": "a"}]},
          "training": {"queues": [{"team": "a", "gpus": 3}]}}, "has at most 2"),
        ({"clusters": [{"name": "a", "role": "training"}]}, "single cluster must be 'shared'"),
        ({"clusters": [{"name": "a", "role": "training"}, {"name": "b", "role": "training"}]},
         "roles 'training' and 'serving'"),
        ({"clusters": [{"name": "a", "role": "training"}, {"name": "b", "role": "serving"}],
          "node_pools": [GPU_POOL]}, "several clusters exist"),
        ({"node_pools": [{**GPU_POOL, "cluster": "nope"}]}, "unknown cluster 'nope'"),
        ({"node_pools": [{"name": "system"}]}, "reserved"),
        ({"environment": "prod"}, "must declare where data may live"),
        ({"environment": "prod", "residency": {"allowed_regions": ["eu"]}}, "prod state lives in a remote backend"),
        ({"environment": "prod", "residency": {"allowed_regions": ["eu"]},
          "backend": {"url": "gs://state"}}, "prod secrets are encrypted with a KMS key"),
        ({"backend": {"url": "ftp://state"}}, "unknown backend"),
        ({"backend": {"secrets_provider": "rot13"}}, "unknown secrets provider"),
        ({"environment": "prod", "residency": {"allowed_regions": ["eu"]},
          "storage": {"buckets": [{"name": "b", "force_destroy": True}]}}, "not allowed in prod"),
        ({"network": {"pods_cidr": "10.0.0.0/12"}}, "overlaps"),
        ({"network": {"cidr": "10.0.0.0/24"}}, "too small"),
        ({"kms": {"rotation_days": 365}}, "less than or equal to 90"),
        ({"target": {"cloud": "gcp", "region": "europe-west4"}}, "needs 'project'"),
        ({"target": {"cloud": "gcp", "region": "europe-wets4", "project": "my-project-1"}},
         "did you mean 'europe-west4'"),
        ({"target": {"cloud": "gcp", "region": "europe-west4", "project": "my-project-1", "zones": ["us-east1-b"]}},
         "not in region"),
        ({"target": {**AWS_TARGET, "project": "my-project-1"}}, "only to cloud 'gcp'"),
        ({"storage": {"buckets": [{"name": "b", "lifecycle": [{"after_days": 3, "action": "transition"}]}]}},
         "needs 'storage_class'"),
        ({"events": {"topics": [{"name": "t", "subscriptions": [
            {"name": "s", "min_backoff_seconds": 100, "max_backoff_seconds": 10}]}]}}, "must not exceed"),
        ({"serving": {"tls": "acme"}}, "needs 'acme_email'"),
        ({"serving": {"tls": "acme", "acme_email": "a@example.com"}}, "ACME HTTP-01 challenges"),
        ({"target": ONPREM_TARGET, "network": {"nat": False}}, "brings its own network"),
        ({"target": ONPREM_TARGET, "node_pools": [{"name": "g", "spot": True}]}, "select existing nodes"),
        ({"target": ONPREM_TARGET, "clusters": [{"name": "m", "release_channel": "stable"}]},
         "does not manage the on-prem cluster"),
        ({"target": ONPREM_TARGET, "storage": {"buckets": [{"name": "b", "location": "EU"}]}},
         "cluster's object store"),
        ({"target": ONPREM_TARGET, "storage": {"buckets": [{"name": "b", "lifecycle": [
            {"after_days": 30, "action": "transition", "storage_class": "cold"}]}]}}, "tiering is not configured"),
        ({"target": ONPREM_TARGET, "events": {"topics": [{"name": "t", "subscriptions": [
            {"name": "s", "exactly_once": True}]}]}}, "deliver at least once"),
        ({"target": ONPREM_TARGET, "warehouse": {"datasets": [{"name": "d", "table_expiration_days": 3}]}},
         "PostgreSQL databases have no"),
        ({"target": ONPREM_TARGET, "iam": {"teams": [{"name": "a", "members": ["a@example.com"]}]}},
         "is not a onprem principal"),
        ({"labels": {"Team": "ml"}}, "label keys must start with a lower-case letter"),
        ({"labels": {"team": "ML Platform"}}, "label value 'ML Platform'"),
        ({"network": {"authorized_networks": [{"name": "office", "cidr": "8.8.8.0/24"}]}}, "is a public range"),
        ({"storage": {"buckets": [{"name": "b", "location": "EU+europe-west1"}]}}, "unknown GCP location"),
        ({"warehouse": {"datasets": [{"name": "d", "location": "europe-wst4"}]}}, "unknown GCP location"),
        ({"storage": {"buckets": [{"name": "b", "retention_days": 30, "versioning": True}]}},
         "cannot combine a retention policy"),
        ({"iam": {"teams": [{"name": "a", "members": ["ml@example.com"]}]}}, "is not a gcp principal"),
        ({"target": AWS_TARGET,
          "iam": {"teams": [{"name": "a", "members": ["group:ml@example.com"]}]}}, "is not a aws principal"),
        ({"target": {**AWS_TARGET, "zones": ["eu-west-1a"]}}, "at least two"),
        ({"target": AWS_TARGET,
          "events": {"topics": [{"name": "t", "subscriptions": [{"name": "s", "exactly_once": True}]}]}},
         "at-least-once"),
        ({"target": AWS_TARGET,
          "events": {"topics": [{"name": "t", "subscriptions": [{"name": "s", "filter": "attributes.x = \"1\""}]}]}},
         "SNS filter policies"),
        ({"target": {"cloud": "aws", "region": "eu-west-1"}}, "needs 'account_id'"),
        ({"target": {**AWS_TARGET, "zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"]}},
         "at most three zones"),
        ({"target": AWS_TARGET, "kms": {"rotation_days": 30}}, "every 90 days"),
        ({"target": AWS_TARGET, "kms": {"destroy_scheduled_days": 60}}, "at most 30 days"),
        ({"target": AWS_TARGET, "monitoring": {"log_retention_days": 100}}, "the nearest is 90"),
        ({"target": AWS_TARGET, "network": {"cidr": "10.0.0.0/15"}}, "at most a /16"),
        ({"target": AWS_TARGET, "storage": {"buckets": [{"name": "warehouse"}]}}, "warehouse's own bucket"),
        ({"target": AWS_TARGET, "network": {"flow_logs_sampling": 0.2}}, "record every flow"),
        ({"target": AWS_TARGET, "clusters": [{"name": "m", "maintenance_start_utc": "02:00"}]},
         "no maintenance window"),
        ({"target": AWS_TARGET, "node_pools": [{"name": "c", "machine_type": "n2-standard-16"}]},
         "not an EC2 instance type"),
        ({"environment": "prod", "residency": {"allowed_regions": ["eu"]},
          "clusters": [{"name": "m", "private_endpoint": False}],
          "network": {"authorized_networks": [{"name": "o", "cidr": "8.8.8.0/24"}]}},
         "prod control planes stay private"),
        ({"target": AWS_TARGET, "iam": {"admins": ["user:me@example.com"]}}, "is not a aws principal"),
        ({"target": AWS_TARGET, "storage": {"buckets": [{"name": "b", "location": "EU"}]}},
         "S3 buckets live in one region"),
        ({"target": AWS_TARGET,
          "storage": {"buckets": [{"name": "b", "storage_class": "cold"}]}}, "no default storage class"),
        ({"target": AWS_TARGET,
          "warehouse": {"datasets": [{"name": "d", "partition_expiration_days": 3}]}}, "no partition expiry"),
        ({"target": AWS_TARGET,
          "events": {"topics": [{"name": "t", "retention_days": 3}]}}, "keep no messages"),
        ({"target": AWS_TARGET,
          "events": {"topics": [{"name": "t", "subscriptions": [{"name": "s", "min_backoff_seconds": 5}]}]}},
         "not a backoff"),
        ({"target": AWS_TARGET,
          "storage": {"buckets": [{"name": "b", "retention_days": 30, "versioning": False}]}}, "needs versioning"),
    ],
)
def test_cross_field_rules_reject(minimal: dict[str, Any], sections: dict[str, Any], expected: str) -> None:
    assert expected in _error(with_(minimal, **sections))


@pytest.mark.parametrize(
    "sections",
    [
        {"node_pools": [{"name": "t", "accelerator": {"type": "aws-trainium", "count": 16}}],
         "target": AWS_TARGET},
        {"node_pools": [{"name": "t", "max_nodes": 8, "accelerator": {"type": "tpu-v5e", "topology": "4x4"}}],
         "target": {**MINIMAL_TARGET, "zones": ["europe-west4-a"]}},
        {"node_pools": [{"name": "g", "machine_type": "n1-standard-8", "accelerator": {"type": "nvidia-t4"}}]},
        {"residency": {"allowed_regions": ["eu"]}, "storage": {"buckets": [{"name": "b", "location": "EUR4"}]}},
        {"node_pools": [GPU_POOL], "iam": {"teams": [{"name": "a"}]},
         "training": {"queues": [{"team": "a", "gpus": 2}]}},
        {"clusters": [{"name": "a", "role": "training"}, {"name": "b", "role": "serving"}],
         "node_pools": [{**GPU_POOL, "cluster": "a"}]},
        {"environment": "prod", "residency": {"allowed_regions": ["europe"]}, "backend": PROD_BACKEND},
        {"backend": {"url": "file:///srv/state", "secrets_provider": "passphrase"}},
        {"labels": {"cost-center": "ml_platform-1"}},
        {"iam": {"teams": [{"name": "a", "members": ["group:ml@example.com", "user:a@example.com"]}]}},
        {"target": {**AWS_TARGET, "zones": ["eu-west-1a", "eu-west-1b"]},
         "iam": {"teams": [{"name": "a", "members": ["arn:aws:iam::123456789012:role/ml-team"]}]}},
        {"network": {"authorized_networks": [{"name": "vpn", "cidr": "10.200.0.0/24"}]}},
        {"clusters": [{"name": "main", "private_endpoint": False}],
         "network": {"authorized_networks": [{"name": "office", "cidr": "8.8.8.0/24"}]}},
        {"storage": {"buckets": [{"name": "b", "retention_days": 30}]}},
        {"storage": {"buckets": [{"name": "b", "location": "EUR4"}]},
         "warehouse": {"datasets": [{"name": "d", "location": "EU"}]}},
        {"target": AWS_TARGET,
         "storage": {"buckets": [{"name": "b", "retention_days": 30, "versioning": True}]}},
        {"target": AWS_TARGET,
         "node_pools": [{"name": "g", "machine_type": "g6.24xlarge", "accelerator": {"type": "nvidia-l4", "count": 4}},
                        {"name": "c", "machine_class": "memory", "vcpus": 96}]},
    ],
)
def test_cross_field_rules_accept(minimal: dict[str, Any], sections: dict[str, Any]) -> None:
    StackConfig.model_validate(with_(minimal, **sections))


def test_config_issues_carry_locations(minimal: dict[str, Any]) -> None:
    data = with_(minimal, storage={"buckets": [{"name": "b", "notifications": [{"topic": "x"}]}]})
    with pytest.raises(ValidationError) as info:
        StackConfig.model_validate(data)
    nested = info.value.errors()[0]["ctx"]["error"]
    assert isinstance(nested, ConfigIssues)
    assert nested.issues[0][0] == ("storage", "buckets", 0, "notifications", 0, "topic")


def test_models_are_frozen(minimal: dict[str, Any]) -> None:
    cfg = StackConfig.model_validate(minimal)
    with pytest.raises(ValidationError):
        cfg.name = "other"  # type: ignore[misc]


def test_quota_capacity_counts_hosts_times_chips_per_host(minimal: dict[str, Any]) -> None:
    # a 4x4 v5e slice is 4 hosts x 4 chips: max_nodes 4 gives 16 chips, not 64
    data = with_(minimal, target={**MINIMAL_TARGET, "zones": ["europe-west4-a"]},
                 node_pools=[{"name": "t", "max_nodes": 4, "accelerator": {"type": "tpu-v5e", "topology": "4x4"}}],
                 iam={"teams": [{"name": "a"}]}, training={"queues": [{"team": "a", "tpu_chips": 16}]})
    cfg = StackConfig.model_validate(data)
    assert cfg.node_pools[0].capacity == 16
    data["training"]["queues"][0]["tpu_chips"] = 17
    assert "has at most 16" in _error(data)


def test_config_reference_doc_is_current() -> None:
    from pathlib import Path

    from mlinfra.stacks.reference import config_reference

    doc = Path(__file__).resolve().parent.parent / "docs" / "config-reference.md"
    stale = "docs/config-reference.md is stale: python -m mlinfra.stacks.reference > docs/config-reference.md"
    assert doc.read_text() == config_reference() + "\n", stale
    assert "## `storage.buckets[]` — BucketConfig" in doc.read_text()
