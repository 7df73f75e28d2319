"""Kubernetes security rules, the same on GKE, EKS and on-prem: workloads, namespaces, RBAC, Services, queues.

Workloads. Every rule about pods reads the pod templates through one extractor (:func:`pod_specs`): Pod,
Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, JobSet and PyTorchJob, and checks containers,
init containers and ephemeral containers alike.

Pod Security levels. A workload is judged at the Pod Security level its namespace enforces in this plan,
because that is what the cluster will admit: checks of the ``restricted`` profile (non-root, no privilege
escalation, seccomp, dropped capabilities) do not apply in namespaces the plan labels ``baseline`` or
``privileged``, checks of the ``baseline`` profile (host namespaces, host paths and ports, added
capabilities) only not in ``privileged`` ones, where the platform's node agents run (device plugins,
node-exporter, DCGM). A namespace the plan does not create counts as ``restricted``. The exceptions stay
visible: team namespaces must enforce ``restricted`` (mandatory) and any other namespace below it is
reported (advisory). Privileged containers are never excused.

Clusters. Objects meet their namespace by name within one cluster, told apart by the Kubernetes provider's
configuration; when the engine cannot tell the providers apart (a kubeconfig not known yet), same-named
namespaces of different clusters are taken together, the strictest Pod Security level winning.

Provenance. Roles rendered from an upstream chart or manifest (children of a Helm ``Chart`` or a YAML
``ConfigGroup``) belong to that project's maintainers; their wildcards and escalation verbs are reported by an
advisory rule, while roles the platform (or a custom component) writes itself are held to the mandatory ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Final

from pulumi_policy.proxy import UnknownValueError

from mlinfra.policies.catalog import (
    CIS_K8S,
    TARGETS,
    Resource,
    Stack,
    cis,
    is_unknown,
    resource_rule,
    rules_in,
    stack_rule,
)
from mlinfra.policies.context import PolicyContext

Path = tuple[str | int, ...]
PodCheck = Callable[[Resource, Path, str], Iterator[str]]

NAMESPACE: Final = "kubernetes:core/v1:Namespace"
NETWORK_POLICY: Final = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE: Final = "kubernetes:core/v1:Service"
SERVICE_ACCOUNTS: Final = ("kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:ServiceAccountPatch")
_RBAC: Final = "kubernetes:rbac.authorization.k8s.io/v1"
ROLES: Final = (f"{_RBAC}:Role", f"{_RBAC}:ClusterRole", f"{_RBAC}:RolePatch", f"{_RBAC}:ClusterRolePatch")
BINDINGS: Final = (f"{_RBAC}:RoleBinding", f"{_RBAC}:ClusterRoleBinding",
                   f"{_RBAC}:RoleBindingPatch", f"{_RBAC}:ClusterRoleBindingPatch")
CLUSTER_QUEUES: Final = ("kubernetes:kueue.x-k8s.io/v1beta1:ClusterQueue",
                         "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue")

# Where each workload kind keeps its pod template's spec.
POD_SPEC_PATHS: Final[dict[str, Path]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
JOBSET: Final = "kubernetes:jobset.x-k8s.io/v1alpha2:JobSet"
PYTORCHJOB: Final = "kubernetes:kubeflow.org/v1:PyTorchJob"
WORKLOADS: Final = (*POD_SPEC_PATHS, JOBSET, PYTORCHJOB)
CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")

TEAM_LABEL: Final = "mlinfra.io/team"
ENFORCE_LABEL: Final = "pod-security.kubernetes.io/enforce"
LEVELS: Final = ("privileged", "baseline", "restricted")  # loosest first
# Capabilities the Pod Security baseline profile lets a container add; restricted allows NET_BIND_SERVICE only.
BASELINE_CAPABILITIES: Final = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
RESTRICTED_CAPABILITIES: Final = frozenset({"NET_BIND_SERVICE"})
ESCALATION_VERBS: Final = ("bind", "escalate", "impersonate")
# Annotations that make a Service's cloud load balancer internal, per target (serving.INTERNAL_LB_ANNOTATIONS
# sets the first of each; the others are the older spellings the cloud controllers still honour).
INTERNAL_LB: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "gcp": (("networking.gke.io/load-balancer-type", "internal"), ("cloud.google.com/load-balancer-type", "internal")),
    "aws": (("service.beta.kubernetes.io/aws-load-balancer-scheme", "internal"),
            ("service.beta.kubernetes.io/aws-load-balancer-internal", "true")),
}
# Parents whose children are rendered from upstream charts or manifests (the type part of the URN).
RENDERED_BY: Final = ("kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/")
UNKNOWN_NOTE: Final = "cannot be judged before the update runs; the rule fails closed"


# ----- reading workloads ---------------------------------------------------------------------------------


def pod_specs(res: Resource) -> Iterator[Path]:
    """The path of every pod spec ``res`` carries (one per template; JobSets and PyTorchJobs have several)."""
    if res.type in POD_SPEC_PATHS:
        path = POD_SPEC_PATHS[res.type]
        if res.get(*path) is not None:
            yield path
    elif res.type == JOBSET:
        for index, _job in enumerate(res.get("spec", "replicatedJobs", default=[])):
            path = ("spec", "replicatedJobs", index, "template", "spec", "template", "spec")
            if res.get(*path) is not None:
                yield path
    elif res.type == PYTORCHJOB:
        for role in res.get("spec", "pytorchReplicaSpecs", default={}):
            path = ("spec", "pytorchReplicaSpecs", str(role), "template", "spec")
            if res.get(*path) is not None:
                yield path


def containers(res: Resource, spec: Path, lists: tuple[str, ...] = CONTAINER_LISTS) -> Iterator[tuple[Path, str]]:
    """``(path, label)`` of every container of one pod spec, e.g. ``spec.containers[0] (mc)``."""
    for key in lists:
        items = res.get(*spec, key, default=[])
        for index in range(len(items) if isinstance(items, list) else 0):
            path = (*spec, key, index)
            yield path, f"{show(path)} ({res.get(*path, 'name', default='unnamed')})"


def show(path: Path) -> str:
    """A props path as written in manifests: ``spec.template.spec.containers[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def effective(res: Resource, spec: Path, container: Path, *field: str) -> Any:
    """A security-context field as the kubelet applies it: the container's, else the pod's."""
    value = res.get(*container, "securityContext", *field)
    return value if value is not None else res.get(*spec, "securityContext", *field)


def _each_pod(res: Resource, check: PodCheck) -> Iterator[str]:
    for spec in pod_specs(res):
        yield from check(res, spec, "restricted")


# ----- clusters, namespaces, levels ----------------------------------------------------------------------


def cluster_of(res: Resource) -> str:
    """Which cluster ``res`` goes to: its Kubernetes provider's configuration (default namespace aside)."""
    return json.dumps({k: v for k, v in res.provider.items() if k != "namespace"}, sort_keys=True, default=str)


def namespace_of(res: Resource) -> str | None:
    """The namespace a namespaced object lands in (its own, else the provider's default); None if not known."""
    name = res.known("metadata", "namespace")
    if isinstance(name, str) and name:
        return name
    default = res.provider.get("namespace")
    if is_unknown(default):
        return None
    return default if isinstance(default, str) and default else "default"


def namespace_levels(stack: Stack) -> dict[tuple[str, str], str]:
    """(cluster, namespace) → the Pod Security level the plan makes it enforce (unknown or absent: restricted)."""
    levels: dict[tuple[str, str], str] = {}
    for ns in stack.of_type(NAMESPACE):
        name = ns.known("metadata", "name")
        if not isinstance(name, str) or not name:
            continue
        level = ns.known("metadata", "labels", ENFORCE_LABEL)
        level = level if level in LEVELS else "restricted"
        key = (cluster_of(ns), name)
        levels[key] = max(level, levels.get(key, level), key=LEVELS.index)
    return levels


def _judge_pods(stack: Stack, check: PodCheck) -> Iterator[tuple[str, str | None]]:
    """Run a pod check on every workload of the plan at its namespace's level; unknowns fail closed per workload."""
    levels = namespace_levels(stack)
    for res in stack.resources:
        if res.type not in WORKLOADS:
            continue
        namespace = namespace_of(res)
        level = levels.get((cluster_of(res), namespace), "restricted") if namespace else "restricted"
        try:
            for spec in pod_specs(res):
                for message in check(res, spec, level):
                    yield message, res.urn
        except UnknownValueError as exc:
            yield f"{exc.message}: {UNKNOWN_NOTE}", res.urn


def rendered(res: Resource) -> bool:
    """True for objects rendered from an upstream chart or manifest (a Helm Chart or YAML ConfigGroup child)."""
    parts = res.urn.split("::")
    chain = parts[2].split("$")[:-1] if len(parts) > 3 else []
    return any(part.startswith(RENDERED_BY) for part in chain)


# ----- workloads -------------------------------------------------------------------------------------------

WORKLOAD_FIX = "mlinfra sets this (workload_security presets); custom components must set it in the pod template"


@resource_rule(
    id="k8s-pod-no-privileged", title="Containers do not run privileged", severity="critical", types=WORKLOADS,
    controls=cis(CIS_K8S, "5.2.2"),
    rationale="A privileged container has every capability and the node's devices: escaping to the node is "
    "trivial. Never excused, not even in privileged namespaces: the platform's node agents do without.",
    fix=WORKLOAD_FIX + " (securityContext.privileged: false)",
)
def pod_no_privileged(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``securityContext.privileged`` of every container, init and ephemeral container of every pod template."""
    def check(res: Resource, spec: Path, _level: str) -> Iterator[str]:
        for path, label in containers(res, spec):
            if res.get(*path, "securityContext", "privileged") is True:
                yield f"{label}: securityContext.privileged is true: the container has every capability and " \
                      "the node's devices"

    yield from _each_pod(res, check)


_HOST_NAMESPACES: Final = {"hostNetwork": "network", "hostPID": "process", "hostIPC": "IPC"}


@stack_rule(
    id="k8s-pod-no-host-namespaces", title="Pods do not share the node's network, PID or IPC namespace",
    severity="high", targets=TARGETS, controls=cis(CIS_K8S, "5.2.3", "5.2.4", "5.2.5"),
    rationale="Host namespaces let a pod see and signal the node's processes, read its IPC and bind or sniff "
    "its network, bypassing NetworkPolicies; only node agents in namespaces labelled privileged may.",
    fix=WORKLOAD_FIX + " (hostNetwork/hostPID/hostIPC unset); node agents go in a namespace labelled privileged",
)
def pod_no_host_namespaces(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """``hostNetwork``, ``hostPID`` and ``hostIPC`` of every pod template outside privileged namespaces."""
    def check(res: Resource, spec: Path, level: str) -> Iterator[str]:
        if level == "privileged":
            return
        for field, what in _HOST_NAMESPACES.items():
            if res.get(*spec, field) is True:
                yield f"{show((*spec, field))} is true: the pod shares the node's {what} namespace"

    yield from _judge_pods(stack, check)


@stack_rule(
    id="k8s-pod-no-host-path", title="Pods do not mount host paths", severity="high", targets=TARGETS,
    controls=cis(CIS_K8S, "5.2.12"),
    rationale="A hostPath volume exposes the node's filesystem (kubelet credentials, container runtime socket) "
    "to the pod; only node agents in namespaces labelled privileged may.",
    fix=WORKLOAD_FIX + " (use emptyDir, ConfigMap, Secret or PVC volumes); node agents go in a privileged namespace",
)
def pod_no_host_path(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """``volumes[].hostPath`` of every pod template outside privileged namespaces."""
    def check(res: Resource, spec: Path, level: str) -> Iterator[str]:
        if level == "privileged":
            return
        for index, _volume in enumerate(res.get(*spec, "volumes", default=[])):
            host = res.get(*spec, "volumes", index, "hostPath")
            if host is not None:
                name = res.get(*spec, "volumes", index, "name", default="unnamed")
                yield f"{show((*spec, 'volumes', index))} ({name}) mounts host path " \
                      f"{res.get(*spec, 'volumes', index, 'hostPath', 'path', default='?')!r} from the node"

    yield from _judge_pods(stack, check)


@stack_rule(
    id="k8s-pod-no-host-ports", title="Containers do not bind host ports", severity="high", targets=TARGETS,
    controls=cis(CIS_K8S, "5.2.13"),
    rationale="A hostPort opens the port on the node's address, outside Services and, with many network plugins, "
    "outside NetworkPolicies; only node agents in namespaces labelled privileged may.",
    fix=WORKLOAD_FIX + " (expose through a Service instead of ports[].hostPort)",
)
def pod_no_host_ports(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """``ports[].hostPort`` of every container outside privileged namespaces."""
    def check(res: Resource, spec: Path, level: str) -> Iterator[str]:
        if level == "privileged":
            return
        for path, label in containers(res, spec):
            for index, _port in enumerate(res.get(*path, "ports", default=[])):
                host_port = res.get(*path, "ports", index, "hostPort")
                if host_port:
                    yield f"{label}: ports[{index}].hostPort {int(host_port)} opens a port on the node"

    yield from _judge_pods(stack, check)


@stack_rule(
    id="k8s-pod-no-privilege-escalation", title="Containers forbid privilege escalation", severity="high",
    targets=TARGETS, controls=cis(CIS_K8S, "5.2.6"),
    rationale="Unless allowPrivilegeEscalation is false, setuid binaries and file capabilities can give a process "
    "more privileges than it started with. Pod Security restricted requires it to be set.",
    fix=WORKLOAD_FIX + " (securityContext.allowPrivilegeEscalation: false)",
)
def pod_no_privilege_escalation(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """``securityContext.allowPrivilegeEscalation`` is false on every container (restricted namespaces)."""
    def check(res: Resource, spec: Path, level: str) -> Iterator[str]:
        if level != "restricted":
            return
        for path, label in containers(res, spec):
            value = res.get(*path, "securityContext", "allowPrivilegeEscalation")
            if value is not False:
                state = "true" if value is True else "not set (it defaults to true)"
                yield f"{label}: securityContext.allowPrivilegeEscalation is {state}: setuid binaries can gain " \
                      "privileges"

    yield from _judge_pods(stack, check)


@stack_rule(
    id="k8s-pod-run-as-non-root", title="Containers run as a non-root user", severity="high", targets=TARGETS,
    controls=cis(CIS_K8S, "5.2.7"),
    rationale="Root in a container is root on the node's kernel: one kernel or runtime bug away from the node. "
    "runAsNonRoot: true makes the kubelet refuse an image whose user is root.",
    fix=WORKLOAD_FIX + " (runAsNonRoot: true, or a non-zero runAsUser, at pod or container level)",
)
def pod_run_as_non_root(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """Effective ``runAsNonRoot`` / ``runAsUser`` (container, else pod) of every container (restricted)."""
    def check(res: Resource, spec: Path, level: str) -> Iterator[str]:
        if level != "restricted":
            return
        for path, label in containers(res, spec):
            non_root = effective(res, spec, path, "runAsNonRoot")
            user = effective(res, spec, path, "runAsUser")
            if user is not None and float(user) == 0:
                yield f"{label}: runAsUser is 0: the container runs as root"
            elif non_root is not True and not (user is not None and float(user) > 0):
                yield f"{label}: neither runAsNonRoot: true nor a non-zero runAsUser is set at pod or container " \
                      "level: the image's USER decides, often root"

    yield from _judge_pods(stack, check)


@stack_rule(
    id="k8s-pod-seccomp-profile", title="Containers run under a seccomp profile", severity="medium",
    targets=TARGETS, controls=cis(CIS_K8S, "5.7.2"),
    rationale="Without seccomp every system call reaches the kernel. Mandatory though medium: Pod Security "
    "restricted rejects such pods anyway, so the plan should fail before the rollout does.",
    fix=WORKLOAD_FIX + " (securityContext.seccompProfile.type: RuntimeDefault or Localhost)",
)
def pod_seccomp_profile(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """Effective ``seccompProfile.type`` (container, else pod): RuntimeDefault or Localhost in restricted
    namespaces, anything but Unconfined in baseline ones."""
    def check(res: Resource, spec: Path, level: str) -> Iterator[str]:
        if level == "privileged":
            return
        for path, label in containers(res, spec):
            profile = effective(res, spec, path, "seccompProfile", "type")
            if profile == "Unconfined":
                yield f"{label}: seccompProfile is Unconfined: every system call reaches the kernel"
            elif level == "restricted" and profile not in ("RuntimeDefault", "Localhost"):
                yield f"{label}: no seccompProfile (RuntimeDefault or Localhost) at pod or container level: the " \
                      "runtime may run it unconfined"

    yield from _judge_pods(stack, check)


@stack_rule(
    id="k8s-pod-capabilities-drop-all", title="Containers drop all capabilities", severity="medium",
    targets=TARGETS, controls=cis(CIS_K8S, "5.2.8", "5.2.10"),
    rationale="The runtime's default capabilities include NET_RAW (spoofing) and CHOWN/SETUID; few workloads need "
    "any. Mandatory though medium: Pod Security restricted rejects containers that keep them.",
    fix=WORKLOAD_FIX + " (securityContext.capabilities.drop: [ALL])",
)
def pod_capabilities_drop_all(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """``securityContext.capabilities.drop`` contains ALL on every container (restricted namespaces)."""
    def check(res: Resource, spec: Path, level: str) -> Iterator[str]:
        if level != "restricted":
            return
        for path, label in containers(res, spec):
            dropped = res.get(*path, "securityContext", "capabilities", "drop", default=[])
            if "ALL" not in {str(c).upper() for c in dropped}:
                yield f"{label}: capabilities.drop does not include ALL: the runtime's default capabilities " \
                      "(NET_RAW, CHOWN, SETUID, ...) stay"

    yield from _judge_pods(stack, check)


@stack_rule(
    id="k8s-pod-no-added-capabilities", title="Containers add no dangerous capabilities", severity="high",
    targets=TARGETS, controls=cis(CIS_K8S, "5.2.9"),
    rationale="Added capabilities such as SYS_ADMIN or NET_ADMIN are most of root; only NET_BIND_SERVICE is "
    "allowed (the baseline set in baseline namespaces; anything for node agents in privileged ones).",
    fix=WORKLOAD_FIX + " (no securityContext.capabilities.add beyond NET_BIND_SERVICE)",
)
def pod_no_added_capabilities(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """``securityContext.capabilities.add`` of every container against the namespace level's allowed set."""
    def check(res: Resource, spec: Path, level: str) -> Iterator[str]:
        if level == "privileged":
            return
        allowed = RESTRICTED_CAPABILITIES if level == "restricted" else BASELINE_CAPABILITIES
        for path, label in containers(res, spec):
            added = res.get(*path, "securityContext", "capabilities", "add", default=[])
            extra = sorted({str(c).upper().removeprefix("CAP_") for c in added} - allowed)
            if extra:
                yield f"{label}: capabilities.add grants {', '.join(extra)}, beyond what a {level} namespace allows"

    yield from _judge_pods(stack, check)


@resource_rule(
    id="k8s-pod-read-only-root-filesystem", title="Containers have a read-only root filesystem", severity="low",
    enforcement="advisory", types=WORKLOADS,
    rationale="An immutable image filesystem stops an intruder from dropping tools or changing binaries. "
    "Advisory: some images must write outside their volumes (Grafana, DCGM) and say so.",
    fix=WORKLOAD_FIX + " (securityContext.readOnlyRootFilesystem: true, emptyDir for scratch space)",
)
def pod_read_only_root_filesystem(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``securityContext.readOnlyRootFilesystem`` of every container and init container."""
    def check(res: Resource, spec: Path, _level: str) -> Iterator[str]:
        for path, label in containers(res, spec, ("containers", "initContainers")):
            if res.get(*path, "securityContext", "readOnlyRootFilesystem") is not True:
                yield f"{label}: readOnlyRootFilesystem is not true: the image's filesystem is writable"

    yield from _each_pod(res, check)


@resource_rule(
    id="k8s-pod-resources", title="Containers request CPU and memory and limit memory", severity="medium",
    enforcement="advisory", types=WORKLOADS,
    rationale="Without requests the scheduler overcommits nodes; without a memory limit one container can drive "
    "its node out of memory. Advisory: team namespaces' LimitRanges fill in defaults at admission.",
    fix=WORKLOAD_FIX + " (resources.requests.cpu/memory and resources.limits.memory; see workload_security.resources)",
)
def pod_resources(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``resources.requests.cpu``, ``requests.memory`` and ``limits.memory`` of every container and init
    container (ephemeral containers cannot have resources)."""
    def check(res: Resource, spec: Path, _level: str) -> Iterator[str]:
        for path, label in containers(res, spec, ("containers", "initContainers")):
            missing = [f"{kind}.{name}" for kind, name in (("requests", "cpu"), ("requests", "memory"),
                                                            ("limits", "memory"))
                       if not res.has(*path, "resources", kind, name)]
            if missing:
                yield f"{label}: no resources.{', resources.'.join(missing)}"

    yield from _each_pod(res, check)


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned (no tag, or ``latest``), or None when it has a tag or digest."""
    if "@" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag, so it means :latest"
    if last.rsplit(":", 1)[1] == "latest":
        return "uses the :latest tag"
    return None


@resource_rule(
    id="k8s-pod-image-tag-pinned", title="Images are pinned to a tag or digest", severity="low",
    enforcement="advisory", types=WORKLOADS,
    rationale="':latest' or no tag changes what runs on every pull, so a rollout or node replacement can start "
    "different code than was reviewed. Digests pin exactly; version tags at least name a release.",
    fix="helm.charts (pinned chart versions) and each component's image setting; custom components must name a "
    "version tag or digest",
)
def pod_image_tag_pinned(res: Resource, context: PolicyContext) -> Iterator[str]:
    """The ``image`` of every container, init and ephemeral container has a tag other than latest, or a digest."""
    def check(res: Resource, spec: Path, _level: str) -> Iterator[str]:
        for path, label in containers(res, spec):
            image = res.get(*path, "image")
            if isinstance(image, str) and (problem := image_problem(image)):
                yield f"{label}: image {image!r} {problem}"

    yield from _each_pod(res, check)


def default_sa_no_token(stack: Stack) -> set[tuple[str, str]]:
    """(cluster, namespace) whose ``default`` ServiceAccount the plan creates or patches without a token mount."""
    found = set()
    for sa in stack.of_type(*SERVICE_ACCOUNTS):
        if sa.known("metadata", "name") == "default" and sa.known("automountServiceAccountToken") is False:
            namespace = namespace_of(sa)
            if namespace:
                found.add((cluster_of(sa), namespace))
    return found


@stack_rule(
    id="k8s-pod-default-service-account", title="Workloads do not use the default ServiceAccount's token",
    severity="medium", enforcement="advisory", targets=TARGETS, controls=cis(CIS_K8S, "5.1.5", "5.1.6"),
    rationale="Every pod in a namespace shares the default ServiceAccount, so a role bound to it is granted to "
    "them all; its token belongs in no pod that did not ask for API access.",
    fix="mlinfra gives each team a workload ServiceAccount and patches 'default' not to mount tokens; custom "
    "components set serviceAccountName or automountServiceAccountToken: false",
)
def pod_default_service_account(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """Pod templates without ``serviceAccountName`` (or with 'default') mount no token: the pod says
    ``automountServiceAccountToken: false``, or the plan sets it on that namespace's default ServiceAccount."""
    no_token = default_sa_no_token(stack)

    def check(res: Resource, spec: Path, _level: str) -> Iterator[str]:
        account = res.get(*spec, "serviceAccountName") or res.get(*spec, "serviceAccount") or "default"
        if account != "default":
            return
        automount = res.get(*spec, "automountServiceAccountToken")
        if automount is False:
            return
        if automount is None and (cluster_of(res), namespace_of(res)) in no_token:
            return
        yield f"{show(spec)}: runs as the namespace's default ServiceAccount with its token mounted"

    yield from _judge_pods(stack, check)


@resource_rule(
    id="k8s-pod-secrets-in-env", title="Secrets reach containers as files, not environment variables",
    severity="low", enforcement="advisory", types=WORKLOADS, controls=cis(CIS_K8S, "5.4.1"),
    rationale="Environment variables are inherited by every child process, shown by 'kubectl describe' of "
    "derived objects and often dumped into logs and crash reports; mounted files are not.",
    fix="mount the Secret as a volume and read the files; mlinfra's on-prem bucket-setup Job still passes the "
    "object store's root keys as env (reported)",
)
def pod_secrets_in_env(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``env[].valueFrom.secretKeyRef`` and ``envFrom[].secretRef`` of every container."""
    def check(res: Resource, spec: Path, _level: str) -> Iterator[str]:
        for path, label in containers(res, spec):
            for index, _var in enumerate(res.get(*path, "env", default=[])):
                secret = res.get(*path, "env", index, "valueFrom", "secretKeyRef", "name")
                if secret is not None:
                    yield f"{label}: env {res.get(*path, 'env', index, 'name', default='?')} comes from Secret " \
                          f"{secret!r}"
            for index, _source in enumerate(res.get(*path, "envFrom", default=[])):
                secret = res.get(*path, "envFrom", index, "secretRef", "name")
                if secret is not None:
                    yield f"{label}: envFrom loads every key of Secret {secret!r} into the environment"

    yield from _each_pod(res, check)


# ----- namespaces ----------------------------------------------------------------------------------------


def is_team(ns: Resource) -> bool:
    """A team namespace: labelled ``mlinfra.io/team`` (TeamNamespace), where people's own workloads run."""
    return ns.get("metadata", "labels", TEAM_LABEL) is not None


@resource_rule(
    id="k8s-namespace-pod-security-enforce", title="Namespaces enforce a Pod Security level; team ones restricted",
    severity="high", types=(NAMESPACE,), controls=cis(CIS_K8S, "5.2.1"),
    rationale="Without the enforce label a namespace gets the cluster's default level, privileged unless the API "
    "server says otherwise. Team namespaces run people's code and must enforce restricted.",
    fix="mlinfra labels every namespace it creates (TeamNamespace: restricted); custom components set "
    "metadata.labels['pod-security.kubernetes.io/enforce']",
)
def namespace_pod_security_enforce(res: Resource, context: PolicyContext) -> Iterator[str]:
    """The ``pod-security.kubernetes.io/enforce`` label: present, a valid level, and ``restricted`` on
    namespaces labelled ``mlinfra.io/team``."""
    level = res.get("metadata", "labels", ENFORCE_LABEL)
    if level is None:
        yield f"no {ENFORCE_LABEL} label: pods are admitted at the cluster's default level (privileged unless " \
              "the API server is configured otherwise)"
    elif level not in LEVELS:
        yield f"{ENFORCE_LABEL} is {level!r}, not one of {', '.join(LEVELS)}: the namespace cannot be admitted to"
    elif is_team(res) and level != "restricted":
        yield f"team namespace enforces {level!r}, not 'restricted': team pods may run as root or with host access"


@resource_rule(
    id="k8s-namespace-pod-security-restricted", title="Platform namespaces enforce Pod Security restricted",
    severity="medium", enforcement="advisory", types=(NAMESPACE,), controls=cis(CIS_K8S, "5.2.1"),
    rationale="Reports every non-team namespace below restricted, so the exceptions stay in view. Advisory: node "
    "agents (device plugins, node-exporter, DCGM) need host access and get dedicated privileged namespaces.",
    fix="keep only node agents in namespaces below restricted (HelmAddonArgs.pod_security)",
)
def namespace_pod_security_restricted(res: Resource, context: PolicyContext) -> Iterator[str]:
    """The enforce label of namespaces not labelled ``mlinfra.io/team`` is ``restricted``."""
    level = res.get("metadata", "labels", ENFORCE_LABEL)
    if level == "privileged" and not is_team(res):
        yield "enforces Pod Security 'privileged': pods here may run privileged, use host namespaces and paths"
    elif level == "baseline" and not is_team(res):
        yield "enforces Pod Security 'baseline': pods here may run as root and keep the default capabilities"


def default_deny(stack: Stack) -> dict[tuple[str, str], set[str]]:
    """(cluster, namespace) → the directions ('Ingress', 'Egress') a default-deny NetworkPolicy closes there:
    empty podSelector, the direction in policyTypes and no rule for it."""
    closed: dict[tuple[str, str], set[str]] = {}
    for policy in stack.of_type(NETWORK_POLICY):
        namespace = namespace_of(policy)
        selector = policy.get("spec", "podSelector", default={})
        if namespace is None or selector.get("matchLabels") or selector.get("matchExpressions"):
            continue
        types = policy.get("spec", "policyTypes")
        if types is None:  # the API's default: Ingress, plus Egress when egress rules are given
            types = ["Ingress", *(["Egress"] if policy.has("spec", "egress") else [])]
        for direction in types:
            if not policy.get("spec", str(direction).lower(), default=[]):
                closed.setdefault((cluster_of(policy), namespace), set()).add(str(direction))
    return closed


def _missing_deny(stack: Stack, teams: bool) -> Iterator[tuple[str, str | None]]:
    closed = default_deny(stack)
    for ns in stack.of_type(NAMESPACE):
        if is_team(ns) != teams:
            continue
        name = ns.get("metadata", "name")
        missing = [d for d in ("Ingress", "Egress") if d not in closed.get((cluster_of(ns), str(name)), set())]
        if missing:
            yield (f"no default-deny NetworkPolicy for {' and '.join(missing)} in namespace {name!r}: every pod "
                   "accepts and opens any connection", ns.urn)


@stack_rule(
    id="k8s-namespace-team-default-deny", title="Team namespaces deny network traffic by default",
    severity="high", targets=TARGETS, controls=cis(CIS_K8S, "5.3.2"),
    rationale="Team namespaces run people's code next to other teams' data and the node's metadata endpoint; "
    "traffic must be denied unless a NetworkPolicy allows it.",
    fix="mlinfra's TeamNamespace creates '<team>-default-deny'; custom team namespaces need a NetworkPolicy with "
    "an empty podSelector, policyTypes [Ingress, Egress] and no rules",
)
def namespace_team_default_deny(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """Each namespace labelled ``mlinfra.io/team`` has NetworkPolicies in the same cluster closing both
    Ingress and Egress for all pods (empty podSelector, no rules)."""
    yield from _missing_deny(stack, teams=True)


@stack_rule(
    id="k8s-namespace-default-deny", title="Platform namespaces deny network traffic by default",
    severity="medium", enforcement="advisory", targets=TARGETS, controls=cis(CIS_K8S, "5.3.2"),
    rationale="Add-on namespaces hold controllers and webhooks that a compromised pod could reach. Advisory: "
    "their charts do not yet ship the allow rules (API server, webhooks, scraping) a default deny needs.",
    fix="a NetworkPolicy with an empty podSelector and policyTypes [Ingress, Egress], plus the add-on's allows",
)
def namespace_default_deny(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """Each other namespace the plan creates has NetworkPolicies closing Ingress and Egress by default."""
    yield from _missing_deny(stack, teams=False)


@resource_rule(
    id="k8s-serviceaccount-default-no-automount", title="Default ServiceAccounts do not mount tokens",
    severity="medium", enforcement="advisory", types=SERVICE_ACCOUNTS, controls=cis(CIS_K8S, "5.1.5"),
    rationale="Pods that name no ServiceAccount get 'default' and, unless it says otherwise, its API token.",
    fix="mlinfra patches 'default' in team namespaces; custom ones set automountServiceAccountToken: false",
)
def serviceaccount_default_no_automount(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``automountServiceAccountToken`` of a ``default`` ServiceAccount the plan creates (must be false) or
    patches (must not be true)."""
    if res.get("metadata", "name") != "default":
        return
    automount = res.get("automountServiceAccountToken")
    if automount is True or (automount is None and res.type.endswith(":ServiceAccount")):
        yield "the default ServiceAccount mounts its token into every pod that names no ServiceAccount"


# ----- RBAC ----------------------------------------------------------------------------------------------


def wildcard_grants(res: Resource) -> Iterator[str]:
    """Messages for rules granting '*' in apiGroups, resources or verbs."""
    for index, _rule in enumerate(res.get("rules", default=[])):
        fields = [f for f in ("apiGroups", "resources", "verbs")
                  if any("*" in str(v) for v in res.get("rules", index, f, default=[]))]
        if fields:
            yield f"rules[{index}] grants a wildcard in {', '.join(fields)}: it covers whatever the API adds later"


def escalation_grants(res: Resource) -> Iterator[str]:
    """Messages for rules granting bind, escalate or impersonate."""
    for index, _rule in enumerate(res.get("rules", default=[])):
        verbs = sorted(set(ESCALATION_VERBS) & {str(v) for v in res.get("rules", index, "verbs", default=[])})
        if verbs:
            on = ", ".join(str(r) for r in res.get("rules", index, "resources", default=[])) or "?"
            yield f"rules[{index}] grants {', '.join(verbs)} on {on}: holders can give themselves or act as " \
                  "anyone with more rights"


RBAC_FIX = "mlinfra's roles name every verb and resource; custom components must too"


@resource_rule(
    id="k8s-rbac-role-no-wildcards", title="Roles name their API groups, resources and verbs", severity="high",
    types=ROLES, controls=cis(CIS_K8S, "5.1.3"),
    rationale="A wildcard grants every current and future resource or verb, secrets and exec included. Roles "
    "rendered from upstream charts are judged by k8s-rbac-chart-role-least-privilege instead.",
    fix=RBAC_FIX,
)
def rbac_role_no_wildcards(res: Resource, context: PolicyContext) -> Iterator[str]:
    """'*' in ``rules[].apiGroups``, ``resources`` or ``verbs`` of Roles and ClusterRoles not rendered from a chart."""
    if not rendered(res):
        yield from wildcard_grants(res)


@resource_rule(
    id="k8s-rbac-role-no-escalation-verbs", title="Roles do not grant bind, escalate or impersonate",
    severity="high", types=ROLES, controls=cis(CIS_K8S, "5.1.8"),
    rationale="bind and escalate let a holder grant rights it does not have; impersonate lets it act as any "
    "user, group or ServiceAccount.",
    fix=RBAC_FIX,
)
def rbac_role_no_escalation_verbs(res: Resource, context: PolicyContext) -> Iterator[str]:
    """The ``bind``, ``escalate`` and ``impersonate`` verbs in Roles and ClusterRoles not rendered from a chart."""
    if not rendered(res):
        yield from escalation_grants(res)


@resource_rule(
    id="k8s-rbac-chart-role-least-privilege", title="Chart-rendered roles avoid wildcards and escalation verbs",
    severity="medium", enforcement="advisory", types=ROLES, controls=cis(CIS_K8S, "5.1.3", "5.1.8"),
    rationale="Operators installed from upstream charts often hold '*' on their own resources or bind rights to "
    "manage their operands; worth knowing, but their RBAC is the upstream project's to narrow.",
    fix="helm.charts (choose the chart version) or the chart's rbac values",
)
def rbac_chart_role_least_privilege(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Wildcards and escalation verbs in Roles and ClusterRoles rendered from a Helm chart or YAML manifest."""
    if rendered(res):
        yield from wildcard_grants(res)
        yield from escalation_grants(res)


@resource_rule(
    id="k8s-rbac-role-secrets-access", title="Roles do not read Secrets", severity="medium",
    enforcement="advisory", types=ROLES, controls=cis(CIS_K8S, "5.1.2"),
    rationale="Reading Secrets yields every credential of the namespace (or cluster), ServiceAccount tokens "
    "included; the developer role deliberately has none.",
    fix=RBAC_FIX + "; mount the Secret into the workload instead of granting API reads",
)
def rbac_role_secrets_access(res: Resource, context: PolicyContext) -> Iterator[str]:
    """get, list or watch on ``secrets`` of the core API group, not narrowed by ``resourceNames``, in Roles and
    ClusterRoles not rendered from a chart."""
    if rendered(res):
        return
    for index, _rule in enumerate(res.get("rules", default=[])):
        groups = {str(g) for g in res.get("rules", index, "apiGroups", default=[])}
        resources = {str(r) for r in res.get("rules", index, "resources", default=[])}
        verbs = {str(v) for v in res.get("rules", index, "verbs", default=[])} & {"get", "list", "watch"}
        named = res.has("rules", index, "resourceNames")
        if "" in groups and "secrets" in resources and verbs and not named:
            yield f"rules[{index}] grants {', '.join(sorted(verbs))} on every Secret of its scope"


@resource_rule(
    id="k8s-rbac-binding-no-cluster-admin", title="No in-cluster binding to cluster-admin or system:masters",
    severity="high", types=BINDINGS, controls=cis(CIS_K8S, "5.1.1", "5.1.7"),
    rationale="Cluster administrators come from iam.admins through the cloud (GKE IAM, EKS access entries), where "
    "they are audited and revocable; an in-cluster cluster-admin binding or system:masters bypasses that.",
    fix="iam.admins; custom components bind a narrower ClusterRole",
)
def rbac_binding_no_cluster_admin(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``roleRef`` naming the cluster-admin ClusterRole, and subjects naming the system:masters group."""
    if res.get("roleRef", "kind") == "ClusterRole" and res.get("roleRef", "name") == "cluster-admin":
        who = ", ".join(f"{res.get('subjects', i, 'kind', default='?')} "
                        f"{res.get('subjects', i, 'name', default='?')}"
                        for i, _s in enumerate(res.get("subjects", default=[]))) or "nobody yet"
        yield f"binds cluster-admin to {who}"
    for index, _subject in enumerate(res.get("subjects", default=[])):
        if res.get("subjects", index, "kind") == "Group" and res.get("subjects", index, "name") == "system:masters":
            yield f"subjects[{index}] is the system:masters group, which no RBAC rule can restrict"


# ----- Services and queues -------------------------------------------------------------------------------


def is_internal(res: Resource, cloud: str) -> bool:
    """True when the Service's annotations make its load balancer internal on ``cloud`` ('' = any cloud)."""
    clouds = [cloud] if cloud in INTERNAL_LB else list(INTERNAL_LB)
    return any(str(res.get("metadata", "annotations", key, default="")).lower() == value
               for c in clouds for key, value in INTERNAL_LB[c])


@resource_rule(
    id="k8s-service-load-balancer-internal", title="LoadBalancer Services are internal", severity="high",
    types=(SERVICE,),
    rationale="A LoadBalancer Service without the cloud's internal annotation gets a public address: the pods "
    "behind it are on the internet. On-prem load balancers draw from the site's own pools and are not judged.",
    fix="serving.ingress: internal (ServingLayer.load_balancer_annotations); custom Services add the annotation",
)
def service_load_balancer_internal(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Services of type LoadBalancer carry networking.gke.io/load-balancer-type: Internal on GKE and
    service.beta.kubernetes.io/aws-load-balancer-scheme: internal on EKS (either when the target is not known)."""
    if res.get("spec", "type") != "LoadBalancer" or context.cloud == "onprem":
        return
    if not is_internal(res, context.cloud):
        wanted = " or ".join(f"{k}: {v}" for c in ([context.cloud] if context.cloud in INTERNAL_LB else INTERNAL_LB)
                             for k, v in INTERNAL_LB[c][:1])
        yield f"type LoadBalancer without {wanted}: the cloud gives it a public address"


@resource_rule(
    id="k8s-service-no-node-port", title="Services are not exposed as NodePorts", severity="medium",
    enforcement="advisory", types=(SERVICE,),
    rationale="A NodePort opens the port on every node's address, outside the ingress and its TLS; team quotas "
    "already allow none.",
    fix="expose through the serving ingress or a ClusterIP Service",
)
def service_no_node_port(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Services of type NodePort."""
    if res.get("spec", "type") == "NodePort":
        yield "type NodePort opens the port on every node"


@resource_rule(
    id="k8s-kueue-clusterqueue-quota", title="Kueue ClusterQueues have quotas and admit chosen namespaces",
    severity="medium", enforcement="advisory", types=CLUSTER_QUEUES,
    rationale="A ClusterQueue without a nominal quota admits nothing or borrows without bound, and an empty "
    "namespaceSelector ({}) lets every namespace submit against one team's quota.",
    fix="training.queues / iam.teams (mlinfra gives each team a queue with its quota and namespace)",
)
def kueue_clusterqueue_quota(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``spec.resourceGroups[].flavors[].resources[].nominalQuota`` set for every covered resource, and
    ``spec.namespaceSelector`` not the match-everything ``{}``."""
    groups = res.get("spec", "resourceGroups", default=[])
    if not groups:
        yield "no spec.resourceGroups: the queue has no quota"
    for g, _group in enumerate(groups):
        for f, _flavor in enumerate(res.get("spec", "resourceGroups", g, "flavors", default=[])):
            for r, _resource in enumerate(res.get("spec", "resourceGroups", g, "flavors", f, "resources", default=[])):
                if not res.has("spec", "resourceGroups", g, "flavors", f, "resources", r, "nominalQuota"):
                    name = res.get("spec", "resourceGroups", g, "flavors", f, "resources", r, "name", default="?")
                    yield f"resourceGroups[{g}].flavors[{f}].resources[{r}] ({name}) has no nominalQuota"
    selector = res.get("spec", "namespaceSelector")
    if selector is not None and not selector:
        yield "namespaceSelector is {}: every namespace may submit workloads against this queue's quota"


RULES = rules_in(vars())
