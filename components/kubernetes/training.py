"""``TrainingLayer``: the JobSet controller, the training operator of the training cluster."""

from __future__ import annotations

from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.charts import CHARTS, ChartRef
from mlinfra.components.kubernetes.helm import HelmAddon, HelmAddonArgs
from mlinfra.components.kubernetes.workload_security import resources, restricted_container, restricted_pod


def jobset_values(replicas: int, service_monitor: bool) -> dict[str, Any]:
    """Values of the ``jobset`` chart (0.8 keys, from its README: ``controller.replicas``,
    ``controller.resources``, ``controller.podSecurityContext``, ``controller.securityContext``,
    ``prometheus.enable``). The controller image is distroless nonroot, so the whole restricted profile holds."""
    return {
        "controller": {
            "replicas": replicas,
            "podSecurityContext": restricted_pod(),
            "securityContext": restricted_container(),
            # Upstream default limit is 2 CPU / 4Gi; a controller reconciling a few hundred JobSets needs far less.
            "resources": resources("100m", "256Mi", "1", "1Gi"),
        },
        # A ServiceMonitor needs the Prometheus Operator's CRD (on-prem kube-prometheus-stack); GKE/EKS scrape
        # through the managed collectors instead.
        "prometheus": {"enable": service_monitor},
    }


class TrainingLayerArgs(BaseModel):
    """Inputs of :class:`TrainingLayer`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    chart: ChartRef = Field(
        default=CHARTS["jobset"], description="Resolved JobSet chart. Default: the pinned upstream chart."
    )
    namespace: str = Field(default="jobset-system", description="Namespace of the controller. Default: jobset-system.")
    replicas: int = Field(
        default=1, ge=1, le=5, description="Controller replicas (leader election picks one). Default: 1."
    )
    service_monitor: bool = Field(
        default=False,
        description="Create the chart's ServiceMonitor (needs the Prometheus Operator CRDs, i.e. on-prem "
        "kube-prometheus-stack installed first). Default: off.",
    )
    depends_on: list[Any] = Field(
        default_factory=list,
        description="Resources to install after, e.g. the monitoring layer when service_monitor is on. Default: none.",
    )


class TrainingLayer(Component):
    """The training operator: JobSet, from its maintained chart, in a ``restricted`` namespace.

    Why JobSet rather than the Kubeflow Training Operator: JobSet is maintained by Kubernetes SIG Apps next to
    the Job API it builds on; Kueue admits JobSets natively (whole gang or nothing); its replicated-job model
    with stable pod hostnames fits multi-host TPU slices (one Job per slice, exclusive placement per topology)
    as well as multi-node GPU jobs (leader + workers for torchrun/DeepSpeed/JAX); and it has no
    framework-specific CRDs (PyTorchJob, TFJob, ...) to upgrade in lockstep with the frameworks.

    Security: the controller runs non-root, read-only root filesystem, no capabilities, no privilege
    escalation, seccomp RuntimeDefault, with requests and limits. Outputs: ``namespace``, ``chart_version``.
    """

    namespace: pulumi.Output[str]
    chart_version: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingLayerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:kubernetes:TrainingLayer", name, None, opts)
        self.jobset = HelmAddon(f"{name}-jobset", HelmAddonArgs(
            chart=args.chart, namespace=args.namespace, pod_security="restricted",
            values=jobset_values(args.replicas, args.service_monitor), depends_on=list(args.depends_on),
        ), pulumi.ResourceOptions(parent=self))
        self.namespace = self.jobset.namespace
        self.chart_version = self.jobset.chart_version
        self.register_outputs({"namespace": self.namespace, "chart_version": self.chart_version})
