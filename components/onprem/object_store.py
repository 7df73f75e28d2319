"""``ObjectStore``: S3-compatible object storage on-prem — a MinIO Tenant run by the MinIO Operator, or an
existing S3-compatible endpoint.

Why these choices:

- **Operator chart + a ``minio.min.io/v2`` Tenant CustomResource**, not the ``tenant`` chart. The tenant chart is
  a thin template around the same CR whose ``configSecret`` takes the root credentials as *chart values*
  (plaintext Pulumi inputs) unless pointed at an existing Secret; writing the CR directly keeps credentials
  out of chart values entirely, gives one fewer chart to pin, and the CR is the API the operator documents.
- **Root credentials**: MinIO Operator 7.x does not generate a Tenant's root credentials (the Tenant's
  ``configuration`` Secret is required), so the Secret is created here from ``root_user``/``root_password``,
  which must be Pulumi secret Inputs (``pulumi.Output.secret``, from stack config or generated once). The
  Secret's ``stringData`` is wrapped with ``pulumi.Output.secret`` and listed in ``additional_secret_outputs``,
  so the values never appear in plain text in the state, the plan or logs.
- **TLS**: a cert-manager ``Certificate`` from the platform's ClusterIssuer (``cluster_issuer``, default
  ``mlinfra-ca``) instead of the operator's auto-cert (which signs through the Kubernetes CSR API with the
  kubelet-serving signer: its CA differs per distribution and clients cannot rely on it). The Tenant uses it
  as ``externalCertSecret`` (type ``cert-manager.io/v1``, whose ``ca.crt`` MinIO also trusts for outgoing
  TLS to NATS and KES). The operator must trust the tenant CA to reach it: a second Certificate from the
  same issuer, in the operator namespace, named ``operator-ca-tls-<tenant>`` (the operator trusts the
  ``ca.crt`` of every Secret with that prefix) does that declaratively, without copying Secrets.
- **Encryption at rest** only through KES and only when ``kes_endpoint`` is given (an existing KES server in
  front of the site's KMS/HSM/Vault; MinIO authenticates with ``kes_api_key``, a secret Input). Each bucket
  then gets SSE-KMS as its default encryption with ``kes_key_name``. Without it, MinIO does **not** encrypt
  objects: encryption of the nodes' disks (LUKS, SED, encrypted storage class) is the cluster admin's.
- **Buckets, declaratively**: the Tenant's ``spec.buckets`` creates each bucket (with object lock when
  ``retention_days`` is set: object lock can only be enabled at creation), and a bucket-setup ``Job`` running
  ``mc`` converges every bucket to its config: versioning, default retention (GOVERNANCE, COMPLIANCE when
  ``lock_retention``), the whole lifecycle configuration (``mc ilm import`` replaces it), bucket
  notifications (removed then re-added) and default SSE-KMS. The Job's name carries a hash of the bucket
  config, so a config change replaces the Job and it runs again; Pulumi waits for it to complete. Not
  enforced: changes made by hand between runs (drift is only corrected at the next config change),
  removing a bucket from the config (buckets are never deleted), object lock on a bucket that already
  existed without it, storage-class transitions (no tiers configured: expiry rules only).
- **Bucket notifications** go to NATS JetStream (the :class:`~mlinfra.components.onprem.events.EventBus`):
  one MinIO NATS target per topic (``MINIO_NOTIFY_NATS_*_<TOPIC>``), publishing to the topic's subject.
  NATS only accepts clients with a mapped certificate, so MinIO presents its own client certificate
  (``CN=<notify_identity>``, mounted by the operator from ``externalClientCertSecrets``); the EventBus
  allows that identity to publish to the notification subjects only.
- **Team access** (``team_policies``): one MinIO IAM policy per team identity, generated from its grants
  (:func:`~mlinfra.components.onprem.permissions.object_store_policy`: exactly the granted buckets at the
  granted level) and created by the same setup Job (``mc admin policy create`` replaces a policy, so reruns
  converge; policies with ``policy_prefix`` that no team has any more are removed). Teams authenticate with
  their client certificate, not a password: MinIO's certificate STS (``MINIO_IDENTITY_TLS_ENABLE``,
  verifying against the CAs MinIO trusts, i.e. the platform CA) answers ``AssumeRoleWithCertificate`` with
  temporary credentials for the policy named like the certificate's CN. No team user or key exists in
  MinIO. Chosen over the operator's STS ``PolicyBinding`` (ServiceAccount tokens): the certificate is the
  same identity NATS and PostgreSQL use, the STS endpoint is MinIO itself (TLS from the platform CA), and
  nothing depends on the operator's separate STS service and its CSR-API certificate. The trust root is the
  platform CA: whoever can get a certificate for ``CN=team-x`` (or a MinIO built-in policy name such as
  ``consoleAdmin``) from the ClusterIssuer acts as it, so only platform admins may create cert-manager
  Certificates (team Roles cannot); cert-manager approver-policy can pin names to namespaces.
- **Existing endpoint mode** (``existing_endpoint``): nothing of MinIO is deployed, only a ConfigMap that
  records the endpoint and the bucket names for workloads; the buckets must then already exist and be
  configured by the endpoint's owner.

Every workload runs non-root with a RuntimeDefault seccomp profile, no privilege escalation and no
capabilities, in a namespace labelled for the ``restricted`` Pod Security level.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Final, Literal, Self

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.charts import ChartRef
from mlinfra.components.kubernetes.helm import HelmAddon, HelmAddonArgs, namespace_labels
from mlinfra.components.kubernetes.workload_security import resources
from mlinfra.components.onprem.common import (
    certificate,
    client_certificate,
    restricted_container_security_context,
    restricted_pod_security_context,
    service_dns,
)
from mlinfra.components.onprem.permissions import MINIO_NOTIFY_IDENTITY, Access, object_store_policy

MINIO_IMAGE: Final = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z"
MC_IMAGE: Final = "quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z"
MC_EVENTS: Final[dict[str, str]] = {"created": "put", "deleted": "delete", "archived": "ilm",
                                    "metadata_updated": "put"}
# Policies every MinIO server has; a team identity may never be named like one (its CN would select it).
BUILTIN_POLICIES: Final = frozenset({"consoleAdmin", "readwrite", "readonly", "writeonly", "diagnostics"})
# Where the operator mounts the first of externalClientCertSecrets in the MinIO container.
CLIENT_CERT_DIR: Final = "/tmp/certs/client-0"
IDENTITY_NAME: Final = r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$"


class ExpiryRuleArgs(BaseModel):
    """Delete objects (or noncurrent versions) once they reach an age."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after_days: int = Field(ge=1, description="Age in days (since becoming noncurrent for noncurrent_only). Required.")
    noncurrent_only: bool = Field(default=False, description="Only noncurrent versions. Default: off, current objects.")
    prefix: str | None = Field(default=None, description="Only objects under this prefix. Default: whole bucket.")


class BucketNotificationArgs(BaseModel):
    """Publish object events of a bucket to a NATS JetStream subject."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(description="Topic name; names the MinIO NATS target (one per topic). Required.")
    subject: str = Field(description="NATS subject the events are published to (captured by the topic's "
                         "stream, e.g. '<topic>.objects'). Required.")
    events: list[Literal["created", "deleted", "archived", "metadata_updated"]] = Field(
        default_factory=lambda: ["created"], min_length=1,
        description="Object events that publish ('archived' = lifecycle events; 'metadata_updated' is "
        "covered by MinIO's put events). Default: created.",
    )
    prefix: str | None = Field(default=None, description="Only objects under this prefix. Default: all objects.")


class BucketArgs(BaseModel):
    """One bucket of the tenant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="Bucket name (S3 rules). Required.")
    versioning: bool = Field(default=True, description="Keep overwritten and deleted versions. Default: on.")
    retention_days: int | None = Field(
        default=None, ge=1,
        description="Default object-lock retention in days (object lock is enabled at bucket creation). "
        "Default: none, no object lock.",
    )
    lock_retention: bool = Field(
        default=False,
        description="COMPLIANCE mode (nobody, not even root, can shorten it) instead of GOVERNANCE. Default: off.",
    )
    lifecycle: list[ExpiryRuleArgs] = Field(default_factory=list, description="Expiry rules. Default: none.")
    notifications: list[BucketNotificationArgs] = Field(
        default_factory=list, description="Event notifications to NATS. Default: none."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.retention_days is not None and not self.versioning:
            raise ValueError(f"bucket {self.name!r}: object lock (retention_days) needs versioning; set "
                             "versioning=True or drop retention_days")
        if self.lock_retention and self.retention_days is None:
            raise ValueError(f"bucket {self.name!r}: lock_retention needs retention_days")
        return self


class TeamPolicyArgs(BaseModel):
    """A team identity and the buckets it may use: one MinIO policy, named like the identity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: str = Field(pattern=IDENTITY_NAME,
                          description="The identity (client certificate CN), also the policy name. Required.")
    buckets: dict[str, Access] = Field(min_length=1, description="Bucket name → 'read' | 'write' | 'admin'. "
                                       "Required (at least one).")


class ObjectStoreArgs(BaseModel):
    """Inputs of :class:`ObjectStore`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    chart: ChartRef = Field(description="MinIO Operator chart (charts.resolve('minio-operator')). Required.")
    existing_endpoint: str | None = Field(
        default=None,
        description="https URL of an existing S3-compatible endpoint: deploy no MinIO, only a ConfigMap "
        "recording it (the buckets must then exist). Default: none, a MinIO tenant is deployed.",
    )
    namespace: str = Field(default="object-store", description="Namespace of the tenant. Default: object-store.")
    operator_namespace: str = Field(
        default="minio-operator", description="Namespace of the MinIO Operator. Default: minio-operator."
    )
    tenant_name: str = Field(
        default="mlinfra", pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="Tenant name (headless service '<tenant>-hl'). Default: mlinfra.",
    )
    servers: int = Field(default=4, ge=1, description="MinIO server pods of the pool. Default: 4.")
    volumes_per_server: int = Field(default=2, ge=1, description="Volumes (PVCs) per server. Default: 2.")
    volume_size_gb: int = Field(default=100, ge=1, description="Size of each volume in GiB. Default: 100.")
    storage_class: str | None = Field(
        default=None, description="StorageClass of the volumes. Default: the cluster's default class."
    )
    cpu_millicores: int = Field(default=1000, ge=100, description="CPU request per server. Default: 1000m.")
    memory_gb: int = Field(default=4, ge=1, description="Memory request and limit per server in GiB. Default: 4.")
    image: str = Field(default=MINIO_IMAGE, description=f"MinIO server image. Default: {MINIO_IMAGE}.")
    mc_image: str = Field(default=MC_IMAGE, description=f"MinIO client image of the setup Job. Default: {MC_IMAGE}.")
    cluster_issuer: str = Field(
        default="mlinfra-ca", description="cert-manager ClusterIssuer of the TLS certificates. Default: mlinfra-ca."
    )
    root_user: Any = Field(
        default=None,
        description="Root access key, a Pulumi secret Input (pulumi.Output.secret). Required unless "
        "existing_endpoint.",
    )
    root_password: Any = Field(
        default=None,
        description="Root secret key, a Pulumi secret Input (pulumi.Output.secret). Required unless "
        "existing_endpoint.",
    )
    kes_endpoint: str | None = Field(
        default=None,
        description="https URL of a KES server (in front of the site KMS): turns on SSE-KMS encryption at "
        "rest for every bucket. Default: none — MinIO does not encrypt objects; node disk encryption is the "
        "cluster admin's.",
    )
    kes_key_name: str = Field(
        default="mlinfra-object-store", description="KES key used as every bucket's default. Default: "
        "mlinfra-object-store.",
    )
    kes_api_key: Any = Field(
        default=None, description="KES API key, a Pulumi secret Input. Required with kes_endpoint. Default: none."
    )
    nats_address: str | None = Field(
        default=None,
        description="host:port of the NATS server bucket notifications go to (EventBus.address). "
        "Default: none; required when a bucket has notifications.",
    )
    buckets: list[BucketArgs] = Field(default_factory=list, description="Buckets. Default: none.")
    team_policies: list[TeamPolicyArgs] = Field(
        default_factory=list,
        description="Team identities and their bucket grants, enforced as MinIO policies assumed with the "
        "team's client certificate. Default: none (no team can use the object store; certificate STS off).",
    )
    policy_prefix: str = Field(
        default="team-", pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Every team identity starts with it; policies with this prefix that no team has any more "
        "are removed by the setup Job. Default: team-.",
    )
    notify_identity: str = Field(
        default=MINIO_NOTIFY_IDENTITY, pattern=IDENTITY_NAME,
        description=f"CN of the client certificate MinIO presents to NATS for notifications. Default: "
        f"{MINIO_NOTIFY_IDENTITY}.",
    )
    protect: bool = Field(default=True, description="Pulumi-protect the Tenant (stateful). Default: on.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.existing_endpoint is not None:
            if not self.existing_endpoint.startswith("https://"):
                raise ValueError("existing_endpoint must be an https:// URL (credentials would travel in clear); "
                                 "enable TLS on the endpoint")
            if self.kes_endpoint is not None:
                raise ValueError("kes_endpoint configures a deployed MinIO; with existing_endpoint, encryption at "
                                 "rest is the endpoint owner's: drop kes_endpoint")
            if self.team_policies:
                raise ValueError("team_policies are enforced in a deployed MinIO tenant; with existing_endpoint, "
                                 "access is the endpoint owner's: drop team_policies")
            return self
        if self.root_user is None or self.root_password is None:
            raise ValueError("a MinIO tenant needs root_user and root_password as pulumi.Output.secret values "
                             "(from stack config or generated once)")
        for value, field in ((self.root_user, "root_user"), (self.root_password, "root_password"),
                             (self.kes_api_key, "kes_api_key")):
            if isinstance(value, str):
                raise ValueError(f"{field} is a plain string; wrap it with pulumi.Output.secret(...) so it never "
                                 "appears in plain text in the state or plan")
        if self.kes_endpoint is not None and self.kes_api_key is None:
            raise ValueError("kes_endpoint needs kes_api_key (a pulumi.Output.secret) to authenticate to KES")
        if any(b.notifications for b in self.buckets) and self.nats_address is None:
            raise ValueError("bucket notifications need nats_address (the EventBus address, host:port)")
        names = [b.name for b in self.buckets]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate bucket names in {names}")
        identities = [t.identity for t in self.team_policies]
        if len(set(identities)) != len(identities):
            raise ValueError(f"duplicate team identities in {identities}; give each team one policy")
        for team in self.team_policies:
            if team.identity in BUILTIN_POLICIES or not team.identity.startswith(self.policy_prefix):
                raise ValueError(f"team identity {team.identity!r} must start with {self.policy_prefix!r} (and "
                                 "never be a MinIO built-in policy name); use permissions.identity(team)")
            unknown = sorted(set(team.buckets) - set(names))
            if unknown:
                raise ValueError(f"team {team.identity!r} is granted unknown buckets {unknown}; grant buckets of "
                                 f"this store ({names})")
        return self


def _target_id(topic: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", topic).upper()


def _lifecycle_json(bucket: BucketArgs) -> str:
    rules = []
    for i, rule in enumerate(bucket.lifecycle):
        body: dict[str, Any] = {"ID": f"expire-{i}", "Status": "Enabled",
                                "Filter": {"Prefix": rule.prefix or ""}}
        if rule.noncurrent_only:
            body["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule.after_days}
        else:
            body["Expiration"] = {"Days": rule.after_days}
        rules.append(body)
    return json.dumps({"Rules": rules}, sort_keys=True)


def _setup_script(args: ObjectStoreArgs) -> str:
    """The idempotent ``mc`` script that converges every bucket to its config."""
    lines = ["set -eu", 'mc alias set store "$MINIO_ENDPOINT" "$ROOT_USER" "$ROOT_PASSWORD" >/dev/null',
             "until mc ready store; do sleep 5; done"]
    for b in args.buckets:
        ref = f"store/{b.name}"
        lines.append(f"mc mb --ignore-existing {'--with-lock ' if b.retention_days else ''}{ref}")
        lines.append(f"mc version {'enable' if b.versioning else 'suspend'} {ref}")
        if b.retention_days:
            mode = "COMPLIANCE" if b.lock_retention else "GOVERNANCE"
            lines.append(f"mc retention set --default {mode} {b.retention_days}d {ref}")
        if b.lifecycle:
            lines.append(f"mc ilm import {ref} < /config/{b.name}.lifecycle.json")
        else:
            lines.append(f"mc ilm rule rm --all --force {ref} 2>/dev/null || true")
        lines.append(f"mc event rm --force {ref} 2>/dev/null || true")
        for note in b.notifications:
            events = ",".join(sorted({MC_EVENTS[e] for e in note.events}))
            prefix = f" --prefix {note.prefix}" if note.prefix else ""
            lines.append(f"mc event add {ref} arn:minio:sqs::{_target_id(note.topic)}:nats --event {events}{prefix}")
        if args.kes_endpoint:
            lines.append(f"mc encrypt set sse-kms {args.kes_key_name} {ref}")
    lines += _policy_lines(args)
    return "\n".join(lines) + "\n"


def _policy_lines(args: ObjectStoreArgs) -> list[str]:
    """Create (or replace) each team's policy, then remove team policies no team has any more."""
    keep = sorted(t.identity for t in args.team_policies)
    lines = [f"mc admin policy create store {name} /config/policy-{name}.json" for name in keep]
    lines += [f"for p in $(mc admin policy ls store | awk '{{print $1}}' | grep -E '^{args.policy_prefix}' || true); "
              "do",
              f'  case " {" ".join(keep)} " in *" $p "*) ;; *) mc admin policy rm store "$p" ;; esac',
              "done"]
    return lines


def team_policy_documents(args: ObjectStoreArgs) -> dict[str, str]:
    """``policy-<identity>.json`` → the team's MinIO policy document (what the setup Job creates)."""
    return {f"policy-{t.identity}.json": json.dumps(object_store_policy(t.buckets), sort_keys=True)
            for t in args.team_policies}


class ObjectStore(Component):
    """S3-compatible object storage in the cluster: a MinIO Tenant (TLS, optional KES encryption, buckets
    converged by a setup Job) run by the MinIO Operator, or an existing S3 endpoint recorded in a ConfigMap.

    Secure defaults: TLS from the platform CA; root credentials only from Pulumi secrets; teams only through
    their own policy, assumed with their client certificate (no team secret exists); restricted Pod
    Security namespaces and non-root workloads; the Tenant Pulumi-protected.
    Outputs: ``endpoint`` (https URL), ``bucket_names``, ``namespace``.
    """

    endpoint: pulumi.Output[str]
    bucket_names: pulumi.Output[list[str]]
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:onprem:ObjectStore", name, None, opts)
        ns_name = args.namespace
        buckets = [b.name for b in args.buckets]
        ns = k8s.core.v1.Namespace(
            f"{name}-ns", metadata={"name": ns_name, "labels": namespace_labels("restricted")},
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.existing_endpoint is not None:
            endpoint: str = args.existing_endpoint
            k8s.core.v1.ConfigMap(
                f"{name}-endpoint",
                metadata={"name": "object-store-endpoint", "namespace": ns_name},
                data={"endpoint": endpoint, "buckets": json.dumps(buckets), "mode": "existing"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
            )
        else:
            endpoint = f"https://minio.{ns_name}.svc.cluster.local"
            self._deploy_minio(name, args, ns)
        self.endpoint = pulumi.Output.from_input(endpoint)
        self.bucket_names = pulumi.Output.from_input(buckets)
        self.namespace = pulumi.Output.from_input(ns_name)
        self.register_outputs({"endpoint": self.endpoint, "bucket_names": self.bucket_names,
                               "namespace": self.namespace})

    def _deploy_minio(self, name: str, args: ObjectStoreArgs, ns: k8s.core.v1.Namespace) -> None:
        ns_name, tenant = args.namespace, args.tenant_name
        operator = HelmAddon(f"{name}-operator", HelmAddonArgs(
            chart=args.chart, namespace=args.operator_namespace, pod_security="restricted",
            values={"operator": {
                "replicaCount": 2,
                "securityContext": restricted_pod_security_context(),
                "containerSecurityContext": restricted_container_security_context(),
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            }},
        ), opts=pulumi.ResourceOptions(parent=self))
        tls_secret = f"{tenant}-tls"
        tls = certificate(
            f"{name}-tls", namespace=ns_name, secret_name=tls_secret, issuer=args.cluster_issuer,
            dns_names=[*service_dns("minio", ns_name), f"*.{tenant}-hl.{ns_name}.svc.cluster.local",
                       f"*.{tenant}-hl.{ns_name}.svc", f"*.minio.{ns_name}.svc.cluster.local"],
            usages=["server auth", "client auth", "digital signature", "key encipherment"],
            parent=self, depends_on=[ns],
        )
        # The operator trusts the ca.crt of every Secret named operator-ca-tls-* in its namespace.
        certificate(
            f"{name}-operator-trust", namespace=args.operator_namespace, secret_name=f"operator-ca-tls-{tenant}",
            dns_names=[f"operator-trust.{args.operator_namespace}.svc"], issuer=args.cluster_issuer,
            usages=["client auth", "digital signature"], parent=self, depends_on=[operator],
        )
        secret_name = f"{tenant}-env-configuration"
        kes_line = pulumi.Output.from_input(args.kes_api_key).apply(
            lambda key: f'export MINIO_KMS_KES_API_KEY="{key}"\n' if key else "")
        config_env = pulumi.Output.all(args.root_user, args.root_password, kes_line).apply(
            lambda v: f'export MINIO_ROOT_USER="{v[0]}"\nexport MINIO_ROOT_PASSWORD="{v[1]}"\n{v[2]}')
        root = k8s.core.v1.Secret(
            f"{name}-root", metadata={"name": secret_name, "namespace": ns_name}, type="Opaque",
            string_data=pulumi.Output.secret({"config.env": config_env,
                                              "accessKey": args.root_user, "secretKey": args.root_password}),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns],
                                        additional_secret_outputs=["data", "stringData"]),
        )
        env: list[dict[str, str]] = [{"name": "MINIO_BROWSER", "value": "off"}]
        if args.kes_endpoint:
            env += [{"name": "MINIO_KMS_KES_ENDPOINT", "value": args.kes_endpoint},
                    {"name": "MINIO_KMS_KES_KEY_NAME", "value": args.kes_key_name}]
        if args.team_policies:
            env += [{"name": "MINIO_IDENTITY_TLS_ENABLE", "value": "on"},
                    {"name": "MINIO_IDENTITY_TLS_SKIP_VERIFY", "value": "off"}]
        notifications = sorted({(n.topic, n.subject) for b in args.buckets for n in b.notifications})
        for topic, subject in notifications:
            tid = _target_id(topic)
            env += [{"name": f"MINIO_NOTIFY_NATS_{key}_{tid}", "value": value} for key, value in (
                ("ENABLE", "on"), ("ADDRESS", args.nats_address or ""), ("SUBJECT", subject),
                ("JETSTREAM", "on"), ("TLS", "on"), ("TLS_SKIP_VERIFY", "off"), ("QUEUE_DIR", "/export/.events"),
                ("CLIENT_CERT", f"{CLIENT_CERT_DIR}/client.crt"), ("CLIENT_KEY", f"{CLIENT_CERT_DIR}/client.key"))]
        waits: list[Any] = [operator, tls, root]
        client_certs: list[dict[str, str]] = []
        if notifications:
            nats_client = f"{tenant}-nats-client"
            waits.append(client_certificate(
                f"{name}-nats-client", namespace=ns_name, secret_name=nats_client, common_name=args.notify_identity,
                issuer=args.cluster_issuer, parent=self, depends_on=[ns],
            ))
            client_certs.append({"name": nats_client, "type": "cert-manager.io/v1"})
        memory = f"{args.memory_gb}Gi"
        tenant_cr = k8s.apiextensions.CustomResource(
            f"{name}-tenant", api_version="minio.min.io/v2", kind="Tenant",
            metadata={"name": tenant, "namespace": ns_name},
            spec={
                "image": args.image,
                "configuration": {"name": secret_name},
                "pools": [{
                    "name": "pool-0", "servers": args.servers, "volumesPerServer": args.volumes_per_server,
                    "volumeClaimTemplate": {"metadata": {"name": "data"}, "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": f"{args.volume_size_gb}Gi"}},
                        **({"storageClassName": args.storage_class} if args.storage_class else {}),
                    }},
                    "securityContext": restricted_pod_security_context(),
                    "containerSecurityContext": restricted_container_security_context(),
                    "resources": {"requests": {"cpu": f"{args.cpu_millicores}m", "memory": memory},
                                  "limits": {"memory": memory}},
                }],
                "mountPath": "/export",
                "requestAutoCert": False,
                "externalCertSecret": [{"name": tls_secret, "type": "cert-manager.io/v1"}],
                **({"externalClientCertSecrets": client_certs} if client_certs else {}),
                "features": {"bucketDNS": False},
                "buckets": [{"name": b.name, "objectLock": b.retention_days is not None} for b in args.buckets],
                "env": env,
                "podManagementPolicy": "Parallel",
            },
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=waits),
        )
        self.tenant = tenant_cr
        if args.buckets:
            self._bucket_setup(name, args, tenant_cr, secret_name, tls_secret)

    def _bucket_setup(self, name: str, args: ObjectStoreArgs, tenant: Any, secret_name: str, tls_secret: str) -> None:
        script = _setup_script(args)
        data = {"setup.sh": script, **{f"{b.name}.lifecycle.json": _lifecycle_json(b) for b in args.buckets},
                **team_policy_documents(args)}
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
        config = k8s.core.v1.ConfigMap(
            f"{name}-bucket-setup", metadata={"name": f"bucket-setup-{digest}", "namespace": args.namespace},
            data=data, opts=pulumi.ResourceOptions(parent=self, depends_on=[tenant]),
        )
        env = [{"name": "MINIO_ENDPOINT", "value": f"https://minio.{args.namespace}.svc.cluster.local"},
               {"name": "ROOT_USER", "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "accessKey"}}},
               {"name": "ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "secretKey"}}},
               {"name": "MC_CONFIG_DIR", "value": "/tmp/mc"}, {"name": "HOME", "value": "/tmp"}]
        k8s.batch.v1.Job(
            f"{name}-bucket-setup-job",
            metadata={"name": f"bucket-setup-{digest}", "namespace": args.namespace},
            spec={"backoffLimit": 6, "template": {"spec": {
                "restartPolicy": "OnFailure", "automountServiceAccountToken": False,
                "securityContext": restricted_pod_security_context(),
                "containers": [{
                    "name": "mc", "image": args.mc_image, "command": ["/bin/sh", "/config/setup.sh"], "env": env,
                    "securityContext": restricted_container_security_context(),
                    "resources": resources("50m", "64Mi", memory_limit="128Mi"),
                    "volumeMounts": [{"name": "config", "mountPath": "/config", "readOnly": True},
                                     {"name": "ca", "mountPath": "/tmp/mc/certs/CAs", "readOnly": True},
                                     {"name": "tmp", "mountPath": "/tmp"}],
                }],
                "volumes": [{"name": "config", "configMap": {"name": f"bucket-setup-{digest}"}},
                            {"name": "ca", "secret": {"secretName": tls_secret,
                                                      "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
            }}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config, tenant]),
        )
