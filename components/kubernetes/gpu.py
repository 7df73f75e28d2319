"""``AcceleratorSupport``: what each target needs so the kubelet advertises ``nvidia.com/gpu`` and
``aws.amazon.com/neuron`` — nothing on GKE, device plugins on EKS, the NVIDIA GPU Operator on-prem."""

from __future__ import annotations

from typing import Any, Final, Literal, Self

import pulumi
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.charts import CHARTS, ChartRef
from mlinfra.components.kubernetes.helm import HelmAddon, HelmAddonArgs
from mlinfra.components.kubernetes.workload_security import resources, restricted_container, restricted_pod

POOL_LABEL: Final[str] = "mlinfra.io/pool"
# Node agents get their own namespaces, labelled Pod Security "privileged" (see the class docstring).
DEVICE_PLUGIN_NAMESPACE: Final[str] = "nvidia-device-plugin"
NEURON_NAMESPACE: Final[str] = "neuron-device-plugin"
GPU_OPERATOR_NAMESPACE: Final[str] = "gpu-operator"

NVIDIA_TOLERATION: Final[dict[str, str]] = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
NEURON_TOLERATION: Final[dict[str, str]] = {
    "key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule",
}


def _pool_affinity(pools: list[str]) -> dict[str, Any]:
    """Required node affinity to the accelerator pools (label ``mlinfra.io/pool``, set on every pool)."""
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": sorted(pools)}]}]}}}


def _agent_container() -> dict[str, Any]:
    """A device plugin's container: it must run as root (it writes its socket into the root-owned
    /var/lib/kubelet/device-plugins host directory), but needs no capability, no escalation and no writes
    to its image."""
    return restricted_container(runAsNonRoot=False, runAsUser=0)


def device_plugin_values(pools: list[str]) -> dict[str, Any]:
    """Values of NVIDIA's ``nvidia-device-plugin`` chart (0.17 keys: ``affinity``, ``tolerations``,
    ``podSecurityContext``, ``securityContext``, ``resources``, ``gfd.enabled``, ``nfd.enabled``).

    Assumption: the chart's own default affinity selects NFD labels (``feature.node.kubernetes.io/pci-10de``),
    absent on EKS without NFD; we replace it with the pool label the platform sets on every node group."""
    return {
        "affinity": _pool_affinity(pools),
        "tolerations": [NVIDIA_TOLERATION, {"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "priorityClassName": "system-node-critical",
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": _agent_container(),
        "resources": resources("50m", "64Mi", "200m", "128Mi"),
        "gfd": {"enabled": False},  # feature discovery labels are not needed: pools are labelled by us
        "nfd": {"enabled": False},
    }


def neuron_values(pools: list[str]) -> dict[str, Any]:
    """Values of AWS's ``neuron-helm-chart`` (1.1 keys, from its README: ``devicePlugin.*``,
    ``scheduler.enabled``, ``npd.enabled``). Assumption: ``devicePlugin`` accepts ``affinity``,
    ``tolerations``, ``resources`` and ``securityContext`` like the standalone plugin manifest it wraps."""
    return {
        "devicePlugin": {
            "enabled": True,
            "affinity": _pool_affinity(pools),
            "tolerations": [NEURON_TOLERATION, {"key": "CriticalAddonsOnly", "operator": "Exists"}],
            "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "securityContext": _agent_container(),
            "resources": resources("50m", "64Mi", "200m", "128Mi"),
        },
        # The scheduler extension replaces kube-scheduler configuration EKS does not let us change; the
        # default scheduler with whole-device requests is enough for our jobs.
        "scheduler": {"enabled": False},
        "npd": {"enabled": False},  # node problem detector needs IRSA to replace nodes; not wired yet
    }


def gpu_operator_values(install_driver: bool) -> dict[str, Any]:
    """Values of NVIDIA's ``gpu-operator`` chart (v25 keys: ``driver.enabled``, ``toolkit.enabled``,
    ``daemonsets.tolerations``, ``operator.resources``, ``dcgmExporter.*``, ``nfd.enabled``).

    The operator Deployment itself runs restricted; its operands (driver, container toolkit, device plugin,
    validator, DCGM exporter, NFD worker) are DaemonSets the operator creates with host access by design."""
    return {
        "operator": {
            "resources": resources("100m", "256Mi", "500m", "512Mi"),
            # Assumption: chart v25 exposes these for the operator Deployment (it runs non-root upstream).
            "podSecurityContext": restricted_pod(),
            "securityContext": restricted_container(),
        },
        "driver": {"enabled": install_driver},
        "toolkit": {"enabled": True},
        "daemonsets": {"tolerations": [NVIDIA_TOLERATION], "priorityClassName": "system-node-critical"},
        "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": True}},
        "nfd": {"enabled": True},  # labels GPU nodes (nvidia.com/gpu.present) so operands find them
    }


class AcceleratorSupportArgs(BaseModel):
    """Inputs of :class:`AcceleratorSupport`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    target: Literal["gcp", "aws", "onprem"] = Field(description="Where the cluster runs. Required.")
    nvidia: bool = Field(default=False, description="The cluster has NVIDIA GPU nodes. Default: off.")
    neuron: bool = Field(
        default=False, description="The cluster has AWS Trainium/Inferentia nodes (AWS only). Default: off."
    )
    gpu_pools: list[str] = Field(
        default_factory=list,
        description="Names of the node pools carrying NVIDIA GPUs (label mlinfra.io/pool); the EKS device plugin "
        "runs only there. Default: none (required on AWS when nvidia is on).",
    )
    neuron_pools: list[str] = Field(
        default_factory=list,
        description="Names of the node pools carrying Neuron chips (label mlinfra.io/pool). Default: none "
        "(required when neuron is on).",
    )
    install_driver: bool = Field(
        default=False,
        description="On-prem: let the GPU Operator install the NVIDIA kernel driver. Default: off, because "
        "on-prem admins usually own host drivers (they pin versions to their OS image and firmware); turn it "
        "on for nodes without a driver.",
    )
    nvidia_chart: ChartRef | None = Field(
        default=None,
        description="Resolved NVIDIA chart for the target: nvidia-device-plugin on EKS, gpu-operator on-prem. "
        "Default: the pinned upstream chart for the target.",
    )
    neuron_chart: ChartRef = Field(
        default=CHARTS["neuron"], description="Resolved Neuron chart (EKS). Default: the pinned upstream chart."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.neuron and self.target != "aws":
            raise ValueError(f"Neuron chips exist only on AWS, not on target {self.target!r}; set neuron=False")
        if self.target == "aws" and self.nvidia and not self.gpu_pools:
            raise ValueError("nvidia=True on AWS needs gpu_pools (the node pools with NVIDIA GPUs) so the device "
                             "plugin runs only on them; list them or set nvidia=False")
        if self.neuron and not self.neuron_pools:
            raise ValueError("neuron=True needs neuron_pools (the node pools with Trainium/Inferentia); list them")
        if self.install_driver and self.target != "onprem":
            raise ValueError(f"install_driver applies to on-prem only; {self.target!r} nodes come with drivers from "
                             "their node image; set install_driver=False")
        return self


class AcceleratorSupport(Component):
    """Makes accelerators schedulable on each target.

    - GKE: installs nothing. GKE installs the NVIDIA driver (``gpu_driver_installation_config``) and runs its
      own device plugin and TPU support on accelerator node pools; a second plugin would fight it. The
      component is still created (with no children) so every target has the same layer shape.
    - EKS: NVIDIA's device plugin (``nvidia``) and AWS's Neuron device plugin (``neuron``, scheduler extension
      and node problem detector off) on the accelerator pools only, tolerating their ``nvidia.com/gpu`` /
      ``aws.amazon.com/neuron`` NoSchedule taints. Drivers come with the EKS accelerated AMIs.
    - On-prem: the NVIDIA GPU Operator (container toolkit, device plugin, DCGM exporter, feature discovery);
      the driver only with ``install_driver``.

    Security: device plugins and the GPU Operator's operands are node agents: they write sockets into host
    directories (/var/lib/kubelet/device-plugins), load kernel modules or configure the container runtime,
    which only the Pod Security ``privileged`` level admits (``baseline`` already forbids hostPath). Each gets a
    dedicated namespace labelled ``privileged`` holding nothing else; the containers still drop every capability,
    forbid privilege escalation, use a read-only image filesystem and the RuntimeDefault seccomp profile, and
    run as root only because the host directories are root-owned. Outputs: ``charts`` (installed chart names).
    """

    charts: pulumi.Output[list[str]]

    def __init__(self, name: str, args: AcceleratorSupportArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:kubernetes:AcceleratorSupport", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.addons: dict[str, HelmAddon] = {}
        if args.target == "aws" and args.nvidia:
            self.addons["nvidia-device-plugin"] = HelmAddon(f"{name}-nvidia-device-plugin", HelmAddonArgs(
                chart=args.nvidia_chart or CHARTS["nvidia-device-plugin"], namespace=DEVICE_PLUGIN_NAMESPACE,
                pod_security="privileged",
                values=device_plugin_values(args.gpu_pools)), child)
        if args.target == "aws" and args.neuron:
            self.addons["neuron"] = HelmAddon(f"{name}-neuron", HelmAddonArgs(
                chart=args.neuron_chart, namespace=NEURON_NAMESPACE, pod_security="privileged",
                values=neuron_values(args.neuron_pools)), child)
        if args.target == "onprem" and args.nvidia:
            self.addons["gpu-operator"] = HelmAddon(f"{name}-gpu-operator", HelmAddonArgs(
                chart=args.nvidia_chart or CHARTS["gpu-operator"], namespace=GPU_OPERATOR_NAMESPACE,
                pod_security="privileged",
                values=gpu_operator_values(args.install_driver)), child)
        self.charts = pulumi.Output.from_input(sorted(self.addons))
        self.register_outputs({"charts": self.charts})
