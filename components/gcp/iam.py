"""Identities: the dedicated GKE node service account, and one workload identity per team."""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component
from mlinfra.components.gcp import permissions
from mlinfra.components.gcp.bigquery import BigQueryDataset
from mlinfra.components.gcp.pubsub import PubSubTopic
from mlinfra.components.gcp.storage import GcsBucket
from mlinfra.stacks.config.access import BucketAccess, DatasetAccess, TopicAccess


class NodeServiceAccountArgs(BaseModel):
    """Inputs of :class:`NodeServiceAccount`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str = Field(description="GCP project id. Required.")
    account_id: str = Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$", description="Service account id. Required.")
    display_name: str = Field(default="mlinfra GKE nodes", description="Display name. Default: 'mlinfra GKE nodes'.")


class NodeServiceAccount(Component):
    """A dedicated service account for GKE nodes with only the roles nodes need.

    Secure default: nodes never run as the Compute Engine default service account (which holds
    Editor); this one can write logs and metrics, report autoscaling metrics and pull images, nothing else.
    Workloads get their own identities through Workload Identity, never the node's.
    """

    email: pulumi.Output[str]
    member: pulumi.Output[str]

    def __init__(self, name: str, args: NodeServiceAccountArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:NodeServiceAccount", name, None, opts)
        account = gcp.serviceaccount.Account(
            f"{name}-sa", account_id=args.account_id, project=args.project, display_name=args.display_name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.email = account.email
        self.member = account.email.apply(lambda e: f"serviceAccount:{e}")
        for role in permissions.NODE_SA_ROLES:
            gcp.projects.IAMMember(
                f"{name}-{role.removeprefix('roles/').replace('.', '-')}", project=args.project, role=role,
                member=self.member, opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"email": self.email, "member": self.member})


class TeamIdentityArgs(BaseModel):
    """Inputs of :class:`TeamIdentity`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    project: str = Field(description="GCP project id (also the Workload Identity pool owner). Required.")
    team: str = Field(description="Team name: its Kubernetes namespace and the grantee name. Required.")
    account_id: str = Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$", description="Service account id. Required.")
    kubernetes_service_account: str = Field(
        default="", description="Kubernetes service account bound to it. Default: '{team}-workload'."
    )
    members: list[str] = Field(
        default_factory=list,
        description="Human principals; they get roles/container.clusterViewer on the project (list clusters, "
        "fetch credentials), namespace rights come from Kubernetes RBAC. Default: none.",
    )
    buckets: dict[str, tuple[GcsBucket, BucketAccess]] = Field(
        default_factory=dict, description="Bucket name → (bucket, access). Default: none."
    )
    datasets: dict[str, tuple[BigQueryDataset, DatasetAccess]] = Field(
        default_factory=dict, description="Dataset name → (dataset, access). Default: none."
    )
    topics: dict[str, tuple[PubSubTopic, TopicAccess]] = Field(
        default_factory=dict, description="Topic name → (topic, access). Default: none."
    )


class TeamIdentity(Component):
    """A team's Google service account, usable only from its Kubernetes namespace, with scoped grants.

    Secure defaults: the service account has no keys and no project-wide data roles; the only way to act
    as it is Workload Identity from ``{team}/{team}-workload`` in a cluster of this project (one pool per
    project, so one binding covers every cluster); grants cover exactly the buckets, datasets and topics
    listed for the team, through each resource's own grant helper (which includes use of its key). The one
    project-level role is ``bigquery.jobUser`` for teams with a dataset grant: it runs queries, and what a
    query may read still comes only from the dataset grants.
    """

    email: pulumi.Output[str]
    member: pulumi.Output[str]

    def __init__(self, name: str, args: TeamIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:TeamIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-sa", account_id=args.account_id, project=args.project,
            display_name=f"mlinfra team {args.team}", opts=child,
        )
        self.email = account.email
        self.member = account.email.apply(lambda e: f"serviceAccount:{e}")
        ksa = args.kubernetes_service_account or f"{args.team}-workload"
        gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity", service_account_id=account.name, role=permissions.WORKLOAD_IDENTITY_USER,
            member=f"serviceAccount:{args.project}.svc.id.goog[{args.team}/{ksa}]", opts=child,
        )
        for human in args.members:
            permissions.check_member(human)
            tag = hashlib.sha256(human.encode()).hexdigest()[:8]
            for role in permissions.TEAM_MEMBER_PROJECT_ROLES:
                gcp.projects.IAMMember(f"{name}-member-{tag}-{role.rsplit('.', 1)[-1].lower()}",
                                       project=args.project, role=role, member=human, opts=child)
        grantee = args.team
        for bucket, b_access in args.buckets.values():
            {"read": bucket.grant_read, "write": bucket.grant_write, "admin": bucket.grant_admin}[b_access](
                grantee, self.member)
        if args.datasets:
            gcp.projects.IAMMember(f"{name}-query-jobs", project=args.project,
                                   role=permissions.QUERY_JOBS_PROJECT_ROLE, member=self.member, opts=child)
        for dataset, d_access in args.datasets.values():
            {"read": dataset.grant_read, "write": dataset.grant_write, "admin": dataset.grant_admin}[d_access](
                grantee, self.member)
        for topic, t_access in args.topics.values():
            {"publish": topic.grant_publish, "subscribe": topic.grant_subscribe, "admin": topic.grant_admin}[
                t_access](grantee, self.member)
        self.register_outputs({"email": self.email, "member": self.member})


class ClusterAdminsArgs(BaseModel):
    """Inputs of :class:`ClusterAdmins`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str = Field(description="GCP project id. Required.")
    admins: list[str] = Field(
        default_factory=list, description="Principals ('group:sre@example.com') to administer clusters. Default: none."
    )


class ClusterAdmins(Component):
    """Who administers the environment's GKE clusters: ``roles/container.clusterAdmin`` and nothing else.

    Secure defaults: no admins unless listed; the role covers clusters only (no data, no IAM); public
    principals are refused.
    """

    members: pulumi.Output[list[str]]

    def __init__(self, name: str, args: ClusterAdminsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:ClusterAdmins", name, None, opts)
        for admin in args.admins:
            permissions.check_member(admin)
            tag = hashlib.sha256(admin.encode()).hexdigest()[:8]
            gcp.projects.IAMMember(f"{name}-{tag}", project=args.project, role=permissions.CLUSTER_ADMIN_PROJECT_ROLE,
                                   member=admin, opts=pulumi.ResourceOptions(parent=self))
        self.members = pulumi.Output.from_input(list(args.admins))
        self.register_outputs({"members": self.members})
