"""Residency rules: a compliant baseline from an example, one mutation, the exact rule id."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from mlinfra.policies.catalog import Resource, Stack
from mlinfra.policies.context import PolicyContext
from mlinfra.policies.engine import run_resource_rule
from mlinfra.policies.rules import residency
from mlinfra.policies.testing import example, mutate, replace_in, violations

EU = PolicyContext(environment="prod", cloud="gcp", allowed_regions=("eu",))
AWS_EU = PolicyContext(environment="prod", cloud="aws", allowed_regions=("eu",))


def family_ids(resource: Resource, context: PolicyContext) -> set[str]:
    """Ids of the residency resource rules that report on ``resource``."""
    return {rule.id for rule in residency.RULES
            if rule.scope == "resource" and rule.applies_to(resource.type)
            and run_resource_rule(rule, resource, context)}


def test_gcp_location_allowed() -> None:
    bucket = example("gcp-prod").first("gcp:storage/bucket:Bucket")
    assert violations("residency-gcp-location-allowed", bucket, EU) == []
    moved = mutate(bucket, ("location",), "US")
    (message,) = violations("residency-gcp-location-allowed", moved, EU)
    assert "'US'" in message and "us-central1" in message  # names the member regions outside
    assert family_ids(moved, EU) == {"residency-gcp-location-allowed"}


def test_gcp_location_checks_node_locations_and_dual_regions_by_member() -> None:
    pool = example("gcp-prod").first("gcp:container/nodePool:NodePool")
    assert violations("residency-gcp-location-allowed", pool, EU) == []
    spread = mutate(pool, ("nodeLocations",), ["europe-west4-a", "us-east1-b"])
    assert [m for m in violations("residency-gcp-location-allowed", spread, EU) if "nodeLocations" in m]
    bucket = example("gcp-prod").first("gcp:storage/bucket:Bucket")
    assert violations("residency-gcp-location-allowed", mutate(bucket, ("location",), "EUR4"), EU) == []
    assert violations("residency-gcp-location-allowed", mutate(bucket, ("location",), "EUR5"), EU)  # europe-west2: uk


def test_gcs_custom_dual_region() -> None:
    bucket = example("gcp-prod").first("gcp:storage/bucket:Bucket")
    assert violations("residency-gcp-storage-bucket-dual-region", bucket, EU) == []
    ok = mutate(bucket, ("customPlacementConfig",), {"dataLocations": ["EUROPE-WEST1", "EUROPE-WEST4"]})
    assert violations("residency-gcp-storage-bucket-dual-region", ok, EU) == []
    bad = mutate(bucket, ("customPlacementConfig",), {"dataLocations": ["EUROPE-WEST4", "US-CENTRAL1"]})
    assert violations("residency-gcp-storage-bucket-dual-region", bad, EU)
    assert family_ids(bad, EU) == {"residency-gcp-storage-bucket-dual-region"}


def test_log_bucket_location_is_its_own_advisory_rule() -> None:
    log_bucket = example("gcp-prod").first("gcp:logging/projectBucketConfig:ProjectBucketConfig")
    assert violations("residency-gcp-logging-bucket-location", log_bucket, EU)  # 'global', set by the org
    assert family_ids(log_bucket, EU) == {"residency-gcp-logging-bucket-location"}
    regional = mutate(log_bucket, ("location",), "europe-west4")
    assert violations("residency-gcp-logging-bucket-location", regional, EU) == []


@pytest.mark.parametrize(("path", "value", "expected"), [
    (("messageStoragePolicy", "allowedPersistenceRegions"), ["europe-west4", "us-east1"], "us-east1"),
    (("messageStoragePolicy", "enforceInTransit"), False, "enforceInTransit"),
    (("messageStoragePolicy",), None, "no message storage policy"),
])
def test_pubsub_persistence(path: tuple[str, ...], value: object, expected: str) -> None:
    topic = example("gcp-prod").first("gcp:pubsub/topic:Topic")
    assert violations("residency-gcp-pubsub-topic-persistence", topic, EU) == []
    bad = mutate(topic, path, value)
    messages = violations("residency-gcp-pubsub-topic-persistence", bad, EU)
    assert any(expected in m for m in messages), messages
    assert family_ids(bad, EU) == {"residency-gcp-pubsub-topic-persistence"}


def test_unrestricted_environment_passes_and_untold_pack_fails_closed() -> None:
    topic = mutate(example("gcp-prod").first("gcp:pubsub/topic:Topic"), ("messageStoragePolicy",), None)
    assert violations("residency-gcp-pubsub-topic-persistence", topic, PolicyContext(allowed_regions=())) == []
    bucket = example("gcp-prod").first("gcp:storage/bucket:Bucket")
    (message,) = violations("residency-gcp-location-allowed", bucket, PolicyContext(allowed_regions=None))
    assert "no allow-list" in message and "MLINFRA_STACK_FILE" in message


def test_aws_region_allowed_uses_own_region_then_provider() -> None:
    ex = example("aws-prod")
    bucket = ex.first("aws:s3/bucket:Bucket")
    assert violations("residency-aws-region-allowed", bucket, AWS_EU) == []
    moved = mutate(bucket, ("region",), "us-east-1")
    assert violations("residency-aws-region-allowed", moved, AWS_EU)
    assert family_ids(moved, AWS_EU) == {"residency-aws-region-allowed"}
    regionless = replace(mutate(bucket, ("region",)), provider={"region": "us-west-2"})
    assert violations("residency-aws-region-allowed", regionless, AWS_EU)
    provider = ex.first("pulumi:providers:aws")
    assert violations("residency-aws-region-allowed", provider, AWS_EU) == []
    assert violations("residency-aws-region-allowed", mutate(provider, ("region",), "ap-south-1"), AWS_EU)


def test_aws_kms_keys_single_region() -> None:
    key = example("aws-prod").first("aws:kms/key:Key")
    assert violations("residency-aws-kms-key-single-region", key, AWS_EU) == []
    multi = mutate(key, ("multiRegion",), True)
    assert violations("residency-aws-kms-key-single-region", multi, AWS_EU)
    assert family_ids(multi, AWS_EU) == {"residency-aws-kms-key-single-region"}
    assert violations("residency-aws-kms-key-single-region", multi, PolicyContext(allowed_regions=())) == []


def _with_replication(destination: str, region: str = "eu-west-1") -> Stack:
    ex = example("aws-prod")
    source, target = ex.of_type("aws:s3/bucket:Bucket")[:2]
    target = mutate(target, ("region",), region)
    replication = Resource("aws:s3/bucketReplicationConfig:BucketReplicationConfig",
                           {"bucket": source.get("bucket"), "rules": [{"status": "Enabled", "destination": {
                               "bucket": destination.format(target=target.get("bucket"))}}]},
                           "urn:pulumi:x::y::aws:s3/bucketReplicationConfig:BucketReplicationConfig::r", "r")
    stack = replace_in(ex.stack, ex.of_type("aws:s3/bucket:Bucket")[1], target)
    return Stack([*stack.resources, replication])


def test_s3_replication_destination() -> None:
    rule = "residency-aws-s3-replication-destination"
    assert violations(rule, example("aws-prod").stack, AWS_EU) == []
    assert violations(rule, _with_replication("arn:aws:s3:::{target}"), AWS_EU) == []
    (outside,) = violations(rule, _with_replication("arn:aws:s3:::{target}", "us-east-1"), AWS_EU)
    assert "us-east-1" in outside
    (unknown,) = violations(rule, _with_replication("arn:aws:s3:::someone-elses-bucket"), AWS_EU)
    assert "not created by this plan" in unknown


def test_dataset_key_location() -> None:
    rule = "residency-gcp-bigquery-dataset-key-location"
    ex = example("gcp-prod")
    assert violations(rule, ex.stack, EU) == []
    dataset = ex.first("gcp:bigquery/dataset:Dataset")
    elsewhere = mutate(dataset, ("defaultEncryptionConfiguration", "kmsKeyName"),
                       "projects/p/locations/us-east1/keyRings/r/cryptoKeys/k")
    (message,) = violations(rule, replace_in(ex.stack, dataset, elsewhere), EU)
    assert "us-east1" in message
    # Before the key exists its name is unknown: the key ring it depends on in the plan decides.
    pending = mutate(dataset, ("defaultEncryptionConfiguration", "kmsKeyName"), UNKNOWN_STRING_VALUE)
    assert violations(rule, replace_in(ex.stack, dataset, pending), EU) == []
    orphan = replace(pending, dependencies=())
    (missing,) = violations(rule, replace_in(ex.stack, dataset, orphan), EU)
    assert "not created in this plan" in missing


def test_onprem_site_region_label() -> None:
    ex = example("onprem-prod")
    namespace = ex.first("kubernetes:core/v1:Namespace")
    assert namespace.get("metadata", "labels", "mlinfra.io/region") == ex.config.target.region
    assert violations("residency-onprem-site-allowed", namespace, ex.context) == []
    elsewhere = mutate(namespace, ("metadata", "labels", "mlinfra.io/region"), "dc-nyc1")
    assert violations("residency-onprem-site-allowed", elsewhere, ex.context)
    assert family_ids(elsewhere, ex.context) == {"residency-onprem-site-allowed"}


def test_every_residency_rule_is_tested_here() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    assert all(rule.id in source for rule in residency.RULES)
