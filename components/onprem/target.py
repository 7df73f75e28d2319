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

Node pools are not created on-prem: a pool is the set of existing nodes labelled ``mlinfra.io/pool=<name>``
(the cluster admin labels and taints them); its ``max_nodes`` states how many there are, for quota checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from mlinfra.components import provenance
from mlinfra.components.kubernetes.layer import chart
from mlinfra.components.onprem.events import ConsumerArgs, EventBus, EventBusArgs, StreamArgs
from mlinfra.components.onprem.object_store import (
    BucketArgs,
    BucketNotificationArgs,
    ExpiryRuleArgs,
    ObjectStore,
    ObjectStoreArgs,
)
from mlinfra.components.onprem.warehouse import DatabaseArgs, Warehouse, WarehouseArgs
from mlinfra.components.ordering import wait_for
from mlinfra.stacks.config import StackConfig

# Secrets the on-prem target needs; `mlinfra up` generates them once and keeps them as stack secrets.
REQUIRED_SECRETS = ("objectStoreRootUser", "objectStoreRootPassword")


def build_onprem(config: StackConfig, *, parent: pulumi.Resource, provider: pulumi.ProviderResource,
                 secrets: Mapping[str, pulumi.Input[str]], after: Sequence[pulumi.Resource] = ()) -> dict[str, Any]:
    """Create the on-prem data services as children of ``parent``; they wait for ``after`` (the CA)."""
    target = config.target
    protect = config.protected
    out: dict[str, Any] = {}

    def opts() -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, providers={"kubernetes": provider},
                                      transformations=[wait_for(after)] if after else None)

    bus: EventBus | None = None
    if config.events.topics:
        with provenance.source("events.topics"):
            bus = EventBus(f"{config.name}-events", EventBusArgs(
                chart=chart(config, "nats"), controller_chart=chart(config, "nack"),
                storage_class=target.storage_class,
                streams=[StreamArgs(name=t.name, retention_days=t.retention_days, consumers=[ConsumerArgs(
                    name=s.name, ack_deadline_seconds=s.ack_deadline_seconds, retention_days=s.retention_days,
                    dead_letter=s.dead_letter.enabled, max_delivery_attempts=s.dead_letter.max_delivery_attempts,
                ) for s in t.subscriptions]) for t in config.events.topics],
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
            store = ObjectStore(f"{config.name}-object-store", ObjectStoreArgs(
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
                    notifications=[BucketNotificationArgs(topic=n.topic, subject=f"{n.topic}.objects",
                                                          events=list(n.events), prefix=n.prefix)
                                   for n in b.notifications],
                ) for b in config.storage.buckets],
            ), opts())
            out["object_store.endpoint"] = store.endpoint

    if config.warehouse.datasets:
        with provenance.source("warehouse.datasets"):
            warehouse = Warehouse(f"{config.name}-warehouse", WarehouseArgs(
                chart=chart(config, "cloudnative-pg"), storage_class=target.storage_class, protect=protect,
                datasets=[DatabaseArgs(name=d.name, description=d.description) for d in config.warehouse.datasets],
            ), opts())
            out["warehouse.host"] = warehouse.host
    return out
