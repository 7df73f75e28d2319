"""A GKE node pool (CPU, GPU or TPU): dedicated service account, shielded, CMEK boot disks, autoscaled."""

from __future__ import annotations

from typing import Any, Final, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components import accelerators as acc
from mlinfra.components.base import Component
from mlinfra.components.gcp.kms import KmsKey

DISK_TYPES: Final[dict[str, str]] = {"standard": "pd-standard", "balanced": "pd-balanced", "ssd": "pd-ssd"}
POOL_LABEL: Final[str] = "mlinfra.io/pool"


class TaintArgs(BaseModel):
    """A node taint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(description="Taint key. Required.")
    value: str = Field(default="", description="Taint value. Default: empty.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        default="NoSchedule", description="Kubernetes taint effect. Default: NoSchedule."
    )


class AcceleratorArgs(BaseModel):
    """Accelerators on every node, by neutral name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(description="Neutral accelerator name ('nvidia-l4', 'tpu-v5e'). Required.")
    count: int = Field(default=1, ge=1, description="GPUs per node (ignored for TPUs). Default: 1.")
    topology: str | None = Field(default=None, description="TPU slice topology. Required for TPUs.")
    driver_version: Literal["default", "latest"] = Field(default="default", description="GPU driver. Default: default.")


class GkeNodePoolArgs(BaseModel):
    """Inputs of :class:`GkeNodePool`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    project: str = Field(description="GCP project id. Required.")
    location: str = Field(description="The cluster's location (region). Required.")
    cluster: Any = Field(description="Cluster id or name (Input[str]). Required.")
    pool_name: str = Field(max_length=40, description="Physical pool name, unique in the cluster. Required.")
    machine_class: Literal["general", "compute", "memory"] = Field(
        default="general",
        description="CPU pools and T4 hosts: n2-standard, c2-standard or n2-highmem. Default: general.",
    )
    vcpus: int = Field(default=8, ge=2, description="vCPUs for CPU pools and T4 hosts. Default: 8.")
    machine_type: str | None = Field(default=None, description="Explicit machine type; wins. Default: derived.")
    accelerator: AcceleratorArgs | None = Field(default=None, description="Accelerators. Default: none (CPU pool).")
    min_nodes: int = Field(default=0, ge=0, description="Autoscaling minimum (see per_zone). Default: 0.")
    max_nodes: int = Field(default=3, ge=1, description="Autoscaling maximum (see per_zone). Default: 3.")
    per_zone: bool = Field(
        default=False,
        description="Counts are per zone (min/max_node_count) instead of for the whole pool "
        "(total_min/total_max_node_count). Default: off, whole pool, matching quota arithmetic.",
    )
    spot: bool = Field(default=False, description="Spot VMs. Default: off.")
    disk_size_gb: int = Field(default=100, ge=20, description="Boot disk size. Default: 100 GB.")
    disk_type: Literal["standard", "balanced", "ssd"] = Field(default="balanced", description="Default: balanced.")
    boot_disk_key: KmsKey = Field(description="The disks key encrypting boot disks. Required.")
    boot_disk_key_grant: Any = Field(
        default=None, description="Compute agent's grant on the disks key; pools wait for it. Default: none."
    )
    service_account: Any = Field(
        description="E-mail (Input[str]) of the dedicated node SA; never the default. Required."
    )
    node_locations: list[str] = Field(
        default_factory=list, description="Zones for the nodes. Default: the cluster's zones (TPU pools need one)."
    )
    taints: list[TaintArgs] = Field(
        default_factory=list, description="Extra taints; the accelerator taint is always added. Default: none."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra Kubernetes node labels. Default: none.")
    resource_labels: dict[str, str] = Field(
        default_factory=dict,
        description="GCP labels on the node VMs and disks (cost attribution). Default: none; the GCP target "
        "passes the environment labels.",
    )


_EFFECT: Final[dict[str, str]] = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                                  "NoExecute": "NO_EXECUTE"}


class GkeNodePool(Component):
    """Worker nodes for one purpose, never running as the Compute Engine default service account.

    Secure defaults: the dedicated node service account with the cloud-platform scope (permissions come
    from IAM, not scopes); shielded VMs with secure boot and integrity monitoring; GKE metadata server
    (Workload Identity, node credentials hidden from pods); the kubelet read-only port (unauthenticated)
    off; boot disks encrypted with the disks key;
    auto-repair and auto-upgrade; accelerator pools tainted so only pods requesting the accelerator land
    there. Autoscaling counts are for the whole pool unless ``per_zone``. A multi-host TPU slice is one
    node pool of ``hosts`` nodes with COMPACT placement; ``max_nodes / hosts`` slices become that many
    pools (``{name}``, ``{name}-s1``, …), each scaling atomically between 0 and a full slice.
    """

    pool_names: pulumi.Output[list[str]]
    machine_type: str

    def __init__(self, name: str, args: GkeNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:GkeNodePool", name, None, opts)
        a = args.accelerator
        taints = [{"key": t.key, "value": t.value, "effect": _EFFECT[t.effect]} for t in args.taints]
        guest: list[dict[str, Any]] = []
        slices: list[tuple[str, int, int]] = []  # (suffix, min, max)
        placement: dict[str, Any] | None = None
        node_locations = list(args.node_locations)
        if a is not None and a.type in acc.TPUS:
            if a.topology is None:
                raise ValueError(f"{name}: a {a.type} pool needs a topology")
            tpu = acc.gcp_tpu_slice(a.type, a.topology)
            machine = tpu.machine_type
            taints.append({"key": "google.com/tpu", "value": "present", "effect": "NO_SCHEDULE"})
            if not node_locations:
                raise ValueError(f"{name}: TPU pools run in one zone; set target.zones (the first zone that "
                                 f"offers {a.type} is used)")
            node_locations = node_locations[:1]
            if tpu.multi_host:
                placement = {"type": "COMPACT", "tpu_topology": a.topology}
                count = max(args.max_nodes // tpu.hosts, 1)
                warm = args.min_nodes // tpu.hosts
                slices = [("" if k == 0 else f"-s{k}", tpu.hosts if k < warm else 0, tpu.hosts) for k in range(count)]
        elif a is not None:
            machine = args.machine_type or acc.gcp_machine_type(args.machine_class, args.vcpus, a.type, a.count)
            guest = [{"type": acc.GKE_GPU_TYPE[a.type], "count": a.count,
                      "gpu_driver_installation_config": {"gpu_driver_version": a.driver_version.upper()}}]
            taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"})
        else:
            machine = args.machine_type or acc.gcp_machine_type(args.machine_class, args.vcpus)
        machine = args.machine_type or machine
        self.machine_type = machine
        if not slices:
            slices = [("", args.min_nodes, args.max_nodes)]
        node_config: dict[str, Any] = {
            "machine_type": machine,
            "image_type": "COS_CONTAINERD",
            "disk_size_gb": args.disk_size_gb,
            "disk_type": DISK_TYPES[args.disk_type],
            "boot_disk_kms_key": args.boot_disk_key.id,
            "service_account": args.service_account,
            "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "metadata": {"disable-legacy-endpoints": "true"},
            "kubelet_config": {"insecure_kubelet_readonly_port_enabled": "FALSE"},
            "resource_labels": args.resource_labels or None,
            "spot": args.spot,
            "labels": {POOL_LABEL: args.pool_name, **args.labels},
            "taints": taints,
            "guest_accelerators": guest or None,
        }
        waits = [args.boot_disk_key_grant] if args.boot_disk_key_grant is not None else None
        pools = []
        for suffix, low, high in slices:
            scaling: dict[str, Any] = (
                {"min_node_count": low, "max_node_count": high} if args.per_zone else
                {"total_min_node_count": low, "total_max_node_count": high,
                 "location_policy": "ANY" if args.spot else "BALANCED"})
            pools.append(gcp.container.NodePool(
                f"{name}{suffix}",
                name=f"{args.pool_name}{suffix}",
                project=args.project,
                location=args.location,
                cluster=args.cluster,
                initial_node_count=low if args.per_zone or len(node_locations) == 1 else None,
                autoscaling=scaling,
                management={"auto_repair": True, "auto_upgrade": True},
                node_locations=node_locations or None,
                placement_policy=placement,
                node_config=node_config,
                opts=pulumi.ResourceOptions(parent=self, depends_on=waits),
            ))
        self.pools = pools
        self.pool_names = pulumi.Output.all(*[p.name for p in pools])
        self.register_outputs({"pool_names": self.pool_names})
