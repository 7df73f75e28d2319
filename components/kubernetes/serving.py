"""``ServingLayer``: cert-manager with the platform's issuers, and KServe in RawDeployment mode."""

from __future__ import annotations

from typing import Any, Final, Literal, Self

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.charts import CHARTS, ChartRef
from mlinfra.components.kubernetes.helm import HelmAddon, HelmAddonArgs
from mlinfra.components.kubernetes.workload_security import resources, restricted_container, restricted_pod

Target = Literal["gcp", "aws", "onprem"]

SELF_SIGNED_ISSUER: Final[str] = "mlinfra-selfsigned"
ROOT_CA: Final[str] = "mlinfra-root-ca"
CA_ISSUER: Final[str] = "mlinfra-ca"
ACME_ISSUER: Final[str] = "mlinfra-acme"
INTERNAL_DOMAIN: Final[str] = "models.mlinfra.internal"
LETS_ENCRYPT: Final[str] = "https://acme-v02.api.letsencrypt.org/directory"

# Ingress class per target and exposure, when the caller names none.
DEFAULT_INGRESS_CLASS: Final[dict[tuple[str, str], str]] = {
    ("gcp", "external"): "gce", ("gcp", "internal"): "gce-internal",
    ("aws", "external"): "alb", ("aws", "internal"): "alb",
    ("onprem", "external"): "nginx", ("onprem", "internal"): "nginx",
}
# Annotations that make a cloud load balancer internal (Services of type LoadBalancer, the ingress controller's
# Service). On-prem load balancers (MetalLB, F5, ...) are addressed by the site's own pools: none.
INTERNAL_LB_ANNOTATIONS: Final[dict[str, dict[str, str]]] = {
    "gcp": {"networking.gke.io/load-balancer-type": "Internal"},
    "aws": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
    "onprem": {},
}


def _component(cpu: str, memory: str) -> dict[str, Any]:
    return {"securityContext": restricted_pod(), "containerSecurityContext": restricted_container(),
            "resources": resources(cpu, memory)}


def cert_manager_values() -> dict[str, Any]:
    """Values of the ``cert-manager`` chart (v1.18 keys: ``crds.enabled``, ``securityContext`` (pod),
    ``containerSecurityContext``, ``resources``, and the same under ``webhook``, ``cainjector``,
    ``startupapicheck``). Upstream images run as UID 1000 with read-only filesystems."""
    return {
        "crds": {"enabled": True, "keep": True},  # keep: uninstalling the chart must not delete every Certificate
        **_component("50m", "128Mi"),
        "webhook": _component("20m", "64Mi"),
        "cainjector": _component("50m", "256Mi"),
        "startupapicheck": _component("20m", "64Mi"),
    }


def kserve_values(ingress_class: str, domain: str) -> dict[str, Any]:
    """Values of the ``kserve`` chart (v0.15 keys, from its README). ``kserve.controller.deploymentMode`` is the
    default deployment mode of every InferenceService: RawDeployment (Deployment + Service + Ingress + HPA, no
    Knative or Istio). The chart has no values for replica bounds or HPA targets; they are outputs instead."""
    return {
        "kserve": {
            "controller": {
                "deploymentMode": "RawDeployment",
                "gateway": {
                    "domain": domain,
                    "ingressGateway": {"className": ingress_class},
                    "disableIstioVirtualHost": True,  # no Istio in RawDeployment
                },
                "securityContext": restricted_pod(),
                "containerSecurityContext": restricted_container(),
                "resources": resources("100m", "300Mi", "500m", "300Mi"),
                "rbacProxy": {"securityContext": restricted_container(), "resources": resources("50m", "64Mi")},
            },
            "modelmesh": {"enabled": False},  # ModelMesh needs etcd and is a separate serving model
            "localmodel": {"enabled": False},  # the local model cache runs a hostPath node agent
        },
    }


class ServingLayerArgs(BaseModel):
    """Inputs of :class:`ServingLayer`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    target: Target = Field(description="Where the cluster runs (chooses ingress class and LB annotations). Required.")
    domain: str = Field(
        default=INTERNAL_DOMAIN, min_length=1,
        description="DNS domain model endpoints are named under ({name}-{namespace}.{domain}). Default: "
        f"{INTERNAL_DOMAIN} (site-internal names; ACME needs a public domain).",
    )
    ingress: Literal["internal", "external"] = Field(
        default="internal",
        description="Expose models on an internal (VPC/site only) or internet-facing load balancer. Default: "
        "internal.",
    )
    ingress_class: str | None = Field(
        default=None,
        description="IngressClass of model endpoints. Default: gce / gce-internal on GKE, alb on EKS, nginx on-prem.",
    )
    tls: Literal["internal-ca", "acme"] = Field(
        default="internal-ca",
        description="Who signs endpoint certificates: the platform's own CA (self-signed root in cert-manager's "
        "namespace), or an ACME CA (Let's Encrypt) over HTTP-01. Default: internal-ca.",
    )
    acme_email: str | None = Field(
        default=None, description="Account e-mail for the ACME CA. Default: none (required when tls is acme)."
    )
    acme_server: str = Field(default=LETS_ENCRYPT, description="ACME directory URL. Default: Let's Encrypt production.")
    cert_manager: bool = Field(
        default=True,
        description="Install cert-manager. Default: on; off when the cluster already runs it (the issuers are "
        "still created).",
    )
    kserve: bool = Field(default=True, description="Install KServe (CRDs and controller). Default: on.")
    cert_manager_chart: ChartRef = Field(
        default=CHARTS["cert-manager"], description="Resolved cert-manager chart. Default: the pinned upstream chart."
    )
    kserve_crd_chart: ChartRef = Field(
        default=CHARTS["kserve-crd"], description="Resolved KServe CRD chart. Default: the pinned upstream chart."
    )
    kserve_chart: ChartRef = Field(
        default=CHARTS["kserve"], description="Resolved KServe chart. Default: the pinned upstream chart."
    )
    cert_manager_namespace: str = Field(default="cert-manager", description="cert-manager's namespace. Default: "
                                        "cert-manager (it also holds the root CA's secret).")
    kserve_namespace: str = Field(default="kserve", description="KServe controller's namespace. Default: kserve.")
    min_replicas: int = Field(default=1, ge=0, description="Default minimum replicas of a model. Default: 1.")
    max_replicas: int = Field(default=3, ge=1, description="Default maximum replicas of a model. Default: 3.")
    target_cpu_utilization_percent: int = Field(
        default=70, ge=1, le=100, description="Default HPA CPU utilisation target of a model, percent. Default: 70."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.tls == "acme" and not self.acme_email:
            raise ValueError("tls='acme' needs acme_email (the ACME account contact); set it or use tls='internal-ca'")
        if self.tls == "acme" and self.domain == INTERNAL_DOMAIN:
            raise ValueError(f"tls='acme' needs a public 'domain' the ACME CA can resolve, not {INTERNAL_DOMAIN!r}; "
                             "set domain or use tls='internal-ca'")
        if self.tls == "acme" and self.ingress == "internal":
            raise ValueError("ACME HTTP-01 needs the ACME CA to reach the ingress from the internet; with "
                             "ingress='internal' use tls='internal-ca', or set ingress='external'")
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas}); "
                             "lower min_replicas or raise max_replicas")
        return self


class ServingLayer(Component):
    """Model serving: cert-manager and its ClusterIssuers, KServe in RawDeployment mode.

    TLS: by default an internal CA — a self-signed ClusterIssuer signs one CA Certificate ``mlinfra-root-ca``
    (its key stays in cert-manager's namespace), and the CA ClusterIssuer ``mlinfra-ca`` signs every endpoint
    certificate; clients trust the root from the ``mlinfra-root-ca`` secret. With ``tls='acme'`` the ClusterIssuer
    ``mlinfra-acme`` solves HTTP-01 through the model ingress class instead (external ingress only).

    KServe runs in RawDeployment mode (plain Deployment, Service, Ingress and HPA per InferenceService; no
    Knative or Istio), with the target's ingress class. KServe's chart has no values for default replica bounds
    or HPA targets, so ``inference_service_defaults`` (and the ConfigMap ``mlinfra-serving-defaults`` in KServe's
    namespace) carry them for model deployments; ``load_balancer_annotations`` makes a Service's cloud load
    balancer internal when ``ingress='internal'``.

    Security: every controller (cert-manager, its webhook, cainjector and startup check, KServe and its RBAC
    proxy) runs non-root, read-only root filesystem, no capabilities or escalation, seccomp RuntimeDefault,
    with requests and limits, in ``restricted`` namespaces.
    """

    cluster_issuer: pulumi.Output[str]
    ingress_class_name: pulumi.Output[str]
    load_balancer_annotations: pulumi.Output[dict[str, str]]
    ingress_annotations: pulumi.Output[dict[str, str]]
    inference_service_defaults: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, args: ServingLayerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:kubernetes:ServingLayer", name, None, opts)
        ingress_class = args.ingress_class or DEFAULT_INGRESS_CLASS[(args.target, args.ingress)]
        issuer = ACME_ISSUER if args.tls == "acme" else CA_ISSUER
        lb_annotations = dict(INTERNAL_LB_ANNOTATIONS[args.target]) if args.ingress == "internal" else {}
        ingress_annotations = {"cert-manager.io/cluster-issuer": issuer}
        if args.target == "aws":  # the AWS Load Balancer Controller reads the scheme from the Ingress
            ingress_annotations["alb.ingress.kubernetes.io/scheme"] = (
                "internal" if args.ingress == "internal" else "internet-facing")
        defaults = {"minReplicas": args.min_replicas, "maxReplicas": args.max_replicas,
                    "scaleMetric": "cpu", "scaleTarget": args.target_cpu_utilization_percent}

        self.cert_manager: HelmAddon | None = None
        waits: list[Any] = []
        if args.cert_manager:
            self.cert_manager = HelmAddon(f"{name}-cert-manager", HelmAddonArgs(
                chart=args.cert_manager_chart, namespace=args.cert_manager_namespace,
                values=cert_manager_values()), pulumi.ResourceOptions(parent=self))
            waits = [self.cert_manager]
        self.issuers = self._issuers(name, args, ingress_class, waits)

        if args.kserve:
            crds = HelmAddon(f"{name}-kserve-crd", HelmAddonArgs(
                chart=args.kserve_crd_chart, namespace=args.kserve_namespace, create_namespace=False,
            ), pulumi.ResourceOptions(parent=self))
            # KServe's webhook certificate is a cert-manager Certificate: cert-manager first.
            self.kserve = HelmAddon(f"{name}-kserve", HelmAddonArgs(
                chart=args.kserve_chart, namespace=args.kserve_namespace,
                values=kserve_values(ingress_class, args.domain), depends_on=[crds, *waits],
            ), pulumi.ResourceOptions(parent=self))
            k8s.core.v1.ConfigMap(
                f"{name}-serving-defaults",
                metadata={"name": "mlinfra-serving-defaults", "namespace": args.kserve_namespace,
                          "labels": {"app.kubernetes.io/managed-by": "mlinfra"}},
                data={"ingressClassName": ingress_class, "clusterIssuer": issuer, "domain": args.domain,
                      **{k: str(v) for k, v in defaults.items()},
                      **{f"loadBalancerAnnotation.{k}": v for k, v in lb_annotations.items()}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.kserve]),
            )

        self.cluster_issuer = pulumi.Output.from_input(issuer)
        self.ingress_class_name = pulumi.Output.from_input(ingress_class)
        self.load_balancer_annotations = pulumi.Output.from_input(lb_annotations)
        self.ingress_annotations = pulumi.Output.from_input(ingress_annotations)
        self.inference_service_defaults = pulumi.Output.from_input(defaults)
        self.register_outputs({
            "cluster_issuer": self.cluster_issuer, "ingress_class_name": self.ingress_class_name,
            "load_balancer_annotations": self.load_balancer_annotations,
            "ingress_annotations": self.ingress_annotations,
            "inference_service_defaults": self.inference_service_defaults,
        })

    def _issuers(self, name: str, args: ServingLayerArgs, ingress_class: str,
                 waits: list[Any]) -> list[k8s.apiextensions.CustomResource]:
        def cr(suffix: str, kind: str, metadata: dict[str, Any], spec: dict[str, Any],
               after: list[Any]) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(
                f"{name}-{suffix}", api_version="cert-manager.io/v1", kind=kind, metadata=metadata, spec=spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=after or None))

        if args.tls == "acme":
            return [cr("acme-issuer", "ClusterIssuer", {"name": ACME_ISSUER}, {"acme": {
                "email": args.acme_email, "server": args.acme_server,
                "privateKeySecretRef": {"name": f"{ACME_ISSUER}-account"},
                "solvers": [{"http01": {"ingress": {"ingressClassName": ingress_class}}}],
            }}, waits)]
        self_signed = cr("selfsigned-issuer", "ClusterIssuer", {"name": SELF_SIGNED_ISSUER}, {"selfSigned": {}}, waits)
        root = cr("root-ca", "Certificate", {"name": ROOT_CA, "namespace": args.cert_manager_namespace}, {
            "isCA": True, "commonName": ROOT_CA, "secretName": ROOT_CA,
            "duration": "87600h",  # 10 years; endpoint certificates (90 days) rotate underneath it
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
            "issuerRef": {"name": SELF_SIGNED_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        }, [*waits, self_signed])
        ca = cr("ca-issuer", "ClusterIssuer", {"name": CA_ISSUER}, {"ca": {"secretName": ROOT_CA}}, [*waits, root])
        return [self_signed, root, ca]
