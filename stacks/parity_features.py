"""What each target does with each config feature, one row per feature (a config path prefix).

Hand-written mechanism descriptions, kept honest two ways: a test fails when a config field is not
covered by any row (so a new field cannot skip the table), and the generated resource table in
``docs/parity.md`` comes from planning the same config on every target.
"""

from __future__ import annotations

from typing import Final

# (config path prefix, GCP, AWS). "rejected" means `validate` refuses it on that target, naming the equivalent.
FEATURES: Final[tuple[tuple[str, str, str], ...]] = (
    ("name", "prefix of every resource name", "prefix of every resource name"),
    ("environment", "prod: Pulumi protect on data stores and keys, GKE deletion protection, residency required, "
     "private control planes", "prod: Pulumi protect on data stores and keys, EKS deletion protection, NAT per "
     "AZ, residency required, private control planes"),
    ("description", "documentation only", "documentation only"),
    ("labels", "provider default_labels on every labelled resource, node VM labels", "provider default_tags on "
     "every taggable resource"),
    ("protect_data", "Pulumi protect + bucket force_destroy off + dataset delete_contents_on_destroy off",
     "Pulumi protect + bucket force_destroy off"),
    ("target.cloud", "gcp provider", "aws provider"),
    ("target.region", "provider region, key ring, subnets, cluster location", "provider region (every resource)"),
    ("target.project", "provider project", "rejected (GCP only)"),
    ("target.account_id", "rejected (AWS only)", "provider allowed_account_ids, ARNs, bucket names"),
    ("target.zones", "node locations; TPU pools use the first zone", "subnet AZs (2-3)"),
    ("target.kubeconfig", "rejected (on-prem only)", "rejected (on-prem only)"),
    ("target.context", "rejected (on-prem only)", "rejected (on-prem only)"),
    ("target.render_to", "rejected (on-prem only)", "rejected (on-prem only)"),
    ("target.storage_class", "rejected (on-prem only)", "rejected (on-prem only)"),
    ("target.object_store_endpoint", "rejected (on-prem only)", "rejected (on-prem only)"),
    ("target.kms_endpoint", "rejected (on-prem only)", "rejected (on-prem only)"),
    ("residency", "validate; Pub/Sub message storage policy with in-transit enforcement", "validate"),
    ("network.cidr", "one /20 subnet per cluster", "VPC CIDR, private /18s and public subnets per AZ"),
    ("network.pods_cidr", "secondary range per cluster (/14)", "unused: VPC CNI gives pods VPC addresses"),
    ("network.services_cidr", "secondary range per cluster (/20)", "EKS service_ipv4_cidr per cluster (/20)"),
    ("network.control_plane_cidr", "private control-plane /28 per cluster", "unused: EKS manages it"),
    ("network.authorized_networks", "master authorized networks", "cluster security-group rules on 443 "
     "(private ranges), public_access_cidrs (public endpoint)"),
    ("network.flow_logs", "subnet flow logs", "VPC flow logs to a KMS-encrypted log group"),
    ("network.flow_logs_sampling", "flow log sampling", "rejected (AWS records every flow)"),
    ("network.nat", "Cloud Router + Cloud NAT", "NAT gateways (one per AZ in prod)"),
    ("kms.rotation_days", "rotation_period", "rotation_period_in_days (90 only)"),
    ("kms.protection_level", "SOFTWARE or HSM", "no effect: AWS KMS keys are HSM-held"),
    ("kms.destroy_scheduled_days", "destroy_scheduled_duration", "deletion_window_in_days (7-30)"),
    ("storage.buckets[].name", "GCS bucket {project}-{env}-{name}", "S3 bucket {env}-{name}-{account}-{region}"),
    ("storage.buckets[].purpose", "label", "tag"),
    ("storage.buckets[].location", "bucket location (region, dual- or multi-region)", "rejected unless the target "
     "region"),
    ("storage.buckets[].storage_class", "default storage class", "rejected (use a lifecycle transition)"),
    ("storage.buckets[].versioning", "Object Versioning (off when a retention policy is set)", "S3 versioning"),
    ("storage.buckets[].lifecycle", "lifecycle rules (NEARLINE/COLDLINE/ARCHIVE)", "lifecycle configuration "
     "(STANDARD_IA/GLACIER_IR/DEEP_ARCHIVE)"),
    ("storage.buckets[].retention_days", "retention policy", "S3 Object Lock default retention"),
    ("storage.buckets[].lock_retention", "locked retention policy", "Object Lock COMPLIANCE mode"),
    ("storage.buckets[].notifications", "GCS Pub/Sub notification + publisher grant for the GCS agent",
     "S3 event notification to SNS, allowed by the topic policy"),
    ("storage.buckets[].force_destroy", "force_destroy", "force_destroy"),
    ("events.topics[].name", "Pub/Sub topic (CMEK)", "SNS topic (KMS)"),
    ("events.topics[].retention_days", "topic message retention", "rejected (queues keep messages)"),
    ("events.topics[].subscriptions[].name", "pull subscription", "SQS queue subscribed with raw delivery"),
    ("events.topics[].subscriptions[].ack_deadline_seconds", "ack deadline", "visibility timeout"),
    ("events.topics[].subscriptions[].retention_days", "message retention", "message retention"),
    ("events.topics[].subscriptions[].min_backoff_seconds", "retry policy", "rejected (visibility timeout)"),
    ("events.topics[].subscriptions[].max_backoff_seconds", "retry policy", "rejected (visibility timeout)"),
    ("events.topics[].subscriptions[].dead_letter", "dead-letter topic + subscription, agent grants",
     "dead-letter queue + redrive policy"),
    ("events.topics[].subscriptions[].filter", "subscription filter", "rejected (filter in the consumer)"),
    ("events.topics[].subscriptions[].exactly_once", "exactly-once delivery", "rejected (idempotent consumers)"),
    ("warehouse.datasets[].name", "BigQuery dataset {env}_{name} (CMEK)", "Glue database {env}_{name} in the "
     "environment's Athena workgroup, data under s3://warehouse/{name}/"),
    ("warehouse.datasets[].location", "dataset location (key ring made there)", "rejected unless the target "
     "region"),
    ("warehouse.datasets[].description", "dataset description", "database description"),
    ("warehouse.datasets[].table_expiration_days", "default table expiration", "S3 lifecycle expiry on the "
     "dataset prefix"),
    ("warehouse.datasets[].partition_expiration_days", "default partition expiration", "rejected"),
    ("warehouse.datasets[].delete_contents_on_destroy", "delete_contents_on_destroy", "force_destroy on the "
     "warehouse buckets"),
    ("clusters[].name", "GKE cluster {env}-{name}", "EKS cluster {env}-{name}"),
    ("clusters[].role", "label; decides which cluster runs training or serving", "tag; same"),
    ("clusters[].kubernetes_version", "min_master_version", "cluster version"),
    ("clusters[].release_channel", "release channel", "upgrade support policy (stable: extended)"),
    ("clusters[].private_endpoint", "private endpoint", "endpoint public access off"),
    ("clusters[].maintenance_start_utc", "daily maintenance window", "rejected (no maintenance windows)"),
    ("clusters[].deletion_protection", "deletion_protection", "deletion_protection"),
    ("clusters[].system_pool", "e2-standard node pool labelled system", "m6i managed node group labelled system"),
    ("node_pools[].name", "GKE node pool", "EKS managed node group + launch template"),
    ("node_pools[].cluster", "pool's cluster", "node group's cluster"),
    ("node_pools[].machine_class", "n2-standard / c2 / n2-highmem (n1-* for T4)", "m6i / c6i / r6i"),
    ("node_pools[].vcpus", "machine size", "instance size"),
    ("node_pools[].machine_type", "machine type override (checked against the accelerator)",
     "instance type override (checked against the accelerator family)"),
    ("node_pools[].accelerator.type", "guest accelerators / accelerator-optimised machine / TPU slice",
     "GPU or Neuron instance with the NVIDIA or Neuron AMI"),
    ("node_pools[].accelerator.count", "accelerators per node", "instance size"),
    ("node_pools[].accelerator.topology", "TPU topology + COMPACT placement", "rejected (TPUs are GCP only)"),
    ("node_pools[].accelerator.driver_version", "GKE GPU driver version", "the AMI's driver"),
    ("node_pools[].min_nodes", "autoscaling total minimum", "scaling_config min"),
    ("node_pools[].max_nodes", "autoscaling total maximum", "scaling_config max"),
    ("node_pools[].spot", "spot VMs", "SPOT capacity type"),
    ("node_pools[].disk_size_gb", "boot disk size (CMEK)", "root EBS volume size (KMS)"),
    ("node_pools[].disk_type", "pd-standard / pd-balanced / pd-ssd", "gp3 always"),
    ("node_pools[].taints", "node taints (+ accelerator taint)", "node group taints (+ accelerator taint)"),
    ("node_pools[].labels", "Kubernetes node labels", "Kubernetes node labels"),
    ("training", "Kueue queues and quotas per team (ResourceFlavor per accelerator pool), JobSet; GKE installs "
     "GPU drivers", "Kueue queues and quotas per team, JobSet, NVIDIA/Neuron device plugins, Cluster Autoscaler"),
    ("serving", "cert-manager CA, KServe (RawDeployment), internal GCP load balancers", "cert-manager CA, KServe "
     "(RawDeployment), internal NLBs"),
    ("monitoring.enabled", "managed Prometheus, GPU metrics and alert rules on/off", "AMP workspace, scrapers, "
     "GPU metrics and alert rules on/off"),
    ("monitoring.managed_prometheus", "GKE Managed Prometheus; a PodMonitoring of Kueue (token limited to GET "
     "/metrics); alert rules as ClusterRules", "Amazon Managed Prometheus workspace with the alert rules as a rule "
     "group namespace; per cluster a managed scraper (own security group, access entry to a read-only RBAC user)"),
    ("monitoring.gpu_metrics", "GKE DCGM metrics", "DCGM exporter on GPU nodes, scraped by the AMP scraper"),
    ("monitoring.metrics_retention_days", "managed (Google Managed Prometheus keeps 24 months)", "managed "
     "(AMP keeps 150 days)"),
    ("monitoring.log_retention_days", "_Default log bucket retention", "CloudWatch log group retention"),
    ("monitoring.audit_logs", "DATA_READ/DATA_WRITE audit configs for storage, BigQuery, KMS", "organisation "
     "CloudTrail (not created here)"),
    ("monitoring.project_settings", "owns _Default log retention and audit configs", "owns Glue Data Catalog "
     "encryption settings"),
    ("iam.admins", "roles/container.clusterAdmin", "EKS cluster-admin access entry"),
    ("iam.teams[].name", "service account {env}-{team}-team + Workload Identity for {team}/{team}-workload",
     "IAM role {env}-{team}-team + Pod Identity association for {team}/{team}-workload"),
    ("iam.teams[].members", "roles/container.clusterViewer", "EKS view access entry scoped to the namespace"),
    ("iam.teams[].buckets", "bucket IAM member + key grant", "role policy on the bucket ARN + key"),
    ("iam.teams[].datasets", "dataset IAM member + bigquery.jobUser", "the team's own Athena workgroup (results "
     "under its prefix) + role policy on the Glue database, data prefix and key"),
    ("iam.teams[].topics", "topic/subscription IAM members", "role policy on the topic or queues + key"),
    ("helm", "chart sources of the in-cluster layer", "chart sources of the in-cluster layer"),
    ("apiVersion", "stack file format version (checked by the loader)", "stack file format version (checked by "
     "the loader)"),
    ("backend", "state backend + secrets provider of `mlinfra up` (prod: gs:// + gcpkms://)", "state backend + "
     "secrets provider of `mlinfra up` (prod: s3:// + awskms://)"),
    ("extensions", "custom components of installed extensions, with the gcp provider", "custom components of "
     "installed extensions, with the aws provider"),
    ("naming.prefix", "prefix of every resource name (before the environment name)", "prefix of every resource "
     "name (before the environment name)"),
    ("replace", "built-in component → extension subclass (e.g. GcsBucket)", "built-in component → extension "
     "subclass (e.g. S3Bucket)"),
    ("transforms", "extension transformations on every resource", "extension transformations on every resource"),
    ("policies", "enforcement levels of the policy packs", "enforcement levels of the policy packs"),
    ("waivers", "policy waivers (policy checks)", "policy waivers (policy checks)"),
)


# What the on-prem target does with each feature (same keys as FEATURES; a test keeps them aligned).
ONPREM: Final[dict[str, str]] = {
    "name": "prefix of resource names",
    "environment": "prod: Pulumi protect on data services, residency required",
    "description": "documentation only",
    "labels": "documentation only (Kubernetes labels are set per object)",
    "protect_data": "Pulumi protect on the object store, event bus and warehouse",
    "target.cloud": "kubernetes provider",
    "target.region": "the site's declared region (residency)",
    "target.project": "rejected (GCP only)",
    "target.account_id": "rejected (AWS only)",
    "target.zones": "no effect (existing nodes)",
    "target.kubeconfig": "kubernetes provider kubeconfig",
    "target.context": "kubeconfig context",
    "target.render_to": "manifests written to a directory instead of applied",
    "target.storage_class": "StorageClass of MinIO, NATS, PostgreSQL and Prometheus volumes",
    "target.object_store_endpoint": "existing S3 endpoint instead of MinIO",
    "target.kms_endpoint": "MinIO KES encryption",
    "residency": "validate",
    "network.cidr": "rejected when set (the cluster brings its network)",
    "network.pods_cidr": "rejected when set",
    "network.services_cidr": "rejected when set",
    "network.control_plane_cidr": "rejected when set",
    "network.authorized_networks": "rejected when set",
    "network.flow_logs": "rejected when set",
    "network.flow_logs_sampling": "rejected when set",
    "network.nat": "rejected when set",
    "kms.rotation_days": "rejected when set (cert-manager CA, KES)",
    "kms.protection_level": "rejected when set",
    "kms.destroy_scheduled_days": "rejected when set",
    "storage.buckets[].name": "MinIO bucket",
    "storage.buckets[].purpose": "documentation",
    "storage.buckets[].location": "rejected",
    "storage.buckets[].storage_class": "rejected",
    "storage.buckets[].versioning": "MinIO versioning",
    "storage.buckets[].lifecycle": "MinIO expiry rules (transitions rejected)",
    "storage.buckets[].retention_days": "MinIO object lock (GOVERNANCE)",
    "storage.buckets[].lock_retention": "object lock COMPLIANCE",
    "storage.buckets[].notifications": "MinIO NATS notification target",
    "storage.buckets[].force_destroy": "no effect",
    "events.topics[].name": "JetStream stream",
    "events.topics[].retention_days": "stream max age",
    "events.topics[].subscriptions[].name": "durable consumer",
    "events.topics[].subscriptions[].ack_deadline_seconds": "ack wait",
    "events.topics[].subscriptions[].retention_days": "stream max age",
    "events.topics[].subscriptions[].min_backoff_seconds": "rejected",
    "events.topics[].subscriptions[].max_backoff_seconds": "rejected",
    "events.topics[].subscriptions[].dead_letter": "max deliver + dead-letter advisory stream",
    "events.topics[].subscriptions[].filter": "rejected",
    "events.topics[].subscriptions[].exactly_once": "rejected",
    "warehouse.datasets[].name": "CloudNativePG Database {name}, owned by the no-login role owner_{name}",
    "warehouse.datasets[].location": "rejected",
    "warehouse.datasets[].description": "annotation",
    "warehouse.datasets[].table_expiration_days": "rejected",
    "warehouse.datasets[].partition_expiration_days": "rejected",
    "warehouse.datasets[].delete_contents_on_destroy": "no effect",
    "clusters[].name": "the one existing cluster",
    "clusters[].role": "shared only",
    "clusters[].kubernetes_version": "OpenAPI schema the manifests are checked against",
    "clusters[].release_channel": "rejected when set",
    "clusters[].private_endpoint": "rejected when set",
    "clusters[].maintenance_start_utc": "rejected when set",
    "clusters[].deletion_protection": "rejected when set",
    "clusters[].system_pool": "rejected when set",
    "node_pools[].name": "existing nodes labelled mlinfra.io/pool=<name>; a Kueue flavor",
    "node_pools[].cluster": "the one cluster",
    "node_pools[].machine_class": "rejected when set",
    "node_pools[].vcpus": "rejected when set",
    "node_pools[].machine_type": "rejected when set",
    "node_pools[].accelerator.type": "Kueue flavor resource, GPU Operator",
    "node_pools[].accelerator.count": "quota capacity",
    "node_pools[].accelerator.topology": "rejected (TPUs are GCP only)",
    "node_pools[].accelerator.driver_version": "GPU Operator (driver install off by default)",
    "node_pools[].min_nodes": "rejected when set",
    "node_pools[].max_nodes": "how many labelled nodes exist (quota capacity)",
    "node_pools[].spot": "rejected when set",
    "node_pools[].disk_size_gb": "rejected when set",
    "node_pools[].disk_type": "rejected when set",
    "node_pools[].taints": "Kueue flavor tolerations (the admin taints the nodes)",
    "node_pools[].labels": "documentation (the admin labels the nodes)",
    "training": "Kueue queues and quotas per team, JobSet",
    "serving": "cert-manager CA, KServe (RawDeployment)",
    "monitoring.enabled": "kube-prometheus-stack on/off",
    "monitoring.managed_prometheus": "no effect (in-cluster Prometheus)",
    "monitoring.gpu_metrics": "GPU Operator DCGM exporter",
    "monitoring.metrics_retention_days": "Prometheus retention",
    "monitoring.log_retention_days": "no effect (logging belongs to the cluster admin)",
    "monitoring.audit_logs": "no effect (the API server audit policy belongs to the admin)",
    "monitoring.project_settings": "no effect",
    "iam.admins": "documentation (cluster-admin RBAC belongs to the admin)",
    "iam.teams[].name": "namespace, workload ServiceAccount, quota, NetworkPolicies; with grants, the team "
    "identity: client certificate CN=team-{team} (cert-manager, 24 h, renewed) and egress to the granted services",
    "iam.teams[].members": "RoleBinding to the developer Role",
    "iam.teams[].buckets": "MinIO policy team-{team} with the level's actions on the bucket, assumed with the team "
    "certificate (AssumeRoleWithCertificate); with object_store_endpoint, the endpoint owner's",
    "iam.teams[].datasets": "role team_{team}_{level} in pg_read_all_data (+ pg_write_all_data, + owner_{name} "
    "for admin), certificate login to the granted databases only (pg_hba + pg_ident)",
    "iam.teams[].topics": "NATS user CN=team-{team} (certificate, verify_and_map) allowed the topic's subjects "
    "(publish) or its consumers' JetStream API (subscribe)",
    "helm": "chart sources (mirror for air-gapped sites)",
    "apiVersion": "stack file format version (checked by the loader)",
    "backend": "state backend + secrets provider of `mlinfra up` (prod: the site's S3 store + hashivault://)",
    "extensions": "custom components of installed extensions, with the Kubernetes provider",
    "naming.prefix": "prefix of every resource name (before the environment name)",
    "replace": "built-in component → extension subclass (e.g. ObjectStore)",
    "transforms": "extension transformations on every resource",
    "policies": "enforcement levels of the policy packs",
    "waivers": "policy waivers (policy checks)",
}


def feature_table() -> str:
    """The feature table as Markdown."""
    lines = ["| config | gcp | aws | onprem |", "|---|---|---|---|"]
    lines += [f"| `{path}` | {gcp} | {aws} | {ONPREM[path]} |" for path, gcp, aws in FEATURES]
    return "\n".join(lines)
