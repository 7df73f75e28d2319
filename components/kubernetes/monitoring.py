"""``MonitoringLayer``: metric collection per target and the platform's GPU and queue alert rules.

The alert rules are data (:data:`ALERT_RULES`), written once and rendered per target: a ``PrometheusRule``
for the Prometheus Operator (on-prem kube-prometheus-stack, EKS) and a ``ClusterRules`` for Google Cloud
Managed Service for Prometheus (GKE). :func:`prometheus_rule_file` renders the same rules as a plain Prometheus
rule file (the Amazon Managed Prometheus rule group namespace of the AWS layer).

What a collector outside the cluster scrapes is data too, next to the exporters it describes:
:func:`collector_scrape_config` (the scrape jobs of the Amazon Managed Prometheus collector on EKS),
:func:`collector_ports` (what its network must reach) and :func:`collector_rules` (the read-only RBAC of its
Kubernetes user, :data:`COLLECTOR_USER`, which the EKS access entry maps the collector's role to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.charts import CHARTS, ChartRef
from mlinfra.components.kubernetes.helm import HelmAddon, HelmAddonArgs, namespace_labels
from mlinfra.components.kubernetes.scheduling import KUEUE_METRICS_PORT, KUEUE_POD_LABELS
from mlinfra.components.kubernetes.workload_security import resources, restricted_container, restricted_pod

DCGM_NAMESPACE: Final[str] = "dcgm-exporter"
DCGM_METRICS_PORT: Final[int] = 9400
NODE_AGENT_NAMESPACE_SUFFIX: Final[str] = "node-agents"
MANAGED_BY: Final[dict[str, str]] = {"app.kubernetes.io/managed-by": "mlinfra"}
RBAC_API: Final = "rbac.authorization.k8s.io"

# --- collectors outside the cluster (Amazon Managed Prometheus on EKS) --------------------------------------
# The Kubernetes user the EKS access entry maps the managed collector's IAM role to, and its ClusterRole.
COLLECTOR_USER: Final = "mlinfra-metrics-collector"
COLLECTOR_ROLE: Final = "mlinfra-metrics-collector"
# Where the managed collector presents its own identity's token (the path AMP's scrape configurations use).
COLLECTOR_TOKEN_FILE: Final = "/var/run/secrets/kubernetes.io/serviceaccount/token"
API_SERVER_PORT: Final = 443
KUBELET_PORT: Final = 10250
KUBE_STATE_METRICS_PORT: Final = 8080
KUBE_STATE_METRICS_LABELS: Final[dict[str, str]] = {"app.kubernetes.io/name": "kube-state-metrics"}

# --- GKE Managed Service for Prometheus ---------------------------------------------------------------------
GMP_API: Final = "monitoring.googleapis.com/v1"
# GKE's managed collectors run as this ServiceAccount; they read the secrets a PodMonitoring references.
GMP_COLLECTOR: Final[dict[str, str]] = {"kind": "ServiceAccount", "name": "collector", "namespace": "gke-gmp-system"}
# A ServiceAccount whose token may only GET /metrics: what Kueue's authenticated metrics endpoint asks for.
METRICS_READER: Final = "mlinfra-metrics-reader"
SCRAPE_INTERVAL: Final = "30s"


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


def collector_rules() -> list[dict[str, Any]]:
    """The ClusterRole rules of :data:`COLLECTOR_USER`: exactly what :func:`collector_scrape_config` needs.

    - list/watch pods and nodes: Kubernetes service discovery of the scrape targets;
    - ``nodes/metrics`` get: the kubelet's ``/metrics`` and ``/metrics/cadvisor``, read from the kubelet itself.
      Not ``nodes/proxy``, which would also open every other kubelet endpoint (exec, logs) through the API server;
    - ``/metrics`` get: Kueue authorizes each scrape of its HTTPS endpoint with a SubjectAccessReview of it.
    Read-only, no secrets, no wildcards.
    """
    return [
        {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
    ]


def _meta_label(label: str) -> str:
    """The discovery meta label of a pod label (``app.kubernetes.io/name`` → ``..._app_kubernetes_io_name``)."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() or c == "_" else "_" for c in label)


def _pod_job(job: str, cluster: str, namespaces: list[str] | None, labels: dict[str, str], *,
             port: int, https: bool = False, exporter: bool = False) -> dict[str, Any]:
    """A scrape job over the pods carrying ``labels`` (in ``namespaces``, else anywhere) on one container port.

    ``exporter``: the pods publish series about other objects (GPUs and the pods holding them, cluster objects).
    Their own ``namespace``/``pod``/``node`` labels are kept (``honor_labels``) and the exporter pod's are not
    added: on a series without them (an idle GPU) they would name the exporter, e.g. as the pod holding the GPU.
    """
    sd: dict[str, Any] = {"role": "pod"}
    if namespaces:
        sd["namespaces"] = {"names": namespaces}
    keep: list[dict[str, Any]] = []
    if labels:
        keep.append({"action": "keep", "source_labels": [_meta_label(k) for k in labels],
                     "regex": ";".join(labels.values())})
    keep.append({"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_number"],
                 "regex": str(port)})
    job_config: dict[str, Any] = {"job_name": job, "kubernetes_sd_configs": [sd]}
    if exporter:
        job_config["honor_labels"] = True
    if https:
        job_config.update(_authenticated())
    own = [] if exporter else [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
    ]
    job_config["relabel_configs"] = [
        *keep,
        {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Failed|Succeeded"},
        *own,
        {"target_label": "cluster", "replacement": cluster},
    ]
    return job_config


def _authenticated() -> dict[str, Any]:
    """HTTPS with the collector's own bearer token (authorized by RBAC: :func:`collector_rules`).

    ``insecure_skip_verify``: the kubelet's and Kueue's serving certificates are self-signed (no CA the collector
    could be given); the targets come from the API server's discovery, inside the VPC.
    """
    return {"scheme": "https", "authorization": {"credentials_file": COLLECTOR_TOKEN_FILE},
            "tls_config": {"insecure_skip_verify": True}}


def _kubelet_job(job: str, cluster: str, path: str) -> dict[str, Any]:
    return {"job_name": job, "metrics_path": path, **_authenticated(), "kubernetes_sd_configs": [{"role": "node"}],
            "relabel_configs": [{"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
                                {"target_label": "cluster", "replacement": cluster}]}


def collector_scrape_configs(cluster: str, *, kueue_namespace: str | None, gpu_metrics: bool) -> list[dict[str, Any]]:
    """The scrape jobs of a collector outside the cluster (AMP's managed collector) for what this layer runs.

    Always the kubelet and cAdvisor (node and container metrics, straight from each kubelet) and
    kube-state-metrics where the cluster runs it (its ``kube_node_*`` series feed ``NodeNotReady``; the layer does
    not install it on EKS, the EKS community add-on or an admin's chart does); the DCGM exporter when
    ``gpu_metrics``; Kueue when ``kueue_namespace``. Every series gets a ``cluster`` label, so several clusters
    can share one workspace and its rules.
    """
    jobs = [_kubelet_job("kubelet", cluster, "/metrics"), _kubelet_job("cadvisor", cluster, "/metrics/cadvisor"),
            _pod_job("kube-state-metrics", cluster, None, KUBE_STATE_METRICS_LABELS,
                     port=KUBE_STATE_METRICS_PORT, exporter=True)]
    if gpu_metrics:
        # The exporter's namespace holds nothing else: namespace and port select it.
        jobs.append(_pod_job("dcgm-exporter", cluster, [DCGM_NAMESPACE], {}, port=DCGM_METRICS_PORT,
                             exporter=True))
    if kueue_namespace:
        jobs.append(_pod_job("kueue", cluster, [kueue_namespace], KUEUE_POD_LABELS, port=KUEUE_METRICS_PORT,
                             https=True))
    return jobs


def collector_scrape_config(cluster: str, *, kueue_namespace: str | None, gpu_metrics: bool) -> str:
    """:func:`collector_scrape_configs` as a Prometheus configuration file (YAML)."""
    jobs = collector_scrape_configs(cluster, kueue_namespace=kueue_namespace, gpu_metrics=gpu_metrics)
    return yaml.safe_dump({"global": {"scrape_interval": SCRAPE_INTERVAL}, "scrape_configs": jobs}, sort_keys=False)


def collector_ports(*, kueue_namespace: str | None, gpu_metrics: bool) -> list[int]:
    """TCP ports the collector opens into the cluster: the API server (discovery), the kubelet, and the metrics
    ports of kube-state-metrics, the DCGM exporter and Kueue when scraped."""
    ports = [API_SERVER_PORT, KUBELET_PORT, KUBE_STATE_METRICS_PORT]
    if gpu_metrics:
        ports.append(DCGM_METRICS_PORT)
    if kueue_namespace:
        ports.append(KUEUE_METRICS_PORT)
    return ports


GRAFANA_ADMIN_SECRET = "grafana-admin"


def kube_prometheus_stack_values(retention_days: int, storage_size_gb: int, storage_class: str | None,
                                 node_agent_namespace: str, grafana_admin_secret: str | None = None) -> dict[str, Any]:
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
            # Never the chart's well-known default ("prom-operator"). With a generated credential (mlinfra up):
            # an existing Secret the platform writes, so every render is identical. Without one: emptied, the
            # Grafana chart generates a random password per render (not stable across renders).
            **({"admin": {"existingSecret": grafana_admin_secret, "userKey": "admin-user",
                          "passwordKey": "admin-password"}}
               if grafana_admin_secret else {"adminPassword": ""}),
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
    grafana_admin_password: Any = Field(
        default=None,
        description="On-prem Grafana admin password (a Pulumi secret Input), kept in the Secret 'grafana-admin' "
        "the chart reads. Default: none; the chart then generates one per render.",
    )
    prometheus_chart: ChartRef = Field(
        default=CHARTS["kube-prometheus-stack"],
        description="Resolved kube-prometheus-stack chart (on-prem). Default: the pinned upstream chart.",
    )
    dcgm_chart: ChartRef = Field(
        default=CHARTS["dcgm-exporter"],
        description="Resolved dcgm-exporter chart (EKS). Default: the pinned upstream chart.",
    )
    collector_user: str | None = Field(
        default=None, min_length=1,
        description="Kubernetes user of a metrics collector outside the cluster (the Amazon Managed Prometheus "
        "scraper on EKS, mapped by its access entry), bound to a read-only ClusterRole: discover pods and nodes, "
        "read kubelet metrics, GET /metrics. Default: none.",
    )
    kueue_namespace: str | None = Field(
        default=None, min_length=1,
        description="Namespace of the Kueue the platform installed, whose metrics the managed collector scrapes. "
        "On GKE this layer adds a PodMonitoring and the token it authenticates with; on EKS the cloud layer's "
        "scraper has a Kueue job and collector_user's role covers it. Default: none (no Kueue on this cluster).",
    )
    depends_on: list[Any] = Field(
        default_factory=list,
        description="Resources the scrape objects wait for, e.g. the Scheduling component that creates Kueue's "
        "namespace. Default: none.",
    )


class MonitoringLayer(Component):
    """Metrics collection and the platform's alert rules, per target.

    - On-prem: kube-prometheus-stack (Prometheus with ``retention_days`` on a persistent volume, Alertmanager,
      Grafana, kube-state-metrics, node-exporter). Grafana's admin password is not set by us: the chart
      generates it into its Secret, and it never appears in values, state or outputs. Rules as a
      ``PrometheusRule``. GPU metrics come from the GPU Operator's DCGM exporter.
    - EKS: the DCGM exporter on GPU nodes when ``gpu_metrics`` (scraped by the Amazon Managed Prometheus
      collector of the cloud layer, see :func:`collector_scrape_config`); with ``collector_user``, that
      collector's read-only ClusterRole and binding; rules as a ``PrometheusRule`` (for a Prometheus Operator
      the cluster admin runs: with Amazon Managed Prometheus the workspace holds the rules and the platform
      turns ``alert_rules`` off here).
    - GKE: no chart (Managed Service for Prometheus and GKE's managed DCGM collect); rules as a ``ClusterRules``
      (``monitoring.googleapis.com/v1``). Cluster-scoped, not the namespaced ``Rules``: a ``Rules`` object only
      sees metrics of its own namespace, and the GPU, Kueue and node metrics come from other namespaces. With
      ``kueue_namespace``, a ``PodMonitoring`` of Kueue's controller. Kueue serves metrics only over HTTPS to
      callers allowed to GET /metrics, so the monitor presents the token of a ServiceAccount that may do exactly
      that and nothing else; the token's Secret is readable only by GKE's collector (a Role naming that one
      Secret).

    Security: node-exporter and the DCGM exporter read host devices and paths, so they run in dedicated
    ``privileged`` namespaces (``<namespace>-node-agents``, ``dcgm-exporter``) holding nothing else; everything
    else runs restricted, with requests and limits. Collector RBAC is read-only and names its resources, no
    wildcards. Outputs: ``namespace``, ``rule_kind``, ``rule_names``.
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
            admin = GRAFANA_ADMIN_SECRET if args.grafana_admin_password is not None else None
            self.stack = HelmAddon(f"{name}-kube-prometheus-stack", HelmAddonArgs(
                chart=args.prometheus_chart, namespace=args.namespace,
                values=kube_prometheus_stack_values(args.retention_days, args.storage_size_gb, args.storage_class,
                                                    agents, admin),
                depends_on=[agents_ns]), child)
            if admin:
                k8s.core.v1.Secret(
                    f"{name}-grafana-admin", metadata={"name": admin, "namespace": args.namespace},
                    type="Opaque", string_data={"admin-user": "admin", "admin-password": pulumi.Output.secret(
                        args.grafana_admin_password)},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.stack.namespace_object]
                                                if self.stack.namespace_object is not None else None))
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

        if args.collector_user:
            self._collector_rbac(name, args.collector_user)
        if args.target == "gcp" and args.kueue_namespace:
            self._gke_kueue_monitoring(name, args.kueue_namespace, args.depends_on)

        kind = "ClusterRules" if args.target == "gcp" else "PrometheusRule"
        if args.alert_rules:
            metadata: dict[str, Any] = {"name": "mlinfra-alerts", "labels": {"app.kubernetes.io/managed-by": "mlinfra"}}
            if kind == "PrometheusRule":
                metadata["namespace"] = args.namespace
            k8s.apiextensions.CustomResource(
                f"{name}-alert-rules",
                api_version=GMP_API if kind == "ClusterRules" else "monitoring.coreos.com/v1",
                kind=kind, metadata=metadata, spec={"groups": rule_groups()},
                opts=pulumi.ResourceOptions(parent=self, depends_on=waits or None))

        self.namespace = pulumi.Output.from_input(args.namespace)
        self.rule_kind = pulumi.Output.from_input(kind)
        self.rule_names = pulumi.Output.from_input([r.name for r in ALERT_RULES] if args.alert_rules else [])
        self.register_outputs({"namespace": self.namespace, "rule_kind": self.rule_kind,
                               "rule_names": self.rule_names})

    def _collector_rbac(self, name: str, user: str) -> None:
        """The read-only ClusterRole of a collector outside the cluster, bound to its user."""
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-collector", metadata={"name": COLLECTOR_ROLE, "labels": dict(MANAGED_BY)}, rules=collector_rules(),
            opts=pulumi.ResourceOptions(parent=self))
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-collector", metadata={"name": COLLECTOR_ROLE, "labels": dict(MANAGED_BY)},
            role_ref={"apiGroup": RBAC_API, "kind": "ClusterRole", "name": COLLECTOR_ROLE},
            subjects=[{"kind": "User", "name": user, "apiGroup": RBAC_API}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]))

    def _gke_kueue_monitoring(self, name: str, namespace: str, after: list[Any]) -> None:
        """A PodMonitoring of Kueue's controller, and the least-privilege token it scrapes with."""
        token = f"{METRICS_READER}-token"
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=after or None)

        def meta(obj: str, **extra: Any) -> dict[str, Any]:
            return {"name": obj, "namespace": namespace, "labels": dict(MANAGED_BY), **extra}

        # No token mounted into pods: the account exists only to own the token below.
        account = k8s.core.v1.ServiceAccount(
            f"{name}-metrics-reader", metadata=meta(METRICS_READER), automount_service_account_token=False, opts=in_ns)
        # A token Secret (filled in by the token controller) because GMP reads scrape credentials from Secrets.
        secret = k8s.core.v1.Secret(
            f"{name}-metrics-reader-token", type="kubernetes.io/service-account-token",
            metadata=meta(token, annotations={"kubernetes.io/service-account.name": METRICS_READER}),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]))
        # What the token may do: GET /metrics (a non-resource URL), nothing else in the API.
        reader = k8s.rbac.v1.ClusterRole(
            f"{name}-metrics-reader", metadata={"name": METRICS_READER, "labels": dict(MANAGED_BY)},
            rules=[{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}], opts=pulumi.ResourceOptions(parent=self))
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-metrics-reader", metadata={"name": METRICS_READER, "labels": dict(MANAGED_BY)},
            role_ref={"apiGroup": RBAC_API, "kind": "ClusterRole", "name": METRICS_READER},
            subjects=[{"kind": "ServiceAccount", "name": METRICS_READER, "namespace": namespace}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[reader, account]))
        # Who may read the token: GKE's managed collector, this one Secret only.
        secret_reader = k8s.rbac.v1.Role(
            f"{name}-gmp-token-reader", metadata=meta("mlinfra-gmp-token-reader"),
            rules=[{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [token],
                    "verbs": ["get", "list", "watch"]}], opts=in_ns)
        k8s.rbac.v1.RoleBinding(
            f"{name}-gmp-token-reader", metadata=meta("mlinfra-gmp-token-reader"),
            role_ref={"apiGroup": RBAC_API, "kind": "Role", "name": "mlinfra-gmp-token-reader"},
            subjects=[dict(GMP_COLLECTOR)], opts=pulumi.ResourceOptions(parent=self, depends_on=[secret_reader]))
        k8s.apiextensions.CustomResource(
            f"{name}-kueue-monitoring", api_version=GMP_API, kind="PodMonitoring", metadata=meta("kueue"),
            spec={
                "selector": {"matchLabels": dict(KUEUE_POD_LABELS)},
                "endpoints": [{
                    # The port we bind Kueue's metrics to (a number: independent of the chart's port names).
                    "port": KUEUE_METRICS_PORT, "scheme": "https", "interval": SCRAPE_INTERVAL,
                    # Kueue's serving certificate is self-signed by its internal certificate management.
                    "tls": {"insecureSkipVerify": True},
                    "authorization": {"type": "Bearer", "credentials": {"secret": {"name": token, "key": "token"}}},
                }],
                "targetLabels": {"metadata": ["pod", "node"]},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, secret, secret_reader]))
