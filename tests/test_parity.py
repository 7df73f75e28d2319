"""Parity: the same neutral config plans on every buildable target, each capability exists on each, and
the generated parity document is current."""

from __future__ import annotations

from pathlib import Path

from mlinfra.stacks.parity import NEUTRAL, TARGETS, creates, neutral_config, parity_markdown
from mlinfra.stacks.program import BUILDABLE_TARGETS, plan

DOC = Path(__file__).resolve().parent.parent / "docs" / "parity.md"

# Features a target may legitimately create nothing for, with the reason.
TARGET_ONLY = {
    "target": "GCP enables its service APIs first; AWS services need no enabling",
    "clusters[].accelerators": "GKE installs GPU drivers and device plugins itself; EKS needs the plugins",
    "clusters[].autoscaler": "GKE autoscales node pools itself; EKS needs the Cluster Autoscaler",
}


def test_every_capability_exists_on_every_target() -> None:
    table = creates()
    clouds = [c for c in TARGETS if c in BUILDABLE_TARGETS]
    assert set(clouds) >= {"gcp", "aws"}
    expected = {"storage.buckets", "events.topics", "warehouse.datasets", "clusters", "clusters[].system_pool",
                "node_pools", "iam.teams", "kms", "network", "monitoring"}
    assert expected <= set(table)
    for feature, per_target in table.items():
        if feature in TARGET_ONLY:
            continue
        missing = [c for c in clouds if not per_target.get(c)]
        assert not missing, f"{feature} creates nothing on {missing}"


def test_neutral_config_is_identical_but_for_the_target() -> None:
    gcp, aws = neutral_config("gcp"), neutral_config("aws")
    assert gcp.model_dump(exclude={"target"}) == aws.model_dump(exclude={"target"})
    assert NEUTRAL["clusters"] == [{"name": "train", "role": "training"}, {"name": "serve", "role": "serving"}]


def test_security_basics_hold_on_both_targets() -> None:
    gcp_plan = plan(neutral_config("gcp"))
    aws_plan = plan(neutral_config("aws"))
    for bucket in gcp_plan.of_type("gcp:storage/bucket:Bucket"):
        assert bucket.inputs["encryption"]["defaultKmsKeyName"] and bucket.protect
    sse = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    for enc in aws_plan.of_type(sse):
        rule = enc.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        assert rule["sseAlgorithm"] == "aws:kms" and rule["kmsMasterKeyId"]
    for block in aws_plan.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        assert all(block.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                             "restrictPublicBuckets"))
    for cluster in aws_plan.of_type("aws:eks/cluster:Cluster"):
        assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False
        assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
    for cluster in gcp_plan.of_type("gcp:container/cluster:Cluster"):
        assert cluster.inputs["privateClusterConfig"]["enablePrivateNodes"] is True


def test_parity_doc_is_current() -> None:
    stale = "docs/parity.md is stale: python -m mlinfra.stacks.parity > docs/parity.md"
    assert DOC.read_text() == parity_markdown(), stale


def test_every_config_field_has_a_parity_row() -> None:
    from mlinfra.stacks.parity_features import FEATURES
    from mlinfra.stacks.reference import _models

    prefixes = [path for path, _, _ in FEATURES]
    for model, path in _models():
        base = "" if path == "(top level)" else f"{path}."
        for field, info in model.model_fields.items():
            full = base + (info.alias or field)
            if model.model_fields[field].annotation is not None and any(
                    full == p or full.startswith((p + ".", p + "[")) for p in prefixes):
                continue
            # a container field is covered when all of its children are
            if any(p.startswith((full + ".", full + "[")) for p in prefixes):
                continue
            raise AssertionError(f"config field {full} has no row in stacks/parity_features.py")


def test_onprem_column_covers_every_feature() -> None:
    from mlinfra.stacks.parity_features import FEATURES, ONPREM

    assert set(ONPREM) == {path for path, _, _ in FEATURES}
