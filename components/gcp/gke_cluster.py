"""One GKE Standard cluster: regional, private, Workload Identity, secrets encrypted with our key."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component
from mlinfra.components.gcp.kms import KmsKey

LOG_COMPONENTS = ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "SCHEDULER", "CONTROLLER_MANAGER"]
METRIC_COMPONENTS = ["SYSTEM_COMPONENTS", "APISERVER", "SCHEDULER", "CONTROLLER_MANAGER", "STORAGE", "POD",
                     "DEPLOYMENT", "STATEFULSET", "DAEMONSET", "HPA"]


class AuthorizedNetworkArgs(BaseModel):
    """A CIDR allowed to reach the control plane."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Display name. Required.")
    cidr: ipaddress.IPv4Network = Field(description="IPv4 range. Required.")


class GkeClusterArgs(BaseModel):
    """Inputs of :class:`GkeCluster`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    project: str = Field(description="GCP project id. Required.")
    region: str = Field(description="Region: the cluster is regional (control plane in three zones). Required.")
    cluster_name: str = Field(max_length=40, description="Physical cluster name (≤ 40 characters). Required.")
    network: Any = Field(description="VPC id (Input[str]). Required.")
    subnetwork: Any = Field(description="Subnet id (Input[str]) holding nodes, pods and services. Required.")
    pods_range_name: str = Field(description="Secondary range name for pods. Required.")
    services_range_name: str = Field(description="Secondary range name for services. Required.")
    node_cidr: ipaddress.IPv4Network = Field(description="The subnet's node range; always authorized. Required.")
    control_plane_cidr: ipaddress.IPv4Network = Field(description="Private control-plane /28. Required.")
    authorized_networks: list[AuthorizedNetworkArgs] = Field(
        default_factory=list, description="Extra networks allowed to reach the control plane. Default: none."
    )
    private_endpoint: bool = Field(default=True, description="Control plane on a private address only. Default: on.")
    release_channel: Literal["rapid", "regular", "stable"] = Field(default="regular", description="Default: regular.")
    min_master_version: str | None = Field(default=None, description="Minimum version. Default: channel default.")
    maintenance_start_utc: str = Field(
        default="03:00", description="Daily maintenance start (HH:MM UTC). Default: 03:00."
    )
    deletion_protection: bool = Field(default=True, description="GKE deletion protection. Default: on.")
    secrets_key: KmsKey = Field(description="Key for application-layer secrets encryption (gke-secrets). Required.")
    secrets_key_grant: Any = Field(
        default=None, description="GKE agent's key grant the cluster waits for. Default: none."
    )
    node_service_account: Any = Field(description="E-mail (Input[str]) of the dedicated node SA. Required.")
    boot_disk_key: KmsKey | None = Field(
        default=None,
        description="The disks key encrypting the transient default pool's boot disks. Default: none "
        "(Google-managed); the GCP target always passes its disks key.",
    )
    boot_disk_key_grant: Any = Field(
        default=None, description="Compute agent's grant on the disks key; the cluster waits for it. Default: none."
    )
    node_resource_labels: dict[str, str] = Field(
        default_factory=dict,
        description="GCP labels on the transient default pool's VMs and disks. Default: none; the GCP target "
        "passes the environment labels.",
    )
    managed_prometheus: bool = Field(default=True, description="Google Managed Prometheus. Default: on.")
    gpu_metrics: bool = Field(default=False, description="Managed DCGM GPU metrics (needs GMP). Default: off.")
    binary_authorization: bool = Field(
        default=True, description="Enforce the project's Binary Authorization policy (needs its API). Default: on."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra resource labels. Default: none.")


def _kubeconfig(name: str, endpoint: str, ca: str) -> str:
    """A kubeconfig using the gke-gcloud-auth-plugin (no static credentials in it)."""
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {name}\n  cluster:\n    server: https://{endpoint}\n"
        f"    certificate-authority-data: {ca}\n"
        f"contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"
        f"current-context: {name}\n"
        f"users:\n- name: {name}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
        "      command: gke-gcloud-auth-plugin\n      provideClusterInfo: true\n"
        "      installHint: Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin)\n"
    )


class GkeCluster(Component):
    """A regional GKE Standard cluster hardened along the CIS GKE benchmark.

    Secure defaults: private nodes, private endpoint (unless turned off) with global access, control
    plane reachable only from the VPC node range and listed networks (never Google's public ranges);
    Workload Identity; Kubernetes secrets encrypted with the gke-secrets key; Dataplane V2 (network policy
    enforced); intranode visibility (same-node pod traffic goes through the VPC, so flow logs and firewall
    rules see it); the kubelet read-only port (10255, unauthenticated) off for every pool; shielded nodes;
    legacy ABAC and client certificates off; Binary Authorization with the project policy; security
    posture and vulnerability scanning; system and workload logs; managed Prometheus; GKE deletion
    protection; the default node pool removed (pools are separate components) and even its transient
    nodes run as the dedicated node service account, on boot disks encrypted with the disks key,
    carrying the environment labels.
    Outputs: ``cluster_name``, ``endpoint``, ``kubeconfig`` (secret), ``node_service_account``.
    """

    cluster_name: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    node_service_account: pulumi.Output[str]

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:GkeCluster", name, None, opts)
        authorized = [{"cidr_block": str(args.node_cidr), "display_name": "vpc-nodes"}] + [
            {"cidr_block": str(n.cidr), "display_name": n.name} for n in args.authorized_networks]
        monitoring: dict[str, Any] = {"enable_components": METRIC_COMPONENTS + (["DCGM"] if args.gpu_metrics else []),
                                      "managed_prometheus": {"enabled": args.managed_prometheus}}
        cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=args.cluster_name,
            project=args.project,
            location=args.region,
            remove_default_node_pool=True,
            initial_node_count=1,
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={"cluster_secondary_range_name": args.pods_range_name,
                                  "services_secondary_range_name": args.services_range_name},
            private_cluster_config={
                "enable_private_nodes": True,
                "enable_private_endpoint": args.private_endpoint,
                "master_ipv4_cidr_block": str(args.control_plane_cidr),
                "master_global_access_config": {"enabled": True},
            },
            master_authorized_networks_config={"cidr_blocks": authorized, "gcp_public_cidrs_access_enabled": False},
            workload_identity_config={"workload_pool": f"{args.project}.svc.id.goog"},
            release_channel={"channel": args.release_channel.upper()},
            min_master_version=args.min_master_version,
            datapath_provider="ADVANCED_DATAPATH",
            database_encryption={"state": "ENCRYPTED", "key_name": args.secrets_key.id},
            enable_shielded_nodes=True,
            enable_intranode_visibility=True,
            node_pool_defaults={"node_config_defaults": {"insecure_kubelet_readonly_port_enabled": "FALSE"}},
            enable_legacy_abac=False,
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            binary_authorization={"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
            if args.binary_authorization else None,
            security_posture_config={"mode": "BASIC", "vulnerability_mode": "VULNERABILITY_BASIC"},
            logging_config={"enable_components": LOG_COMPONENTS},
            monitoring_config=monitoring,
            maintenance_policy={"daily_maintenance_window": {"start_time": args.maintenance_start_utc}},
            deletion_protection=args.deletion_protection,
            resource_labels=args.labels,
            cost_management_config={"enabled": True},
            addons_config={"gcs_fuse_csi_driver_config": {"enabled": True},
                           "gce_persistent_disk_csi_driver_config": {"enabled": True}},
            node_config={
                "service_account": args.node_service_account,
                "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
                "workload_metadata_config": {"mode": "GKE_METADATA"},
                "boot_disk_kms_key": args.boot_disk_key.id if args.boot_disk_key is not None else None,
                "resource_labels": args.node_resource_labels or None,
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[g for g in (args.secrets_key_grant, args.boot_disk_key_grant) if g is not None] or None,
            ),
        )
        self.cluster = cluster
        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.endpoint = cluster.endpoint
        self.node_service_account = pulumi.Output.from_input(args.node_service_account)
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate,
        ).apply(lambda v: _kubeconfig(v[0], v[1], v[2] or "")))
        self.register_outputs({"cluster_name": self.cluster_name, "cluster_id": self.cluster_id,
                               "endpoint": self.endpoint, "kubeconfig": self.kubeconfig,
                               "node_service_account": self.node_service_account})
