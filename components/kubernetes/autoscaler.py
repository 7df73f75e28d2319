"""``ClusterAutoscaler``: scales EKS managed node groups between their bounds (min_nodes..max_nodes).

GKE autoscales node pools itself and on-prem nodes are not created, so only EKS needs it. It discovers
the node groups by the tags EKS puts on their Auto Scaling groups and acts through an IAM role the AWS
layer creates and binds with Pod Identity (no node credentials).
"""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.charts import ChartRef
from mlinfra.components.kubernetes.helm import HelmAddon, HelmAddonArgs
from mlinfra.components.kubernetes.workload_security import resources, restricted_container, restricted_pod

SERVICE_ACCOUNT = "cluster-autoscaler"
NAMESPACE = "cluster-autoscaler"


class ClusterAutoscalerArgs(BaseModel):
    """Inputs of :class:`ClusterAutoscaler`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chart: ChartRef = Field(
        description="The cluster-autoscaler chart (charts.resolve('cluster-autoscaler')). Required."
    )
    cluster_name: str = Field(description="EKS cluster name (node-group auto-discovery tag). Required.")
    region: str = Field(description="AWS region of the cluster. Required.")
    namespace: str = Field(default=NAMESPACE, description="Namespace. Default: cluster-autoscaler.")
    scale_down_unneeded_minutes: int = Field(
        default=10, ge=1, description="Minutes a node must be unneeded before it is removed. Default: 10."
    )


class ClusterAutoscaler(Component):
    """The Kubernetes Cluster Autoscaler for EKS, restricted and least-privilege.

    Secure defaults: its own ``restricted`` namespace; runs as non-root with a read-only root filesystem,
    no privilege escalation, all capabilities dropped and the runtime's seccomp profile; requests and
    limits set; AWS access only through the Pod Identity role bound to its service account; it balances
    similar node groups and never scales below a group's minimum. Outputs: ``namespace``.
    """

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:kubernetes:ClusterAutoscaler", name, None, opts)
        values = {
            "cloudProvider": "aws",
            "awsRegion": args.region,
            "autoDiscovery": {"clusterName": args.cluster_name},
            "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
            "extraArgs": {"balance-similar-node-groups": True, "skip-nodes-with-system-pods": False,
                          "scale-down-unneeded-time": f"{args.scale_down_unneeded_minutes}m"},
            "securityContext": restricted_pod(runAsUser=65534, runAsGroup=65534),
            "containerSecurityContext": restricted_container(),
            "resources": resources("100m", "300Mi", cpu_limit="500m", memory_limit="600Mi"),
        }
        HelmAddon(f"{name}-chart", HelmAddonArgs(chart=args.chart, namespace=args.namespace, values=values),
                  pulumi.ResourceOptions(parent=self))
        self.namespace = pulumi.Output.from_input(args.namespace)
        self.register_outputs({"namespace": self.namespace})
