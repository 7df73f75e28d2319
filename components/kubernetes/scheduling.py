"""``Scheduling``: Kueue, priority classes, a ResourceFlavor per node pool and a ClusterQueue/LocalQueue per team."""

from __future__ import annotations

from typing import Any, Final, Literal, Self

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.charts import ChartRef
from mlinfra.components.kubernetes.helm import HelmAddon, HelmAddonArgs

KUEUE_API: Final = "kueue.x-k8s.io/v1beta1"
Priority = Literal["low", "normal", "high"]
# name suffix → (value, kube-scheduler preemption policy). Low-priority pods never evict anything.
PRIORITIES: Final[dict[str, tuple[int, str]]] = {
    "low": (1000, "Never"), "normal": (10000, "PreemptLowerPriority"), "high": (100000, "PreemptLowerPriority"),
}
# Fair-sharing weight of a queue of each priority (takes effect when Kueue fair sharing is enabled).
WEIGHTS: Final[dict[str, str]] = {"low": "0.5", "normal": "1", "high": "2"}
# Schedulable resource → the QueueArgs field holding the team's amount, in resource-group order.
RESOURCES: Final[dict[str, str]] = {
    "cpu": "cpus", "memory": "memory_gb", "nvidia.com/gpu": "gpus", "google.com/tpu": "tpu_chips",
    "aws.amazon.com/neuron": "neuron_devices",
}
DEFAULT_FRAMEWORKS: Final[list[str]] = ["batch/job", "jobset.x-k8s.io/jobset", "kubeflow.org/pytorchjob"]
KUEUE_NAMESPACE: Final = "kueue-system"
# How the chart labels the controller-manager pod (its selector labels), and the metrics port we bind it to
# (kueue_values). Kueue serves metrics over HTTPS only and authorizes each scrape with a SubjectAccessReview of
# GET /metrics for the caller's token.
KUEUE_POD_LABELS: Final[dict[str, str]] = {"app.kubernetes.io/name": "kueue", "control-plane": "controller-manager"}
KUEUE_METRICS_PORT: Final = 8443


def priority_class_name(priority: str) -> str:
    """The PriorityClass / WorkloadPriorityClass name of a priority level (``mlinfra-high``)."""
    return f"mlinfra-{priority}"


class TolerationArgs(BaseModel):
    """A toleration Kueue injects into workloads admitted on a flavor (match the node pool's taint)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1, description="Taint key. Required.")
    operator: Literal["Equal", "Exists"] = Field(default="Equal", description="Match operator. Default: Equal.")
    value: str | None = Field(default=None, description="Taint value (Equal only). Default: none.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default="NoSchedule", description="Taint effect; None tolerates every effect. Default: NoSchedule."
    )

    @model_validator(mode="after")
    def _exists_has_no_value(self) -> Self:
        if self.operator == "Exists" and self.value is not None:
            raise ValueError(f"toleration {self.key!r}: operator Exists takes no value; drop 'value' or use Equal")
        return self


class FlavorArgs(BaseModel):
    """One Kueue ResourceFlavor: a kind of node (usually a node pool) and the resources it provides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Flavor name (cluster-scoped). Required.")
    node_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels selecting its nodes; Kueue adds them as nodeSelector to admitted pods. Default: none "
        "(any node; the usual choice for a CPU/memory flavor shared by every pool).",
    )
    tolerations: list[TolerationArgs] = Field(
        default_factory=list, description="Tolerations for the pool's taints. Default: none."
    )
    resources: list[Literal["cpu", "memory", "nvidia.com/gpu", "google.com/tpu", "aws.amazon.com/neuron"]] = Field(
        default_factory=lambda: ["cpu", "memory"],
        description="Resources its nodes provide and queues get quota of on it. Default: cpu and memory.",
    )


class QueueArgs(BaseModel):
    """A team's ClusterQueue (quota) and its LocalQueue (where the team submits)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Queue name; the ClusterQueue and LocalQueue are named so. Required.")
    namespace: str = Field(description="The team namespace: the only one the ClusterQueue admits from. Required.")
    cpus: int = Field(ge=0, description="CPU cores, on each flavor providing cpu. Required.")
    memory_gb: int = Field(ge=0, description="Memory in GiB, on each flavor providing memory. Required.")
    gpus: int = Field(default=0, ge=0, description="nvidia.com/gpu on each flavor providing it. Default: 0.")
    tpu_chips: int = Field(default=0, ge=0, description="google.com/tpu on each flavor providing it. Default: 0.")
    neuron_devices: int = Field(
        default=0, ge=0, description="aws.amazon.com/neuron on each flavor providing it. Default: 0."
    )
    priority: Priority = Field(
        default="normal",
        description="The queue's standing: its fair-sharing weight (low 0.5, normal 1, high 2) and the "
        "'mlinfra.io/priority' label tools use as the default WorkloadPriorityClass. Default: normal.",
    )
    borrowing: bool = Field(
        default=False,
        description="Join the cohort: borrow idle quota of other borrowing queues and lend its own (reclaimed by "
        "preemption when needed). Default: off, the queue keeps exactly its quota.",
    )


class SchedulingArgs(BaseModel):
    """Inputs of :class:`Scheduling`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    kueue_chart: ChartRef = Field(description="Kueue chart (charts.resolve('kueue', ...)). Required.")
    install_kueue: bool = Field(
        default=True, description="Install Kueue; off when the cluster already runs it. Default: on."
    )
    namespace: str = Field(default=KUEUE_NAMESPACE, description="Kueue's namespace. Default: kueue-system.")
    flavors: list[FlavorArgs] = Field(
        default_factory=lambda: [FlavorArgs(name="default")],
        description="Resource flavors. Default: one 'default' flavor, cpu and memory on any node.",
    )
    queues: list[QueueArgs] = Field(default_factory=list, description="One per team. Default: none.")
    cohort: str = Field(default="mlinfra", description="Cohort of the borrowing queues. Default: mlinfra.")
    frameworks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FRAMEWORKS),
        description="Kueue integrations (Configuration.integrations.frameworks). Default: batch/job, "
        "jobset.x-k8s.io/jobset, kubeflow.org/pytorchjob.",
    )
    depends_on: list[Any] = Field(
        default_factory=list,
        description="Resources the queues wait for, e.g. the TeamNamespace components. Default: none.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for kind, names in (("flavor", [f.name for f in self.flavors]), ("queue", [q.name for q in self.queues])):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind} names {duplicates}; give each {kind} its own name")
        provided = {r for f in self.flavors for r in f.resources}
        if self.queues and not {"cpu", "memory"} <= provided:
            raise ValueError("no flavor provides cpu and memory, so Kueue could admit nothing; add a flavor with "
                             "resources ['cpu', 'memory'] (e.g. FlavorArgs(name='default'))")
        for queue in self.queues:
            for resource, field in RESOURCES.items():
                if getattr(queue, field) and resource not in provided:
                    raise ValueError(f"queue {queue.name!r} has {field}={getattr(queue, field)} but no flavor "
                                     f"provides {resource}; add a flavor for it or set {field}=0")
        return self


def resource_groups(flavors: list[FlavorArgs]) -> list[tuple[list[str], list[FlavorArgs]]]:
    """Flavors grouped as Kueue requires: flavors sharing any resource form one group covering the union of
    their resources (a flavor sits in exactly one group; each lists every covered resource, 0 where it has
    none). Disjoint flavors, e.g. a label-less cpu/memory flavor and a GPU-only pool, stay separate groups."""
    groups: list[tuple[set[str], list[FlavorArgs]]] = []
    for flavor in flavors:
        merged: tuple[set[str], list[FlavorArgs]] = (set(flavor.resources), [flavor])
        rest = []
        for covered, members in groups:
            if covered & merged[0]:
                merged = (covered | merged[0], members + merged[1])
            else:
                rest.append((covered, members))
        groups = [*rest, merged]
    order = list(RESOURCES)
    result = [(sorted(covered, key=order.index), sorted(members, key=flavors.index)) for covered, members in groups]
    return sorted(result, key=lambda g: flavors.index(g[1][0]))


def _amount(queue: QueueArgs, resource: str) -> str:
    value = getattr(queue, RESOURCES[resource])
    return f"{value}Gi" if resource == "memory" else str(value)


def kueue_values(frameworks: list[str]) -> dict[str, Any]:
    """Chart values: the manager Configuration (the chart's defaults, v1beta1 for Kueue 0.13) with our
    integrations. The chart takes it as one YAML string, ``managerConfig.controllerManagerConfigYaml``,
    replacing its default wholesale, so the other settings are restated here.

    The metrics endpoint is always on (``metrics.bindAddress``, HTTPS); ``metrics.enableClusterQueueResources``
    (off in the chart) adds the per-ClusterQueue quota and usage series the ``KueueClusterQueueAtQuota`` alert
    reads. The chart's ``enablePrometheus`` stays off: it only adds a Prometheus Operator ServiceMonitor, which
    neither managed Prometheus reads; the monitoring layer configures their collectors instead."""
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta1",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": f":{KUEUE_METRICS_PORT}", "enableClusterQueueResources": True},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {"groupKindConcurrency": {
            "Job.batch": 5, "Pod": 5, "Workload.kueue.x-k8s.io": 5, "LocalQueue.kueue.x-k8s.io": 1,
            "ClusterQueue.kueue.x-k8s.io": 1, "ResourceFlavor.kueue.x-k8s.io": 1}},
        "clientConnection": {"qps": 50, "burst": 100},
        "integrations": {"frameworks": list(frameworks)},
    }
    return {"managerConfig": {"controllerManagerConfigYaml": yaml.safe_dump(config, sort_keys=False)}}


class _KueueObject(pulumi.CustomResource):
    """A Kueue object with top-level fields besides ``spec`` (WorkloadPriorityClass has ``value``), which
    ``apiextensions.CustomResource`` cannot carry in Python; same type token and provider as it."""

    def __init__(self, name: str, kind: str, body: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        props = {"apiVersion": KUEUE_API, "kind": kind, **body}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=k8s._utilities.get_version()))
        super().__init__(f"kubernetes:{KUEUE_API}:{kind}", name, props, opts)


class Scheduling(Component):
    """Batch scheduling for ML teams: Kueue admits jobs against per-team quotas, per node pool.

    Installs Kueue from its pinned chart (restricted Pod Security), the ``mlinfra-low/normal/high``
    PriorityClasses and matching Kueue WorkloadPriorityClasses, one ResourceFlavor per node pool (node
    labels and tolerations), and per team a ClusterQueue admitting only from the team namespace, with the
    team's quota on every flavor that provides each resource (the namespace ResourceQuota remains the
    hard total), preemption by priority within the queue and, when borrowing, a shared cohort; plus a
    LocalQueue in the team namespace. Every Kueue object waits for the chart (its CRDs and webhooks).
    Outputs: ``cluster_queue_names``, ``local_queue_names``.
    """

    cluster_queue_names: pulumi.Output[list[str]]
    local_queue_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: SchedulingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:kubernetes:Scheduling", name, None, opts)
        crds: list[Any] = []
        if args.install_kueue:
            self.kueue = HelmAddon(
                f"{name}-kueue",
                HelmAddonArgs(chart=args.kueue_chart, namespace=args.namespace, values=kueue_values(args.frameworks)),
                opts=pulumi.ResourceOptions(parent=self),
            )
            crds.append(self.kueue)
        after_kueue = pulumi.ResourceOptions(parent=self, depends_on=crds or None)

        for level, (value, preemption) in PRIORITIES.items():
            description = f"mlinfra {level} priority"
            k8s.scheduling.v1.PriorityClass(
                f"{name}-priority-{level}", metadata={"name": priority_class_name(level)}, value=value,
                preemption_policy=preemption, global_default=False, description=description,
                opts=pulumi.ResourceOptions(parent=self),
            )
            _KueueObject(f"{name}-workload-priority-{level}", "WorkloadPriorityClass",
                         {"metadata": {"name": priority_class_name(level)}, "value": value, "description": description},
                         after_kueue)

        flavors = {}
        for flavor in args.flavors:
            spec: dict[str, Any] = {"nodeLabels": dict(flavor.node_labels)}
            if flavor.tolerations:
                spec["tolerations"] = [t.model_dump(exclude_none=True) for t in flavor.tolerations]
            flavors[flavor.name] = k8s.apiextensions.CustomResource(
                f"{name}-flavor-{flavor.name}", api_version=KUEUE_API, kind="ResourceFlavor",
                metadata={"name": flavor.name}, spec=spec, opts=after_kueue,
            )

        groups = resource_groups(args.flavors)
        for queue in args.queues:
            labels = {"mlinfra.io/priority": priority_class_name(queue.priority)}
            spec = {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": queue.namespace}},
                "queueingStrategy": "BestEffortFIFO",
                "resourceGroups": [{
                    "coveredResources": covered,
                    "flavors": [{"name": f.name, "resources": [
                        {"name": r, "nominalQuota": _amount(queue, r) if r in f.resources else "0"} for r in covered]}
                        for f in members],
                } for covered, members in groups],
                "preemption": {
                    "withinClusterQueue": "LowerPriority",
                    "reclaimWithinCohort": "Any" if queue.borrowing else "Never",
                    "borrowWithinCohort": {"policy": "Never"},
                },
                "fairSharing": {"weight": WEIGHTS[queue.priority]},
            }
            if queue.borrowing:
                spec["cohort"] = args.cohort
            cluster_queue = k8s.apiextensions.CustomResource(
                f"{name}-cq-{queue.name}", api_version=KUEUE_API, kind="ClusterQueue",
                metadata={"name": queue.name, "labels": labels}, spec=spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*crds, *flavors.values()]),
            )
            k8s.apiextensions.CustomResource(
                f"{name}-lq-{queue.name}", api_version=KUEUE_API, kind="LocalQueue",
                metadata={"name": queue.name, "namespace": queue.namespace, "labels": labels},
                spec={"clusterQueue": queue.name},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*crds, cluster_queue, *args.depends_on]),
            )
        self.cluster_queue_names = pulumi.Output.from_input([q.name for q in args.queues])
        self.local_queue_names = pulumi.Output.from_input([f"{q.namespace}/{q.name}" for q in args.queues])
        self.register_outputs({"cluster_queue_names": self.cluster_queue_names,
                               "local_queue_names": self.local_queue_names})
