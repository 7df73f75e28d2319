"""``TeamNamespace``: one team's namespace, fenced in — quota, defaults, default-deny network, least-privilege RBAC."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Final, Literal, Self

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.helm import PodSecurity, namespace_labels

DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
ENDPOINT: Final = re.compile(r"^(?P<cidr>[0-9a-fA-F.:]+/\d{1,3}):(?P<port>\d{1,5})$")

# Extended resources are quota'd as ``requests.<name>`` only (Kubernetes does not overcommit them).
ACCELERATORS: Final[dict[str, str]] = {
    "gpus": "nvidia.com/gpu", "tpu_chips": "google.com/tpu", "neuron_devices": "aws.amazon.com/neuron",
}
# Where the cloud identity agents listen. Callers pass the ones their target needs as `identity_endpoints`.
GKE_METADATA_ENDPOINTS: Final[list[str]] = ["169.254.169.252/32:988", "169.254.169.254/32:80"]
EKS_POD_IDENTITY_ENDPOINTS: Final[list[str]] = ["169.254.170.23/32:80"]

READ: Final = ["get", "list", "watch"]
MANAGE: Final = ["create", "delete", "get", "list", "watch"]
# The developer Role, one rule per API group. No secrets, no pods/exec or attach, no wildcards, no bare pods:
# people submit Jobs/JobSets/InferenceServices, and Kueue admits them against the team's queue.
DEVELOPER_RULES: Final[list[dict[str, Any]]] = [
    {"apiGroups": [""], "resources": ["pods", "pods/log", "events", "services", "configmaps"], "verbs": READ},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": READ},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": MANAGE},
    {"apiGroups": ["jobset.x-k8s.io"], "resources": ["jobsets"], "verbs": MANAGE},
    {"apiGroups": ["kubeflow.org"], "resources": ["pytorchjobs"], "verbs": MANAGE},
    {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads", "localqueues"], "verbs": READ},
    {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": MANAGE},
]


class QuotaArgs(BaseModel):
    """What the whole namespace may request, summed over its pods."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpus: int = Field(
        default=4, ge=1,
        description="CPU cores: requests.cpu and limits.cpu of all pods together. Default: 4 (a sandbox).",
    )
    memory_gb: int = Field(
        default=16, ge=1,
        description="Memory in GiB: requests.memory and limits.memory of all pods together. Default: 16.",
    )
    gpus: int = Field(
        default=0, ge=0, description="NVIDIA GPUs (requests.nvidia.com/gpu). Default: 0, pods cannot take any."
    )
    tpu_chips: int = Field(
        default=0, ge=0, description="TPU chips (requests.google.com/tpu). Default: 0, pods cannot take any."
    )
    neuron_devices: int = Field(
        default=0, ge=0,
        description="AWS Neuron devices (requests.aws.amazon.com/neuron). Default: 0, pods cannot take any.",
    )
    pods: int | None = Field(
        default=None, ge=1, description="Maximum number of pods. Default: no count cap (CPU/memory still bound)."
    )


class ContainerDefaultsArgs(BaseModel):
    """Requests and limits the LimitRange gives every container that does not set its own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_request_millicores: int = Field(default=250, ge=1, description="Default CPU request. Default: 250m.")
    memory_request_mb: int = Field(default=512, ge=1, description="Default memory request in MiB. Default: 512.")
    cpu_limit_millicores: int = Field(default=1000, ge=1, description="Default CPU limit. Default: 1000m (1 core).")
    memory_limit_mb: int = Field(default=1024, ge=1, description="Default memory limit in MiB. Default: 1024.")

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Self:
        if self.cpu_limit_millicores < self.cpu_request_millicores:
            raise ValueError("cpu_limit_millicores is below cpu_request_millicores; "
                             "raise the limit or lower the request")
        if self.memory_limit_mb < self.memory_request_mb:
            raise ValueError("memory_limit_mb is below memory_request_mb; raise the limit or lower the request")
        return self


class RbacSubject(BaseModel):
    """A Kubernetes user or group (as the cluster's authenticator names it) bound to the developer Role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["User", "Group"] = Field(description="User or Group. Required.")
    name: str = Field(min_length=1, description="Name as the authenticator reports it (e.g. an email). Required.")


class TeamNamespaceArgs(BaseModel):
    """Inputs of :class:`TeamNamespace`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    team: str = Field(description="Team name; also the namespace name (a DNS label). Required.")
    quota: QuotaArgs = Field(description="The namespace's ResourceQuota. Required.")
    container_defaults: ContainerDefaultsArgs = Field(
        default_factory=ContainerDefaultsArgs,
        description="LimitRange defaults for containers without requests/limits. Default: 250m/512Mi "
        "requested, 1 core/1Gi limit.",
    )
    service_account_annotations: dict[str, Any] = Field(
        default_factory=dict,
        description="Annotations (values Input[str]) binding the workload ServiceAccount to the team's cloud "
        "identity, e.g. GKE 'iam.gke.io/gcp-service-account'. Default: none (EKS Pod Identity, on-prem).",
    )
    members: list[RbacSubject] = Field(
        default_factory=list, description="Users/groups bound to the developer Role. Default: none (no binding)."
    )
    platform_namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces whose pods may reach the team's pods (monitoring scrapes, ingress/serving). "
        "Default: none.",
    )
    identity_endpoints: list[str] = Field(
        default_factory=list,
        description="'CIDR:port' egress allowed to the cloud identity/metadata agent, e.g. "
        "GKE_METADATA_ENDPOINTS or EKS_POD_IDENTITY_ENDPOINTS. Default: none (link-local stays blocked).",
    )
    allow_https_egress: bool = Field(
        default=True,
        description="Allow egress on TCP 443 to https_egress_cidrs (object store, cloud APIs, registries). "
        "Default: on.",
    )
    https_egress_cidrs: list[str] = Field(
        default_factory=lambda: ["0.0.0.0/0"],
        description="Destinations of the HTTPS egress allow; link-local 169.254.0.0/16 is always excepted "
        "(metadata only via identity_endpoints). Default: 0.0.0.0/0.",
    )
    pod_security: PodSecurity = Field(
        default="restricted", description="Pod Security admission level of the namespace. Default: restricted."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra namespace labels. Default: none.")

    @field_validator("team")
    @classmethod
    def _dns_label(cls, team: str) -> str:
        if not DNS_LABEL.match(team):
            raise ValueError(f"team {team!r} is not a DNS label; use lower-case letters, digits and '-' (max 63)")
        return team

    @field_validator("identity_endpoints")
    @classmethod
    def _endpoints(cls, endpoints: list[str]) -> list[str]:
        for endpoint in endpoints:
            match = ENDPOINT.match(endpoint)
            if not match or not 1 <= int(match["port"]) <= 65535:
                raise ValueError(f"identity endpoint {endpoint!r} is not 'CIDR:port', e.g. '169.254.169.254/32:80'")
            ipaddress.ip_network(match["cidr"])
        return endpoints

    @field_validator("https_egress_cidrs")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr)
            except ValueError as exc:
                raise ValueError(f"https_egress_cidrs: {cidr!r} is not a CIDR, e.g. '0.0.0.0/0'") from exc
        return cidrs

    @model_validator(mode="after")
    def _platform_not_self(self) -> Self:
        if self.team in self.platform_namespaces:
            raise ValueError(f"platform_namespaces lists the team's own namespace {self.team!r}; drop it "
                             "(pods within the namespace already reach each other)")
        return self


def _quota(quota: QuotaArgs) -> dict[str, str]:
    hard = {
        "requests.cpu": str(quota.cpus), "limits.cpu": str(quota.cpus),
        "requests.memory": f"{quota.memory_gb}Gi", "limits.memory": f"{quota.memory_gb}Gi",
        # Tenants expose services through the platform's ingress, never their own public load balancers.
        "services.loadbalancers": "0", "services.nodeports": "0",
    }
    for field, resource in ACCELERATORS.items():
        hard[f"requests.{resource}"] = str(getattr(quota, field))
    if quota.pods is not None:
        hard["pods"] = str(quota.pods)
    return hard


def _to_namespaces(names: list[str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": list(names)}]}}


class TeamNamespace(Component):
    """A team's namespace with the fences a shared ML cluster needs.

    Secure defaults: Pod Security ``restricted``; a ResourceQuota over CPU, memory and every accelerator
    (0 where the team has none, so pods cannot take them) and no LoadBalancer/NodePort services; a
    LimitRange so every container has requests and limits; NetworkPolicies that deny all traffic and then
    allow only DNS to kube-system, traffic within the namespace, ingress from the platform namespaces,
    the cloud identity endpoints the caller names, and HTTPS out; a workload ServiceAccount bound to the
    team's cloud identity with no token automount (and the ``default`` one patched likewise); a developer
    Role without secrets, exec or wildcards, bound to the team's members.
    Outputs: ``namespace``, ``service_account``.
    """

    namespace: pulumi.Output[str]
    service_account: pulumi.Output[str]

    def __init__(self, name: str, args: TeamNamespaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:kubernetes:TeamNamespace", name, None, opts)
        team = args.team
        labels = {"mlinfra.io/team": team}
        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": team, "labels": namespace_labels(args.pod_security, {**labels, **args.labels})},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.namespace_resource = ns
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])

        def meta(object_name: str, **extra: Any) -> dict[str, Any]:
            return {"name": object_name, "namespace": team, "labels": labels, **extra}

        k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=meta(f"{team}-quota"), spec={"hard": _quota(args.quota)}, opts=in_ns,
        )
        d = args.container_defaults
        k8s.core.v1.LimitRange(
            f"{name}-limits", metadata=meta(f"{team}-defaults"),
            spec={"limits": [{
                "type": "Container",
                "defaultRequest": {"cpu": f"{d.cpu_request_millicores}m", "memory": f"{d.memory_request_mb}Mi"},
                "default": {"cpu": f"{d.cpu_limit_millicores}m", "memory": f"{d.memory_limit_mb}Mi"},
            }]},
            opts=in_ns,
        )
        self._network_policies(name, args, meta, in_ns)

        sa = k8s.core.v1.ServiceAccount(
            f"{name}-workload-sa",
            metadata=meta(f"{team}-workload", annotations=dict(args.service_account_annotations)),
            automount_service_account_token=False,
            opts=in_ns,
        )
        # The controller creates `default` in every namespace; a server-side-apply patch owns only this field.
        k8s.core.v1.ServiceAccountPatch(
            f"{name}-default-sa", metadata={"name": "default", "namespace": team},
            automount_service_account_token=False, opts=in_ns,
        )
        role = k8s.rbac.v1.Role(f"{name}-developer", metadata=meta(f"{team}-developer"), rules=DEVELOPER_RULES,
                                opts=in_ns)
        if args.members:
            k8s.rbac.v1.RoleBinding(
                f"{name}-developers", metadata=meta(f"{team}-developers"),
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{team}-developer"},
                subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": m.kind, "name": m.name}
                          for m in args.members],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, role]),
            )
        self.namespace = ns.metadata.name
        self.service_account = sa.metadata.name
        self.register_outputs({"namespace": self.namespace, "service_account": self.service_account})

    def _network_policies(self, name: str, args: TeamNamespaceArgs, meta: Any, opts: pulumi.ResourceOptions) -> None:
        team = args.team
        everything: dict[str, Any] = {}  # an empty podSelector selects every pod in the namespace

        def policy(suffix: str, types: list[str], **rules: Any) -> None:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{suffix}", metadata=meta(f"{team}-{suffix}"),
                spec={"podSelector": everything, "policyTypes": types, **rules}, opts=opts,
            )

        policy("default-deny", ["Ingress", "Egress"])
        policy("allow-dns", ["Egress"], egress=[{
            "to": [_to_namespaces(["kube-system"])],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }])
        policy("allow-same-namespace", ["Ingress", "Egress"],
               ingress=[{"from": [{"podSelector": everything}]}], egress=[{"to": [{"podSelector": everything}]}])
        if args.platform_namespaces:
            policy("allow-platform", ["Ingress"], ingress=[{"from": [_to_namespaces(args.platform_namespaces)]}])
        if args.identity_endpoints:
            egress = []
            for endpoint in args.identity_endpoints:
                cidr, _, port = endpoint.rpartition(":")
                egress.append({"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": int(port)}]})
            policy("allow-identity", ["Egress"], egress=egress)
        if args.allow_https_egress:
            blocks = []
            for cidr in args.https_egress_cidrs:
                net = ipaddress.ip_network(cidr)
                link_local = ipaddress.ip_network("169.254.0.0/16" if net.version == 4 else "fe80::/10")
                block: dict[str, Any] = {"cidr": cidr}
                if link_local.subnet_of(net):  # type: ignore[arg-type]
                    block["except"] = [str(link_local)]
                blocks.append({"ipBlock": block})
            policy("allow-https", ["Egress"], egress=[{"to": blocks, "ports": [{"protocol": "TCP", "port": 443}]}])
