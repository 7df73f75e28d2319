"""The GCP security rules: a compliant baseline from the shipped examples, one mutated field, the exact rule id."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from mlinfra.policies.catalog import Resource, Stack
from mlinfra.policies.check import check_file
from mlinfra.policies.context import PolicyContext
from mlinfra.policies.engine import UNKNOWN_NOTE, run_resource_rule, run_stack_rule
from mlinfra.policies.rules import gcp
from mlinfra.policies.testing import EXAMPLES, Example, example, mutate, replace_in, violations

FAMILY = {r.id for r in gcp.RULES}
RESOURCE_RULES = [r for r in gcp.RULES if r.scope == "resource"]
STACK_RULES = [r for r in gcp.RULES if r.scope == "stack"]
GCP_EXAMPLES = ("gcp-dev", "gcp-prod")
ALL_EXAMPLES = sorted(p.stem for p in Path(EXAMPLES).glob("*.yaml"))
PROD = "gcp-prod"
DEFAULT_SA = "123456789012-compute@developer.gserviceaccount.com"


def named(ex: Example, type_: str, suffix: str) -> Resource:
    """The resource of ``type_`` whose logical name ends with ``suffix``."""
    found = [r for r in ex.of_type(type_) if r.name.endswith(suffix)]
    assert len(found) == 1, f"expected one {type_} named *{suffix}, got {[r.name for r in ex.of_type(type_)]}"
    return found[0]


def fired(ex: Example, old: Resource | None, new: Resource | None, stack: Stack | None = None) -> set[str]:
    """Ids of the family's rules that report anything: resource rules on ``new``, stack rules on the example's
    stack with ``old`` swapped for ``new`` (or on ``stack`` when given)."""
    context = ex.context
    ids = set()
    if new is not None:
        ids |= {r.id for r in RESOURCE_RULES if r.applies_to(new.type) and run_resource_rule(r, new, context)}
    whole = stack if stack is not None else replace_in(ex.stack, old, new) if old is not None else ex.stack
    ids |= {r.id for r in STACK_RULES if run_stack_rule(r, whole, context)}
    return ids


# ----- every rule passes on the shipped examples ------------------------------------------------------------


@pytest.mark.parametrize("rule", RESOURCE_RULES, ids=lambda r: r.id)
def test_resource_rule_passes_on_the_examples(rule: Any) -> None:
    checked = 0
    for name in GCP_EXAMPLES:
        ex = example(name)
        for res in ex.resources:
            if rule.applies_to(res.type):
                checked += 1
                assert violations(rule.id, res, ex.context) == [], (name, res.name)
    assert checked, f"no example resource is checked by {rule.id}: the passing fixture is vacuous"


@pytest.mark.parametrize("rule", STACK_RULES, ids=lambda r: r.id)
@pytest.mark.parametrize("name", GCP_EXAMPLES)
def test_stack_rule_passes_on_the_examples(rule: Any, name: str) -> None:
    ex = example(name)
    assert violations(rule.id, ex.stack, ex.context) == []


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_examples_have_no_mandatory_gcp_violation(name: str) -> None:
    report = check_file(Path(EXAMPLES) / f"{name}.yaml")
    blocking = [(f.rule.id, f.resource, f.message) for f in report.findings
                if f.rule.id in FAMILY and f.level == "mandatory"]
    assert blocking == []


def test_family_metadata() -> None:
    assert len(gcp.RULES) >= 18
    assert len(FAMILY) == len(gcp.RULES)
    for rule in gcp.RULES:
        assert rule.id.startswith("gcp-") and rule.doc and rule.pack == "security", rule.id
        assert rule.targets == ("gcp",), rule.id
        if rule.severity in ("critical", "high"):
            assert rule.enforcement == "mandatory", rule.id


# ----- one mutated field, exactly one rule ------------------------------------------------------------------

CLUSTER, POOL, BUCKET = gcp.CLUSTER, gcp.NODE_POOL, gcp.BUCKET
# (example, type, name suffix, path, value or DELETE, the one rule expected to fire)
DELETE: Any = object()
CASES: list[tuple[str, str, str, tuple[str | int, ...], Any, str]] = [
    (PROD, CLUSTER, "train-cluster", ("privateClusterConfig", "enablePrivateNodes"), False,
     "gcp-gke-cluster-private-nodes"),
    (PROD, POOL, "train-a100", ("networkConfig", "enablePrivateNodes"), False, "gcp-gke-cluster-private-nodes"),
    (PROD, CLUSTER, "serve-cluster", ("privateClusterConfig", "enablePrivateEndpoint"), False,
     "gcp-gke-cluster-private-endpoint"),
    (PROD, CLUSTER, "train-cluster", ("masterAuthorizedNetworksConfig",), DELETE,
     "gcp-gke-cluster-authorized-networks"),
    (PROD, CLUSTER, "train-cluster", ("masterAuthorizedNetworksConfig", "cidrBlocks", 1, "cidrBlock"), "0.0.0.0/0",
     "gcp-gke-cluster-authorized-networks"),
    (PROD, CLUSTER, "train-cluster", ("masterAuthorizedNetworksConfig", "gcpPublicCidrsAccessEnabled"), True,
     "gcp-gke-cluster-authorized-networks"),
    (PROD, CLUSTER, "train-cluster", ("workloadIdentityConfig",), DELETE, "gcp-gke-cluster-workload-identity"),
    (PROD, CLUSTER, "train-cluster", ("databaseEncryption", "state"), "DECRYPTED",
     "gcp-gke-cluster-secrets-encryption"),
    (PROD, CLUSTER, "train-cluster", ("databaseEncryption", "keyName"), DELETE,
     "gcp-gke-cluster-secrets-encryption"),
    (PROD, CLUSTER, "train-cluster", ("enableShieldedNodes",), False, "gcp-gke-cluster-shielded-nodes"),
    (PROD, CLUSTER, "train-cluster", ("releaseChannel", "channel"), "UNSPECIFIED", "gcp-gke-cluster-release-channel"),
    (PROD, CLUSTER, "train-cluster", ("datapathProvider",), "LEGACY_DATAPATH", "gcp-gke-cluster-network-policy"),
    (PROD, CLUSTER, "train-cluster", ("enableLegacyAbac",), True, "gcp-gke-cluster-legacy-abac-disabled"),
    (PROD, CLUSTER, "train-cluster", ("masterAuth", "clientCertificateConfig", "issueClientCertificate"), True,
     "gcp-gke-cluster-client-certificate-disabled"),
    (PROD, CLUSTER, "train-cluster", ("loggingConfig", "enableComponents"), ["SYSTEM_COMPONENTS"],
     "gcp-gke-cluster-logging-monitoring"),
    (PROD, CLUSTER, "train-cluster", ("monitoringService",), "none", "gcp-gke-cluster-logging-monitoring"),
    (PROD, CLUSTER, "train-cluster", ("networkingMode",), "ROUTES", "gcp-gke-cluster-vpc-native"),
    (PROD, CLUSTER, "train-cluster", ("binaryAuthorization",), DELETE, "gcp-gke-cluster-binary-authorization"),
    (PROD, POOL, "train-a100", ("nodeConfig", "serviceAccount"), DEFAULT_SA,
     "gcp-gke-nodepool-default-service-account"),
    (PROD, POOL, "serve-cpu", ("nodeConfig", "serviceAccount"), DELETE, "gcp-gke-nodepool-default-service-account"),
    (PROD, CLUSTER, "serve-cluster", ("nodeConfig", "serviceAccount"), "default",
     "gcp-gke-nodepool-default-service-account"),
    (PROD, POOL, "train-system", ("nodeConfig", "workloadMetadataConfig", "mode"), "GCE_METADATA",
     "gcp-gke-nodepool-metadata-server"),
    (PROD, CLUSTER, "train-cluster", ("nodeConfig", "workloadMetadataConfig"), DELETE,
     "gcp-gke-nodepool-metadata-server"),
    (PROD, POOL, "serve-l4", ("nodeConfig", "shieldedInstanceConfig", "enableSecureBoot"), False,
     "gcp-gke-nodepool-shielded-instance"),
    (PROD, POOL, "serve-l4", ("nodeConfig", "shieldedInstanceConfig", "enableIntegrityMonitoring"), False,
     "gcp-gke-nodepool-shielded-instance"),
    (PROD, POOL, "serve-cpu", ("nodeConfig", "imageType"), "UBUNTU_CONTAINERD", "gcp-gke-nodepool-cos-image"),
    (PROD, POOL, "serve-cpu", ("nodeConfig", "bootDiskKmsKey"), DELETE, "gcp-gke-nodepool-boot-disk-cmek"),
    (PROD, POOL, "serve-cpu", ("management", "autoRepair"), False, "gcp-gke-nodepool-auto-repair"),
    (PROD, POOL, "serve-cpu", ("management", "autoUpgrade"), False, "gcp-gke-nodepool-auto-upgrade"),
    (PROD, POOL, "train-a100", ("nodeConfig", "taints"), [], "gcp-gke-nodepool-accelerator-taint"),
    (PROD, POOL, "serve-l4", ("nodeConfig", "taints", 0, "effect"), "PREFER_NO_SCHEDULE",
     "gcp-gke-nodepool-accelerator-taint"),
    (PROD, POOL, "train-tpu-v5e-2x4", ("nodeConfig", "taints"), [], "gcp-gke-nodepool-accelerator-taint"),
    (PROD, POOL, "train-tpu-v5e-4x4", ("placementPolicy", "type"), DELETE, "gcp-gke-nodepool-tpu-compact-placement"),
    (PROD, POOL, "train-tpu-v5e-4x4", ("placementPolicy", "tpuTopology"), DELETE,
     "gcp-gke-nodepool-tpu-compact-placement"),
    (PROD, BUCKET, "raw-bucket", ("uniformBucketLevelAccess",), False, "gcp-storage-bucket-uniform-access"),
    (PROD, BUCKET, "raw-bucket", ("publicAccessPrevention",), "inherited",
     "gcp-storage-bucket-public-access-prevention"),
    (PROD, BUCKET, "models-bucket", ("encryption",), DELETE, "gcp-storage-bucket-cmek"),
    (PROD, BUCKET, "models-bucket", ("versioning", "enabled"), False, "gcp-storage-bucket-versioning"),
    (PROD, "gcp:storage/bucketIAMMember:BucketIAMMember", "raw-vision-read", ("member",), "allUsers",
     "gcp-iam-member-no-public-principal"),
    (PROD, "gcp:pubsub/topicIAMMember:TopicIAMMember", "raw-events.dead-letter.agent-publish", ("member",),
     "allAuthenticatedUsers", "gcp-iam-member-no-public-principal"),
    (PROD, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "kms-storage-agent", ("member",), "allUsers",
     "gcp-iam-member-no-public-principal"),
    (PROD, "gcp:projects/iAMMember:IAMMember", "train-nodes-logging-logWriter", ("member",), "allAuthenticatedUsers",
     "gcp-iam-member-no-public-principal"),
    (PROD, "gcp:bigquery/datasetIamMember:DatasetIamMember", "features-vision-read", ("member",), "allUsers",
     "gcp-iam-member-no-public-principal"),
    (PROD, gcp.DATASET, "features-dataset", ("defaultEncryptionConfiguration",), DELETE,
     "gcp-bigquery-dataset-cmek"),
    (PROD, gcp.DATASET, "features-dataset", ("accesses",),
     [{"role": "READER", "specialGroup": "allAuthenticatedUsers"}], "gcp-bigquery-dataset-not-public"),
    (PROD, gcp.DATASET, "features-dataset", ("accesses",), [{"role": "WRITER", "specialGroup": "projectWriters"}],
     "gcp-bigquery-dataset-not-public"),
    (PROD, gcp.DATASET, "features-dataset", ("accesses",), [{"role": "READER", "iamMember": "allUsers"}],
     "gcp-bigquery-dataset-not-public"),
    (PROD, gcp.TOPIC, "model-releases-topic", ("kmsKeyName",), DELETE, "gcp-pubsub-topic-cmek"),
    (PROD, gcp.CRYPTO_KEY, "kms-storage", ("rotationPeriod",), "31536000s", "gcp-kms-crypto-key-rotation"),
    (PROD, gcp.CRYPTO_KEY, "kms-storage", ("rotationPeriod",), DELETE, "gcp-kms-crypto-key-rotation"),
    (PROD, gcp.CRYPTO_KEY, "kms-storage", ("rotationPeriod",), "90d", "gcp-kms-crypto-key-rotation"),
    (PROD, gcp.CRYPTO_KEY, "kms-disks", ("destroyScheduledDuration",), "86400s", "gcp-kms-crypto-key-destroy-delay"),
    (PROD, gcp.SUBNETWORK, "network-train", ("logConfig",), DELETE, "gcp-compute-subnetwork-flow-logs"),
    (PROD, gcp.SUBNETWORK, "network-serve", ("privateIpGoogleAccess",), False,
     "gcp-compute-subnetwork-private-google-access"),
    (PROD, gcp.FIREWALL, "network-allow-internal", ("sourceRanges",), ["10.0.0.0/8", "0.0.0.0/0"],
     "gcp-compute-firewall-no-public-admin-ingress"),
    (PROD, gcp.FIREWALL, "network-allow-health-checks", ("sourceRanges",), ["::/0"],
     "gcp-compute-firewall-no-public-admin-ingress"),
    (PROD, gcp.FIREWALL, "network-allow-health-checks", ("sourceRanges",), DELETE,
     "gcp-compute-firewall-no-public-admin-ingress"),
    (PROD, gcp.ROUTER_NAT, "network-nat", ("logConfig", "enable"), False, "gcp-compute-router-nat-logging"),
    (PROD, BUCKET, "artifacts-bucket", ("encryption", "defaultKmsKeyName"),
     "projects/shared-keys/locations/europe-west4/keyRings/shared/cryptoKeys/storage", "gcp-kms-data-key-in-plan"),
    (PROD, gcp.TOPIC, "raw-events-topic", ("kmsKeyName",),
     "projects/acme-ml-prod/locations/europe-west4/keyRings/ml-prod-kms/cryptoKeys/other", "gcp-kms-data-key-in-plan"),
    (PROD, CLUSTER, "serve-cluster", ("databaseEncryption", "keyName"),
     "projects/acme-ml-prod/locations/europe-west4/keyRings/elsewhere/cryptoKeys/gke-secrets",
     "gcp-kms-data-key-in-plan"),
]


@pytest.mark.parametrize(("name", "type_", "suffix", "path", "value", "rule_id"), CASES,
                         ids=[f"{c[5]}:{'.'.join(map(str, c[3]))}" for c in CASES])
def test_one_mutation_fires_exactly_one_rule(name: str, type_: str, suffix: str, path: tuple[str | int, ...],
                                             value: Any, rule_id: str) -> None:
    ex = example(name)
    base = named(ex, type_, suffix)
    bad = mutate(base, path) if value is DELETE else mutate(base, path, value)
    if rule_id in {r.id for r in STACK_RULES}:
        assert violations(rule_id, replace_in(ex.stack, base, bad), ex.context)
    else:
        assert violations(rule_id, bad, ex.context)
    assert fired(ex, base, bad) == {rule_id}


def test_every_rule_has_a_failing_fixture() -> None:
    covered = {c[5] for c in CASES} | {"gcp-project-audit-logs"}
    assert covered == FAMILY


def test_firewall_allowing_ssh_from_anywhere_names_the_port() -> None:
    ex = example(PROD)
    base = named(ex, gcp.FIREWALL, "network-allow-health-checks")
    bad = mutate(mutate(base, ("allows",), [{"protocol": "tcp", "ports": ["20-25", "3389"]}]),
                 ("sourceRanges",), ["0.0.0.0/0"])
    messages = violations("gcp-compute-firewall-no-public-admin-ingress", bad)
    assert any("tcp:22 (SSH)" in m for m in messages) and any("tcp:3389 (RDP)" in m for m in messages)
    assert fired(ex, base, bad) == {"gcp-compute-firewall-no-public-admin-ingress"}
    web = mutate(bad, ("allows",), [{"protocol": "tcp", "ports": ["443"]}])
    assert violations("gcp-compute-firewall-no-public-admin-ingress", web) == []
    denied = named(ex, gcp.FIREWALL, "network-deny-ingress")  # deny-all from 0.0.0.0/0 is the baseline
    assert violations("gcp-compute-firewall-no-public-admin-ingress", denied) == []


def test_private_endpoint_is_required_in_prod_only() -> None:
    ex = example(PROD)
    public = mutate(named(ex, CLUSTER, "train-cluster"), ("privateClusterConfig", "enablePrivateEndpoint"), False)
    assert violations("gcp-gke-cluster-private-endpoint", public, ex.context)
    assert violations("gcp-gke-cluster-private-endpoint", public, PolicyContext(environment="dev")) == []
    dns_only = mutate(public, ("controlPlaneEndpointsConfig",), {"ipEndpointsConfig": {"enabled": False}})
    assert violations("gcp-gke-cluster-private-endpoint", dns_only, ex.context) == []


def test_iam_policy_documents_and_acls_are_checked() -> None:
    policy = Resource(type="gcp:storage/bucketIAMPolicy:BucketIAMPolicy", urn="urn:p", name="p",
                      props={"bucket": "b", "policyData": '{"bindings": [{"role": "roles/storage.objectViewer", '
                             '"members": ["group:a@example.com", "allUsers"]}]}'})
    assert violations("gcp-iam-member-no-public-principal", policy)
    binding = Resource(type="gcp:pubsub/topicIAMBinding:TopicIAMBinding", urn="urn:b", name="b",
                       props={"role": "roles/pubsub.subscriber", "members": ["allAuthenticatedUsers"]})
    assert violations("gcp-iam-member-no-public-principal", binding)
    acl = Resource(type="gcp:storage/bucketACL:BucketACL", urn="urn:a", name="a",
                   props={"bucket": "b", "roleEntities": ["OWNER:project-owners-1", "READER:allUsers"]})
    assert violations("gcp-iam-member-no-public-principal", acl)
    access = Resource(type=gcp.DATASET_ACCESS, urn="urn:d", name="d",
                      props={"datasetId": "x", "role": "READER", "specialGroup": "allAuthenticatedUsers"})
    assert violations("gcp-bigquery-dataset-not-public", access)
    audit = next(r for r in example(PROD).resources if r.type == gcp.AUDIT_CONFIGS[0])
    assert violations("gcp-iam-member-no-public-principal", audit) == []  # IAMAuditConfig grants nothing


def test_audit_logs_rule_needs_a_config_per_data_service() -> None:
    ex = example(PROD)
    without = Stack([r for r in ex.stack.resources if r.name != "ml-prod-logging-audit-bigquery"])
    messages = violations("gcp-project-audit-logs", without, ex.context)
    assert len(messages) == 1 and "bigquery.googleapis.com" in messages[0]
    assert fired(ex, None, None, without) == {"gcp-project-audit-logs"}
    audit = named(ex, gcp.AUDIT_CONFIGS[0], "logging-audit-storage")
    every = mutate(audit, ("service",), "allServices")
    assert violations("gcp-project-audit-logs", Stack([every if r is audit else r for r in without.resources])) == []
    exempt = mutate(audit, ("auditLogConfigs", 1, "exemptedMembers"), ["user:ops@acme.example"])
    assert violations("gcp-project-audit-logs", replace_in(ex.stack, audit, exempt), ex.context)
    no_data_read = mutate(audit, ("auditLogConfigs",), [{"logType": "ADMIN_READ"}])
    assert violations("gcp-project-audit-logs", replace_in(ex.stack, audit, no_data_read), ex.context)


def test_rules_skip_what_they_do_not_judge() -> None:
    ex = example(PROD)
    key = named(ex, gcp.CRYPTO_KEY, "kms-storage")
    signing = mutate(mutate(key, ("purpose",), "ASYMMETRIC_SIGN"), ("rotationPeriod",))
    assert violations("gcp-kms-crypto-key-rotation", signing) == []
    proxy = mutate(mutate(named(ex, gcp.SUBNETWORK, "network-train"), ("logConfig",)), ("purpose",),
                   "REGIONAL_MANAGED_PROXY")
    assert violations("gcp-compute-subnetwork-flow-logs", proxy) == []
    retained = named(ex, BUCKET, "raw-bucket")  # versioning off, a retention policy protects objects instead
    assert retained.get("versioning", "enabled") is False
    assert violations("gcp-storage-bucket-versioning", retained) == []
    single_host = named(ex, POOL, "train-tpu-v5e-2x4")
    assert violations("gcp-gke-nodepool-tpu-compact-placement", single_host) == []
    spread = mutate(single_host, ("placementPolicy",), {"tpuTopology": "2x4"})  # 8 chips on one 8-chip host
    assert violations("gcp-gke-nodepool-tpu-compact-placement", spread) == []
    autopilot = Resource(type=CLUSTER, urn="urn:c", name="c", props={"enableAutopilot": True})
    assert violations("gcp-gke-nodepool-default-service-account", autopilot) == []
    assert violations("gcp-gke-cluster-network-policy", autopilot) == []


# ----- values not known yet ---------------------------------------------------------------------------------


def _unknown(base: Resource, path: tuple[str | int, ...]) -> Resource:
    return mutate(base, path, UNKNOWN_STRING_VALUE)


@pytest.mark.parametrize(("type_", "suffix", "path", "rule_id"), [
    (BUCKET, "raw-bucket", ("encryption", "defaultKmsKeyName"), "gcp-storage-bucket-cmek"),
    (gcp.TOPIC, "raw-events-topic", ("kmsKeyName",), "gcp-pubsub-topic-cmek"),
    (gcp.DATASET, "features-dataset", ("defaultEncryptionConfiguration", "kmsKeyName"), "gcp-bigquery-dataset-cmek"),
    (CLUSTER, "train-cluster", ("databaseEncryption", "keyName"), "gcp-gke-cluster-secrets-encryption"),
    (POOL, "train-a100", ("nodeConfig", "serviceAccount"), "gcp-gke-nodepool-default-service-account"),
    (POOL, "train-a100", ("nodeConfig", "bootDiskKmsKey"), "gcp-gke-nodepool-boot-disk-cmek"),
    ("gcp:storage/bucketIAMMember:BucketIAMMember", "raw-vision-read", ("member",),
     "gcp-iam-member-no-public-principal"),
])
def test_unknown_computed_values_count_as_set(type_: str, suffix: str, path: tuple[str | int, ...],
                                              rule_id: str) -> None:
    ex = example(PROD)
    assert violations(rule_id, _unknown(named(ex, type_, suffix), path), ex.context) == []


def test_unknown_values_that_must_be_seen_fail_closed() -> None:
    ex = example(PROD)
    key = _unknown(named(ex, gcp.CRYPTO_KEY, "kms-storage"), ("rotationPeriod",))
    (message,) = violations("gcp-kms-crypto-key-rotation", key)
    assert UNKNOWN_NOTE in message and "rotationPeriod" in message
    policy = Resource(type="gcp:projects/iAMPolicy:IAMPolicy", urn="urn:p", name="p",
                      props={"project": "p", "policyData": UNKNOWN_STRING_VALUE})
    (message,) = violations("gcp-iam-member-no-public-principal", policy)
    assert UNKNOWN_NOTE in message


def _first_preview(res: Resource, path: tuple[str | int, ...], deps: Callable[[str], bool]) -> Resource:
    """``res`` as a first preview shows it: the key name unknown, dependencies filtered by ``deps``."""
    unknown = _unknown(res, path)
    return dataclasses.replace(unknown, dependencies=tuple(d for d in res.dependencies if deps(d)))


def test_key_in_plan_matches_dependencies_while_key_names_are_unknown() -> None:
    ex = example(PROD)
    rule_id = "gcp-kms-data-key-in-plan"
    bucket = named(ex, BUCKET, "raw-bucket")
    path = ("encryption", "defaultKmsKeyName")
    keeps_key = _first_preview(bucket, path, lambda d: True)
    assert violations(rule_id, replace_in(ex.stack, bucket, keeps_key), ex.context) == []
    no_key = _first_preview(bucket, path, lambda d: "cryptoKey:CryptoKey" not in d)
    (message,) = violations(rule_id, replace_in(ex.stack, bucket, no_key), ex.context)
    assert "not known yet" in message
    # the key's own ring not known yet either: a known but foreign name still fails, a dependency saves it
    keys = [_unknown(k, ("keyRing",)) for k in ex.of_type(gcp.CRYPTO_KEY)]
    stack = Stack([r for r in ex.stack.resources if r.type != gcp.CRYPTO_KEY] + keys)
    assert violations(rule_id, stack, ex.context) == []
    foreign = mutate(no_key, path, "projects/x/locations/europe-west4/keyRings/r/cryptoKeys/k")
    assert violations(rule_id, replace_in(stack, bucket, foreign), ex.context)


def test_unencrypted_or_unset_keys_are_left_to_the_cmek_rules() -> None:
    ex = example(PROD)
    cluster = named(ex, CLUSTER, "train-cluster")
    decrypted = mutate(cluster, ("databaseEncryption",), {"state": "DECRYPTED", "keyName": "projects/x/k"})
    assert violations("gcp-kms-data-key-in-plan", replace_in(ex.stack, cluster, decrypted), ex.context) == []
    assert fired(ex, cluster, decrypted) == {"gcp-gke-cluster-secrets-encryption"}
