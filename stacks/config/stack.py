"""The whole environment: :class:`StackConfig`, and the cross-field checks run before anything deploys."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import ConfigDict, Field, model_validator

from mlinfra.components import accelerators as acc
from mlinfra.stacks import regions
from mlinfra.stacks.config.access import ExtensionConfig, IamConfig, PoliciesConfig, Waiver
from mlinfra.stacks.config.base import Loc, Name, StrictModel, duplicates, raise_issues
from mlinfra.stacks.config.compute import (
    ClusterConfig,
    MonitoringConfig,
    NodePoolConfig,
    ServingConfig,
    TrainingConfig,
)
from mlinfra.stacks.config.data import EventsConfig, StorageConfig, WarehouseConfig
from mlinfra.stacks.config.platform import BackendConfig, HelmConfig, NamingConfig
from mlinfra.stacks.config.target import KmsConfig, NetworkConfig, ResidencyConfig, TargetConfig

Issues = list[tuple[Loc, str]]


API_VERSION = "mlinfra.dev/v1"
SUPPORTED_API_VERSIONS = (API_VERSION,)


class StackConfig(StrictModel):
    """One environment of the ML platform. Cloud-neutral: the target decides how each part is built."""

    model_config = ConfigDict(populate_by_name=True)

    api_version: Literal["mlinfra.dev/v1"] = Field(
        default=API_VERSION, alias="apiVersion",
        description="Version of the stack file format; every stack file starts with 'apiVersion: mlinfra.dev/v1' "
        "(docs/compatibility.md). Required in files.",
    )

    name: Name = Field(description="Environment name; prefixes every resource name (after naming.prefix). Required.")
    naming: NamingConfig = Field(
        default_factory=NamingConfig, description="Resource naming convention. Default: '{name}-{resource}'."
    )
    environment: Literal["dev", "staging", "prod"] = Field(
        default="dev",
        description="Tier. 'prod' protects data stores from deletion and requires residency. Default: dev.",
    )
    description: str = Field(default="", description="Free text describing the environment. Default: empty.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels/tags put on every resource that takes them. Default: none."
    )
    target: TargetConfig = Field(description="Where the environment runs. Required.")
    residency: ResidencyConfig = Field(
        default_factory=ResidencyConfig, description="Where data may live. Default: unrestricted."
    )
    network: NetworkConfig = Field(default_factory=NetworkConfig, description="Private network. Default: see fields.")
    kms: KmsConfig = Field(default_factory=KmsConfig, description="Customer-managed keys. Default: see fields.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Object storage. Default: none.")
    events: EventsConfig = Field(default_factory=EventsConfig, description="Event bus. Default: none.")
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig, description="Warehouse. Default: none.")
    clusters: list[ClusterConfig] = Field(
        default_factory=lambda: [ClusterConfig(name="main")],
        min_length=1,
        max_length=2,
        description="One 'shared' cluster, or a 'training' and a 'serving' cluster. Default: one shared "
        "cluster named 'main'.",
    )
    node_pools: list[NodePoolConfig] = Field(
        default_factory=list, description="Worker pools (CPU, GPU, TPU, Neuron). Default: none."
    )
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Training layer. Default: on.")
    serving: ServingConfig = Field(default_factory=ServingConfig, description="Serving layer. Default: on.")
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig, description="Monitoring. Default: on.")
    iam: IamConfig = Field(default_factory=IamConfig, description="Teams and grants. Default: none.")
    helm: HelmConfig = Field(
        default_factory=HelmConfig, description="Helm chart sources for the in-cluster layer. Default: upstream."
    )
    backend: BackendConfig = Field(
        default_factory=BackendConfig,
        description="State backend and secrets provider of `mlinfra up`. Default: local files, passphrase.",
    )
    extensions: list[ExtensionConfig] = Field(
        default_factory=list,
        description="Custom components from installed extension packages (docs/extending.md). Default: none.",
    )
    replace: dict[str, str] = Field(
        default_factory=dict,
        description="Built-in component class → entry point (group mlinfra.components) of a subclass to build "
        "instead in this environment, e.g. {GcsBucket: acme-bucket}. Default: none.",
    )
    transforms: list[str] = Field(
        default_factory=list,
        description="Resource transformations of installed extensions (entry point group mlinfra.transforms), "
        "applied to every resource in order, e.g. company labels or naming rules. Default: none.",
    )
    policies: PoliciesConfig = Field(
        default_factory=PoliciesConfig, description="Policy enforcement levels. Default: the catalog's own."
    )
    waivers: list[Waiver] = Field(default_factory=list, description="Accepted policy exceptions. Default: none.")
    protect_data: bool | None = Field(
        default=None,
        description="Protect buckets, datasets, topics and keys from deletion (Pulumi protect plus the "
        "cloud's own deletion protection). Default: on in prod, off elsewhere.",
    )

    # ----- derived facts -------------------------------------------------------------------------------
    @property
    def resource_prefix(self) -> str:
        """What every resource name starts with: ``naming.prefix`` + the environment name."""
        return f"{self.naming.prefix}{self.name}"

    @property
    def protected(self) -> bool:
        """Whether data stores are protected from deletion."""
        return self.protect_data if self.protect_data is not None else self.environment == "prod"

    def cluster_for(self, role: Literal["training", "serving"]) -> ClusterConfig:
        """The cluster that runs ``role`` workloads (the shared one when there is a single cluster)."""
        for cluster in self.clusters:
            if cluster.role in (role, "shared"):
                return cluster
        return self.clusters[0]

    def pool_cluster(self, pool: NodePoolConfig) -> str:
        """Name of the cluster a node pool joins."""
        return pool.cluster or self.clusters[0].name

    # ----- cross-field validation ----------------------------------------------------------------------
    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        issues: Issues = []
        issues += self._check_clusters()
        issues += self._check_pools()
        issues += self._check_residency()
        issues += self._check_references()
        issues += self._check_quotas()
        issues += self._check_prod()
        issues += self._check_labels()
        issues += self._check_network_access()
        issues += self._check_members()
        if self.target.cloud == "gcp":
            issues += self._check_gcp_storage()
        if self.target.cloud == "aws":
            issues += self._check_aws()
        if self.target.cloud == "onprem":
            issues += self._check_onprem()
        raise_issues(issues)
        return self

    def _check_clusters(self) -> Issues:
        issues: Issues = duplicates(("clusters",), (c.name for c in self.clusters))
        roles = [c.role for c in self.clusters]
        if len(self.clusters) == 2 and sorted(roles) != ["serving", "training"]:
            issues.append((("clusters",), f"two clusters must have roles 'training' and 'serving' (got "
                           f"{', '.join(roles)}); or use one 'shared' cluster"))
        if len(self.clusters) == 1 and roles[0] != "shared":
            issues.append((("clusters", 0, "role"), f"a single cluster must be 'shared' (got {roles[0]!r}); add "
                           "the other role's cluster or set role: shared"))
        if self.target.cloud == "onprem" and len(self.clusters) > 1:
            issues.append((("clusters",), "the onprem target manages one existing cluster; use one 'shared' "
                           "cluster"))
        return issues

    def _check_pools(self) -> Issues:
        issues: Issues = duplicates(("node_pools",), (p.name for p in self.node_pools))
        cloud = self.target.cloud
        cluster_names = [c.name for c in self.clusters]
        for i, pool in enumerate(self.node_pools):
            loc: Loc = ("node_pools", i)
            if pool.cluster is None and len(self.clusters) > 1:
                issues.append(((*loc, "cluster"), f"several clusters exist; name one of {', '.join(cluster_names)}"))
            elif pool.cluster is not None and pool.cluster not in cluster_names:
                issues.append(((*loc, "cluster"), f"unknown cluster {pool.cluster!r}; defined: "
                               f"{', '.join(cluster_names)}"))
            if pool.name == "system":
                issues.append(((*loc, "name"), "'system' is reserved for each cluster's system pool; configure "
                               "it under clusters[].system_pool"))
            a = pool.accelerator
            if a is None:
                issues += self._check_machine(cloud, loc, pool)
                continue
            if a.type not in acc.OFFERED[cloud]:
                hint = acc.NEAREST.get((cloud, a.type), "")
                issues.append(((*loc, "accelerator", "type"), f"{a.type} is not offered by target {cloud}"
                               + (f"; nearest equivalent: {hint}" if hint else "")))
                continue
            if not a.is_tpu:
                counts = acc.valid_counts(cloud, a.type)
                if a.per_node not in counts:
                    issues.append(((*loc, "accelerator", "count"), f"{a.type} on {cloud} comes {a.per_node} per "
                                   f"node in no machine shape; use one of {', '.join(map(str, counts))}"))
                    continue
            issues += self._check_machine(cloud, loc, pool)
            if a.is_tpu and cloud == "gcp" and not self.target.zones:
                issues.append(((*loc, "accelerator", "type"), "TPU slices live in one zone; set target.zones "
                               f"(e.g. ['{self.target.region}-a']) to a zone that offers {a.type}"))
            if a.is_tpu and a.topology in acc.GCP_TPUS[a.type].topologies:
                tpu = acc.gcp_tpu_slice(a.type, a.topology)
                if tpu.multi_host and (pool.max_nodes % tpu.hosts or pool.min_nodes % tpu.hosts):
                    issues.append(((*loc, "max_nodes"), f"a {a.topology} {a.type} slice spans {tpu.hosts} hosts; "
                                   f"min_nodes and max_nodes must be multiples of {tpu.hosts}"))
        return issues

    @staticmethod
    def _check_machine(cloud: str, loc: Loc, pool: NodePoolConfig) -> Issues:
        """The machine mlinfra would choose exists on the target, and an override fits the accelerator."""
        if cloud == "onprem":
            return []  # on-prem pools select existing nodes; there is no machine to choose
        a = pool.accelerator
        kind, count, topology = (a.type, a.per_node, a.topology) if a else (None, 1, None)
        try:
            if cloud == "gcp":
                chosen = acc.gcp_machine_type(pool.machine_class, pool.vcpus, kind, count, topology)
            else:
                chosen = acc.aws_instance_type(pool.machine_class, pool.vcpus, kind, count)
        except ValueError as exc:
            flexible = a is None or a.type == "nvidia-t4"  # CPU sizes and T4 hosts follow 'vcpus'
            if pool.machine_type is None or not flexible:
                return [((*loc, "vcpus" if flexible else "accelerator"), str(exc))]
            chosen = None
        override = pool.machine_type
        if override is None or a is None:
            return []
        if cloud == "gcp" and a.type == "nvidia-t4":
            if not override.startswith("n1-"):
                return [((*loc, "machine_type"), f"nvidia-t4 attaches to n1 machines on GCP, not {override}; "
                         "remove 'machine_type' to let mlinfra choose")]
            return []
        if cloud == "aws":
            family = (chosen or "").split(".")[0]
            if override.split(".")[0] != family:
                return [((*loc, "machine_type"), f"{a.type} runs on {family}.* instances on AWS, not {override}; "
                         "remove 'machine_type' to let mlinfra choose")]
            return []
        if override != chosen:
            return [((*loc, "machine_type"), f"{a.type} x{a.per_node} runs on {chosen} on GCP, not {override}; "
                     "remove 'machine_type' to let mlinfra choose")]
        return []

    def _check_residency(self) -> Issues:
        allowed = self.residency.allowed_regions
        if not allowed:
            return []
        issues: Issues = []
        what = f"outside residency.allowed_regions ({', '.join(allowed)})"
        if not self.residency.allows(self.target.region):
            issues.append((("target", "region"), f"region {self.target.region!r} is {what}"))
        for i, bucket in enumerate(self.storage.buckets):
            if bucket.location and not self.residency.allows(bucket.location):
                issues.append((("storage", "buckets", i, "location"), f"location {bucket.location!r} is {what}"))
        for i, ds in enumerate(self.warehouse.datasets):
            if ds.location and not self.residency.allows(ds.location):
                issues.append((("warehouse", "datasets", i, "location"), f"location {ds.location!r} is {what}"))
        return issues

    def _check_references(self) -> Issues:
        issues: Issues = duplicates(("iam", "teams"), (t.name for t in self.iam.teams))
        topics = {t.name for t in self.events.topics}
        buckets = {b.name for b in self.storage.buckets}
        datasets = {d.name for d in self.warehouse.datasets}
        teams = {t.name for t in self.iam.teams}
        for bi, bucket in enumerate(self.storage.buckets):
            for ni, note in enumerate(bucket.notifications):
                if note.topic not in topics:
                    issues.append((("storage", "buckets", bi, "notifications", ni, "topic"),
                                   f"unknown topic {note.topic!r}; define it under events.topics"
                                   + _known(topics)))
        for ti, team in enumerate(self.iam.teams):
            for field, known in (("buckets", buckets), ("datasets", datasets), ("topics", topics)):
                for ref in getattr(team, field):
                    if ref not in known:
                        issues.append((("iam", "teams", ti, field, ref), f"unknown {field[:-1]} {ref!r}"
                                       + _known(known)))
        queue_names = [q.queue_name for q in self.training.queues]
        issues += [((loc[0], loc[1], "name"), msg) for loc, msg in duplicates(("queues",), queue_names)]
        issues = [(("training", *loc) if loc and loc[0] == "queues" else loc, msg) for loc, msg in issues]
        for qi, queue in enumerate(self.training.queues):
            if queue.team not in teams:
                issues.append((("training", "queues", qi, "team"), f"unknown team {queue.team!r}; define it "
                               "under iam.teams" + _known(teams)))
        return issues

    def _check_quotas(self) -> Issues:
        training = self.cluster_for("training").name
        pools = [p for p in self.node_pools if self.pool_cluster(p) == training and p.accelerator]
        capacity = {
            "gpus": sum(p.capacity for p in pools if p.accelerator and p.accelerator.type in acc.NVIDIA_GPUS),
            "tpu_chips": sum(p.capacity for p in pools if p.accelerator and p.accelerator.is_tpu),
            "neuron_devices": sum(p.capacity for p in pools if p.accelerator and p.accelerator.type in acc.AWS_CHIPS),
        }
        issues: Issues = []
        for field, cap in capacity.items():
            total = 0
            for qi, queue in enumerate(self.training.queues):
                total += getattr(queue, field)
                if total > cap:
                    issues.append((("training", "queues", qi, field), f"queues reserve {total} {field} in all but "
                                   f"the training cluster {training!r} has at most {cap} (sum of max_nodes x "
                                   "accelerators per node); lower the quota or raise max_nodes"))
                    break
        return issues

    def _check_labels(self) -> Issues:
        """Labels must be valid on every target: GCP's rules are the strictest (AWS tags accept them)."""
        issues: Issues = []
        for key, value in self.labels.items():
            if not _LABEL_KEY.match(key):
                issues.append((("labels", key), "label keys must start with a lower-case letter and use only "
                               "lower-case letters, digits, '_' and '-' (max 63)"))
            if not _LABEL_VALUE.match(value):
                issues.append((("labels", key), f"label value {value!r} may use only lower-case letters, "
                               "digits, '_' and '-' (max 63)"))
        return issues

    def _check_network_access(self) -> Issues:
        """A private control plane can only admit private address ranges."""
        if not any(c.private_endpoint for c in self.clusters):
            return []
        return [
            (("network", "authorized_networks", i, "cidr"), f"{n.cidr} is a public range, but the control plane "
             "has only a private endpoint; use a private (VPN/interconnect) range or set private_endpoint: false")
            for i, n in enumerate(self.network.authorized_networks) if not n.cidr.is_private
        ]

    def _check_gcp_storage(self) -> Issues:
        """GCS specifics: known locations; retention policies exclude Object Versioning."""
        issues: Issues = []
        for section, items in (("storage", self.storage.buckets), ("warehouse", self.warehouse.datasets)):
            field = "buckets" if section == "storage" else "datasets"
            for i, item in enumerate(items):
                if item.location and not regions.is_gcp_location(item.location):
                    issues.append(((section, field, i, "location"), f"unknown GCP location {item.location!r}; "
                                   "use a region, a multi-region (EU, US, ASIA) or a predefined dual-region "
                                   f"({', '.join(regions.GCP_DUAL_REGIONS)})"))
        for i, bucket in enumerate(self.storage.buckets):
            if bucket.retention_days and bucket.versioning:
                issues.append((("storage", "buckets", i, "versioning"), "GCS cannot combine a retention policy "
                               "with Object Versioning; remove 'versioning' (the retention policy protects "
                               "objects) or 'retention_days'"))
        return issues

    def _check_members(self) -> Issues:
        """Human principals are written the way the target names them."""
        pattern, example = _MEMBER_FORMS.get(self.target.cloud, (None, ""))
        if pattern is None:
            return []
        issues: Issues = [
            (("iam", "teams", ti, "members", mi), f"{member!r} is not a {self.target.cloud} principal; write it "
             f"like {example}")
            for ti, team in enumerate(self.iam.teams) for mi, member in enumerate(team.members)
            if not pattern.match(member)
        ]
        issues += [
            (("iam", "admins", i), f"{admin!r} is not a {self.target.cloud} principal; write it like {example}")
            for i, admin in enumerate(self.iam.admins) if not pattern.match(admin)
        ]
        return issues

    def _check_aws(self) -> Issues:
        """AWS specifics: zones, KMS periods, log retention values, VPC size, reserved names."""
        issues: Issues = []
        if len(self.target.zones) == 1:
            issues.append((("target", "zones"), "EKS needs subnets in at least two availability zones; list two "
                           "or more zones, or none to use the region's first three"))
        if len(self.target.zones) > 3:
            issues.append((("target", "zones"), "the AWS network spans at most three zones; list two or three"))
        if self.kms.rotation_days != 90:
            issues.append((("kms", "rotation_days"), "AWS KMS rotates keys every 90 days at the most often; "
                           "set 90"))
        if self.kms.destroy_scheduled_days > 30:
            issues.append((("kms", "destroy_scheduled_days"), "AWS KMS waits at most 30 days before deleting a "
                           "key; set 7-30"))
        if self.monitoring.log_retention_days not in _CLOUDWATCH_RETENTION:
            near = min(_CLOUDWATCH_RETENTION, key=lambda d: abs(d - self.monitoring.log_retention_days))
            issues.append((("monitoring", "log_retention_days"), "CloudWatch Logs keeps logs for fixed periods; "
                           f"the nearest is {near}"))
        if "flow_logs_sampling" in self.network.model_fields_set:
            issues.append((("network", "flow_logs_sampling"), "VPC flow logs on AWS record every flow; remove "
                           "'flow_logs_sampling'"))
        for i, cluster in enumerate(self.clusters):
            if "maintenance_start_utc" in cluster.model_fields_set:
                issues.append((("clusters", i, "maintenance_start_utc"), "EKS has no maintenance window: upgrades "
                               "run when kubernetes_version changes; remove 'maintenance_start_utc'"))
        for i, pool in enumerate(self.node_pools):
            if pool.machine_type and not _EC2_TYPE.match(pool.machine_type):
                issues.append((("node_pools", i, "machine_type"), f"{pool.machine_type!r} is not an EC2 instance "
                               "type (e.g. 'm6i.2xlarge'); remove 'machine_type' to let mlinfra choose"))
        if self.network.cidr.prefixlen < 16:
            issues.append((("network", "cidr"), f"a VPC is at most a /16, not {self.network.cidr}"))
        for i, bucket in enumerate(self.storage.buckets):
            if bucket.name in _AWS_RESERVED_BUCKETS:
                issues.append((("storage", "buckets", i, "name"), f"{bucket.name!r} is the name of the warehouse's "
                               "own bucket on AWS; choose another"))
        region = self.target.region
        for i, bucket in enumerate(self.storage.buckets):
            if bucket.location and bucket.location != region:
                issues.append((("storage", "buckets", i, "location"), f"S3 buckets live in one region and their "
                               f"keys in the target region {region!r}; remove 'location' (multi-region: replicate)"))
            if bucket.storage_class != "standard":
                issues.append((("storage", "buckets", i, "storage_class"), "S3 has no default storage class per "
                               "bucket; use a lifecycle rule with action 'transition' instead"))
        for i, ds in enumerate(self.warehouse.datasets):
            if ds.location and ds.location != region:
                issues.append((("warehouse", "datasets", i, "location"), f"Glue databases live in the target "
                               f"region {region!r}; remove 'location'"))
            if ds.partition_expiration_days is not None:
                issues.append((("warehouse", "datasets", i, "partition_expiration_days"), "Athena tables have no "
                               "partition expiry; use 'table_expiration_days' (an S3 lifecycle rule on the dataset)"))
        for ti, topic in enumerate(self.events.topics):
            if topic.retention_days is not None:
                issues.append((("events", "topics", ti, "retention_days"), "SNS standard topics keep no messages; "
                               "the subscription queues keep them (subscriptions[].retention_days)"))
            for si, sub in enumerate(topic.subscriptions):
                loc: Loc = ("events", "topics", ti, "subscriptions", si)
                for field in ("min_backoff_seconds", "max_backoff_seconds"):
                    if field in sub.model_fields_set:
                        issues.append(((*loc, field), "SQS retries after the visibility timeout, not a backoff; "
                                       "use 'ack_deadline_seconds' and remove this field"))
                if sub.exactly_once:
                    issues.append(((*loc, "exactly_once"), "SNS/SQS standard delivery is at-least-once; make the "
                                   "consumer idempotent and remove 'exactly_once'"))
                if sub.filter:
                    issues.append(((*loc, "filter"), "subscription filters use Pub/Sub syntax, which SNS filter "
                                   "policies do not accept; filter in the consumer and remove 'filter'"))
        for i, bucket in enumerate(self.storage.buckets):
            if bucket.retention_days and bucket.versioning is False:
                issues.append((("storage", "buckets", i, "versioning"), "on AWS a retention period uses S3 Object "
                               "Lock, which needs versioning; remove 'versioning: false'"))
        return issues

    def _check_onprem(self) -> Issues:
        """On-prem specifics: the cluster and its network exist already; what MinIO, NATS JetStream and
        PostgreSQL cannot do as the neutral config says is refused."""
        issues: Issues = []
        for section in ("network", "kms"):
            if getattr(self, section).model_fields_set:
                what = "network" if section == "network" else "keys (certificates come from cert-manager, object " \
                    "encryption from target.kms_endpoint)"
                issues.append(((section,), f"an on-prem cluster brings its own {what}; remove '{section}'"))
        for i, cluster in enumerate(self.clusters):
            for field in ("release_channel", "private_endpoint", "maintenance_start_utc", "deletion_protection",
                          "system_pool"):
                if field in cluster.model_fields_set:
                    issues.append((("clusters", i, field), f"mlinfra does not manage the on-prem cluster itself; "
                                   f"remove '{field}'"))
        for i, pool in enumerate(self.node_pools):
            for field in ("machine_class", "vcpus", "machine_type", "spot", "disk_size_gb", "disk_type", "min_nodes"):
                if field in pool.model_fields_set:
                    issues.append((("node_pools", i, field), "on-prem pools select existing nodes by label; "
                                   f"remove '{field}' (max_nodes states how many nodes the pool has)"))
        for i, bucket in enumerate(self.storage.buckets):
            loc: Loc = ("storage", "buckets", i)
            if bucket.location:
                issues.append(((*loc, "location"), "on-prem buckets live in the cluster's object store; remove "
                               "'location'"))
            if bucket.storage_class != "standard":
                issues.append(((*loc, "storage_class"), "MinIO has one storage class here; remove 'storage_class'"))
            for r, rule in enumerate(bucket.lifecycle):
                if rule.action == "transition":
                    issues.append(((*loc, "lifecycle", r, "action"), "MinIO tiering is not configured by mlinfra; "
                                   "use 'delete' rules only"))
            if bucket.retention_days and bucket.versioning is False:
                issues.append(((*loc, "versioning"), "object lock (retention_days) needs versioning; remove "
                               "'versioning: false'"))
        for ti, topic in enumerate(self.events.topics):
            for si, sub in enumerate(topic.subscriptions):
                loc = ("events", "topics", ti, "subscriptions", si)
                if sub.filter:
                    issues.append(((*loc, "filter"), "Pub/Sub filter expressions do not apply to JetStream "
                                   "consumers; filter in the consumer and remove 'filter'"))
                if sub.exactly_once:
                    issues.append(((*loc, "exactly_once"), "JetStream consumers deliver at least once; make the "
                                   "consumer idempotent and remove 'exactly_once'"))
                for field in ("min_backoff_seconds", "max_backoff_seconds"):
                    if field in sub.model_fields_set:
                        issues.append(((*loc, field), "redelivery waits for the ack deadline on-prem; use "
                                       "'ack_deadline_seconds' and remove this field"))
        for i, ds in enumerate(self.warehouse.datasets):
            for field in ("location", "table_expiration_days", "partition_expiration_days"):
                if getattr(ds, field) is not None:
                    issues.append((("warehouse", "datasets", i, field), f"PostgreSQL databases have no "
                                   f"{field.replace('_', ' ')}; remove '{field}'"))
        return issues

    def _check_prod(self) -> Issues:
        if self.environment != "prod":
            return []
        issues: Issues = []
        if not self.residency.allowed_regions:
            issues.append((("residency", "allowed_regions"), "a prod environment must declare where data may live"))
        for i, cluster in enumerate(self.clusters):
            if not cluster.private_endpoint:
                issues.append((("clusters", i, "private_endpoint"), "prod control planes stay private; reach them "
                               "through network.authorized_networks (VPN) instead of a public endpoint"))
        if self.protect_data is False:
            issues.append((("protect_data",), "prod data stores are always protected; remove 'protect_data: false'"))
        if not self.backend.remote:
            issues.append((("backend", "url"), "prod state lives in a remote backend with locking (s3://, gs://, "
                           "azblob:// or Pulumi Cloud), not on one machine"))
        if not self.backend.uses_kms:
            issues.append((("backend", "secrets_provider"), "prod secrets are encrypted with a KMS key "
                           "(gcpkms://, awskms://, azurekeyvault:// or hashivault://), not a passphrase"))
        for i, bucket in enumerate(self.storage.buckets):
            if bucket.force_destroy:
                issues.append((("storage", "buckets", i, "force_destroy"), "not allowed in prod"))
        for i, ds in enumerate(self.warehouse.datasets):
            if ds.delete_contents_on_destroy:
                issues.append((("warehouse", "datasets", i, "delete_contents_on_destroy"), "not allowed in prod"))
        return issues


_MEMBER_FORMS: dict[str, tuple[re.Pattern[str], str]] = {
    "gcp": (re.compile(r"^(user|group|serviceAccount|domain):[^\s:]+$"), "'group:ml-team@example.com'"),
    "aws": (re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$"),
            "'arn:aws:iam::123456789012:role/ml-team'"),
    "onprem": (re.compile(r"^(user|group):[^\s:]+$"), "'group:ml-team' (a Kubernetes RBAC user or group)"),
}
_CLOUDWATCH_RETENTION = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                         2922, 3288, 3653)
_EC2_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_AWS_RESERVED_BUCKETS = ("warehouse", "query-results")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def _known(names: set[str]) -> str:
    return f" (defined: {', '.join(sorted(names))})" if names else " (none defined)"


__all__ = ["Name", "StackConfig"]
