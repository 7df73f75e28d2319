"""What the on-prem data services share: restricted security contexts with a fixed user, cert-manager
Certificates from the platform CA, and the DNS names of in-cluster Services."""

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


def service_dns(service: str, namespace: str) -> list[str]:
    """Every in-cluster DNS name of a Service."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]
