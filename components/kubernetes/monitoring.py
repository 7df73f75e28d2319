"""``MonitoringLayer``: metric collection per target and the platform's GPU and queue alert rules.

The alert rules are data (:data:`ALERT_RULES`), written once and rendered per target: a ``PrometheusRule``
for the Prometheus Operator (on-prem kube-prometheus-stack, EKS) and a ``ClusterRules`` for Google Cloud
Managed Service for Prometheus (GKE). :func:`prometheus_rule_file` renders the same rules as a plain Prometheus
rule file (e.g. for an Amazon Managed Prometheus rule group namespace).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.kubernetes.charts import CHARTS, ChartRef
from mlinfra.components.kubernetes.helm import HelmAddon, HelmAddonArgs, namespace_labels
from mlinfra.components.kubernetes.workload_security import resources, restricted_container, restricted_pod

DCGM_NAMESPACE: Final[str] = "dcgm-exporter"
NODE_AGENT_NAMESPACE_SUFFIX: Final[str] = "node-agents"


@dataclass(frozen=True)
class AlertRule:
    """One alert: its name (the ``alert`` field, identical on every target), PromQL, and metadata."""

    name: str
    group: str
    expr: str
    for_: str
    severity: Literal["critical", "warning", "info"]
    summary: str

    def to_prometheus(self) -> dict[str, Any]:
        """The rule as a Prometheus rule-file entry."""
        return {"alert": self.name, "expr": self.expr, "for": self.for_,
                "labels": {"severity": self.severity, "source": "mlinfra"},
                "annotations": {"summary": self.summary}}


# DCGM_FI_* come from the DCGM exporter (GPU Operator on-prem, dcgm-exporter chart on EKS, GKE's managed DCGM);
# kueue_* from Kueue's metrics endpoint (ClusterQueue resource metrics need Kueue's
# metrics.enableClusterQueueResources); kube_node_* from kube-state-metrics.
ALERT_RULES: Final[tuple[AlertRule, ...]] = (
    AlertRule("GpuXidError", "mlinfra-gpu", "max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS) > 0", "0m",
              "critical", "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID error {{ $value }}; "
              "drain the node if it repeats."),
    AlertRule("GpuMemoryNearFull", "mlinfra-gpu",
              "max by (Hostname, gpu) (DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)) > 0.95",
              "10m", "warning", "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} has used over 95% of its memory "
              "for 10 minutes."),
    AlertRule("GpuIdleWhileAllocated", "mlinfra-gpu",
              'max by (namespace, pod, Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL{pod!=""}[30m])) < 1',
              "30m", "warning", "Pod {{ $labels.namespace }}/{{ $labels.pod }} holds GPU {{ $labels.gpu }} but has "
              "not used it for an hour."),
    AlertRule("KueueWorkloadsPendingTooLong", "mlinfra-queues",
              "sum by (cluster_queue) (kueue_pending_workloads) > 0", "1h", "warning",
              "ClusterQueue {{ $labels.cluster_queue }} has had workloads waiting for admission for over an hour."),
    AlertRule("KueueClusterQueueAtQuota", "mlinfra-queues",
              "sum by (cluster_queue, flavor, resource) (kueue_cluster_queue_resource_usage) / "
              "sum by (cluster_queue, flavor, resource) (kueue_cluster_queue_nominal_quota) >= 1",
              "30m", "info", "ClusterQueue {{ $labels.cluster_queue }} has used all of its {{ $labels.resource }} "
              "quota of flavor {{ $labels.flavor }} for 30 minutes."),
    AlertRule("NodeNotReady", "mlinfra-nodes", 'kube_node_status_condition{condition="Ready",status="true"} == 0',
              "5m", "critical", "Node {{ $labels.node }} has been NotReady for 5 minutes."),
)


def rule_groups(rules: tuple[AlertRule, ...] = ALERT_RULES) -> list[dict[str, Any]]:
    """The rules as Prometheus rule groups, in declaration order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        groups.setdefault(rule.group, []).append(rule.to_prometheus())
    return [{"name": group, "interval": "1m", "rules": entries} for group, entries in groups.items()]


def prometheus_rule_file(rules: tuple[AlertRule, ...] = ALERT_RULES) -> str:
    """The rules as a Prometheus rule file (YAML)."""
    return yaml.safe_dump({"groups": rule_groups(rules)}, sort_keys=False)


def kube_prometheus_stack_values(retention_days: int, storage_size_gb: int, storage_class: str | None,
                                 node_agent_namespace: str) -> dict[str, Any]:
    """Values of ``kube-prometheus-stack`` (v75 keys). Assumptions, from the chart's values.yaml as remembered:
    ``prometheus.prometheusSpec.{retention,storageSpec,securityContext,resources}``,
    ``alertmanager.alertmanagerSpec.{securityContext,resources}``, ``prometheusOperator.{securityContext,
    containerSecurityContext,resources}``, ``prometheusOperator.admissionWebhooks.patch.{securityContext,
    resources}``, ``grafana.{securityContext,containerSecurityContext,resources,adminPassword}``,
    ``kube-state-metrics.*`` and ``prometheus-node-exporter.{namespaceOverride,...}``. Prometheus and
    Alertmanager containers get the operator's own restricted container context (read-only root, no caps)."""
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": f"{storage_size_gb}Gi"}}}
    if storage_class:
        claim["storageClassName"] = storage_class
    nobody = {"runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534}
    return {
        "prometheus": {"prometheusSpec": {
            "retention": f"{retention_days}d",
            "storageSpec": {"volumeClaimTemplate": {"spec": claim}},
            "securityContext": restricted_pod(**nobody),
            "resources": resources("500m", "2Gi", "2", "4Gi"),
            # Select every PrometheusRule/ServiceMonitor/PodMonitor in the cluster, not only this release's.
            "ruleSelectorNilUsesHelmValues": False,
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
        }},
        "alertmanager": {"enabled": True, "alertmanagerSpec": {
            "securityContext": restricted_pod(**nobody), "resources": resources("50m", "128Mi"),
        }},
        "prometheusOperator": {
            "securityContext": restricted_pod(**nobody),
            "containerSecurityContext": restricted_container(),
            "resources": resources("100m", "256Mi"),
            "admissionWebhooks": {"patch": {"securityContext": restricted_pod(runAsUser=2000, runAsGroup=2000),
                                            "resources": resources("50m", "64Mi")}},
        },
        "grafana": {
            # Empty: kube-prometheus-stack's default is the well-known "prom-operator"; emptied, the Grafana
            # chart generates a random password into its own Secret. It never passes through Pulumi.
            "adminPassword": "",
            "securityContext": restricted_pod(runAsUser=472, runAsGroup=472, fsGroup=472),
            # Grafana writes plugins/sessions under /var/lib/grafana (a volume) but also /tmp in the image.
            "containerSecurityContext": restricted_container(readOnlyRootFilesystem=False),
            "resources": resources("100m", "256Mi"),
            "sidecar": {"resources": resources("50m", "64Mi"), "securityContext": restricted_container()},
        },
        "kube-state-metrics": {
            "securityContext": restricted_pod(**nobody),
            "containerSecurityContext": restricted_container(),
            "resources": resources("50m", "128Mi"),
        },
        # node-exporter needs hostNetwork, hostPID and host paths: its own privileged namespace.
        "prometheus-node-exporter": {
            "namespaceOverride": node_agent_namespace,
            "securityContext": restricted_pod(**nobody),
            "containerSecurityContext": restricted_container(),
            "resources": resources("50m", "64Mi"),
        },
    }


def dcgm_exporter_values(gpu_pools: list[str]) -> dict[str, Any]:
    """Values of NVIDIA's ``dcgm-exporter`` chart (4.x keys: ``podSecurityContext``, ``securityContext``,
    ``resources``, ``tolerations``, ``affinity``, ``serviceMonitor.enabled``, ``podAnnotations``)."""
    affinity: dict[str, Any] = {}
    if gpu_pools:
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "mlinfra.io/pool", "operator": "In", "values": sorted(gpu_pools)}]}]}}}
    return {
        "affinity": affinity,
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        # DCGM reads the GPUs through the driver as root and needs SYS_ADMIN for profiling metrics; its host
        # engine writes state into the image filesystem, so the root filesystem stays writable.
        "securityContext": {"runAsNonRoot": False, "runAsUser": 0, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": False, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": resources("100m", "512Mi", "500m", "1Gi"),
        "serviceMonitor": {"enabled": False},  # no Prometheus Operator on EKS: the AMP collector scrapes pods
        "podAnnotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9400"},
    }


class MonitoringLayerArgs(BaseModel):
    """Inputs of :class:`MonitoringLayer`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    target: Literal["gcp", "aws", "onprem"] = Field(description="Where the cluster runs. Required.")
    gpu_metrics: bool = Field(
        default=False,
        description="Collect GPU metrics: the DCGM exporter on EKS GPU nodes (GKE's managed DCGM and the on-prem "
        "GPU Operator bring their own). Default: off.",
    )
    gpu_pools: list[str] = Field(
        default_factory=list,
        description="Node pools carrying NVIDIA GPUs, where the EKS DCGM exporter runs. Default: none (every node "
        "tolerating the GPU taint).",
    )
    retention_days: int = Field(
        default=15, ge=1, description="On-prem Prometheus retention in days. Default: 15."
    )
    storage_size_gb: int = Field(
        default=50, ge=1, description="On-prem Prometheus persistent volume size in GiB. Default: 50."
    )
    storage_class: str | None = Field(
        default=None, description="StorageClass of the Prometheus volume. Default: the cluster's default class."
    )
    namespace: str = Field(
        default="monitoring",
        description="Namespace of kube-prometheus-stack and the PrometheusRule. Default: monitoring.",
    )
    alert_rules: bool = Field(default=True, description="Render ALERT_RULES for the target. Default: on.")
    prometheus_chart: ChartRef = Field(
        default=CHARTS["kube-prometheus-stack"],
        description="Resolved kube-prometheus-stack chart (on-prem). Default: the pinned upstream chart.",
    )
    dcgm_chart: ChartRef = Field(
        default=CHARTS["dcgm-exporter"],
        description="Resolved dcgm-exporter chart (EKS). Default: the pinned upstream chart.",
    )


class MonitoringLayer(pulumi.ComponentResource):
    """Metrics collection and the platform's alert rules, per target.

    - On-prem: kube-prometheus-stack (Prometheus with ``retention_days`` on a persistent volume, Alertmanager,
      Grafana, kube-state-metrics, node-exporter). Grafana's admin password is not set by us: the chart
      generates it into its Secret, and it never appears in values, state or outputs. Rules as a
      ``PrometheusRule``. GPU metrics come from the GPU Operator's DCGM exporter.
    - EKS: the DCGM exporter on GPU nodes when ``gpu_metrics`` (scraped by the Amazon Managed Prometheus
      collector of the cloud layer); rules as a ``PrometheusRule``.
    - GKE: no chart (Managed Service for Prometheus and GKE's managed DCGM collect); rules as a ``ClusterRules``
      (``monitoring.googleapis.com/v1``). Cluster-scoped, not the namespaced ``Rules``: a ``Rules`` object only
      sees metrics of its own namespace, and the GPU, Kueue and node metrics come from other namespaces.

    Security: node-exporter and the DCGM exporter read host devices and paths, so they run in dedicated
    ``privileged`` namespaces (``<namespace>-node-agents``, ``dcgm-exporter``) holding nothing else; everything
    else runs restricted, with requests and limits. Outputs: ``namespace``, ``rule_kind``, ``rule_names``.
    """

    namespace: pulumi.Output[str]
    rule_kind: pulumi.Output[str]
    rule_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: MonitoringLayerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:kubernetes:MonitoringLayer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        waits: list[Any] = []
        if args.target == "onprem":
            agents = f"{args.namespace}-{NODE_AGENT_NAMESPACE_SUFFIX}"
            agents_ns = k8s.core.v1.Namespace(
                f"{name}-node-agents-ns", metadata={"name": agents, "labels": namespace_labels("privileged")},
                opts=child)
            self.stack = HelmAddon(f"{name}-kube-prometheus-stack", HelmAddonArgs(
                chart=args.prometheus_chart, namespace=args.namespace,
                values=kube_prometheus_stack_values(args.retention_days, args.storage_size_gb, args.storage_class,
                                                    agents),
                depends_on=[agents_ns]), child)
            waits.append(self.stack)
        elif args.target == "aws":
            if args.gpu_metrics:
                self.dcgm = HelmAddon(f"{name}-dcgm-exporter", HelmAddonArgs(
                    chart=args.dcgm_chart, namespace=DCGM_NAMESPACE, pod_security="privileged",
                    values=dcgm_exporter_values(args.gpu_pools)), child)
            if args.alert_rules:
                waits.append(k8s.core.v1.Namespace(
                    f"{name}-ns", metadata={"name": args.namespace, "labels": namespace_labels("restricted")},
                    opts=child))

        kind = "ClusterRules" if args.target == "gcp" else "PrometheusRule"
        if args.alert_rules:
            metadata: dict[str, Any] = {"name": "mlinfra-alerts", "labels": {"app.kubernetes.io/managed-by": "mlinfra"}}
            if kind == "PrometheusRule":
                metadata["namespace"] = args.namespace
            k8s.apiextensions.CustomResource(
                f"{name}-alert-rules",
                api_version="monitoring.googleapis.com/v1" if kind == "ClusterRules" else "monitoring.coreos.com/v1",
                kind=kind, metadata=metadata, spec={"groups": rule_groups()},
                opts=pulumi.ResourceOptions(parent=self, depends_on=waits or None))

        self.namespace = pulumi.Output.from_input(args.namespace)
        self.rule_kind = pulumi.Output.from_input(kind)
        self.rule_names = pulumi.Output.from_input([r.name for r in ALERT_RULES] if args.alert_rules else [])
        self.register_outputs({"namespace": self.namespace, "rule_kind": self.rule_kind,
                               "rule_names": self.rule_names})
