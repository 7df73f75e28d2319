"""``build_onprem``: the data services of the neutral config on an existing Kubernetes cluster.

How the neutral config lands on-prem (the in-cluster platform layer is added by the platform, the same
as on GKE and EKS):

- storage.buckets → buckets of a MinIO tenant (TLS from the platform CA; encryption at rest through KES
  when ``target.kms_endpoint`` is set), or an existing S3-compatible endpoint (``object_store_endpoint``);
  bucket notifications → NATS subjects captured by the topic's stream.
- events.topics → NATS JetStream streams; subscriptions → durable consumers with ack wait and max
  deliveries; dead letters → a dead-letter stream of delivery advisories.
- warehouse.datasets → databases of one CloudNativePG PostgreSQL cluster (operator-generated credentials).
- Certificates come from cert-manager's ``mlinfra-ca`` ClusterIssuer, installed by the platform layer;
  every data service waits for it.
- iam.teams[] grants → enforced inside the services, with one passwordless identity per team: a client
  certificate ``CN=team-<team>`` in its namespace (:class:`~.access.TeamAccess`, plus egress to the services
  it has grants on). buckets → a MinIO policy assumed with that certificate (not with
  ``object_store_endpoint``: an existing endpoint's access is its owner's); topics → a NATS user with
  subject allow-lists; datasets → PostgreSQL roles that log in with the certificate on the granted databases
  only. What each level allows: :mod:`~.permissions`.

Node pools are not created on-prem: a pool is the set of existing nodes labelled ``mlinfra.io/pool=<name>``
(the cluster admin labels and taints them); its ``max_nodes`` states how many there are, for quota checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from mlinfra.components import provenance
from mlinfra.components.kubernetes.layer import chart
from mlinfra.components.onprem import permissions
from mlinfra.components.onprem.access import ServiceEndpointArgs, TeamAccess, TeamAccessArgs
from mlinfra.components.onprem.events import ClientArgs, ConsumerArgs, EventBus, EventBusArgs, StreamArgs
from mlinfra.components.onprem.object_store import (
    BucketArgs,
    BucketNotificationArgs,
    ExpiryRuleArgs,
    ObjectStore,
    ObjectStoreArgs,
    TeamPolicyArgs,
)
from mlinfra.components.onprem.warehouse import DatabaseArgs, TeamRoleArgs, Warehouse, WarehouseArgs
from mlinfra.components.ordering import wait_for
from mlinfra.stacks.config import StackConfig

# Secrets the on-prem target needs; `mlinfra up` generates them once and keeps them as stack secrets.
REQUIRED_SECRETS = ("objectStoreRootUser", "objectStoreRootPassword")
# The ports the data services' pods listen on (team egress NetworkPolicies allow these).
MINIO_PORT, NATS_PORT, POSTGRES_PORT = 9000, 4222, 5432


def notification_subject(topic: str) -> str:
    """The NATS subject MinIO publishes a bucket's object events to (captured by the topic's stream)."""
    return f"{topic}.objects"


def build_onprem(config: StackConfig, *, parent: pulumi.Resource, provider: pulumi.ProviderResource,
                 secrets: Mapping[str, pulumi.Input[str]], after: Sequence[pulumi.Resource] = (),
                 team_namespaces: Mapping[str, pulumi.Resource] | None = None) -> dict[str, Any]:
    """Create the on-prem data services as children of ``parent``; they wait for ``after`` (the CA). Each
    team's access objects also wait for its namespace in ``team_namespaces``."""
    target = config.target
    protect = config.protected
    out: dict[str, Any] = {}
    minio = bool(config.storage.buckets) and not target.object_store_endpoint
    notified = sorted({n.topic for b in config.storage.buckets for n in b.notifications})

    def opts(*extra: pulumi.Resource) -> pulumi.ResourceOptions:
        waits = [*after, *extra]
        return pulumi.ResourceOptions(parent=parent, providers={"kubernetes": provider},
                                      transformations=[wait_for(waits)] if waits else None)

    bus: EventBus | None = None
    if config.events.topics:
        clients = [ClientArgs(identity=(who := permissions.identity(t.name)), topics=dict(t.topics),
                              inbox=permissions.inbox(who)) for t in config.iam.teams if t.topics]
        if minio and notified:
            clients.append(ClientArgs(identity=permissions.MINIO_NOTIFY_IDENTITY,
                                      subjects=[notification_subject(topic) for topic in notified]))
        with provenance.source("events.topics"):
            bus = EventBus(f"{config.resource_prefix}-events", EventBusArgs(
                chart=chart(config, "nats"), controller_chart=chart(config, "nack"),
                storage_class=target.storage_class,
                streams=[StreamArgs(name=t.name, retention_days=t.retention_days, consumers=[ConsumerArgs(
                    name=s.name, ack_deadline_seconds=s.ack_deadline_seconds, retention_days=s.retention_days,
                    dead_letter=s.dead_letter.enabled, max_delivery_attempts=s.dead_letter.max_delivery_attempts,
                ) for s in t.subscriptions]) for t in config.events.topics],
                clients=clients,
            ), opts())
            out["events.url"] = bus.url

    if config.storage.buckets:
        needed = [] if target.object_store_endpoint else list(REQUIRED_SECRETS)
        if target.kms_endpoint and not target.object_store_endpoint:
            needed.append("objectStoreKesApiKey")
        missing = [k for k in needed if k not in secrets]
        if missing:
            raise ValueError(f"the on-prem object store needs the secrets {', '.join(missing)} (`mlinfra up` "
                             "creates them once; with plain `pulumi up` set them with `pulumi config set --secret "
                             "mlinfra:<name>`)")
        with provenance.source("storage.buckets"):
            store = ObjectStore(f"{config.resource_prefix}-object-store", ObjectStoreArgs(
                chart=chart(config, "minio-operator"), existing_endpoint=target.object_store_endpoint,
                storage_class=target.storage_class, kes_endpoint=target.kms_endpoint,
                kes_api_key=secrets.get("objectStoreKesApiKey") if target.kms_endpoint else None,
                root_user=None if target.object_store_endpoint else secrets["objectStoreRootUser"],
                root_password=None if target.object_store_endpoint else secrets["objectStoreRootPassword"],
                nats_address=bus.host_port if bus is not None else None, protect=protect,
                buckets=[BucketArgs(
                    name=b.name, versioning=b.versioning if b.versioning is not None else True,
                    retention_days=b.retention_days, lock_retention=b.lock_retention,
                    lifecycle=[ExpiryRuleArgs(after_days=r.after_days, noncurrent_only=r.noncurrent_only,
                                              prefix=prefix)
                               for r in b.lifecycle if r.action == "delete" for prefix in (r.prefixes or [None])],
                    notifications=[BucketNotificationArgs(topic=n.topic, subject=notification_subject(n.topic),
                                                          events=list(n.events), prefix=n.prefix)
                                   for n in b.notifications],
                ) for b in config.storage.buckets],
                team_policies=[TeamPolicyArgs(identity=permissions.identity(t.name), buckets=dict(t.buckets))
                               for t in config.iam.teams if t.buckets and minio],
            ), opts())
            out["object_store.endpoint"] = store.endpoint

    warehouse: Warehouse | None = None
    if config.warehouse.datasets:
        with provenance.source("warehouse.datasets"):
            warehouse = Warehouse(f"{config.resource_prefix}-warehouse", WarehouseArgs(
                chart=chart(config, "cloudnative-pg"), storage_class=target.storage_class, protect=protect,
                datasets=[DatabaseArgs(name=d.name, description=d.description) for d in config.warehouse.datasets],
                team_roles=[TeamRoleArgs(identity=permissions.identity(t.name), datasets=dict(t.datasets))
                            for t in config.iam.teams if t.datasets],
            ), opts())
            out["warehouse.host"] = warehouse.host

    namespaces = team_namespaces or {}
    for i, team in enumerate(config.iam.teams):
        services = [ServiceEndpointArgs(namespace=namespace, port=port) for granted, namespace, port in (
            (bool(team.buckets) and minio, ObjectStoreArgs.model_fields["namespace"].default, MINIO_PORT),
            (bool(team.topics) and bus is not None, EventBusArgs.model_fields["namespace"].default, NATS_PORT),
            (bool(team.datasets) and warehouse is not None, WarehouseArgs.model_fields["namespace"].default,
             POSTGRES_PORT),
        ) if granted]
        if not services:
            continue  # nothing enforced in-cluster for this team: it needs no identity
        with provenance.source(f"iam.teams[{i}]"):
            access = TeamAccess(f"{config.resource_prefix}-{team.name}-access", TeamAccessArgs(
                team=team.name, identity=permissions.identity(team.name), services=services,
            ), opts(*([namespaces[team.name]] if team.name in namespaces else [])))
            out[f"teams.{team.name}.identity"] = access.identity
            out[f"teams.{team.name}.certificate_secret"] = access.certificate_secret
    return out
