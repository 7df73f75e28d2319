"""``HelmAddon``: one maintained chart installed into its own namespace, from a pinned, overridable source."""

from __future__ import annotations

from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.charts import ChartRef

PodSecurity = Literal["restricted", "baseline", "privileged"]


def namespace_labels(pod_security: PodSecurity, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Pod Security admission labels (enforce, audit and warn at the same level) plus extra labels."""
    return {
        "pod-security.kubernetes.io/enforce": pod_security,
        "pod-security.kubernetes.io/audit": pod_security,
        "pod-security.kubernetes.io/warn": pod_security,
        "app.kubernetes.io/managed-by": "mlinfra",
        **(extra or {}),
    }


class HelmAddonArgs(BaseModel):
    """Inputs of :class:`HelmAddon`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    chart: ChartRef = Field(description="Chart source and pinned version (see charts.resolve). Required.")
    namespace: str = Field(description="Namespace the chart is installed into. Required.")
    create_namespace: bool = Field(
        default=True, description="Create the namespace (with Pod Security labels). Default: on."
    )
    pod_security: PodSecurity = Field(
        default="restricted",
        description="Pod Security admission level of the namespace. Default: restricted; node agents that "
        "need host access (device plugins, DCGM) use 'privileged' and say why.",
    )
    values: dict[str, Any] = Field(default_factory=dict, description="Chart values. Default: the chart's own.")
    skip_crds: bool = Field(default=False, description="Do not install the chart's CRDs. Default: off.")
    depends_on: list[Any] = Field(
        default_factory=list, description="Resources to install after (e.g. an operator's CRDs). Default: none."
    )


class HelmAddon(Component):
    """A platform add-on from its maintained Helm chart, rendered client-side (``helm.v4.Chart``).

    Secure defaults: a dedicated namespace labelled for the ``restricted`` Pod Security level unless the
    add-on needs host access; the chart comes from the pinned version in :mod:`.charts`, overridable per
    stack so air-gapped sites install from a mirror or a local directory.
    Outputs: ``namespace``, ``chart_version``; ``namespace_object`` is the Namespace it created (or None).
    """

    namespace: pulumi.Output[str]
    chart_version: pulumi.Output[str]

    def __init__(self, name: str, args: HelmAddonArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:kubernetes:HelmAddon", name, None, opts)
        waits: list[Any] = list(args.depends_on)
        self.namespace_object: k8s.core.v1.Namespace | None = None
        if args.create_namespace:
            ns = self.namespace_object = k8s.core.v1.Namespace(
                f"{name}-ns", metadata={"name": args.namespace, "labels": namespace_labels(args.pod_security)},
                opts=pulumi.ResourceOptions(parent=self),
            )
            waits.append(ns)
        chart = args.chart
        source: dict[str, Any]
        if chart.is_oci or chart.is_local:
            source = {"chart": f"{chart.repository.rstrip('/')}/{chart.name}"}
        else:
            source = {"chart": chart.name, "repository_opts": {"repo": chart.repository}}
        self.release = k8s.helm.v4.Chart(
            name, **source, version=None if chart.is_local else chart.version, namespace=args.namespace,
            values=args.values, skip_crds=args.skip_crds,
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits or None),
        )
        self.namespace = pulumi.Output.from_input(args.namespace)
        self.chart_version = pulumi.Output.from_input(chart.version)
        self.register_outputs({"namespace": self.namespace, "chart_version": self.chart_version})
