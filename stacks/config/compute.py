"""Compute: Kubernetes clusters, node pools with accelerators, training queues, serving and monitoring."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from mlinfra.components import accelerators as acc
from mlinfra.stacks.config.base import Name, StrictModel, raise_issues

Accelerator = Literal[
    "nvidia-t4", "nvidia-l4", "nvidia-a10g", "nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100-80gb",
    "tpu-v5e", "tpu-v5p", "tpu-v6e", "aws-trainium", "aws-inferentia2",
]


class SystemPoolConfig(StrictModel):
    """The CPU pool every cluster gets for platform add-ons (DNS, monitoring, operators)."""

    vcpus: int = Field(default=4, description="vCPUs per node (2, 4, 8, 16 or 32). Default: 4.")
    min_nodes: int = Field(default=1, ge=1, description="Minimum nodes (per zone on GCP). Default: 1.")
    max_nodes: int = Field(default=3, ge=1, description="Maximum nodes (per zone on GCP). Default: 3.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        issues = []
        if self.vcpus not in (2, 4, 8, 16, 32):
            issues.append((("vcpus",), "system pool vcpus must be one of 2, 4, 8, 16, 32"))
        if self.min_nodes > self.max_nodes:
            issues.append((("min_nodes",), "must not exceed 'max_nodes'"))
        raise_issues(issues)
        return self


class ClusterConfig(StrictModel):
    """A Kubernetes cluster: private, Workload Identity, secrets encrypted with a customer key."""

    name: Name = Field(description="Cluster name within the environment. Required.")
    role: Literal["shared", "training", "serving"] = Field(
        default="shared",
        description="'shared' runs training and serving together; or one 'training' and one 'serving' "
        "cluster. Default: shared.",
    )
    kubernetes_version: str | None = Field(
        default=None, pattern=r"^1\.\d{2}$",
        description="Minimum Kubernetes minor version ('1.31'). Default: the release channel's default.",
    )
    release_channel: Literal["rapid", "regular", "stable"] = Field(
        default="regular", description="Upgrade channel (GKE release channel; EKS support policy). Default: regular."
    )
    private_endpoint: bool = Field(
        default=True,
        description="Control plane reachable only on its private address. Default: on; turning it off "
        "still limits access to 'network.authorized_networks'.",
    )
    maintenance_start_utc: str = Field(
        default="03:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Daily maintenance window start, HH:MM UTC. Default: 03:00.",
    )
    deletion_protection: bool | None = Field(
        default=None, description="Refuse to delete the cluster. Default: on in prod, off elsewhere."
    )
    system_pool: SystemPoolConfig = Field(
        default_factory=SystemPoolConfig, description="The platform's CPU pool. Default: 4 vCPUs, 1-3 nodes."
    )


class AcceleratorConfig(StrictModel):
    """Accelerators attached to every node of a pool, named neutrally and mapped per target."""

    type: Accelerator = Field(description="Neutral accelerator name, e.g. 'nvidia-l4' or 'tpu-v5e'. Required.")
    count: int | None = Field(
        default=None, ge=1,
        description="GPUs or Neuron chips per node. Default: 1. Not used for TPUs (the topology decides).",
    )
    topology: str | None = Field(
        default=None, pattern=r"^\d+x\d+(x\d+)?$",
        description="TPU slice topology ('2x4', '4x4', '2x2x2'); required for TPUs, forbidden otherwise.",
    )
    driver_version: Literal["default", "latest"] = Field(
        default="default",
        description="GPU driver GKE installs: 'default' or 'latest' (AWS: the driver of the EKS NVIDIA AMI). "
        "Default: default.",
    )

    @property
    def is_tpu(self) -> bool:
        """True for Cloud TPU generations."""
        return self.type in acc.TPUS

    @property
    def per_node(self) -> int:
        """Accelerator devices per node (for TPUs, chips per host when the topology is valid)."""
        if self.is_tpu and self.topology is not None:
            try:
                return acc.gcp_tpu_slice(self.type, self.topology).chips_per_host
            except ValueError:
                return 0
        return self.count or 1

    @model_validator(mode="after")
    def _check(self) -> Self:
        issues = []
        if self.is_tpu:
            if self.topology is None:
                valid = ", ".join(acc.GCP_TPUS[self.type].topologies)
                issues.append((("topology",), f"{self.type} needs a 'topology' (one of {valid})"))
            elif self.topology not in acc.GCP_TPUS[self.type].topologies:
                valid = ", ".join(acc.GCP_TPUS[self.type].topologies)
                issues.append((("topology",), f"{self.type} does not offer topology {self.topology!r}; "
                               f"use one of {valid}"))
            if self.count is not None:
                issues.append((("count",), "TPU chips per node follow from 'topology'; remove 'count'"))
        elif self.topology is not None:
            issues.append((("topology",), f"'topology' applies only to TPUs, not {self.type}; remove it"))
        raise_issues(issues)
        return self


class Taint(StrictModel):
    """A node taint: only pods that tolerate it are scheduled on the pool."""

    key: str = Field(min_length=1, description="Taint key, e.g. 'workload'. Required.")
    value: str = Field(default="", description="Taint value. Default: empty.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        default="NoSchedule", description="Taint effect. Default: NoSchedule."
    )


class NodePoolConfig(StrictModel):
    """A pool of worker nodes for ML workloads (the cluster's CPU system pool is separate)."""

    name: Name = Field(description="Pool name, unique in the environment. Required.")
    cluster: Name | None = Field(
        default=None, description="Name of the cluster the pool joins. Default: the only cluster (required "
        "when there are several)."
    )
    machine_class: Literal["general", "compute", "memory"] = Field(
        default="general",
        description="CPU/memory balance for CPU pools and T4 hosts: general (4 GB/vCPU), compute (2 GB/vCPU) "
        "or memory (8 GB/vCPU). Default: general.",
    )
    vcpus: int = Field(
        default=8, description="vCPUs per node for CPU pools and T4 hosts (2-96, a machine size the target "
        "offers). Accelerator-optimised shapes fix it themselves. Default: 8."
    )
    machine_type: str | None = Field(
        default=None,
        description="Target-specific machine type overriding the neutral choice (e.g. 'n2-standard-16'). "
        "Checked against the accelerator. Default: chosen from class, vCPUs and accelerator.",
    )
    accelerator: AcceleratorConfig | None = Field(
        default=None, description="Accelerators on every node. Default: none, a CPU pool."
    )
    min_nodes: int = Field(default=0, ge=0, description="Autoscaling lower bound. Default: 0 (scale to zero).")
    max_nodes: int = Field(default=3, ge=1, description="Autoscaling upper bound. Default: 3.")
    spot: bool = Field(default=False, description="Use spot/preemptible capacity. Default: off, on-demand.")
    disk_size_gb: int = Field(default=100, ge=20, le=65536, description="Boot disk size in GB. Default: 100.")
    disk_type: Literal["standard", "balanced", "ssd"] = Field(
        default="balanced",
        description="Boot disk type (GCP: pd-standard / pd-balanced / pd-ssd; AWS: always gp3). Default: balanced.",
    )
    taints: list[Taint] = Field(
        default_factory=list,
        description="Extra taints. Accelerator pools always get the accelerator's taint "
        "('nvidia.com/gpu', 'google.com/tpu', 'aws.amazon.com/neuron') so only pods asking for it land there.",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra Kubernetes node labels. Default: none.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        issues = []
        if self.min_nodes > self.max_nodes:
            issues.append((("min_nodes",), "must not exceed 'max_nodes'"))
        if self.vcpus not in (2, 4, 8, 16, 32, 48, 64, 96):
            issues.append((("vcpus",), "vcpus must be one of 2, 4, 8, 16, 32, 48, 64, 96"))
        raise_issues(issues)
        return self

    @property
    def capacity(self) -> int:
        """Accelerator devices the pool provides at its maximum size."""
        if self.accelerator is None:
            return 0
        # Nodes are hosts: a TPU host carries chips_per_host chips (a 4x4 v5e slice is 4 hosts of 4 chips).
        return self.max_nodes * self.accelerator.per_node


class QueueConfig(StrictModel):
    """A team's training queue with its guaranteed quota (Kueue ClusterQueue + LocalQueue)."""

    team: Name = Field(description="Team in 'iam.teams' that owns the queue. Required.")
    name: Name | None = Field(default=None, description="Queue name. Default: the team name.")
    gpus: int = Field(default=0, ge=0, description="Guaranteed NVIDIA GPUs. Default: 0.")
    tpu_chips: int = Field(default=0, ge=0, description="Guaranteed TPU chips. Default: 0.")
    neuron_devices: int = Field(default=0, ge=0, description="Guaranteed AWS Neuron devices. Default: 0.")
    cpus: int = Field(default=32, ge=0, description="Guaranteed vCPUs. Default: 32.")
    memory_gb: int = Field(default=128, ge=0, description="Guaranteed memory in GB. Default: 128.")
    priority: Literal["low", "normal", "high"] = Field(default="normal", description="Queue priority. Default: normal.")
    borrowing: bool = Field(
        default=True, description="May borrow idle quota from other queues. Default: on."
    )

    @property
    def queue_name(self) -> str:
        """Effective queue name."""
        return self.name or self.team


class TrainingConfig(StrictModel):
    """Batch training: a training operator and team queues with quotas."""

    enabled: bool = Field(default=True, description="Install the training layer. Default: on.")
    queues: list[QueueConfig] = Field(default_factory=list, description="Queues per team. Default: none.")


class ServingConfig(StrictModel):
    """Online model serving with autoscaling and TLS."""

    enabled: bool = Field(default=True, description="Install the serving layer. Default: on.")
    min_replicas: int = Field(default=2, ge=0, description="Minimum replicas per model. Default: 2 (HA).")
    max_replicas: int = Field(default=10, ge=1, description="Maximum replicas per model. Default: 10.")
    target_cpu_utilization_percent: int = Field(
        default=70, ge=10, le=95, description="Autoscaling target CPU utilisation. Default: 70."
    )
    tls: Literal["internal-ca", "acme"] = Field(
        default="internal-ca", description="Certificate issuer for endpoints. Default: internal-ca."
    )
    acme_email: str | None = Field(default=None, description="Contact e-mail for ACME; required with tls: acme.")
    ingress: Literal["internal", "external"] = Field(
        default="internal", description="Load balancer exposure. Default: internal (VPC only)."
    )
    domain: str = Field(
        default="models.mlinfra.internal", pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
        description="DNS domain model endpoints are served under. Default: models.mlinfra.internal (internal "
        "CA only; ACME needs a real, public domain).",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        issues = []
        if self.min_replicas > self.max_replicas:
            issues.append((("min_replicas",), "must not exceed 'max_replicas'"))
        if self.tls == "acme" and not self.acme_email:
            issues.append((("acme_email",), "tls 'acme' needs 'acme_email'"))
        if self.tls == "acme" and self.ingress != "external":
            issues.append((("ingress",), "ACME HTTP-01 challenges must reach the endpoints: use ingress 'external' "
                           "or tls 'internal-ca'"))
        if self.tls == "acme" and self.domain == "models.mlinfra.internal":
            issues.append((("domain",), "ACME certificates need a public domain you own; set 'domain'"))
        raise_issues(issues)
        return self


class MonitoringConfig(StrictModel):
    """Metrics, logs and audit trail."""

    enabled: bool = Field(default=True, description="Install monitoring. Default: on.")
    managed_prometheus: bool = Field(
        default=True, description="Use the cloud's managed Prometheus (GKE GMP, AMP). Default: on."
    )
    gpu_metrics: bool = Field(default=True, description="DCGM GPU metrics on accelerator nodes. Default: on.")
    metrics_retention_days: int = Field(
        default=15, ge=1, le=3650,
        description="Retention of in-cluster Prometheus metrics (on-prem kube-prometheus-stack). Default: 15.",
    )
    log_retention_days: int = Field(
        default=30, ge=1, le=3650, description="Retention of platform log buckets/groups in days. Default: 30."
    )
    audit_logs: bool = Field(
        default=True,
        description="Data-access audit logs for storage, warehouse and KMS (GCP: project audit configs; AWS: "
        "left to the organisation's CloudTrail, not created here). Default: on.",
    )
    project_settings: bool = Field(
        default=True,
        description="Own the project/account-wide settings: default log retention and audit log configs. "
        "Default: on; turn off for all but one environment when several share a GCP project.",
    )
