"""Security rules for GCP resources: GKE clusters and node pools, Cloud Storage, BigQuery, Pub/Sub, Cloud KMS,
the VPC, IAM grants and project audit logs.

Rules read the inputs as the engine shows them. Where a field may hold a value not known until the update runs
(a key id, a service-account e-mail), "is it configured" checks use :meth:`Resource.has` so a first preview
passes, and checks that must see the value use :meth:`Resource.get`, which makes a mandatory rule fail closed.
GKE defaults the provider applies when a field is absent (auto-repair, integrity monitoring, the COS image) count
as set; the benchmark controls are CIS GKE 1.7.0 and CIS GCP 3.0.0.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from mlinfra.policies.catalog import (
    CIS_GCP,
    CIS_GKE,
    Resource,
    Stack,
    cis,
    is_unknown,
    lookup,
    resource_rule,
    rules_in,
    stack_rule,
)
from mlinfra.policies.context import PolicyContext

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
DATASET = "gcp:bigquery/dataset:Dataset"
DATASET_ACCESS = "gcp:bigquery/datasetAccess:DatasetAccess"
TOPIC = "gcp:pubsub/topic:Topic"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
ROUTER_NAT = "gcp:compute/routerNat:RouterNat"
AUDIT_CONFIGS = (
    "gcp:projects/iAMAuditConfig:IAMAuditConfig",
    "gcp:folder/iAMAuditConfig:IAMAuditConfig",
    "gcp:organizations/iAMAuditConfig:IAMAuditConfig",
)
POOLS = (CLUSTER, NODE_POOL)

# Principals that mean "everybody": anyone on the internet, or anyone with a Google account.
PUBLIC_PRINCIPALS = {
    "allusers": "anyone on the internet",
    "allauthenticatedusers": "anyone with a Google account",
    "principalset://goog/public:all": "anyone on the internet",
}
_IAM_TYPE = re.compile(r"I[Aa][Mm](Member|Binding|Policy)$")
_DEFAULT_COMPUTE_SA = re.compile(r"^\d+-compute@developer\.gserviceaccount\.com$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")
_CHIPS_PER_HOST = re.compile(r"-(\d+)t$")
_GPU_MACHINE = re.compile(r"^(a2|a3|a4|g2|g4)-")  # machine families whose GPUs come with the machine type
_TPU_MACHINE = re.compile(r"^ct\d")  # ct4p-, ct5lp-, ct5p-, ct6e-
ROTATION_MAX_S = 90 * 86400
DESTROY_MIN_S = 7 * 86400
_NO_FLOW_LOG_PURPOSES = {"REGIONAL_MANAGED_PROXY", "GLOBAL_MANAGED_PROXY", "INTERNAL_HTTPS_LOAD_BALANCER",
                         "PRIVATE_SERVICE_CONNECT", "PRIVATE_NAT"}
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
DATA_SERVICES = {BUCKET: "storage.googleapis.com", DATASET: "bigquery.googleapis.com",
                 CRYPTO_KEY: "cloudkms.googleapis.com"}
# Data stores and the input naming the customer-managed key that encrypts them.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    BUCKET: ("encryption", "defaultKmsKeyName"),
    DATASET: ("defaultEncryptionConfiguration", "kmsKeyName"),
    TOPIC: ("kmsKeyName",),
    CLUSTER: ("databaseEncryption", "keyName"),
}


def _node_configs(res: Resource) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """(label, path) of every node configuration a cluster or node pool declares.

    A node pool has one; a Standard cluster has its default pool's (``nodeConfig``, which runs even when the
    pool is removed right after creation) and any inline ``nodePools``. Autopilot clusters manage nodes.
    """
    if res.type == NODE_POOL:
        yield "nodeConfig", ("nodeConfig",)
        return
    if res.get("enableAutopilot", default=False) is True:
        return
    yield "nodeConfig", ("nodeConfig",)
    for index, _pool in enumerate(res.get("nodePools", default=[])):
        yield f"nodePools[{index}].nodeConfig", ("nodePools", index, "nodeConfig")


def _pool_managements(res: Resource) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """(label, path) of the ``management`` blocks of a node pool or a cluster's inline node pools."""
    if res.type == NODE_POOL:
        yield "management", ("management",)
        return
    for index, _pool in enumerate(res.get("nodePools", default=[])):
        yield f"nodePools[{index}].management", ("nodePools", index, "management")


def _duration_s(value: Any) -> float | None:
    """Seconds of a protobuf duration string such as ``"7776000s"`` (None when it is not one)."""
    match = _DURATION.match(str(value).strip())
    return float(match.group(1)) if match else None


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g} days"


# ----- GKE clusters ----------------------------------------------------------------------------------------


@resource_rule(
    id="gcp-gke-cluster-private-nodes", title="GKE nodes have private IP addresses only", severity="high",
    types=POOLS, controls=cis(CIS_GKE, "5.6.5"),
    rationale="Nodes with public IPs are reachable from the internet; private nodes force an attacker onto the "
    "VPC first, and egress goes through Cloud NAT.",
    fix="mlinfra sets this; custom components must set privateClusterConfig.enablePrivateNodes and never turn "
    "it off per pool (networkConfig.enablePrivateNodes)",
)
def gke_private_nodes(res: Resource, context: PolicyContext) -> Iterator[str]:
    """A cluster's ``privateClusterConfig.enablePrivateNodes``; a node pool (or an inline ``nodePools`` entry)
    must not override it with ``networkConfig.enablePrivateNodes: false``."""
    if res.type == NODE_POOL:
        if res.get("networkConfig", "enablePrivateNodes") is False:
            yield "networkConfig.enablePrivateNodes is false: this pool's nodes get public IP addresses"
        return
    if res.get("privateClusterConfig", "enablePrivateNodes") is not True:
        yield "privateClusterConfig.enablePrivateNodes is not true: nodes get public IP addresses"
    for index in range(len(res.get("nodePools", default=[]))):
        if res.get("nodePools", index, "networkConfig", "enablePrivateNodes") is False:
            yield f"nodePools[{index}].networkConfig.enablePrivateNodes is false: its nodes get public IP addresses"


@resource_rule(
    id="gcp-gke-cluster-private-endpoint", title="Production GKE control planes have no public endpoint",
    severity="high", types=(CLUSTER,), controls=cis(CIS_GKE, "5.6.4"),
    rationale="A public control-plane endpoint exposes the Kubernetes API (and its version) to the internet; in "
    "prod the API must be reachable on its private address (or through the IAM-protected DNS endpoint) only.",
    fix="clusters[].private_endpoint (on by default)",
)
def gke_private_endpoint(res: Resource, context: PolicyContext) -> Iterator[str]:
    """In prod environments: ``privateClusterConfig.enablePrivateEndpoint`` is true, or the IP endpoints are
    off altogether (``controlPlaneEndpointsConfig.ipEndpointsConfig.enabled: false``)."""
    if context.environment != "prod":
        return
    if res.get("controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled") is False:
        return
    if res.get("privateClusterConfig", "enablePrivateEndpoint") is not True:
        yield ("privateClusterConfig.enablePrivateEndpoint is not true: the control plane has a public endpoint "
               "in a prod environment")


@resource_rule(
    id="gcp-gke-cluster-authorized-networks", title="GKE control planes accept only authorized networks",
    severity="high", types=(CLUSTER,), controls=cis(CIS_GKE, "5.6.3"),
    rationale="Without authorized networks any source address may reach the Kubernetes API and try leaked or "
    "stolen credentials; an allow-list of internal ranges blocks that.",
    fix="network.authorized_networks",
)
def gke_authorized_networks(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``masterAuthorizedNetworksConfig`` is set, lists no ``/0`` range, and does not open the endpoint to all
    Google Cloud public IPs (``gcpPublicCidrsAccessEnabled``); skipped when IP endpoints are off."""
    if res.get("controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled") is False:
        return
    config = res.get("masterAuthorizedNetworksConfig")
    if config is None:
        yield "masterAuthorizedNetworksConfig is not set: the control plane accepts any source address"
        return
    for index in range(len(res.get("masterAuthorizedNetworksConfig", "cidrBlocks", default=[]))):
        cidr = res.get("masterAuthorizedNetworksConfig", "cidrBlocks", index, "cidrBlock", default="")
        if _is_everywhere(str(cidr)):
            yield f"masterAuthorizedNetworksConfig.cidrBlocks[{index}] is {cidr}: any source address is authorized"
    if res.get("masterAuthorizedNetworksConfig", "gcpPublicCidrsAccessEnabled") is True:
        yield ("masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled is true: every Google Cloud public IP "
               "(any customer's VMs) may reach the control plane")


def _is_everywhere(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


@resource_rule(
    id="gcp-gke-cluster-workload-identity", title="GKE clusters use Workload Identity", severity="high",
    types=(CLUSTER,), controls=cis(CIS_GKE, "5.2.2"),
    rationale="Without Workload Identity pods authenticate to Google APIs as the node's service account, so "
    "every pod on a node shares one identity; with it each Kubernetes service account maps to its own.",
    fix="mlinfra sets this; custom components must set workloadIdentityConfig.workloadPool to "
    "'<project>.svc.id.goog'",
)
def gke_workload_identity(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``workloadIdentityConfig.workloadPool`` is set (a value not known yet counts as set)."""
    if not res.has("workloadIdentityConfig", "workloadPool"):
        yield "workloadIdentityConfig.workloadPool is not set: pods act with the node's service account"


@resource_rule(
    id="gcp-gke-cluster-secrets-encryption", title="Kubernetes secrets are encrypted with a Cloud KMS key",
    severity="high", types=(CLUSTER,), controls=cis(CIS_GKE, "5.3.1"),
    rationale="Application-layer secrets encryption wraps Secrets in etcd with a customer-managed key, so an "
    "offline copy of etcd does not reveal them and revoking the key cuts access.",
    fix="kms (mlinfra encrypts secrets with the gke-secrets key)",
)
def gke_secrets_encryption(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``databaseEncryption.state`` is ENCRYPTED and ``databaseEncryption.keyName`` is set."""
    state = res.get("databaseEncryption", "state", default="")
    if str(state).upper() != "ENCRYPTED":
        yield (f"databaseEncryption.state is {state or 'not set'}: Kubernetes secrets are not encrypted with a "
               "customer-managed key")
    elif not res.has("databaseEncryption", "keyName"):
        yield "databaseEncryption.keyName is not set: no Cloud KMS key encrypts Kubernetes secrets"


@resource_rule(
    id="gcp-gke-cluster-shielded-nodes", title="GKE clusters require Shielded GKE Nodes", severity="high",
    types=(CLUSTER,), controls=cis(CIS_GKE, "5.5.5"),
    rationale="Shielded GKE Nodes give nodes a verifiable identity, so stolen bootstrap credentials cannot be "
    "used to join a rogue node and read the secrets scheduled to it.",
    fix="mlinfra sets this; custom components must not set enableShieldedNodes to false",
)
def gke_shielded_nodes(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``enableShieldedNodes`` is not false (GKE's default is on)."""
    if res.get("enableShieldedNodes") is False:
        yield "enableShieldedNodes is false: a node impersonating a cluster node could join the cluster"


@resource_rule(
    id="gcp-gke-cluster-release-channel", title="GKE clusters are enrolled in a release channel", severity="medium",
    enforcement="advisory", types=(CLUSTER,), controls=cis(CIS_GKE, "5.5.4"),
    rationale="A release channel keeps the control plane and nodes on supported, patched versions without "
    "manual upgrades.",
    fix="clusters[].release_channel",
)
def gke_release_channel(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``releaseChannel.channel`` is RAPID, REGULAR, STABLE or EXTENDED."""
    channel = str(res.get("releaseChannel", "channel", default="")).upper()
    if channel not in ("RAPID", "REGULAR", "STABLE", "EXTENDED"):
        yield (f"releaseChannel.channel is {channel or 'not set'}: the cluster is not enrolled in a release "
               "channel and its versions are managed by hand")


@resource_rule(
    id="gcp-gke-cluster-network-policy", title="GKE clusters enforce NetworkPolicy", severity="high",
    types=(CLUSTER,), controls=cis(CIS_GKE, "4.3.1"),
    rationale="mlinfra isolates teams with NetworkPolicy objects; on a cluster that does not enforce them they "
    "are accepted and silently ignored, leaving the pod network flat.",
    fix="mlinfra sets this (Dataplane V2); custom components must set datapathProvider ADVANCED_DATAPATH or "
    "networkPolicy.enabled",
)
def gke_network_policy(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``datapathProvider`` is ADVANCED_DATAPATH (Dataplane V2) or ``networkPolicy.enabled`` is true (Calico);
    Autopilot always enforces it."""
    if res.get("enableAutopilot", default=False) is True:
        return
    if str(res.get("datapathProvider", default="")).upper() == "ADVANCED_DATAPATH":
        return
    if res.get("networkPolicy", "enabled") is True:
        if res.get("addonsConfig", "networkPolicyConfig", "disabled") is True:
            yield "addonsConfig.networkPolicyConfig.disabled is true: NetworkPolicy objects are not enforced"
        return
    yield ("neither Dataplane V2 (datapathProvider ADVANCED_DATAPATH) nor networkPolicy.enabled is set: "
           "NetworkPolicy objects are accepted but not enforced")


@resource_rule(
    id="gcp-gke-cluster-legacy-abac-disabled", title="GKE legacy authorization (ABAC) is off", severity="high",
    types=(CLUSTER,), controls=cis(CIS_GKE, "5.8.3"),
    rationale="The legacy ABAC authorizer grants broad static permissions that RBAC cannot narrow: any grant it "
    "makes wins over RBAC.",
    fix="mlinfra sets this; custom components must not set enableLegacyAbac",
)
def gke_legacy_abac(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``enableLegacyAbac`` is not true."""
    if res.get("enableLegacyAbac") is True:
        yield "enableLegacyAbac is true: the legacy authorizer grants permissions RBAC cannot restrict"


@resource_rule(
    id="gcp-gke-cluster-client-certificate-disabled", title="GKE issues no client certificates", severity="high",
    types=(CLUSTER,), controls=cis(CIS_GKE, "5.8.1"),
    rationale="A client certificate is a long-lived admin credential that cannot be revoked short of rotating "
    "the cluster CA; users should authenticate with short-lived Google tokens.",
    fix="mlinfra sets this; custom components must set masterAuth.clientCertificateConfig.issueClientCertificate "
    "to false",
)
def gke_client_certificate(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``masterAuth.clientCertificateConfig.issueClientCertificate`` is not true."""
    if res.get("masterAuth", "clientCertificateConfig", "issueClientCertificate") is True:
        yield ("masterAuth.clientCertificateConfig.issueClientCertificate is true: the cluster issues a "
               "non-revocable admin client certificate")


@resource_rule(
    id="gcp-gke-cluster-logging-monitoring", title="GKE system and workload logs and metrics are collected",
    severity="medium", enforcement="advisory", types=(CLUSTER,), controls=cis(CIS_GKE, "5.7.1"),
    rationale="Without Cloud Logging and Monitoring there is no record to investigate an incident with, and no "
    "signal that one is happening.",
    fix="mlinfra sets this; custom components must keep loggingConfig/monitoringConfig components (or leave "
    "them unset for GKE's defaults)",
)
def gke_logging_monitoring(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``loggingService``/``monitoringService`` are not 'none'; when ``loggingConfig.enableComponents`` is given
    it includes SYSTEM_COMPONENTS and WORKLOADS, and ``monitoringConfig.enableComponents`` SYSTEM_COMPONENTS."""
    for key in ("loggingService", "monitoringService"):
        if str(res.get(key, default="")).lower() == "none":
            yield f"{key} is 'none': the cluster sends no {'logs' if key == 'loggingService' else 'metrics'}"
    logging = res.get("loggingConfig", "enableComponents")
    if logging is not None:
        missing = [c for c in ("SYSTEM_COMPONENTS", "WORKLOADS") if c not in {str(x).upper() for x in logging}]
        if missing:
            yield f"loggingConfig.enableComponents lacks {', '.join(missing)}: those logs are not collected"
    monitoring = res.get("monitoringConfig", "enableComponents")
    if monitoring is not None and "SYSTEM_COMPONENTS" not in {str(x).upper() for x in monitoring}:
        yield "monitoringConfig.enableComponents lacks SYSTEM_COMPONENTS: system metrics are not collected"


@resource_rule(
    id="gcp-gke-cluster-vpc-native", title="GKE clusters are VPC-native", severity="medium",
    enforcement="advisory", types=(CLUSTER,), controls=cis(CIS_GKE, "5.6.2"),
    rationale="VPC-native (alias IP) pod addresses are visible to VPC firewall rules, flow logs and anti-spoofing "
    "checks; routes-based clusters hide pod traffic behind node addresses.",
    fix="mlinfra sets this; custom components must not set networkingMode ROUTES",
)
def gke_vpc_native(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``networkingMode`` is not ROUTES (unset means the provider's default, VPC_NATIVE)."""
    if str(res.get("networkingMode", default="")).upper() == "ROUTES":
        yield "networkingMode is ROUTES: pod addresses are not VPC alias IPs, so firewall rules and flow logs miss them"


@resource_rule(
    id="gcp-gke-cluster-binary-authorization", title="GKE clusters enforce Binary Authorization", severity="medium",
    enforcement="advisory", types=(CLUSTER,), controls=cis(CIS_GKE, "5.10.4"),
    rationale="Binary Authorization admits only images that satisfy the project's policy (trusted registries, "
    "attestations), so a compromised CI token cannot run arbitrary images.",
    fix="mlinfra sets this; custom components must set binaryAuthorization.evaluationMode "
    "PROJECT_SINGLETON_POLICY_ENFORCE",
)
def gke_binary_authorization(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``binaryAuthorization.evaluationMode`` is PROJECT_SINGLETON_POLICY_ENFORCE (or the legacy ``enabled``)."""
    mode = str(res.get("binaryAuthorization", "evaluationMode", default="")).upper()
    if mode == "PROJECT_SINGLETON_POLICY_ENFORCE" or res.get("binaryAuthorization", "enabled") is True:
        return
    yield (f"binaryAuthorization.evaluationMode is {mode or 'not set'}: any image may run, whatever the project's "
           "Binary Authorization policy says")


# ----- GKE nodes (node pools and a cluster's default pool) ---------------------------------------------------


@resource_rule(
    id="gcp-gke-nodepool-default-service-account",
    title="GKE nodes do not run as the Compute Engine default service account", severity="high", types=POOLS,
    controls=cis(CIS_GKE, "5.2.1"),
    rationale="The Compute Engine default service account has Editor on the project by default; any pod that "
    "reaches node credentials would get it. Nodes need a dedicated account with logging/monitoring roles only.",
    fix="mlinfra sets this (a dedicated node service account per cluster); custom components must set "
    "nodeConfig.serviceAccount",
)
def gke_node_service_account(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Each node configuration's ``serviceAccount`` is set and is neither 'default' nor
    ``<number>-compute@developer.gserviceaccount.com`` (a value not known yet counts as a dedicated account)."""
    for label, path in _node_configs(res):
        if not res.has(*path, "serviceAccount"):
            yield f"{label}.serviceAccount is not set: nodes run as the Compute Engine default service account"
            continue
        account = str(res.known(*path, "serviceAccount", default=""))
        if account == "default" or _DEFAULT_COMPUTE_SA.match(account):
            yield f"{label}.serviceAccount is {account!r}: nodes run as the Compute Engine default service account"


@resource_rule(
    id="gcp-gke-nodepool-metadata-server", title="GKE nodes expose only the GKE metadata server to pods",
    severity="high", types=POOLS, controls=cis(CIS_GKE, "5.4.1"),
    rationale="The GKE metadata server hides node credentials and the kubelet's bootstrap data from pods and "
    "gives them their Workload Identity instead.",
    fix="mlinfra sets this; custom components must set nodeConfig.workloadMetadataConfig.mode GKE_METADATA",
)
def gke_metadata_server(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Each node configuration's ``workloadMetadataConfig.mode`` is GKE_METADATA."""
    for label, path in _node_configs(res):
        mode = str(res.get(*path, "workloadMetadataConfig", "mode", default="")).upper()
        if mode != "GKE_METADATA":
            yield (f"{label}.workloadMetadataConfig.mode is {mode or 'not set'}: pods can read the node's "
                   "metadata and its service-account credentials")


@resource_rule(
    id="gcp-gke-nodepool-shielded-instance", title="GKE nodes use secure boot and integrity monitoring",
    severity="medium", enforcement="advisory", types=POOLS, controls=cis(CIS_GKE, "5.5.6", "5.5.7"),
    rationale="Secure boot refuses unsigned boot components and integrity monitoring reports a changed boot "
    "sequence, so rootkits and bootkits cannot persist unnoticed on nodes.",
    fix="mlinfra sets this; custom components must set nodeConfig.shieldedInstanceConfig.enableSecureBoot",
)
def gke_shielded_instance(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Each node configuration's ``shieldedInstanceConfig.enableSecureBoot`` is true and
    ``enableIntegrityMonitoring`` is not false (on by default)."""
    for label, path in _node_configs(res):
        if res.get(*path, "shieldedInstanceConfig", "enableSecureBoot") is not True:
            yield f"{label}.shieldedInstanceConfig.enableSecureBoot is not true: nodes boot unverified components"
        if res.get(*path, "shieldedInstanceConfig", "enableIntegrityMonitoring") is False:
            yield (f"{label}.shieldedInstanceConfig.enableIntegrityMonitoring is false: a changed boot sequence "
                   "goes unreported")


@resource_rule(
    id="gcp-gke-nodepool-cos-image", title="GKE nodes run Container-Optimized OS with containerd",
    severity="medium", enforcement="advisory", types=POOLS, controls=cis(CIS_GKE, "5.5.1"),
    rationale="Container-Optimized OS has a read-only root file system, a minimal package set and automatic "
    "updates; general-purpose images carry more attack surface.",
    fix="mlinfra sets this; custom components must set nodeConfig.imageType COS_CONTAINERD (or leave it unset)",
)
def gke_cos_image(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Each node configuration's ``imageType`` is COS_CONTAINERD (unset means GKE's default, which is)."""
    for label, path in _node_configs(res):
        image = str(res.get(*path, "imageType", default="COS_CONTAINERD")).upper()
        if image != "COS_CONTAINERD":
            yield f"{label}.imageType is {image}: nodes do not run Container-Optimized OS with containerd"


@resource_rule(
    id="gcp-gke-nodepool-boot-disk-cmek", title="GKE node boot disks are encrypted with a customer key",
    severity="medium", enforcement="advisory", types=POOLS, controls=cis(CIS_GKE, "5.9.2"),
    rationale="Boot disks hold container images, logs and emptyDir data; a customer-managed key keeps them under "
    "the same key control and revocation as the data stores.",
    fix="kms (mlinfra encrypts boot disks with the disks key)",
)
def gke_boot_disk_cmek(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Each node configuration's ``bootDiskKmsKey`` is set (a value not known yet counts as set)."""
    for label, path in _node_configs(res):
        if not res.has(*path, "bootDiskKmsKey"):
            yield f"{label}.bootDiskKmsKey is not set: boot disks use Google-managed encryption keys"


@resource_rule(
    id="gcp-gke-nodepool-auto-repair", title="GKE node auto-repair is on", severity="medium",
    enforcement="advisory", types=POOLS, controls=cis(CIS_GKE, "5.5.2"),
    rationale="Auto-repair replaces nodes that fail health checks, so a broken or tampered node does not linger.",
    fix="mlinfra sets this; custom components must not set management.autoRepair to false",
)
def gke_auto_repair(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Each node pool's ``management.autoRepair`` is not false (the provider's default is on)."""
    for label, path in _pool_managements(res):
        if res.get(*path, "autoRepair") is False:
            yield f"{label}.autoRepair is false: unhealthy nodes are not repaired"


@resource_rule(
    id="gcp-gke-nodepool-auto-upgrade", title="GKE node auto-upgrade is on", severity="medium",
    enforcement="advisory", types=POOLS, controls=cis(CIS_GKE, "5.5.3"),
    rationale="Auto-upgrade keeps nodes on the control plane's patched version; pinned nodes fall behind on "
    "kubelet and kernel security fixes.",
    fix="mlinfra sets this; custom components must not set management.autoUpgrade to false",
)
def gke_auto_upgrade(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Each node pool's ``management.autoUpgrade`` is not false (the provider's default is on)."""
    for label, path in _pool_managements(res):
        if res.get(*path, "autoUpgrade") is False:
            yield f"{label}.autoUpgrade is false: nodes miss security patches"


def _accelerator_kind(res: Resource, path: Sequence[str | int]) -> str | None:
    """'gpu', 'tpu' or None for the node configuration at ``path``."""
    machine = str(res.get(*path, "machineType", default="")).lower()
    if _TPU_MACHINE.match(machine):
        return "tpu"
    accelerators = res.get(*path, "guestAccelerators", default=[]) or []
    counted = [a for a in accelerators if isinstance(a, dict) and _number(a.get("count"), default=1) > 0]
    if counted or _GPU_MACHINE.match(machine):
        return "gpu"
    return None


_ACCELERATOR_TAINTS = {"gpu": "nvidia.com/gpu", "tpu": "google.com/tpu"}


@resource_rule(
    id="gcp-gke-nodepool-accelerator-taint", title="GPU and TPU nodes are tainted for accelerator workloads",
    severity="medium", enforcement="advisory", types=POOLS,
    rationale="Untainted accelerator nodes accept any pod, so ordinary workloads occupy scarce GPUs/TPUs and "
    "share nodes (and device drivers) with the jobs that need them.",
    fix="mlinfra sets this (node_pools[].accelerator adds the taint); custom components must add "
    "nvidia.com/gpu or google.com/tpu with effect NO_SCHEDULE",
)
def gke_accelerator_taint(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Node configurations with GPUs (guestAccelerators, or a2/a3/a4/g2/g4 machines) carry an
    ``nvidia.com/gpu`` taint, TPU machines (ct*) a ``google.com/tpu`` taint, with effect NO_SCHEDULE or
    NO_EXECUTE."""
    for label, path in _node_configs(res):
        kind = _accelerator_kind(res, path)
        if kind is None:
            continue
        key = _ACCELERATOR_TAINTS[kind]
        taints = res.get(*path, "taints", default=[]) or []
        if not any(isinstance(t, dict) and t.get("key") == key
                   and str(t.get("effect", "")).upper().replace("_", "") in ("NOSCHEDULE", "NOEXECUTE")
                   for t in taints):
            yield (f"{label}.taints has no {key} NO_SCHEDULE taint: pods that do not request the "
                   f"{kind.upper()} can be scheduled onto these nodes")


@resource_rule(
    id="gcp-gke-nodepool-tpu-compact-placement", title="Multi-host TPU slices use COMPACT placement",
    severity="medium", enforcement="advisory", types=(NODE_POOL,),
    rationale="The hosts of a multi-host TPU slice must be placed together on the inter-chip interconnect; "
    "without a COMPACT placement policy and its topology GKE cannot provision the slice as one unit.",
    fix="node_pools[].accelerator.topology (mlinfra adds COMPACT placement for multi-host slices)",
)
def gke_tpu_compact_placement(res: Resource, context: PolicyContext) -> Iterator[str]:
    """For TPU machines (ct*-Nt): when ``placementPolicy.tpuTopology`` spans more chips than one host has, the
    placement type is COMPACT; a COMPACT TPU pool of several nodes names its ``tpuTopology``."""
    machine = str(res.get("nodeConfig", "machineType", default="")).lower()
    if not _TPU_MACHINE.match(machine):
        return
    topology = str(res.get("placementPolicy", "tpuTopology", default=""))
    placement = str(res.get("placementPolicy", "type", default="")).upper()
    if topology:
        hosts = _tpu_hosts(machine, topology)
        if hosts is None:
            yield f"placementPolicy.tpuTopology {topology!r} is not a topology like '4x4' or '2x2x2'"
        elif hosts > 1 and placement != "COMPACT":
            yield (f"placementPolicy.type is {placement or 'not set'}: the {topology} slice spans {hosts} hosts "
                   "and needs COMPACT placement")
    elif placement == "COMPACT" and float(_max_nodes(res)) > 1:
        yield ("placementPolicy.tpuTopology is not set: a COMPACT TPU pool of several hosts must name the slice "
               "topology")


def _tpu_hosts(machine: str, topology: str) -> int | None:
    try:
        chips = math.prod(int(d) for d in topology.lower().split("x"))
    except ValueError:
        return None
    match = _CHIPS_PER_HOST.search(machine)
    per_host = int(match.group(1)) if match else 4
    return max(1, math.ceil(chips / per_host))


def _max_nodes(res: Resource) -> float:
    for key in ("totalMaxNodeCount", "maxNodeCount"):
        value = res.known("autoscaling", key)
        if value is not None:
            return _number(value, default=2)
    return _number(res.known("nodeCount", default=res.known("initialNodeCount", default=1)), default=2)


def _number(value: Any, default: float) -> float:
    """``value`` as a number; ``default`` when it is absent or not known yet."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


# ----- Cloud Storage ---------------------------------------------------------------------------------------


@resource_rule(
    id="gcp-storage-bucket-uniform-access", title="Buckets use uniform bucket-level access", severity="high",
    types=(BUCKET,), controls=cis(CIS_GCP, "5.2"),
    rationale="Object ACLs grant access outside IAM, where audits and least-privilege reviews do not see it; "
    "uniform bucket-level access turns them off.",
    fix="mlinfra sets this; custom components must set uniformBucketLevelAccess",
)
def gcs_uniform_access(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``uniformBucketLevelAccess`` is true."""
    if res.get("uniformBucketLevelAccess") is not True:
        yield "uniformBucketLevelAccess is not true: object ACLs can grant access outside IAM"


@resource_rule(
    id="gcp-storage-bucket-public-access-prevention", title="Buckets enforce public access prevention",
    severity="high", types=(BUCKET,), controls=cis(CIS_GCP, "5.1"),
    rationale="Public access prevention makes Cloud Storage refuse allUsers/allAuthenticatedUsers grants on the "
    "bucket, whatever IAM policy or ACL is applied later.",
    fix="mlinfra sets this; custom components must set publicAccessPrevention 'enforced'",
)
def gcs_public_access_prevention(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``publicAccessPrevention`` is 'enforced' ('inherited' depends on an organization policy the plan cannot
    see)."""
    value = str(res.get("publicAccessPrevention", default=""))
    if value.lower() != "enforced":
        yield f"publicAccessPrevention is {value or 'not set'}: a later IAM grant or ACL can make objects public"


@resource_rule(
    id="gcp-storage-bucket-cmek", title="Buckets are encrypted with a customer-managed key", severity="high",
    types=(BUCKET,),
    rationale="A customer-managed key puts decryption under the environment's control: rotation, audit of every "
    "use, and revocation that makes the data unreadable.",
    fix="kms (mlinfra encrypts buckets with the storage key)",
)
def gcs_cmek(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``encryption.defaultKmsKeyName`` is set (a value not known yet counts as set)."""
    if not res.has("encryption", "defaultKmsKeyName"):
        yield "encryption.defaultKmsKeyName is not set: objects are encrypted with Google-managed keys"


@resource_rule(
    id="gcp-storage-bucket-versioning", title="Buckets keep overwritten objects", severity="medium",
    enforcement="advisory", types=(BUCKET,),
    rationale="Versioning (or a retention policy, which excludes it on GCS) keeps overwritten and deleted objects "
    "recoverable after a mistake or a malicious deletion.",
    fix="storage.buckets[].versioning or storage.buckets[].retention_days",
)
def gcs_versioning(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``versioning.enabled`` is true, or a ``retentionPolicy.retentionPeriod`` protects objects instead."""
    if res.get("versioning", "enabled") is True or res.has("retentionPolicy", "retentionPeriod"):
        return
    yield "versioning is off and no retention policy is set: overwritten or deleted objects cannot be recovered"


# ----- IAM ---------------------------------------------------------------------------------------------------


def _public_member(member: Any) -> str | None:
    """Who a member string means when it is a public principal ('allUsers' etc.), else None."""
    if not isinstance(member, str) or is_unknown(member):
        return None
    return PUBLIC_PRINCIPALS.get(member.strip().lower())


def _acl_entity(entry: Any) -> str:
    """The entity of an ACL entry such as 'READER:allUsers'."""
    return str(entry).rpartition(":")[2]


@resource_rule(
    id="gcp-iam-member-no-public-principal",
    title="No IAM grant or ACL gives access to allUsers or allAuthenticatedUsers", severity="critical",
    types=("gcp:*",), controls=cis(CIS_GCP, "1.9", "5.1", "7.1"),
    rationale="allUsers is anyone on the internet and allAuthenticatedUsers anyone with a Google account; a grant "
    "to either on a bucket, dataset, topic, key, service account or project publishes the resource.",
    fix="iam (grant teams and workload identities, never allUsers or allAuthenticatedUsers)",
)
def iam_no_public_principal(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``member``/``members`` of every *IAMMember/*IAMBinding resource, the bindings in *IAMPolicy
    ``policyData``, and the entities of storage ACL resources. A member not known yet is a computed identity (a
    service-account e-mail), never one of the public literals, so it passes; an unknown policy document fails
    closed."""
    kind = res.kind
    role = res.known("role", default="")
    on_role = f" {role}" if role else ""
    if _IAM_TYPE.search(kind):
        if kind.endswith("Policy"):
            yield from _public_in_policy(str(res.get("policyData", default="") or ""))
            return
        members = [res.known("member"), *list(res.known("members", default=[]) or [])]
        for member in members:
            if who := _public_member(member):
                yield f"member {member!r} is granted{on_role}: {who} gets it"
    elif kind.endswith("ACL"):
        for entry in res.known("roleEntities", default=[]) or []:
            if who := _public_member(_acl_entity(entry)):
                yield f"ACL entry {entry!r} gives {who} access"
        acl = str(res.known("predefinedAcl", default=""))
        if acl.lower().startswith("public"):
            yield f"predefinedAcl {acl!r} gives anyone on the internet access"
    elif kind.endswith("AccessControl") and (who := _public_member(res.known("entity"))):
        yield f"entity {res.known('entity')!r} gives {who} access"


def _public_in_policy(document: str) -> Iterator[str]:
    if not document:
        return
    try:
        policy = json.loads(document)
    except ValueError:
        yield "policyData is not a JSON IAM policy, so its members cannot be checked"
        return
    for binding in policy.get("bindings", []) if isinstance(policy, dict) else []:
        for member in binding.get("members", []) if isinstance(binding, dict) else []:
            if who := _public_member(member):
                yield f"policyData binds {member!r} to {binding.get('role', 'a role')}: {who} gets it"


# ----- BigQuery ----------------------------------------------------------------------------------------------


@resource_rule(
    id="gcp-bigquery-dataset-cmek", title="BigQuery datasets default to a customer-managed key", severity="high",
    types=(DATASET,), controls=cis(CIS_GCP, "7.3"),
    rationale="A default key makes every table created in the dataset CMEK-encrypted, so no table silently falls "
    "back to Google-managed keys.",
    fix="kms (mlinfra encrypts datasets with the bigquery key)",
)
def bq_dataset_cmek(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``defaultEncryptionConfiguration.kmsKeyName`` is set (a value not known yet counts as set)."""
    if not res.has("defaultEncryptionConfiguration", "kmsKeyName"):
        yield ("defaultEncryptionConfiguration.kmsKeyName is not set: new tables are encrypted with Google-managed "
               "keys")


_PUBLIC_GROUPS = {"allauthenticatedusers": "anyone with a Google account", "allusers": "anyone on the internet"}
_PROJECT_GROUPS = {"projectreaders": "every project viewer", "projectwriters": "every project editor"}


@resource_rule(
    id="gcp-bigquery-dataset-not-public", title="BigQuery datasets grant no public or project-wide access",
    severity="critical", types=(DATASET, DATASET_ACCESS), controls=cis(CIS_GCP, "7.1"),
    rationale="Access entries for allUsers/allAuthenticatedUsers publish the data; the projectReaders/"
    "projectWriters special groups hand it to everyone with a basic role on the project, bypassing team grants.",
    fix="warehouse.datasets[] with iam.teams[].datasets (mlinfra grants teams through dataset IAM members)",
)
def bq_dataset_not_public(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Each access entry of a dataset (``accesses[]``) and each DatasetAccess: ``specialGroup``, ``iamMember``
    and ``userByEmail`` are not public principals, and ``specialGroup`` is not projectReaders/projectWriters."""
    entries = [(f"accesses[{i}]", a) for i, a in enumerate(res.known("accesses", default=[]) or [])
               if isinstance(a, dict)] if res.type == DATASET else [("access", dict(res.props))]
    for label, entry in entries:
        group = str(entry.get("specialGroup") or "")
        if group.lower() in _PUBLIC_GROUPS or group.lower() in _PROJECT_GROUPS:
            who = _PUBLIC_GROUPS.get(group.lower()) or _PROJECT_GROUPS[group.lower()]
            yield f"{label}.specialGroup {group!r} gives {who} {entry.get('role') or 'access'} on the dataset"
        for key in ("iamMember", "userByEmail"):
            if who := _public_member(entry.get(key)):
                yield f"{label}.{key} {entry.get(key)!r} gives {who} {entry.get('role') or 'access'} on the dataset"


# ----- Pub/Sub -----------------------------------------------------------------------------------------------


@resource_rule(
    id="gcp-pubsub-topic-cmek", title="Pub/Sub topics are encrypted with a customer-managed key", severity="high",
    types=(TOPIC,),
    rationale="Messages are data at rest until acknowledged; a customer-managed key keeps them under the "
    "environment's key control like the stores they come from.",
    fix="kms (mlinfra encrypts topics with the pubsub key)",
)
def pubsub_topic_cmek(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``kmsKeyName`` is set (a value not known yet counts as set)."""
    if not res.has("kmsKeyName"):
        yield "kmsKeyName is not set: messages are encrypted with Google-managed keys"


# ----- Cloud KMS ---------------------------------------------------------------------------------------------


@resource_rule(
    id="gcp-kms-crypto-key-rotation", title="Encryption keys rotate at least every 90 days", severity="high",
    types=(CRYPTO_KEY,), controls=cis(CIS_GCP, "1.10"),
    rationale="Rotation limits how much data one key version protects and how long a leaked version stays "
    "useful; 90 days is the benchmark's ceiling.",
    fix="kms.rotation_days",
)
def kms_rotation(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Symmetric ENCRYPT_DECRYPT keys have a ``rotationPeriod`` of at most 7776000s (other purposes cannot
    rotate automatically and are skipped)."""
    purpose = str(res.get("purpose", default="ENCRYPT_DECRYPT")).upper()
    if purpose != "ENCRYPT_DECRYPT":
        return
    period = res.get("rotationPeriod")
    if period is None:
        yield "rotationPeriod is not set: the key never rotates automatically"
        return
    seconds = _duration_s(period)
    if seconds is None:
        yield f"rotationPeriod {period!r} is not a duration in seconds such as '7776000s'"
    elif seconds > ROTATION_MAX_S:
        yield f"rotationPeriod is {period} ({_days(seconds)}): keys must rotate at least every 90 days"


@resource_rule(
    id="gcp-kms-crypto-key-destroy-delay", title="Destroyed key versions stay recoverable for at least 7 days",
    severity="medium", enforcement="advisory", types=(CRYPTO_KEY,),
    rationale="Destroying a key version makes everything encrypted with it unreadable; a scheduled-destruction "
    "window leaves time to notice a mistaken or malicious destroy and restore the version.",
    fix="kms.destroy_scheduled_days",
)
def kms_destroy_delay(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``destroyScheduledDuration``, when set, is at least 604800s (unset means Cloud KMS's 30-day default)."""
    value = res.get("destroyScheduledDuration")
    if value is None:
        return
    seconds = _duration_s(value)
    if seconds is None:
        yield f"destroyScheduledDuration {value!r} is not a duration in seconds such as '2592000s'"
    elif seconds < DESTROY_MIN_S:
        yield (f"destroyScheduledDuration is {value} ({_days(seconds)}): a destroyed key version is gone before "
               "anyone can notice and restore it")


# ----- VPC ---------------------------------------------------------------------------------------------------


def _serves_vms(res: Resource) -> bool:
    """False for proxy-only, PSC and NAT subnets, which hold no VMs (no flow logs, no Google access)."""
    purpose = str(res.get("purpose", default="PRIVATE")).upper()
    return purpose not in _NO_FLOW_LOG_PURPOSES


@resource_rule(
    id="gcp-compute-subnetwork-flow-logs", title="VPC subnets record flow logs", severity="medium",
    enforcement="advisory", types=(SUBNETWORK,), controls=(*cis(CIS_GCP, "3.8"), *cis(CIS_GKE, "5.6.1")),
    rationale="Flow logs are the record of which workload talked to which address; without them exfiltration and "
    "lateral movement leave no network trace.",
    fix="network.flow_logs",
)
def subnet_flow_logs(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``logConfig`` is set on subnets that hold VMs (proxy-only, PSC and NAT subnets are skipped)."""
    if _serves_vms(res) and res.get("logConfig") is None:
        yield "logConfig is not set: the subnet records no VPC flow logs"


@resource_rule(
    id="gcp-compute-subnetwork-private-google-access", title="VPC subnets use Private Google Access",
    severity="medium", enforcement="advisory", types=(SUBNETWORK,),
    rationale="Private nodes reach Google APIs (Artifact Registry, Cloud Storage, KMS) over Google's network "
    "only with Private Google Access; otherwise that traffic leaves through NAT to public endpoints.",
    fix="mlinfra sets this; custom components must set privateIpGoogleAccess",
)
def subnet_private_google_access(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``privateIpGoogleAccess`` is true on subnets that hold VMs."""
    if _serves_vms(res) and res.get("privateIpGoogleAccess") is not True:
        yield "privateIpGoogleAccess is not true: private nodes reach Google APIs through public endpoints"


def _port_ranges(ports: Sequence[Any]) -> list[tuple[int, int]]:
    ranges = []
    for port in ports:
        low, _, high = str(port).partition("-")
        try:
            ranges.append((int(low), int(high or low)))
        except ValueError:
            continue
    return ranges


def _exposures(allow: Any) -> Iterator[str]:
    """What one ``allows`` entry opens: all ports, or the admin ports among its ranges."""
    if not isinstance(allow, dict):
        return
    protocol = str(allow.get("protocol", "")).lower()
    if protocol not in ("all", "tcp", "udp", "sctp", "6", "17", "132"):
        return
    ports = allow.get("ports") or []
    if protocol == "all":
        yield "all protocols and ports"
        return
    if not ports:
        yield f"all {protocol} ports"
        return
    for low, high in _port_ranges(ports):
        for port, name in ADMIN_PORTS.items():
            if low <= port <= high:
                yield f"{protocol}:{port} ({name})"


@resource_rule(
    id="gcp-compute-firewall-no-public-admin-ingress",
    title="No firewall rule opens SSH, RDP or all ports to the internet", severity="critical", types=(FIREWALL,),
    controls=cis(CIS_GCP, "3.6", "3.7"),
    rationale="SSH and RDP open to 0.0.0.0/0 are brute-forced within minutes, and an all-ports rule exposes every "
    "service on the nodes; administrative access belongs behind IAP or a VPN.",
    fix="network (mlinfra denies ingress by default and opens only VPC ranges and Google health checkers)",
)
def firewall_no_public_admin(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Enabled INGRESS rules with ``allows`` whose sources include 0.0.0.0/0 or ::/0 (or no source at all, which
    GCP treats as 0.0.0.0/0) must not allow all protocols, all ports of TCP/UDP/SCTP, or port 22/3389."""
    if str(res.get("direction", default="INGRESS")).upper() != "INGRESS" or res.get("disabled") is True:
        return
    allows = res.get("allows", default=[]) or []
    if not allows:
        return
    ranges = [str(r) for r in res.get("sourceRanges", default=[]) or []]
    if ranges:
        public = [r for r in ranges if _is_everywhere(r)]
    elif not res.has("sourceTags") and not res.has("sourceServiceAccounts"):
        public = ["0.0.0.0/0 (no source given)"]
    else:
        public = []
    if not public:
        return
    for allow in allows:
        for exposure in _exposures(allow):
            yield f"allows {exposure} from {public[0]}: open to the whole internet"


@resource_rule(
    id="gcp-compute-router-nat-logging", title="Cloud NAT logs translation errors", severity="low",
    enforcement="advisory", types=(ROUTER_NAT,),
    rationale="NAT logs show which node opened which outbound connection and when ports ran out; without them "
    "egress from private nodes is untraceable.",
    fix="mlinfra sets this; custom components must set logConfig.enable",
)
def nat_logging(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``logConfig.enable`` is true."""
    if res.get("logConfig", "enable") is not True:
        yield "logConfig.enable is not true: outbound connections through NAT are not logged"


# ----- Stack rules -------------------------------------------------------------------------------------------


def _project_of(res: Resource) -> str | None:
    """The resource's project (its own input, else its provider's); None when not known."""
    project = res.known("project") or res.provider.get("project")
    return str(project) if project and not is_unknown(project) else None


def _audits(config: Resource, service: str, project: str | None) -> bool:
    """True when ``config`` turns on data-read and data-write logs for ``service`` in ``project``."""
    if str(config.known("service", default="")) not in (service, "allServices"):
        return False
    if config.type == AUDIT_CONFIGS[0]:
        own = _project_of(config)
        if own and project and own != project:
            return False
    types = {str(c.get("logType", "")).upper() for c in config.known("auditLogConfigs", default=[]) or []
             if isinstance(c, dict)}
    return {"DATA_READ", "DATA_WRITE"} <= types


@stack_rule(
    id="gcp-project-audit-logs", title="Data-access audit logs are on for the services holding data",
    severity="medium", enforcement="advisory", targets=("gcp",), controls=cis(CIS_GCP, "2.1"),
    rationale="GCP logs admin activity only; reads and writes of objects, tables and keys are audited only when "
    "data-access logs are turned on. Advisory: when several environments share a project, one owns these.",
    fix="monitoring.audit_logs and monitoring.project_settings",
)
def project_audit_logs(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """For Cloud Storage, BigQuery and Cloud KMS when the plan has buckets, datasets or keys: an
    IAMAuditConfig (project, folder or organization; the service or 'allServices') with DATA_READ and
    DATA_WRITE, and no exempted members."""
    configs = list(stack.of_type(*AUDIT_CONFIGS))
    for config in configs:
        exempted = [m for c in config.known("auditLogConfigs", default=[]) or [] if isinstance(c, dict)
                    for m in c.get("exemptedMembers") or []]
        if exempted:
            yield (f"audit config for {config.known('service')} exempts {', '.join(map(str, exempted))}: their "
                   "data access is not logged", config.urn)
    seen: set[tuple[str, str | None]] = set()
    for type_, service in DATA_SERVICES.items():
        for res in stack.of_type(type_):
            project = _project_of(res)
            if (service, project) in seen:
                continue
            seen.add((service, project))
            if not any(_audits(c, service, project) for c in configs):
                where = f" in project {project}" if project else ""
                yield (f"no audit config turns on DATA_READ and DATA_WRITE logs for {service}{where}: reads and "
                       "writes of its data are not audited", res.urn)


def _key_ids(keys: Sequence[Resource]) -> tuple[set[str], set[str]]:
    """(ids of plan keys whose id is known, URNs of plan keys whose id is not known yet)."""
    known, unknown = set(), set()
    for key in keys:
        try:
            ring, name = key.get("keyRing"), key.get("name")
        except UnknownValueError:
            unknown.add(key.urn)
            continue
        if ring and name:
            known.add(f"{ring}/cryptoKeys/{name}")
        else:
            unknown.add(key.urn)
    return known, unknown


@stack_rule(
    id="gcp-kms-data-key-in-plan", title="Data stores use keys created in the same plan", severity="high",
    targets=("gcp",),
    rationale="Only a key created by the plan is known to rotate, to sit in an allowed location and to be granted "
    "to exactly one service agent; a key from elsewhere may be shared, unrotated or controlled by someone else.",
    fix="kms (mlinfra creates one key per purpose; remove hand-written key names from custom components)",
)
def kms_data_key_in_plan(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """The key named by each bucket, dataset, topic and (encrypted) cluster: while the name is not known yet,
    the resource must depend on a CryptoKey of this plan (its URN in ``dependencies``); once known, it must be
    the id (``<keyRing>/cryptoKeys/<name>``) of a key of this plan, or the resource must depend on a plan key
    whose id is not known yet."""
    keys = list(stack.of_type(CRYPTO_KEY))
    key_urns = {k.urn for k in keys}
    known_ids, unknown_id_urns = _key_ids(keys)
    for type_, path in KEY_FIELDS.items():
        field = ".".join(path)
        for res in stack.of_type(type_):
            if not res.has(*path):
                continue
            if type_ == CLUSTER and str(res.known("databaseEncryption", "state", default="")).upper() != "ENCRYPTED":
                continue
            depends = set(res.dependencies)
            try:
                value = lookup(res.props, path)
            except UnknownValueError:
                if not depends & key_urns:
                    yield (f"{field} is not known yet and the resource depends on no key created in this plan",
                           res.urn)
                continue
            if str(value) in known_ids or depends & unknown_id_urns:
                continue
            yield (f"{field} {value!r} is not a key created in this plan: its rotation, location and grants "
                   "cannot be verified", res.urn)


RULES = rules_in(vars())
