"""What the on-prem data services share: restricted security contexts with a fixed user, cert-manager
Certificates from the platform CA (server certificates and client identities), and the DNS names of
in-cluster Services."""

from __future__ import annotations

from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.components.kubernetes.workload_security import restricted_container, restricted_pod

# The data services run as this numeric non-root user unless their image needs another.
RUN_AS: Final = 1000


def restricted_pod_security_context(uid: int = RUN_AS) -> dict[str, Any]:
    """Pod-level security context that passes the ``restricted`` Pod Security level, as user ``uid``."""
    return restricted_pod(runAsUser=uid, runAsGroup=uid, fsGroup=uid, fsGroupChangePolicy="OnRootMismatch")


def restricted_container_security_context(uid: int = RUN_AS, read_only_root: bool = True) -> dict[str, Any]:
    """Container-level security context that passes the ``restricted`` Pod Security level, as user ``uid``."""
    return restricted_container(runAsUser=uid, runAsGroup=uid, readOnlyRootFilesystem=read_only_root)


def certificate(name: str, *, namespace: str, secret_name: str, dns_names: list[str], issuer: str,
                usages: list[str], parent: pulumi.Resource, depends_on: list[Any] | None = None,
                ) -> k8s.apiextensions.CustomResource:
    """A cert-manager ``Certificate`` (ECDSA P-256, 90 days, renewed 30 days before expiry) from a ClusterIssuer."""
    return k8s.apiextensions.CustomResource(
        name, api_version="cert-manager.io/v1", kind="Certificate",
        metadata={"name": secret_name, "namespace": namespace},
        spec={"secretName": secret_name, "dnsNames": dns_names, "commonName": dns_names[0],
              "duration": "2160h", "renewBefore": "720h", "usages": usages,
              "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
              "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"}},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )


def client_certificate(name: str, *, namespace: str, secret_name: str, common_name: str, issuer: str,
                       parent: pulumi.Resource, duration_hours: int = 2160, renew_before_hours: int = 720,
                       secret_labels: dict[str, str] | None = None, depends_on: list[Any] | None = None,
                       ) -> k8s.apiextensions.CustomResource:
    """A cert-manager client ``Certificate`` whose only name is its subject ``CN=<common_name>``: an identity
    the data services map to a user (no SANs, so NATS maps the subject and nothing else). ECDSA P-256 in
    PKCS#8 (what JDBC and most client libraries read), a new key at every renewal."""
    spec: dict[str, Any] = {
        "secretName": secret_name, "commonName": common_name,
        "duration": f"{duration_hours}h", "renewBefore": f"{renew_before_hours}h",
        "usages": ["client auth", "digital signature"],
        "privateKey": {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"},
        "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }
    if secret_labels:
        spec["secretTemplate"] = {"labels": dict(secret_labels)}
    return k8s.apiextensions.CustomResource(
        name, api_version="cert-manager.io/v1", kind="Certificate",
        metadata={"name": secret_name, "namespace": namespace}, spec=spec,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )


def service_dns(service: str, namespace: str) -> list[str]:
    """Every in-cluster DNS name of a Service."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]
