"""``TeamAccess``: a team's on-prem identity — a short-lived client certificate in its namespace — and the
network path from its namespace to the data services it was granted.

Why a client certificate as the team identity: it is the one credential MinIO (certificate STS), NATS
(``verify_and_map``) and PostgreSQL (``cert`` authentication) all accept natively, so each service maps
the same identity to its own least-privilege grants (:mod:`~mlinfra.components.onprem.permissions`) and no
password, access key or token exists anywhere — nothing secret passes through Pulumi, the plan or the
rendered manifests. cert-manager issues it from the platform CA (``cluster_issuer``) with the subject
``CN=<identity>`` only, keeps the private key in the Secret ``<identity>-tls`` of the team's namespace
(never leaves the cluster), and renews it with a new key well before its short lifetime ends; the kubelet
refreshes the mounted Secret, and clients must re-read the files when they reconnect. The team's
workloads mount that Secret (``tls.crt``, ``tls.key``, ``ca.crt``); the team's developer Role cannot read
Secrets, and only platform admins may create cert-manager Certificates, which is what keeps another
namespace from minting ``CN=team-<team>``.

Why a NetworkPolicy: team namespaces are default-deny with HTTPS (443) egress only, while the in-cluster
services listen on their pods' ports (MinIO 9000, NATS 4222, PostgreSQL 5432; policies see the
post-DNAT pod port, not the Service port). One egress policy allows exactly the services the team has
grants on, and nothing for services it has none on.
"""

from __future__ import annotations

from typing import Self

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.base import Component
from mlinfra.components.onprem.common import client_certificate


class ServiceEndpointArgs(BaseModel):
    """An in-cluster data service a team may reach: its namespace and the port its pods listen on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description="Namespace. Required.")
    port: int = Field(ge=1, le=65535, description="TCP port of the service's pods. Required.")


class TeamAccessArgs(BaseModel):
    """Inputs of :class:`TeamAccess`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    team: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
                      description="Team name, also its namespace (created by TeamNamespace). Required.")
    identity: str = Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$",
                          description="The certificate's CN, e.g. permissions.identity(team). Required.")
    cluster_issuer: str = Field(default="mlinfra-ca",
                                description="cert-manager ClusterIssuer of the certificate. Default: mlinfra-ca.")
    certificate_hours: int = Field(
        default=24, ge=2, le=2160,
        description="Lifetime of the certificate in hours (a stolen key is useless after it). Default: 24.",
    )
    renew_before_hours: int = Field(
        default=8, ge=1, description="Renew (with a new key) this many hours before expiry. Default: 8."
    )
    services: list[ServiceEndpointArgs] = Field(
        default_factory=list, description="Data services the team has grants on. Default: none (no egress added)."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.renew_before_hours >= self.certificate_hours:
            raise ValueError(f"renew_before_hours ({self.renew_before_hours}) must be below certificate_hours "
                             f"({self.certificate_hours}); lower it or lengthen the certificate")
        return self


class TeamAccess(Component):
    """One team's identity on the on-prem data services: a cert-manager client certificate
    ``CN=<identity>`` in the team's namespace, and an egress NetworkPolicy to exactly the services it has
    grants on.

    Secure defaults: no password or key leaves the cluster (cert-manager generates the key in the team's
    namespace); 24-hour certificates renewed 8 hours early with a fresh key; egress only to the granted
    services' namespaces and ports.
    Outputs: ``identity`` (the CN), ``certificate_secret`` (the Secret workloads mount).
    """

    identity: pulumi.Output[str]
    certificate_secret: pulumi.Output[str]

    def __init__(self, name: str, args: TeamAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:onprem:TeamAccess", name, None, opts)
        secret = f"{args.identity}-tls"
        labels = {"mlinfra.io/team": args.team}
        client_certificate(
            f"{name}-certificate", namespace=args.team, secret_name=secret, common_name=args.identity,
            issuer=args.cluster_issuer, duration_hours=args.certificate_hours,
            renew_before_hours=args.renew_before_hours, secret_labels=labels, parent=self,
        )
        if args.services:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-allow-data-services",
                metadata={"name": f"{args.team}-allow-data-services", "namespace": args.team, "labels": labels},
                spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": s.namespace}}}],
                    "ports": [{"protocol": "TCP", "port": s.port}],
                } for s in args.services]},
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.identity = pulumi.Output.from_input(args.identity)
        self.certificate_secret = pulumi.Output.from_input(secret)
        self.register_outputs({"identity": self.identity, "certificate_secret": self.certificate_secret})
