"""Every Helm chart the platform installs, with its version pinned in this one place.

A chart reference is a repository (an https chart repository, an ``oci://`` registry, or a local
directory) plus a chart name and a version. Air-gapped sites point the stack's ``helm.mirror`` at their
own mirror (every chart), or override one chart under ``helm.charts.<key>``. Pure data, no Pulumi import,
so config validation can check chart keys before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final


@dataclass(frozen=True)
class ChartRef:
    """Where one chart comes from."""

    name: str
    repository: str
    version: str

    @property
    def is_oci(self) -> bool:
        """True when the repository is an OCI registry."""
        return self.repository.startswith("oci://")

    @property
    def is_local(self) -> bool:
        """True when the repository is a local directory (air-gapped sites, tests)."""
        return not self.repository.startswith(("https://", "http://", "oci://"))


# key → upstream chart. Keys are what `helm.charts.<key>` in a stack file refers to.
CHARTS: Final[dict[str, ChartRef]] = {
    "kueue": ChartRef("kueue", "oci://registry.k8s.io/kueue/charts", "0.13.4"),
    "jobset": ChartRef("jobset", "oci://registry.k8s.io/jobset/charts", "0.8.2"),
    "cert-manager": ChartRef("cert-manager", "https://charts.jetstack.io", "v1.18.2"),
    "kserve-crd": ChartRef("kserve-crd", "oci://ghcr.io/kserve/charts", "v0.15.2"),
    "kserve": ChartRef("kserve", "oci://ghcr.io/kserve/charts", "v0.15.2"),
    "nvidia-device-plugin": ChartRef("nvidia-device-plugin", "https://nvidia.github.io/k8s-device-plugin", "0.17.3"),
    "gpu-operator": ChartRef("gpu-operator", "https://helm.ngc.nvidia.com/nvidia", "v25.3.2"),
    "neuron": ChartRef("neuron-helm-chart", "oci://public.ecr.aws/neuron", "1.1.1"),
    "dcgm-exporter": ChartRef("dcgm-exporter", "https://nvidia.github.io/dcgm-exporter/helm-charts", "4.1.3"),
    "kube-prometheus-stack": ChartRef("kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts",
                                      "75.15.1"),
    "cluster-autoscaler": ChartRef("cluster-autoscaler", "https://kubernetes.github.io/autoscaler", "9.48.0"),
    "minio-operator": ChartRef("operator", "https://operator.min.io", "7.1.1"),
    "minio-tenant": ChartRef("tenant", "https://operator.min.io", "7.1.1"),
    "nats": ChartRef("nats", "https://nats-io.github.io/k8s/helm/charts", "1.3.9"),
    "nack": ChartRef("nack", "https://nats-io.github.io/k8s/helm/charts", "0.29.2"),
    "cloudnative-pg": ChartRef("cloudnative-pg", "https://cloudnative-pg.github.io/charts", "0.25.0"),
}


def resolve(key: str, mirror: str | None = None, repository: str | None = None, version: str | None = None) -> ChartRef:
    """The chart to install for ``key``: a per-chart repository/version override wins, then the global
    mirror (same chart name and version, other repository), then upstream."""
    chart = CHARTS[key]
    if repository:
        chart = replace(chart, repository=repository)
    elif mirror:
        chart = replace(chart, repository=mirror)
    if version:
        chart = replace(chart, version=version)
    return chart
