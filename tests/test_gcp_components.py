"""The GCP target under Pulumi mocks: the resource graph and its security settings, per component."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlinfra.components.gcp import names
from mlinfra.components.platform import MlPlatform
from mlinfra.stacks import regions
from mlinfra.stacks.config import StackConfig
from mlinfra.stacks.offline import Plan, PlannedResource, run_program

STACKS = Path(__file__).resolve().parent.parent / "stacks"

BASE: dict[str, Any] = {
    "name": "ml-dev",
    "target": {"cloud": "gcp", "project": "acme-ml-dev", "region": "europe-west4", "zones": ["europe-west4-a"]},
    "residency": {"allowed_regions": ["eu"]},
    "storage": {"buckets": [
        {"name": "raw", "notifications": [{"topic": "raw-events", "events": ["created", "deleted"],
                                           "prefix": "in/"}],
         "lifecycle": [{"after_days": 30, "action": "transition", "storage_class": "cold"},
                       {"after_days": 7, "action": "delete", "noncurrent_only": True, "prefixes": ["tmp/"]}],
         "retention_days": 10},
        {"name": "models"},
        {"name": "secret-stuff"},
    ]},
    "events": {"topics": [{"name": "raw-events", "retention_days": 3, "subscriptions": [
        {"name": "ingest"}, {"name": "audit", "dead_letter": {"enabled": False}}]}]},
    "warehouse": {"datasets": [
        {"name": "features", "table_expiration_days": 2}, {"name": "eu-wide", "location": "EU"}]},
    "node_pools": [
        {"name": "cpu", "machine_class": "compute", "vcpus": 8},
        {"name": "l4", "accelerator": {"type": "nvidia-l4", "count": 1}, "spot": True, "taints": [
            {"key": "workload", "value": "gpu"}]},
        {"name": "tpu", "accelerator": {"type": "tpu-v5e", "topology": "4x4"}, "min_nodes": 0, "max_nodes": 4},
    ],
    "iam": {"admins": ["group:platform@example.com"],
            "teams": [{"name": "vision", "members": ["group:vision@example.com"],
                       "buckets": {"raw": "read", "models": "write"}, "datasets": {"features": "read"},
                       "topics": {"raw-events": "subscribe"}}]},
}


def plan_of(raw: dict[str, Any]) -> Plan:
    config = StackConfig.model_validate(raw)
    return run_program(lambda: MlPlatform("env", config), project="mlinfra", stack="dev")


@cache
def dev_plan() -> Plan:
    return plan_of(BASE)


@cache
def prod_plan() -> Plan:
    return plan_of(yaml.safe_load((STACKS / "gcp-prod.yaml").read_text()))


def one(plan: Plan, type_: str, name: str) -> PlannedResource:
    found = [r for r in plan.of_type(type_) if r.name == name]
    assert len(found) == 1, f"{len(found)} {type_} named {name}: {[r.name for r in plan.of_type(type_)]}"
    return found[0]


BUCKET = "gcp:storage/bucket:Bucket"
TOPIC = "gcp:pubsub/topic:Topic"
SUB = "gcp:pubsub/subscription:Subscription"
DATASET = "gcp:bigquery/dataset:Dataset"
CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
KEY = "gcp:kms/cryptoKey:CryptoKey"


# ----- every resource goes through the explicit provider ---------------------------------------------------
def test_every_gcp_resource_uses_the_explicit_provider():
    plan = dev_plan()
    provider = one(plan, "pulumi:providers:gcp", "env-gcp").urn
    custom = [r for r in plan.resources if r.custom and r.type.startswith("gcp:")]
    assert custom
    assert all(r.provider and r.provider.startswith(provider) for r in custom)


# ----- KMS --------------------------------------------------------------------------------------------
def test_keys_rotate_and_each_agent_gets_only_its_key():
    plan = dev_plan()
    keys = {r.name: r for r in plan.of_type(KEY)}
    for purpose in ("storage", "pubsub", "bigquery", "gke-secrets", "disks"):
        key = keys[f"ml-dev-kms-{purpose}"]
        assert key.inputs["rotationPeriod"] == f"{90 * 86400}s"
        assert key.inputs["versionTemplate"]["protectionLevel"] == "SOFTWARE"
    grants = {r.name: r.inputs for r in plan.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")}
    assert grants["ml-dev-kms-pubsub-agent"]["member"].endswith("@gcp-sa-pubsub.iam.gserviceaccount.com")
    assert grants["ml-dev-kms-gke-secrets-agent"]["member"].endswith("@container-engine-robot.iam.gserviceaccount.com")
    assert grants["ml-dev-kms-disks-agent"]["member"].endswith("@compute-system.iam.gserviceaccount.com")
    assert "gs-project-accounts" in grants["ml-dev-kms-storage-agent"]["member"]
    assert grants["ml-dev-kms-storage-agent"]["cryptoKeyId"].endswith("/cryptoKeys/storage")


def test_dataset_outside_the_region_gets_a_key_ring_in_its_location():
    plan = dev_plan()
    rings = {r.inputs["location"] for r in plan.of_type("gcp:kms/keyRing:KeyRing")}
    assert rings == {"europe-west4", "europe"}
    eu = one(plan, DATASET, "ml-dev-eu-wide-dataset").inputs
    assert eu["location"] == "EU"
    assert "/locations/europe/" in eu["defaultEncryptionConfiguration"]["kmsKeyName"]


# ----- storage -----------------------------------------------------------------------------------------
def test_buckets_are_cmek_private_uniform_and_versioned():
    plan = dev_plan()
    buckets = plan.of_type(BUCKET)
    assert len(buckets) == 3
    for b in buckets:
        i = b.inputs
        assert i["uniformBucketLevelAccess"] is True
        assert i["publicAccessPrevention"] == "enforced"
        assert i["encryption"]["defaultKmsKeyName"].endswith("/cryptoKeys/storage")
        # GCS refuses versioning with a retention policy: the retained bucket ('raw') is protected by the policy
        assert i["versioning"] == {"enabled": "retentionPolicy" not in i}, b.name
        assert i["forceDestroy"] is False
        assert i["location"] == "EUROPE-WEST4"
        assert len(i["name"]) <= 63 and i["name"].startswith("acme-ml-dev-ml-dev-")


def test_bucket_lifecycle_retention_and_notifications():
    plan = dev_plan()
    raw = one(plan, BUCKET, "ml-dev-raw-bucket").inputs
    move, purge = raw["lifecycleRules"]
    assert move["action"] == {"type": "SetStorageClass", "storageClass": "COLDLINE"}
    assert move["condition"]["age"] == 30
    assert purge["action"] == {"type": "Delete"}
    assert purge["condition"]["withState"] == "ARCHIVED"
    assert purge["condition"]["daysSinceNoncurrentTime"] == 7
    assert purge["condition"]["matchesPrefixes"] == ["tmp/"]
    assert raw["retentionPolicy"] == {"retentionPeriod": str(10 * 86400), "isLocked": False}  # SDK: Input[str]
    assert raw["versioning"] == {"enabled": False}
    note = one(plan, "gcp:storage/notification:Notification", "ml-dev-raw-raw-events-notification").inputs
    assert note["payloadFormat"] == "JSON_API_V1"
    assert note["eventTypes"] == ["OBJECT_FINALIZE", "OBJECT_DELETE"]
    assert note["objectNamePrefix"] == "in/"
    agent = one(plan, "gcp:pubsub/topicIAMMember:TopicIAMMember", "ml-dev-raw-raw-events-agent-publish").inputs
    assert agent["role"] == "roles/pubsub.publisher" and "gs-project-accounts" in agent["member"]


def test_bucket_args_refuse_versioning_with_retention():
    from mlinfra.components.gcp.kms import KmsKey
    from mlinfra.components.gcp.storage import GcsBucketArgs

    base = {"project": "p", "bucket_name": "b", "location": "EU", "key": KmsKey(None, "storage", "k")}  # type: ignore[arg-type]
    assert GcsBucketArgs(**base, retention_days=3, versioning=False).retention_days == 3
    assert GcsBucketArgs(**base).versioning is True
    with pytest.raises(ValueError, match="set versioning=False"):
        GcsBucketArgs(**base, retention_days=3)


def test_bucket_names_are_shortened_deterministically():
    long = names.bucket_name("a-very-long-project-id-12", "environment-name-quite-long", "bucket-name-also-long")
    assert len(long) <= 63
    assert long == names.bucket_name("a-very-long-project-id-12", "environment-name-quite-long",
                                     "bucket-name-also-long")
    assert names.account_id("ab", "cd") != "ab-cd" and 6 <= len(names.account_id("ab", "cd")) <= 30
    assert len(names.account_id("x" * 30, "y" * 30)) == 30


# ----- pub/sub -----------------------------------------------------------------------------------------
def test_topics_cmek_and_stored_only_in_allowed_regions():
    plan = dev_plan()
    topics = plan.of_type(TOPIC)
    assert {t.name: t.inputs["name"] for t in topics} == {
        "ml-dev-raw-events-topic": "ml-dev-raw-events",
        "ml-dev-raw-events.dead-letter": "ml-dev-raw-events.dead-letter",
    }
    for t in topics:
        policy = t.inputs["messageStoragePolicy"]
        assert policy["enforceInTransit"] is True
        assert policy["allowedPersistenceRegions"]
        assert all(regions.location_allowed(r, ["eu"]) for r in policy["allowedPersistenceRegions"])
        assert t.inputs["kmsKeyName"].endswith("/cryptoKeys/pubsub")
    assert one(plan, TOPIC, "ml-dev-raw-events-topic").inputs["messageRetentionDuration"] == f"{3 * 86400}s"


def test_subscriptions_never_expire_and_dead_letter_with_agent_iam():
    plan = dev_plan()
    ingest = one(plan, SUB, "ml-dev-raw-events-ingest").inputs
    assert ingest["expirationPolicy"] == {"ttl": ""}
    assert ingest["retryPolicy"] == {"minimumBackoff": "10s", "maximumBackoff": "600s"}
    assert ingest["deadLetterPolicy"]["maxDeliveryAttempts"] == 5
    assert "deadLetterPolicy" not in one(plan, SUB, "ml-dev-raw-events-audit").inputs
    dead = one(plan, SUB, "ml-dev-raw-events.dead-letter-sub").inputs  # dead letters are retained
    assert dead["name"] == "ml-dev-raw-events.dead-letter"
    assert dead["topic"] == "projects/acme-ml-dev/topics/ml-dev-raw-events.dead-letter"
    assert dead["messageRetentionDuration"] == f"{7 * 86400}s" and dead["expirationPolicy"] == {"ttl": ""}
    assert ingest["deadLetterPolicy"]["deadLetterTopic"] == dead["topic"]
    pub = one(plan, "gcp:pubsub/topicIAMMember:TopicIAMMember", "ml-dev-raw-events.dead-letter.agent-publish")
    assert pub.inputs["member"].endswith("@gcp-sa-pubsub.iam.gserviceaccount.com")
    sub = one(plan, "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
              "ml-dev-raw-events-ingest.pubsub-agent.subscribe")
    assert sub.inputs["role"] == "roles/pubsub.subscriber"
    assert sub.inputs["member"].endswith("@gcp-sa-pubsub.iam.gserviceaccount.com")


def test_unrestricted_residency_keeps_messages_in_the_target_region_without_transit_enforcement():
    raw = copy.deepcopy(BASE)
    raw["residency"] = {"allowed_regions": []}
    plan = plan_of(raw)
    for name in ("ml-dev-raw-events-topic", "ml-dev-raw-events.dead-letter"):
        # storage stays in the target region; clients on the global endpoint still work (no residency declared)
        assert one(plan, TOPIC, name).inputs["messageStoragePolicy"] == {
            "allowedPersistenceRegions": ["europe-west4"], "enforceInTransit": False}


def test_declared_residency_enforces_regions_in_transit():
    for name in ("ml-dev-raw-events-topic", "ml-dev-raw-events.dead-letter"):
        policy = one(dev_plan(), TOPIC, name).inputs["messageStoragePolicy"]
        assert policy["enforceInTransit"] is True
        assert policy["allowedPersistenceRegions"] == sorted(policy["allowedPersistenceRegions"])
        assert "europe-west4" in policy["allowedPersistenceRegions"] and "us-central1" not in policy[
            "allowedPersistenceRegions"]


# ----- bigquery ----------------------------------------------------------------------------------------
def test_datasets_cmek_location_and_no_public_access():
    plan = dev_plan()
    ds = one(plan, DATASET, "ml-dev-features-dataset").inputs
    assert ds["datasetId"] == "ml_dev_features"
    assert ds["location"] == "europe-west4"
    assert ds["defaultEncryptionConfiguration"]["kmsKeyName"].endswith("/cryptoKeys/bigquery")
    assert ds["defaultTableExpirationMs"] == 2 * 86_400_000
    assert ds["deleteContentsOnDestroy"] is False
    assert "accesses" not in ds
    members = [r.inputs.get("member") for r in plan.resources if "member" in r.inputs]
    assert not {"allUsers", "allAuthenticatedUsers"} & set(members)


# ----- network -----------------------------------------------------------------------------------------
def test_network_is_custom_mode_private_with_nat_and_deny_baseline():
    plan = dev_plan()
    vpc = plan.of_type("gcp:compute/network:Network")[0].inputs
    assert vpc["autoCreateSubnetworks"] is False
    sub = plan.of_type("gcp:compute/subnetwork:Subnetwork")[0].inputs
    assert sub["ipCidrRange"] == "10.0.0.0/20"
    assert sub["privateIpGoogleAccess"] is True
    assert [r["ipCidrRange"] for r in sub["secondaryIpRanges"]] == ["10.64.0.0/14", "10.96.0.0/20"]
    assert sub["logConfig"]["flowSampling"] == 0.5
    nat = plan.of_type("gcp:compute/routerNat:RouterNat")[0].inputs
    assert nat["logConfig"] == {"enable": True, "filter": "ERRORS_ONLY"}
    rules = {r.name: r.inputs for r in plan.of_type("gcp:compute/firewall:Firewall")}
    deny = rules["ml-dev-network-deny-ingress"]
    assert deny["denies"] == [{"protocol": "all"}] and deny["sourceRanges"] == ["0.0.0.0/0"]
    assert not any("35.235.240.0/20" in r.get("sourceRanges", []) for r in rules.values())  # no IAP SSH


# ----- clusters ----------------------------------------------------------------------------------------
def test_cluster_is_private_hardened_and_encrypted():
    plan = dev_plan()
    (cluster,) = plan.of_type(CLUSTER)
    c = cluster.inputs
    assert c["location"] == "europe-west4"
    assert c["removeDefaultNodePool"] is True
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    assert c["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert c["privateClusterConfig"]["masterIpv4CidrBlock"] == "172.16.0.0/28"
    assert c["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False
    assert c["masterAuthorizedNetworksConfig"]["cidrBlocks"][0]["cidrBlock"] == "10.0.0.0/20"
    assert c["workloadIdentityConfig"] == {"workloadPool": "acme-ml-dev.svc.id.goog"}
    assert c["databaseEncryption"]["state"] == "ENCRYPTED"
    assert c["databaseEncryption"]["keyName"].endswith("/cryptoKeys/gke-secrets")
    assert c["datapathProvider"] == "ADVANCED_DATAPATH"
    assert c["enableShieldedNodes"] is True
    assert c["enableLegacyAbac"] is False
    assert c["masterAuth"]["clientCertificateConfig"]["issueClientCertificate"] is False
    assert c["monitoringConfig"]["managedPrometheus"]["enabled"] is True
    assert "DCGM" in c["monitoringConfig"]["enableComponents"]
    assert c["deletionProtection"] is False  # dev
    assert c["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert "compute@developer" not in c["nodeConfig"]["serviceAccount"]
    assert c["enableIntranodeVisibility"] is True
    assert c["nodePoolDefaults"] == {"nodeConfigDefaults": {"insecureKubeletReadonlyPortEnabled": "FALSE"}}
    assert c["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    assert c["releaseChannel"] == {"channel": "REGULAR"}
    assert "minMasterVersion" not in c  # no kubernetes_version: the channel's default
    assert c["loggingConfig"] == {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "SCHEDULER",
                                                       "CONTROLLER_MANAGER"]}
    # the transient default pool: CMEK boot disks, environment labels, and it waits for the disks key grant
    assert c["nodeConfig"]["bootDiskKmsKey"].endswith("/keyRings/ml-dev-kms/cryptoKeys/disks")
    assert c["nodeConfig"]["resourceLabels"] == {"mlinfra-environment": "ml-dev", "mlinfra-tier": "dev",
                                                 "managed-by": "mlinfra"}
    assert one(plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "ml-dev-kms-disks-agent").urn \
        in cluster.dependencies
    assert one(plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "ml-dev-kms-gke-secrets-agent").urn \
        in cluster.dependencies


def test_cluster_deletion_protection_follows_data_protection():
    raw = copy.deepcopy(BASE)
    raw["protect_data"] = True  # a protected dev environment
    assert one(plan_of(raw), CLUSTER, "ml-dev-main-cluster").inputs["deletionProtection"] is True
    raw["clusters"] = [{"name": "main", "deletion_protection": False}]  # the cluster's own setting wins
    assert one(plan_of(raw), CLUSTER, "ml-dev-main-cluster").inputs["deletionProtection"] is False


def test_monitoring_off_turns_managed_prometheus_and_gpu_metrics_off():
    raw = copy.deepcopy(BASE)
    raw["monitoring"] = {"enabled": False}
    monitoring = one(plan_of(raw), CLUSTER, "ml-dev-main-cluster").inputs["monitoringConfig"]
    assert monitoring["managedPrometheus"] == {"enabled": False}
    assert "DCGM" not in monitoring["enableComponents"]


def test_split_clusters_put_pools_on_the_right_cluster():
    plan = prod_plan()
    clusters = {r.name: r for r in plan.of_type(CLUSTER)}
    assert set(clusters) == {"ml-prod-train-cluster", "ml-prod-serve-cluster"}
    assert all(c.inputs["deletionProtection"] is True for c in clusters.values())
    cidrs = {c.inputs["privateClusterConfig"]["masterIpv4CidrBlock"] for c in clusters.values()}
    assert cidrs == {"172.16.0.0/28", "172.16.0.16/28"}
    pools = {r.name: r for r in plan.of_type(POOL)}
    assert pools["ml-prod-train-a100"].inputs["cluster"] == "ml-prod-train-cluster-id"
    assert pools["ml-prod-serve-l4"].inputs["cluster"] == "ml-prod-serve-cluster-id"
    assert pools["ml-prod-serve-system"].inputs["nodeConfig"]["labels"]["mlinfra.io/pool"] == "system"
    assert pools["ml-prod-train-system"].inputs["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 3}


# ----- node pools --------------------------------------------------------------------------------------
def test_node_pools_are_shielded_and_never_use_the_default_service_account():
    plan = dev_plan()
    sa = one(plan, "gcp:serviceaccount/account:Account", "ml-dev-main-nodes-sa").inputs["accountId"]
    for pool in plan.of_type(POOL):
        nc = pool.inputs["nodeConfig"]
        assert nc["serviceAccount"].startswith(f"{sa}@")
        assert nc["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert nc["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert nc["bootDiskKmsKey"].endswith("/cryptoKeys/disks")
        assert nc["kubeletConfig"] == {"insecureKubeletReadonlyPortEnabled": "FALSE"}
        assert nc["resourceLabels"] == {"mlinfra-environment": "ml-dev", "mlinfra-tier": "dev", "managed-by": "mlinfra"}
        assert nc["metadata"] == {"disable-legacy-endpoints": "true"}
        assert pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
    roles = {r.inputs["role"] for r in plan.of_type("gcp:projects/iAMMember:IAMMember")
             if r.inputs["member"].startswith(f"serviceAccount:{sa}@")}
    assert roles == {"roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer",
                     "roles/stackdriver.resourceMetadata.writer", "roles/autoscaling.metricsWriter",
                     "roles/artifactregistry.reader"}


def test_cpu_and_gpu_pools():
    plan = dev_plan()
    cpu = one(plan, POOL, "ml-dev-main-cpu").inputs
    assert cpu["nodeConfig"]["machineType"] == "c2-standard-8"
    assert cpu["autoscaling"]["totalMaxNodeCount"] == 3
    gpu = one(plan, POOL, "ml-dev-main-l4").inputs
    nc = gpu["nodeConfig"]
    assert nc["machineType"] == "g2-standard-8"
    assert nc["spot"] is True
    assert nc["guestAccelerators"] == [{"type": "nvidia-l4", "count": 1,
                                        "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}]
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in nc["taints"]
    assert {"key": "workload", "value": "gpu", "effect": "NO_SCHEDULE"} in nc["taints"]


def test_multi_host_tpu_pool_uses_compact_placement():
    plan = dev_plan()
    tpu = one(plan, POOL, "ml-dev-main-tpu").inputs
    assert tpu["nodeConfig"]["machineType"] == "ct5lp-hightpu-4t"
    assert tpu["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "4x4"}
    assert tpu["autoscaling"]["totalMaxNodeCount"] == 4
    assert tpu["nodeLocations"] == ["europe-west4-a"]
    assert {"key": "google.com/tpu", "value": "present", "effect": "NO_SCHEDULE"} in tpu["nodeConfig"]["taints"]
    assert "guestAccelerators" not in tpu["nodeConfig"]


def test_single_host_tpu_pool_has_no_placement_policy():
    pools = {r.name: r.inputs for r in prod_plan().of_type(POOL)}
    single = pools["ml-prod-train-tpu-v5e-2x4"]
    assert single["nodeConfig"]["machineType"] == "ct5lp-hightpu-8t"
    assert "placementPolicy" not in single


def test_tpu_pool_without_zones_fails_with_the_fix():
    raw = copy.deepcopy(BASE)
    raw["target"].pop("zones")
    with pytest.raises(ValueError, match=r"target\.zones"):
        plan_of(raw)


# ----- IAM ---------------------------------------------------------------------------------------------
def test_team_grants_are_scoped_to_named_resources_only():
    plan = dev_plan()
    sa = one(plan, "gcp:serviceaccount/account:Account", "ml-dev-vision-sa").inputs["accountId"]
    member = f"serviceAccount:{sa}@acme-ml-dev.iam.gserviceaccount.com"
    granted = [r for r in plan.resources if r.inputs.get("member") == member]
    by_type: dict[str, list[PlannedResource]] = {}
    for r in granted:
        by_type.setdefault(r.type, []).append(r)
    # the only project-wide role: running query jobs (data access still comes from dataset grants)
    assert [r.inputs["role"] for r in by_type["gcp:projects/iAMMember:IAMMember"]] == ["roles/bigquery.jobUser"]
    buckets = {(r.inputs["bucket"], r.inputs["role"]) for r in by_type["gcp:storage/bucketIAMMember:BucketIAMMember"]}
    assert buckets == {("acme-ml-dev-ml-dev-raw", "roles/storage.objectViewer"),
                       ("acme-ml-dev-ml-dev-models", "roles/storage.objectUser")}
    keys = {r.inputs["role"] for r in by_type["gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"]}
    assert keys == {"roles/cloudkms.cryptoKeyDecrypter", "roles/cloudkms.cryptoKeyEncrypterDecrypter"}
    (ds,) = by_type["gcp:bigquery/datasetIamMember:DatasetIamMember"]
    assert ds.inputs["datasetId"] == "ml_dev_features" and ds.inputs["role"] == "roles/bigquery.dataViewer"
    subs = {r.inputs["subscription"] for r in by_type["gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"]}
    assert subs == {"ml-dev-ingest", "ml-dev-audit"}
    assert sa == "ml-dev-vision-team"
    wi = one(plan, "gcp:serviceaccount/iAMMember:IAMMember", "ml-dev-vision-workload-identity").inputs
    assert wi == {**wi, "role": "roles/iam.workloadIdentityUser",
                  "member": "serviceAccount:acme-ml-dev.svc.id.goog[vision/vision-workload]"}
    human = [r.inputs for r in plan.of_type("gcp:projects/iAMMember:IAMMember")
             if r.inputs["member"] == "group:vision@example.com"]
    assert [h["role"] for h in human] == ["roles/container.clusterViewer"]
    for r in plan.of_type("gcp:projects/iAMMember:IAMMember"):
        assert r.inputs["role"] == "roles/bigquery.jobUser" or not r.inputs["role"].startswith(
            ("roles/storage", "roles/bigquery", "roles/pubsub"))


def test_public_members_are_refused():
    from mlinfra.components.gcp import permissions

    with pytest.raises(ValueError, match="never makes data public"):
        permissions.check_member("allUsers")


# ----- protection, provenance, audit -------------------------------------------------------------------
def test_prod_protects_data_and_keys_dev_does_not():
    protected_types = {BUCKET, DATASET, TOPIC, SUB, KEY, "gcp:kms/keyRing:KeyRing"}
    prod = prod_plan()
    for r in prod.resources:
        if r.type in protected_types:
            assert r.protect, r.name
    assert not any(r.protect for r in dev_plan().resources)
    assert all(b.inputs["forceDestroy"] is False for b in prod.of_type(BUCKET))
    key = prod.of_type(KEY)[0].inputs
    assert key["versionTemplate"]["protectionLevel"] == "HSM"


def test_resources_record_the_config_path_that_made_them():
    plan = dev_plan()
    assert one(plan, BUCKET, "ml-dev-models-bucket").config_path == "storage.buckets[1]"
    assert one(plan, POOL, "ml-dev-main-tpu").config_path == "node_pools[2]"
    assert one(plan, POOL, "ml-dev-main-system").config_path == "clusters[0].system_pool"
    assert one(plan, CLUSTER, "ml-dev-main-cluster").config_path == "clusters[0]"
    assert one(plan, "gcp:storage/bucketIAMMember:BucketIAMMember", "ml-dev-raw-vision-read").config_path \
        == "iam.teams[0]"
    assert plan.of_type("gcp:compute/network:Network")[0].config_path == "network"


def test_audit_logs_and_log_retention():
    plan = dev_plan()
    audits = {r.inputs["service"]: r.inputs for r in plan.of_type("gcp:projects/iAMAuditConfig:IAMAuditConfig")}
    assert set(audits) == {"storage.googleapis.com", "bigquery.googleapis.com", "cloudkms.googleapis.com"}
    assert {c["logType"] for c in audits["storage.googleapis.com"]["auditLogConfigs"]} == {
        "ADMIN_READ", "DATA_READ", "DATA_WRITE"}
    logs = plan.of_type("gcp:logging/projectBucketConfig:ProjectBucketConfig")[0].inputs
    assert logs["bucketId"] == "_Default" and logs["retentionDays"] == 30


def test_project_settings_off_leaves_project_logging_to_another_environment():
    raw = copy.deepcopy(BASE)
    raw["monitoring"] = {"project_settings": False}
    plan = plan_of(raw)
    assert not [r for r in plan.resources if r.type in {
        "mlinfra:gcp:ProjectLogging", "gcp:logging/projectBucketConfig:ProjectBucketConfig",
        "gcp:projects/iAMAuditConfig:IAMAuditConfig"}]
    assert plan.of_type(CLUSTER)  # the rest of the environment is unchanged


# ----- style contract ----------------------------------------------------------------------------------
# ----- project APIs -----------------------------------------------------------------------------------
SERVICE = "gcp:projects/service:Service"


def test_project_apis_are_enabled_first_and_never_disabled():
    plan = dev_plan()
    services = plan.of_type(SERVICE)
    assert {s.inputs["service"] for s in services} >= {
        "compute.googleapis.com", "container.googleapis.com", "cloudkms.googleapis.com", "pubsub.googleapis.com",
        "bigquery.googleapis.com", "storage.googleapis.com", "iam.googleapis.com", "iamcredentials.googleapis.com",
        "logging.googleapis.com", "monitoring.googleapis.com", "binaryauthorization.googleapis.com",
        "cloudresourcemanager.googleapis.com", "serviceusage.googleapis.com"}
    for s in services:
        assert s.inputs["disableOnDestroy"] is False and s.inputs["disableDependentServices"] is False
        assert s.inputs["project"] == "acme-ml-dev" and s.config_path == "target"
    first_custom = next(r for r in plan.resources if r.custom and r.type.startswith("gcp:"))
    assert first_custom.type == SERVICE


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_every_other_resource_waits_for_every_api(which: str):
    plan = dev_plan() if which == "dev" else prod_plan()
    apis = {s.urn for s in plan.of_type(SERVICE)}
    waiting = [r for r in plan.resources if r.custom and r.type.startswith("gcp:") and r.type != SERVICE]
    assert len(waiting) > 50
    for r in waiting:
        assert apis <= set(r.dependencies), f"{r.name} does not wait for the project's APIs"
    # components too (the transformation reaches them), but never the API component itself
    assert apis <= set(one(plan, "mlinfra:gcp:GcpNetwork", f"ml-{which}-network").dependencies)
    assert not set(one(plan, "mlinfra:gcp:ProjectServices", f"ml-{which}-services").dependencies)


# ----- example environments ----------------------------------------------------------------------------
@pytest.mark.parametrize("file", ["gcp-dev.yaml", "gcp-prod.yaml"])
def test_example_environments_validate_and_plan(file: str):
    raw = yaml.safe_load((STACKS / file).read_text())
    plan = prod_plan() if file == "gcp-prod.yaml" else plan_of(raw)
    env = raw["name"]
    project = raw["target"]["project"]
    prod = file == "gcp-prod.yaml"
    buckets = {r.inputs["name"]: r.inputs for r in plan.of_type(BUCKET)}
    assert set(buckets) == {f"{project}-{env}-{b['name']}" for b in raw["storage"]["buckets"]}
    clusters = {r.inputs["name"]: r.inputs for r in plan.of_type(CLUSTER)}
    assert set(clusters) == {f"{env}-{c['name']}" for c in raw["clusters"]}
    assert all(c["deletionProtection"] is prod for c in clusters.values())
    pools = {r.name: r.inputs["nodeConfig"]["machineType"] for r in plan.of_type(POOL)}
    topics = {r.inputs["name"] for r in plan.of_type(TOPIC)}
    datasets = {r.inputs["datasetId"] for r in plan.of_type(DATASET)}
    accounts = {r.inputs["accountId"] for r in plan.of_type("gcp:serviceaccount/account:Account")}
    if not prod:
        assert pools == {"ml-dev-main-system": "e2-standard-4", "ml-dev-main-cpu": "n2-standard-8",
                         "ml-dev-main-l4-spot": "g2-standard-8"}
        assert buckets["acme-ml-dev-ml-dev-raw"]["forceDestroy"] is True
        assert buckets["acme-ml-dev-ml-dev-raw"]["versioning"] == {"enabled": True}
        assert topics == {"ml-dev-raw-events", "ml-dev-raw-events.dead-letter"}
        assert datasets == {"ml_dev_features"}
        assert accounts == {"ml-dev-main-nodes", "ml-dev-vision-team", "ml-dev-nlp-team"}
        assert clusters["ml-dev-main"]["releaseChannel"] == {"channel": "REGULAR"}
        assert not any(r.protect for r in plan.resources)
    else:
        assert pools == {
            "ml-prod-train-system": "e2-standard-8", "ml-prod-serve-system": "e2-standard-4",
            "ml-prod-train-a100": "a2-ultragpu-8g", "ml-prod-train-tpu-v5e-2x4": "ct5lp-hightpu-8t",
            "ml-prod-train-tpu-v5e-4x4": "ct5lp-hightpu-4t", "ml-prod-serve-l4": "g2-standard-8",
            "ml-prod-serve-cpu": "c2-standard-8"}
        raw_bucket = buckets["acme-ml-prod-ml-prod-raw"]
        assert raw_bucket["retentionPolicy"] == {"retentionPeriod": str(30 * 86400), "isLocked": False}
        assert raw_bucket["versioning"] == {"enabled": False}
        assert buckets["acme-ml-prod-ml-prod-models"]["versioning"] == {"enabled": True}
        assert topics == {"ml-prod-raw-events", "ml-prod-raw-events.dead-letter", "ml-prod-model-releases",
                          "ml-prod-model-releases.dead-letter"}
        assert datasets == {"ml_prod_features", "ml_prod_evaluations"}
        assert accounts == {"ml-prod-train-nodes", "ml-prod-serve-nodes", "ml-prod-vision-team",
                            "ml-prod-nlp-team", "ml-prod-serving-team"}
        for c in clusters.values():
            assert c["releaseChannel"] == {"channel": "STABLE"}
            assert c["minMasterVersion"] == "1.31"
            assert c["nodeConfig"]["resourceLabels"]["cost-center"] == "ml-platform"
        assert clusters["ml-prod-train"]["maintenancePolicy"] == {
            "dailyMaintenanceWindow": {"startTime": "02:00"}}
        a100 = one(plan, POOL, "ml-prod-train-a100").inputs["nodeConfig"]
        assert a100["guestAccelerators"][0]["type"] == "nvidia-a100-80gb" and a100["guestAccelerators"][0][
            "count"] == 8
        assert a100["diskType"] == "pd-ssd" and a100["diskSizeGb"] == 500
        assert one(plan, KEY, "ml-prod-kms-storage").inputs["versionTemplate"]["protectionLevel"] == "HSM"


def test_cluster_admins_get_cluster_admin_only():
    raw = copy.deepcopy(BASE)
    raw["iam"] = {**raw["iam"], "admins": ["group:sre@example.com"]}
    plan = plan_of(raw)
    admins = [r.inputs for r in plan.of_type("gcp:projects/iAMMember:IAMMember")
              if r.inputs["member"] == "group:sre@example.com"]
    assert [a["role"] for a in admins] == ["roles/container.clusterAdmin"]
    assert plan.named("ml-dev-cluster-admins").config_path == "iam.admins"
