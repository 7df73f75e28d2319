"""``build_gcp``: map one StackConfig onto the GCP L2 components, every resource through one provider.

Naming contract: logical (Pulumi) names are ``{env}-{thing}``; physical names are ``{env}-{thing}`` within
GCP's limits (shortened with a stable hash when too long), except GCS buckets, which are global and
therefore ``{project}-{env}-{bucket}`` (≤ 63 characters), BigQuery datasets, ``{env}_{dataset}``, a topic's
dead-letter topic and subscription, ``{env}-{topic}.dead-letter`` (the '.' no config name can contain), and
service accounts, ``{env}-{cluster}-nodes`` and ``{env}-{team}-team`` (see :mod:`names`).
The project's APIs (:class:`ProjectServices`) come first; every other resource waits for them.
Each component is built inside ``provenance.source(<config path>)`` so the plan can point at the YAML.
"""

from __future__ import annotations

from typing import Any

import pulumi

from mlinfra.components import accelerators as acc
from mlinfra.components import provenance
from mlinfra.components.gcp import names
from mlinfra.components.gcp.bigquery import BigQueryDataset, BigQueryDatasetArgs
from mlinfra.components.gcp.gke_cluster import AuthorizedNetworkArgs, GkeCluster, GkeClusterArgs
from mlinfra.components.gcp.iam import (
    ClusterAdmins,
    ClusterAdminsArgs,
    NodeServiceAccount,
    NodeServiceAccountArgs,
    TeamIdentity,
    TeamIdentityArgs,
)
from mlinfra.components.gcp.kms import GcpKms, GcpKmsArgs, KmsKey, Purpose, kms_location
from mlinfra.components.gcp.logging import AUDITED_SERVICES, ProjectLogging, ProjectLoggingArgs
from mlinfra.components.gcp.network import GcpNetwork, GcpNetworkArgs, carve
from mlinfra.components.gcp.node_pool import POOL_LABEL, AcceleratorArgs, GkeNodePool, GkeNodePoolArgs, TaintArgs
from mlinfra.components.gcp.pubsub import DEAD_LETTER_SUFFIX, PubSubTopic, PubSubTopicArgs, SubscriptionArgs
from mlinfra.components.gcp.services import ProjectServices, ProjectServicesArgs
from mlinfra.components.gcp.storage import GcsBucket, GcsBucketArgs, LifecycleRuleArgs, NotificationArgs
from mlinfra.components.platform import environment_labels
from mlinfra.stacks import regions
from mlinfra.stacks.config import StackConfig


def persistence_regions(config: StackConfig) -> list[str]:
    """GCP regions message storage may use: the residency allow-list expanded, else the target region."""
    allowed = config.residency.allowed_regions
    if not allowed:
        return [config.target.region]
    explicit, groups = regions.expand_allowed(allowed)
    found = {r for r, g in regions.GCP_REGIONS.items() if g in groups} | (explicit & set(regions.GCP_REGIONS))
    return sorted(found) or [config.target.region]


class _Keys:
    """The environment's key ring in the target region, plus rings made on demand for other locations."""

    def __init__(self, config: StackConfig, opts: pulumi.ResourceOptions, apis: list[pulumi.Resource]) -> None:
        self.config = config
        self.opts = opts
        self.apis = apis
        self.region = config.target.region
        self.rings: dict[str, GcpKms] = {self.region: self._ring(self.region, f"{config.resource_prefix}-kms",
                                                                 ("storage", "pubsub", "bigquery", "gke-secrets",
                                                                  "disks"))}

    def _ring(self, location: str, name: str, purposes: tuple[Purpose, ...]) -> GcpKms:
        kms = self.config.kms
        return GcpKms(name, GcpKmsArgs(
            project=self.config.target.project or "", location=location,
            key_ring_name=name if location == self.region else f"{self.config.resource_prefix}-{location}",
            purposes=purposes, rotation_days=kms.rotation_days, protection_level=kms.protection_level,
            destroy_scheduled_days=kms.destroy_scheduled_days, protect=self.config.protected, apis=self.apis,
        ), self.opts)

    @property
    def main(self) -> GcpKms:
        """The ring in the target region."""
        return self.rings[self.region]

    def key(self, location: str | None, purpose: Purpose) -> tuple[KmsKey, Any]:
        """The key for data in ``location`` (and the agent grant to wait for), creating a ring there if needed."""
        where = kms_location(location or self.region)
        if where not in self.rings:
            self.rings[where] = self._ring(where, f"{self.config.resource_prefix}-kms-{where}", ("storage", "bigquery"))
        ring = self.rings[where]
        return ring.key(purpose), ring.agent_grant(purpose)


def build_gcp(config: StackConfig, *, parent: pulumi.Resource,
              provider: pulumi.ProviderResource) -> dict[str, pulumi.Output[Any]]:
    """Create the whole GCP environment as children of ``parent``; return the stack outputs."""
    env, region, project = config.resource_prefix, config.target.region, config.target.project or ""
    labels = environment_labels(config)

    with provenance.source("target"):
        services = ProjectServices(f"{env}-services", ProjectServicesArgs(project=project),
                                   pulumi.ResourceOptions(parent=parent, provider=provider))

    def opts() -> pulumi.ResourceOptions:
        # The transformation is inherited by every resource under the component: all of them wait for the APIs.
        return pulumi.ResourceOptions(parent=parent, provider=provider, transformations=[services.waits_for_apis])

    out: dict[str, pulumi.Output[Any]] = {}
    protect = config.protected

    with provenance.source("network"):
        net = config.network
        ranges = carve([c.name for c in config.clusters], net.cidr, net.pods_cidr, net.services_cidr,
                       net.control_plane_cidr)
        network = GcpNetwork(f"{env}-network", GcpNetworkArgs(
            project=project, region=region, network_name=names.fit(env, 63), subnets=ranges,
            flow_logs=net.flow_logs, flow_logs_sampling=net.flow_logs_sampling, nat=net.nat,
        ), opts())
        out["network.id"] = network.network_id

    with provenance.source("kms"):
        keys = _Keys(config, opts(), services.resources)
    agents = keys.main.agents

    topics: dict[str, PubSubTopic] = {}
    storage_regions = persistence_regions(config)
    # In-transit enforcement refuses clients on the global endpoint: only when residency is declared.
    enforce_in_transit = bool(config.residency.allowed_regions)
    for i, t in enumerate(config.events.topics):
        with provenance.source(f"events.topics[{i}]"):
            key, grant = keys.key(region, "pubsub")
            topics[t.name] = PubSubTopic(f"{env}-{t.name}", PubSubTopicArgs(
                project=project, topic_name=names.fit(f"{env}-{t.name}", 255 - len(DEAD_LETTER_SUFFIX)),
                key=key, key_grant=grant, pubsub_agent=agents.pubsub, allowed_regions=storage_regions,
                enforce_in_transit=enforce_in_transit,
                retention_days=t.retention_days, protect=protect,
                subscriptions=[SubscriptionArgs(
                    name=s.name, physical_name=names.fit(f"{env}-{s.name}", 255),
                    ack_deadline_seconds=s.ack_deadline_seconds, retention_days=s.retention_days,
                    min_backoff_seconds=s.min_backoff_seconds, max_backoff_seconds=s.max_backoff_seconds,
                    dead_letter=s.dead_letter.enabled, max_delivery_attempts=s.dead_letter.max_delivery_attempts,
                    filter=s.filter, exactly_once=s.exactly_once,
                ) for s in t.subscriptions],
            ), opts())
            out[f"topics.{t.name}.id"] = topics[t.name].topic_id

    buckets: dict[str, GcsBucket] = {}
    for i, b in enumerate(config.storage.buckets):
        with provenance.source(f"storage.buckets[{i}]"):
            key, grant = keys.key(b.location, "storage")
            buckets[b.name] = GcsBucket(f"{env}-{b.name}", GcsBucketArgs(
                project=project, bucket_name=names.bucket_name(project, env, b.name), location=b.location or region,
                key=key, key_grant=grant, gcs_agent=agents.storage, storage_class=b.storage_class,
                versioning=b.versioning if b.versioning is not None else b.retention_days is None,
                retention_days=b.retention_days, lock_retention=b.lock_retention,
                force_destroy=b.force_destroy, labels={"mlinfra-purpose": b.purpose}, protect=protect,
                lifecycle=[LifecycleRuleArgs(**r.model_dump()) for r in b.lifecycle],
                notifications=[NotificationArgs(topic_name=n.topic, topic_id=topics[n.topic].topic_id,
                                                events=list(n.events), prefix=n.prefix) for n in b.notifications],
            ), opts())
            out[f"buckets.{b.name}.name"] = buckets[b.name].bucket_name

    datasets: dict[str, BigQueryDataset] = {}
    for i, d in enumerate(config.warehouse.datasets):
        with provenance.source(f"warehouse.datasets[{i}]"):
            key, grant = keys.key(d.location, "bigquery")
            datasets[d.name] = BigQueryDataset(f"{env}-{d.name}", BigQueryDatasetArgs(
                project=project, dataset_id=names.dataset_id(env, d.name), location=d.location or region,
                key=key, key_grant=grant, description=d.description, table_expiration_days=d.table_expiration_days,
                partition_expiration_days=d.partition_expiration_days,
                delete_contents_on_destroy=d.delete_contents_on_destroy, protect=protect,
            ), opts())
            out[f"datasets.{d.name}.id"] = datasets[d.name].dataset_id

    disks_key, disks_grant = keys.main.key("disks"), keys.main.agent_grant("disks")
    prometheus = config.monitoring.enabled and config.monitoring.managed_prometheus
    clusters: dict[str, GkeCluster] = {}
    node_sas: dict[str, NodeServiceAccount] = {}
    for i, c in enumerate(config.clusters):
        sub = network.ranges[c.name]
        with provenance.source(f"clusters[{i}]"):
            node_sas[c.name] = NodeServiceAccount(f"{env}-{c.name}-nodes", NodeServiceAccountArgs(
                project=project, account_id=names.node_account_id(env, c.name),
                display_name=f"mlinfra {env} {c.name} GKE nodes",
            ), opts())
            gpus_here = any(p.accelerator and p.accelerator.type in acc.NVIDIA_GPUS
                            for p in config.node_pools if config.pool_cluster(p) == c.name)
            clusters[c.name] = GkeCluster(f"{env}-{c.name}", GkeClusterArgs(
                project=project, region=region, cluster_name=names.fit(f"{env}-{c.name}", 40),
                network=network.network_id, subnetwork=network.subnet_ids[c.name],
                pods_range_name=sub.pods_range_name, services_range_name=sub.services_range_name,
                node_cidr=sub.nodes, control_plane_cidr=sub.control_plane,
                authorized_networks=[AuthorizedNetworkArgs(name=n.name, cidr=n.cidr)
                                     for n in config.network.authorized_networks],
                private_endpoint=c.private_endpoint, release_channel=c.release_channel,
                min_master_version=c.kubernetes_version, maintenance_start_utc=c.maintenance_start_utc,
                deletion_protection=c.deletion_protection if c.deletion_protection is not None else protect,
                secrets_key=keys.main.key("gke-secrets"), secrets_key_grant=keys.main.agent_grant("gke-secrets"),
                node_service_account=node_sas[c.name].email, boot_disk_key=disks_key, boot_disk_key_grant=disks_grant,
                node_resource_labels=labels, managed_prometheus=prometheus,
                gpu_metrics=gpus_here and config.monitoring.gpu_metrics and prometheus,
                labels={"mlinfra-cluster-role": c.role},
            ), opts())
            out[f"clusters.{c.name}.name"] = clusters[c.name].cluster_name
            out[f"clusters.{c.name}.endpoint"] = clusters[c.name].endpoint
            out[f"clusters.{c.name}.kubeconfig"] = clusters[c.name].kubeconfig
            out[f"clusters.{c.name}.node_service_account"] = node_sas[c.name].email
        with provenance.source(f"clusters[{i}].system_pool"):
            sp = c.system_pool
            GkeNodePool(f"{env}-{c.name}-system", GkeNodePoolArgs(
                project=project, location=region, cluster=clusters[c.name].cluster_id, pool_name="system",
                machine_type=f"e2-standard-{sp.vcpus}", vcpus=sp.vcpus, min_nodes=sp.min_nodes,
                max_nodes=sp.max_nodes, per_zone=True, boot_disk_key=disks_key, boot_disk_key_grant=disks_grant,
                service_account=node_sas[c.name].email, node_locations=list(config.target.zones),
                labels={POOL_LABEL: "system"}, resource_labels=labels,
            ), opts())

    for i, p in enumerate(config.node_pools):
        cluster_name = config.pool_cluster(p)
        with provenance.source(f"node_pools[{i}]"):
            a = p.accelerator
            GkeNodePool(f"{env}-{cluster_name}-{p.name}", GkeNodePoolArgs(
                project=project, location=region, cluster=clusters[cluster_name].cluster_id, pool_name=p.name,
                machine_class=p.machine_class, vcpus=p.vcpus, machine_type=p.machine_type,
                accelerator=AcceleratorArgs(type=a.type, count=a.count or 1, topology=a.topology,
                                            driver_version=a.driver_version) if a else None,
                min_nodes=p.min_nodes, max_nodes=p.max_nodes, spot=p.spot, disk_size_gb=p.disk_size_gb,
                disk_type=p.disk_type, boot_disk_key=disks_key, boot_disk_key_grant=disks_grant,
                service_account=node_sas[cluster_name].email,
                node_locations=list(config.target.zones), labels=dict(p.labels), resource_labels=labels,
                taints=[TaintArgs(key=t.key, value=t.value, effect=t.effect) for t in p.taints],
            ), opts())

    if config.iam.admins:
        with provenance.source("iam.admins"):
            ClusterAdmins(f"{env}-cluster-admins", ClusterAdminsArgs(project=project, admins=list(config.iam.admins)),
                          opts())

    for i, team in enumerate(config.iam.teams):
        with provenance.source(f"iam.teams[{i}]"):
            identity = TeamIdentity(f"{env}-{team.name}", TeamIdentityArgs(
                project=project, team=team.name, account_id=names.team_account_id(env, team.name),
                members=list(team.members),
                buckets={n: (buckets[n], access) for n, access in team.buckets.items()},
                datasets={n: (datasets[n], access) for n, access in team.datasets.items()},
                topics={n: (topics[n], access) for n, access in team.topics.items()},
            ), opts())
            out[f"teams.{team.name}.service_account"] = identity.email

    if config.monitoring.project_settings:  # off when another environment in the project owns these
        with provenance.source("monitoring"):
            ProjectLogging(f"{env}-logging", ProjectLoggingArgs(
                project=project, retention_days=config.monitoring.log_retention_days,
                audit_services=AUDITED_SERVICES if config.monitoring.audit_logs else (),
            ), opts())

    for where, ring in keys.rings.items():
        for purpose, key_id in ring.key_ids.items():
            out[f"kms.{where}.{purpose}.id"] = key_id
    return out
