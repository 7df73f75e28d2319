"""``build_aws``: map one StackConfig onto the AWS L2 components, every resource through one provider.

How the neutral config lands on AWS:

- storage.buckets → S3 buckets (SSE-KMS + bucket key, public access blocked, ACLs off, TLS-only);
  retention → S3 Object Lock; notifications → the topic's SNS topic.
- events.topics → SNS topics; each subscription → an SQS queue with its own dead-letter queue.
- warehouse.datasets → one Athena workgroup per environment over a Glue database per dataset, data and
  query results in two dedicated, encrypted buckets.
- clusters → EKS (private endpoint, secrets encrypted, all control-plane logs), system node group each.
- node_pools → EKS managed node groups on launch templates (IMDSv2, hop limit 1, encrypted EBS).
- iam.teams → one IAM role per team, assumed through EKS Pod Identity by ``{team}/{team}-workload``,
  with statements on exactly the buckets, queues, topics, datasets and keys the team uses.
- kms → one customer-managed key per purpose; monitoring → Amazon Managed Prometheus (the platform alert
  rules as a rule group namespace) + a log group; per cluster a managed collector (scraper) writing to it,
  mapped by an access entry to the read-only Kubernetes user the in-cluster layer binds.

Naming contract: logical names are ``{env}-{thing}``; physical names come from :mod:`.names` (S3 bucket
names are global and carry the account and region). Each component is built inside
``provenance.source(<config path>)`` so plans and policy findings point at the YAML line.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi

from mlinfra.components import provenance
from mlinfra.components.aws import names
from mlinfra.components.aws.athena import AthenaDatasetArgs, AthenaWarehouse, AthenaWarehouseArgs
from mlinfra.components.aws.eks_cluster import ClusterAccessArgs, EksCluster, EksClusterArgs
from mlinfra.components.aws.events import SnsTopic, SnsTopicArgs, SqsSubscriptionArgs
from mlinfra.components.aws.iam import NodeRole, NodeRoleArgs, TeamRole, TeamRoleArgs
from mlinfra.components.aws.kms import AwsKms, AwsKmsArgs
from mlinfra.components.aws.monitoring import AwsMonitoring, AwsMonitoringArgs
from mlinfra.components.aws.network import AwsNetwork, AwsNetworkArgs
from mlinfra.components.aws.node_group import AcceleratorArgs, EksNodeGroup, EksNodeGroupArgs, TaintArgs
from mlinfra.components.aws.prometheus_scraper import AmpScraper, AmpScraperArgs
from mlinfra.components.aws.s3 import LifecycleRuleArgs, NotificationArgs, S3Bucket, S3BucketArgs
from mlinfra.components.kubernetes.autoscaler import NAMESPACE as AUTOSCALER_NAMESPACE
from mlinfra.components.kubernetes.autoscaler import SERVICE_ACCOUNT as AUTOSCALER_SERVICE_ACCOUNT
from mlinfra.components.kubernetes.layer import metrics_sources
from mlinfra.components.kubernetes.monitoring import (
    COLLECTOR_USER,
    collector_ports,
    collector_scrape_config,
    prometheus_rule_file,
)
from mlinfra.components.platform import environment_labels
from mlinfra.stacks.config import ClusterConfig, StackConfig

POOL_LABEL = "mlinfra.io/pool"


def build_aws(config: StackConfig, *, parent: pulumi.Resource,
              provider: pulumi.ProviderResource) -> dict[str, pulumi.Output[Any]]:
    """Create the whole AWS environment as children of ``parent``; return the stack outputs."""
    env, region = config.resource_prefix, config.target.region
    account = config.target.account_id or ""
    tags = environment_labels(config)
    protect = config.protected
    out: dict[str, pulumi.Output[Any]] = {}

    def opts() -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, provider=provider)

    with provenance.source("kms"):
        kms = AwsKms(f"{env}-kms", AwsKmsArgs(
            env=env, account_id=account, region=region, rotation_period_days=config.kms.rotation_days,
            deletion_window_days=config.kms.destroy_scheduled_days, tags=tags, protect=protect,
        ), opts())
        for purpose, arn in kms.key_arns.items():
            out[f"kms.{purpose}.arn"] = arn

    with provenance.source("network"):
        network = AwsNetwork(f"{env}-network", AwsNetworkArgs(
            network_name=env, region=region, cidr=config.network.cidr, zones=list(config.target.zones),
            nat=config.network.nat, nat_per_az=config.environment == "prod", flow_logs=config.network.flow_logs,
            flow_logs_retention_days=config.monitoring.log_retention_days, logs_key_arn=kms.key_arn("logs"),
            tags=tags,
        ), opts())
        out["network.vpc_id"] = network.vpc_id

    bucket_names = {b.name: names.bucket_name(env, b.name, account, region) for b in config.storage.buckets}
    topics: dict[str, SnsTopic] = {}
    for i, t in enumerate(config.events.topics):
        publishers = [names.bucket_arn(bucket_names[b.name]) for b in config.storage.buckets
                      if any(n.topic == t.name for n in b.notifications)]
        with provenance.source(f"events.topics[{i}]"):
            topics[t.name] = SnsTopic(f"{env}-{t.name}", SnsTopicArgs(
                topic_name=names.topic_name(env, t.name), region=region, account_id=account, key=kms.key("events"),
                publisher_bucket_arns=publishers, tags=tags, protect=protect,
                subscriptions=[SqsSubscriptionArgs(
                    name=s.name, queue_name=names.queue_name(env, t.name, s.name),
                    ack_deadline_seconds=s.ack_deadline_seconds, retention_days=s.retention_days,
                    dead_letter=s.dead_letter.enabled, max_delivery_attempts=s.dead_letter.max_delivery_attempts,
                    filter=s.filter,
                ) for s in t.subscriptions],
            ), opts())
            out[f"topics.{t.name}.arn"] = topics[t.name].topic_arn

    buckets: dict[str, S3Bucket] = {}
    for i, b in enumerate(config.storage.buckets):
        with provenance.source(f"storage.buckets[{i}]"):
            buckets[b.name] = S3Bucket(f"{env}-{b.name}", S3BucketArgs(
                bucket_name=bucket_names[b.name], region=region, key=kms.key("storage"),
                versioning=b.versioning if b.versioning is not None else True,
                lifecycle=[LifecycleRuleArgs(**r.model_dump()) for r in b.lifecycle],
                retention_days=b.retention_days, lock_retention=b.lock_retention, force_destroy=b.force_destroy,
                notifications=[NotificationArgs(topic_name=n.topic, topic_arn=topics[n.topic].topic_arn,
                                                events=list(n.events), prefix=n.prefix,
                                                waits_for=topics[n.topic].policy) for n in b.notifications],
                tags={**tags, "mlinfra-purpose": b.purpose}, protect=protect,
            ), opts())
            out[f"buckets.{b.name}.name"] = buckets[b.name].bucket_name

    warehouse: AthenaWarehouse | None = None
    if config.warehouse.datasets:
        with provenance.source("warehouse.datasets"):
            warehouse = AthenaWarehouse(f"{env}-warehouse", AthenaWarehouseArgs(
                region=region, account_id=account, key=kms.key("warehouse"), workgroup_name=names.workgroup_name(env),
                teams=[t.name for t in config.iam.teams if t.datasets],
                data_bucket_name=names.bucket_name(env, "warehouse", account, region),
                results_bucket_name=names.bucket_name(env, "query-results", account, region),
                datasets=[AthenaDatasetArgs(name=d.name, database_name=names.glue_database_name(env, d.name),
                                            description=d.description, table_expiration_days=d.table_expiration_days)
                          for d in config.warehouse.datasets],
                force_destroy=any(d.delete_contents_on_destroy for d in config.warehouse.datasets),
                manage_catalog_encryption=config.monitoring.project_settings, tags=tags, protect=protect,
            ), opts())
            out["warehouse.workgroup"] = warehouse.workgroup_name
            for ds_name, db in warehouse.database_names.items():
                out[f"datasets.{ds_name}.database"] = db

    amp = config.monitoring.enabled and config.monitoring.managed_prometheus
    with provenance.source("monitoring"):
        monitoring = AwsMonitoring(f"{env}-monitoring", AwsMonitoringArgs(
            region=region, key=kms.key("logs"), workspace_alias=env, log_group_name=names.platform_log_group(env),
            log_retention_days=config.monitoring.log_retention_days, managed_prometheus=amp,
            rule_file=prometheus_rule_file() if amp else None, tags=tags, protect=protect,
        ), opts())
        if monitoring.workspace_arn is not None:
            out["monitoring.prometheus_workspace"] = monitoring.workspace_arn

    access = _cluster_access(config)
    services = _service_ranges(config)
    disks_key = kms.key_arn("disks")
    clusters: dict[str, EksCluster] = {}
    node_roles: dict[str, NodeRole] = {}
    for i, c in enumerate(config.clusters):
        with provenance.source(f"clusters[{i}]"):
            node_roles[c.name] = NodeRole(f"{env}-{c.name}-nodes", NodeRoleArgs(
                role_name=names.iam_name(env, c.name, "nodes"), tags=tags), opts())
            clusters[c.name] = EksCluster(f"{env}-{c.name}", EksClusterArgs(
                cluster_name=names.fit(f"{env}-{c.name}", 100), region=region, version=c.kubernetes_version,
                upgrade_support="extended" if c.release_channel == "stable" else "standard",
                subnet_ids=network.private_subnet_ids, private_endpoint=c.private_endpoint,
                authorized_networks=[n.cidr for n in config.network.authorized_networks],
                service_cidr=services[c.name],
                secrets_key_arn=kms.key_arn("eks-secrets"), logs_key_arn=kms.key_arn("logs"),
                log_retention_days=config.monitoring.log_retention_days,
                deletion_protection=c.deletion_protection if c.deletion_protection is not None else protect,
                access=access, volumes_key_arn=disks_key, tags={**tags, "mlinfra-cluster-role": c.role},
            ), opts())
            out[f"clusters.{c.name}.name"] = clusters[c.name].cluster_name
            out[f"clusters.{c.name}.endpoint"] = clusters[c.name].endpoint
            out[f"clusters.{c.name}.kubeconfig"] = clusters[c.name].kubeconfig
        with provenance.source(f"clusters[{i}].system_pool"):
            sp = c.system_pool
            system = EksNodeGroup(f"{env}-{c.name}-system", EksNodeGroupArgs(
                cluster_name=clusters[c.name].cluster_name, pool_name="system", node_role_arn=node_roles[c.name].arn,
                subnet_ids=network.private_subnet_ids, machine_class="general", vcpus=sp.vcpus,
                min_nodes=sp.min_nodes, max_nodes=sp.max_nodes, disks_key_arn=disks_key,
                labels={POOL_LABEL: "system"}, tags=tags,
            ), opts())
            clusters[c.name].add_compute_addons([system])
            TeamRole(f"{env}-{c.name}-autoscaler-identity", TeamRoleArgs(
                env=env, team=AUTOSCALER_NAMESPACE, service_account=AUTOSCALER_SERVICE_ACCOUNT,
                clusters={c.name: clusters[c.name].cluster_name}, statements=_autoscaler_statements(),
                source_account=account, tags=tags,
            ), opts())
        if monitoring.workspace_arn is not None:
            _scraper(config, c, clusters[c.name], network, monitoring.workspace_arn, tags, opts())

    for i, p in enumerate(config.node_pools):
        cluster_name = config.pool_cluster(p)
        a = p.accelerator
        with provenance.source(f"node_pools[{i}]"):
            EksNodeGroup(f"{env}-{cluster_name}-{p.name}", EksNodeGroupArgs(
                cluster_name=clusters[cluster_name].cluster_name, pool_name=p.name,
                node_role_arn=node_roles[cluster_name].arn, subnet_ids=network.private_subnet_ids,
                machine_class=p.machine_class, vcpus=p.vcpus,
                instance_types=[p.machine_type] if p.machine_type else [],
                accelerator=AcceleratorArgs(type=a.type, count=a.per_node) if a else None,
                min_nodes=p.min_nodes, max_nodes=p.max_nodes, spot=p.spot, disk_size_gb=p.disk_size_gb,
                disks_key_arn=disks_key, labels=dict(p.labels), tags=tags,
                taints=[TaintArgs(key=t.key, value=t.value, effect=t.effect) for t in p.taints],
            ), opts())

    for i, team in enumerate(config.iam.teams):
        statements: list[Any] = []
        for bucket, access_level in team.buckets.items():
            statements += getattr(buckets[bucket], f"{access_level}_statements")()
        for topic, topic_access in team.topics.items():
            statements += getattr(topics[topic], f"{topic_access}_statements")()
        for dataset, ds_access in team.datasets.items():
            if warehouse is not None:
                statements += getattr(warehouse, f"{ds_access}_statements")(dataset, grantee=team.name)
        with provenance.source(f"iam.teams[{i}]"):
            role = TeamRole(f"{env}-{team.name}", TeamRoleArgs(
                env=env, team=team.name, clusters={c: clusters[c].cluster_name for c in clusters},
                statements=statements, source_account=account, tags=tags,
            ), opts())
            out[f"teams.{team.name}.role_arn"] = role.arn
    return out


def _scraper(config: StackConfig, cluster: ClusterConfig, eks: EksCluster, network: AwsNetwork,
             workspace_arn: pulumi.Output[str], tags: dict[str, str], opts: pulumi.ResourceOptions) -> AmpScraper:
    """The cluster's managed collector: scrape jobs and ports for what its in-cluster layer runs."""
    sources = metrics_sources(config, cluster)
    physical = names.fit(f"{config.resource_prefix}-{cluster.name}", 100)
    with provenance.source("monitoring"):
        return AmpScraper(f"{config.resource_prefix}-{cluster.name}-metrics", AmpScraperArgs(
            region=config.target.region, alias=physical, cluster_name=eks.cluster_name, cluster_arn=eks.arn,
            cluster_security_group_id=eks.cluster_security_group_id, vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids, workspace_arn=workspace_arn,
            scrape_configuration=collector_scrape_config(physical, kueue_namespace=sources.kueue_namespace,
                                                         gpu_metrics=sources.gpu_metrics),
            ports=collector_ports(kueue_namespace=sources.kueue_namespace, gpu_metrics=sources.gpu_metrics),
            collector_user=COLLECTOR_USER, tags=tags,
        ), opts)


def _autoscaler_statements() -> list[dict[str, Any]]:
    """What the Cluster Autoscaler needs: read the groups, and resize only groups EKS tagged as its own."""
    return [
        {"Effect": "Allow", "Action": [
            "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
            "eks:DescribeNodegroup"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["autoscaling:SetDesiredCapacity",
                                       "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true"}}},
    ]


def _cluster_access(config: StackConfig) -> list[ClusterAccessArgs]:
    """One access entry per principal: admins cluster-wide; team members view their teams' namespaces."""
    namespaces: dict[str, list[str]] = {}
    for team in config.iam.teams:
        for member in team.members:
            namespaces.setdefault(member, []).append(team.name)
    admins = list(dict.fromkeys(config.iam.admins))
    return [ClusterAccessArgs(principal_arn=a, access="admin") for a in admins] + [
        ClusterAccessArgs(principal_arn=m, access="view", namespaces=sorted(set(ns)))
        for m, ns in namespaces.items() if m not in admins
    ]


def _service_ranges(config: StackConfig) -> dict[str, ipaddress.IPv4Network]:
    """Each cluster's Kubernetes service range: a /20 from network.services_cidr, as on every target."""
    ranges = config.network.services_cidr.subnets(new_prefix=max(20, config.network.services_cidr.prefixlen))
    return {c.name: next(ranges) for c in config.clusters}
