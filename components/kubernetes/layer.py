"""``build_cluster_layer``: the in-cluster platform for one cluster, the same code on GKE, EKS and on-prem.

What a cluster gets depends only on its role and the config: every cluster gets team tenancy and
monitoring; the cluster that runs training (the shared one, or the 'training' cluster) gets Kueue with a
ResourceFlavor per node pool and a queue per team, JobSet, and the accelerator device support its pools
need; the cluster that serves gets cert-manager with the platform CA, and KServe. Only three things
differ per target, and they are passed in: the Kubernetes provider, the team identity annotations and
the metadata endpoints workloads may reach for credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi

from mlinfra.components import accelerators as acc
from mlinfra.components import provenance
from mlinfra.components.kubernetes.charts import ChartRef, resolve
from mlinfra.stacks.config import ClusterConfig, NodePoolConfig, StackConfig

Target = Literal["gcp", "aws", "onprem"]
POOL_LABEL = "mlinfra.io/pool"

# Where pods fetch cloud credentials (CIDR:port), allowed out of every team namespace.
IDENTITY_ENDPOINTS: dict[str, list[str]] = {
    "gcp": ["169.254.169.252/32:988", "169.254.169.254/32:80"],  # GKE metadata server (Workload Identity)
    "aws": ["169.254.170.23/32:80"],  # EKS Pod Identity agent
    "onprem": [],
}
PLATFORM_NAMESPACES = ["monitoring", "kserve", "cert-manager", "kueue-system"]


def chart(config: StackConfig, key: str) -> ChartRef:
    """The chart for ``key`` after the stack's mirror and per-chart overrides."""
    override = config.helm.charts.get(key)
    return resolve(key, config.helm.mirror, override.repository if override else None,
                   override.version if override else None)


def pool_flavor(pool: NodePoolConfig, cloud: str) -> dict[str, Any]:
    """A Kueue ResourceFlavor for a node pool: its nodes by label, tolerating its taints."""
    tolerations = [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect} for t in pool.taints]
    # An accelerator flavor provides only its accelerator: CPU and memory quota stays in the default flavor,
    # so a team's CPU quota is not granted again on every accelerator pool.
    resources = ["cpu", "memory"]
    if pool.accelerator is not None:
        resource = acc.RESOURCE_NAME[pool.accelerator.type]
        resources = [resource]
        tolerations.append({"key": resource, "operator": "Exists", "effect": "NoSchedule"})
    labels = {POOL_LABEL: pool.name}
    if cloud == "gcp" and pool.accelerator is not None and pool.accelerator.is_tpu and pool.accelerator.topology:
        labels["cloud.google.com/gke-tpu-topology"] = pool.accelerator.topology
    return {"name": pool.name, "node_labels": labels, "tolerations": tolerations, "resources": resources}


@dataclass(frozen=True)
class MetricsSources:
    """What one cluster's in-cluster layer runs that the cloud's managed collector scrapes. The in-cluster RBAC
    and monitors (here) and the cloud's collector configuration (the AWS layer) both read it, so they agree."""

    kueue_namespace: str | None
    gpu_metrics: bool


def metrics_sources(config: StackConfig, cluster: ClusterConfig) -> MetricsSources:
    """Kueue's namespace when the platform installs Kueue on ``cluster``; whether its NVIDIA pools report GPU
    metrics."""
    from mlinfra.components.kubernetes.scheduling import KUEUE_NAMESPACE

    trains = config.training.enabled and config.cluster_for("training").name == cluster.name
    gpus = any(p.accelerator and p.accelerator.type in acc.NVIDIA_GPUS
               for p in config.node_pools if config.pool_cluster(p) == cluster.name)
    return MetricsSources(kueue_namespace=KUEUE_NAMESPACE if trains and config.helm.enabled("kueue") else None,
                          gpu_metrics=config.monitoring.gpu_metrics and gpus)


@dataclass
class ClusterLayer:
    """What the in-cluster layer of one cluster created: its outputs, the certificate issuers (which
    in-cluster data services wait for) and each team's namespace (team access objects go there)."""

    outputs: dict[str, Any] = field(default_factory=dict)
    certificates: pulumi.Resource | None = None
    namespaces: dict[str, pulumi.Resource] = field(default_factory=dict)


def build_cluster_layer(config: StackConfig, cluster: ClusterConfig, *, target: Target,
                        identities: dict[str, dict[str, pulumi.Input[str]]], index: int,
                        parent: pulumi.Resource, provider: pulumi.ProviderResource,
                        cluster_name: str | None = None,
                        grafana_admin_password: pulumi.Input[str] | None = None) -> ClusterLayer:
    """Create the in-cluster layer of ``cluster`` (``grafana_admin_password``: on-prem Grafana's admin, a secret)."""
    from mlinfra.components.kubernetes.gpu import AcceleratorSupport, AcceleratorSupportArgs
    from mlinfra.components.kubernetes.monitoring import COLLECTOR_USER, MonitoringLayer, MonitoringLayerArgs
    from mlinfra.components.kubernetes.scheduling import FlavorArgs, QueueArgs, Scheduling, SchedulingArgs
    from mlinfra.components.kubernetes.serving import ServingLayer, ServingLayerArgs
    from mlinfra.components.kubernetes.tenancy import QuotaArgs, RbacSubject, TeamNamespace, TeamNamespaceArgs
    from mlinfra.components.kubernetes.training import TrainingLayer, TrainingLayerArgs

    env, name = config.resource_prefix, cluster.name
    layer = ClusterLayer()
    out = layer.outputs
    path = f"clusters[{index}]"

    def opts() -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, providers={"kubernetes": provider})

    trains = config.training.enabled and config.cluster_for("training").name == name
    serves = config.serving.enabled and config.cluster_for("serving").name == name
    queues = {q.team: q for q in config.training.queues}
    pools = [p for p in config.node_pools if config.pool_cluster(p) == name]

    namespaces: list[pulumi.Resource] = []
    for i, team in enumerate(config.iam.teams):
        q = queues.get(team.name)
        with provenance.source(f"iam.teams[{i}]"):
            namespaces.append(TeamNamespace(f"{env}-{name}-{team.name}", TeamNamespaceArgs(
                team=team.name,
                quota=QuotaArgs(cpus=q.cpus, memory_gb=q.memory_gb, gpus=q.gpus, tpu_chips=q.tpu_chips,
                                neuron_devices=q.neuron_devices) if q else QuotaArgs(),
                service_account_annotations=identities.get(team.name, {}),
                members=[RbacSubject(kind="Group" if m.startswith("group:") else "User", name=m.split(":", 1)[1])
                         for m in team.members if ":" in m and target != "aws"],
                platform_namespaces=PLATFORM_NAMESPACES,
                identity_endpoints=IDENTITY_ENDPOINTS[target],
            ), opts()))
    layer.namespaces = {team.name: ns for team, ns in zip(config.iam.teams, namespaces, strict=True)}

    gpu_pools = [p.name for p in pools if p.accelerator and p.accelerator.type in acc.NVIDIA_GPUS]
    neuron_pools = [p.name for p in pools if p.accelerator and p.accelerator.type in acc.AWS_CHIPS]
    if gpu_pools or neuron_pools:
        with provenance.source(f"{path}.accelerators"):
            AcceleratorSupport(f"{env}-{name}-accelerators", AcceleratorSupportArgs(
                target=target, nvidia=bool(gpu_pools) and config.helm.enabled(_gpu_chart(target)),
                neuron=bool(neuron_pools) and config.helm.enabled("neuron"),
                gpu_pools=gpu_pools, neuron_pools=neuron_pools,
                nvidia_chart=chart(config, _gpu_chart(target)), neuron_chart=chart(config, "neuron"),
            ), opts())

    waits: list[pulumi.Resource] = []  # what the monitoring layer's scrape objects wait for
    if trains:
        with provenance.source("training"):
            flavors = [FlavorArgs(name="default", node_labels={}, tolerations=[], resources=["cpu", "memory"])]
            flavors += [FlavorArgs(**pool_flavor(p, target)) for p in pools if p.accelerator is not None]
            scheduling = Scheduling(f"{env}-{name}-scheduling", SchedulingArgs(
                kueue_chart=chart(config, "kueue"), install_kueue=config.helm.enabled("kueue"), flavors=flavors,
                queues=[QueueArgs(name=q.queue_name, namespace=q.team, cpus=q.cpus, memory_gb=q.memory_gb,
                                  gpus=q.gpus, tpu_chips=q.tpu_chips, neuron_devices=q.neuron_devices,
                                  priority=q.priority, borrowing=q.borrowing) for q in config.training.queues],
                depends_on=namespaces,
            ), opts())
            out[f"clusters.{name}.queues"] = scheduling.local_queue_names
            if config.helm.enabled("kueue"):
                waits.append(scheduling.kueue)  # Kueue's namespace, where its monitor and token go
            if config.helm.enabled("jobset"):
                TrainingLayer(f"{env}-{name}-training", TrainingLayerArgs(chart=chart(config, "jobset")), opts())

    # Certificates: the serving cluster needs them for endpoints; on-prem the data services need them too.
    if serves or target == "onprem":
        s = config.serving
        with provenance.source("serving"):
            serving = ServingLayer(f"{env}-{name}-serving", ServingLayerArgs(
                target=target, tls=s.tls, acme_email=s.acme_email, ingress=s.ingress, domain=s.domain,
                min_replicas=s.min_replicas, max_replicas=s.max_replicas,
                target_cpu_utilization_percent=s.target_cpu_utilization_percent,
                cert_manager=config.helm.enabled("cert-manager"),
                kserve=serves and config.helm.enabled("kserve"),
                cert_manager_chart=chart(config, "cert-manager"), kserve_crd_chart=chart(config, "kserve-crd"),
                kserve_chart=chart(config, "kserve"),
            ), opts())
            layer.certificates = serving

    if target == "aws" and config.helm.enabled("cluster-autoscaler"):
        from mlinfra.components.kubernetes.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs

        with provenance.source(f"{path}.autoscaler"):
            ClusterAutoscaler(f"{env}-{name}-autoscaler", ClusterAutoscalerArgs(
                chart=chart(config, "cluster-autoscaler"), cluster_name=cluster_name or name,
                region=config.target.region,
            ), opts())

    if config.monitoring.enabled:
        # The cloud's managed Prometheus (GMP, AMP) collects from outside this layer's charts: it gets the
        # monitors and RBAC it needs here. Off, nothing on the cluster refers to it.
        managed = config.monitoring.managed_prometheus and target != "onprem"
        sources = metrics_sources(config, cluster)
        with provenance.source("monitoring"):
            MonitoringLayer(f"{env}-{name}-monitoring", MonitoringLayerArgs(
                target=target, gpu_metrics=sources.gpu_metrics, gpu_pools=gpu_pools,
                retention_days=config.monitoring.metrics_retention_days,
                storage_class=config.target.storage_class if target == "onprem" else None,
                prometheus_chart=chart(config, "kube-prometheus-stack"), dcgm_chart=chart(config, "dcgm-exporter"),
                collector_user=COLLECTOR_USER if managed and target == "aws" else None,
                kueue_namespace=sources.kueue_namespace if managed else None,
                # With AMP the workspace evaluates the rules (the AWS layer's rule group namespace); EKS has no
                # Prometheus Operator whose PrometheusRule CRD could hold them in the cluster.
                alert_rules=not (managed and target == "aws"),
                grafana_admin_password=grafana_admin_password if target == "onprem" else None,
                depends_on=waits,
            ), opts())
    return layer


def _gpu_chart(target: Target) -> str:
    return "gpu-operator" if target == "onprem" else "nvidia-device-plugin"
